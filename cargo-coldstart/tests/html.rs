//! `--html FILE` rendered by a real browser: Debian's headless `chromium` loads the page (no
//! network, no script) and the test reads the DOM it rendered. `#[ignore]`d: `.ci/run` installs
//! chromium and runs it; elsewhere it is skipped with a message when chromium is missing.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{cli, fixture};

/// `target/`, from this test binary's path (`target/debug/deps/html-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Without a browser: the page is one file with nothing to fetch and the rows the browser test
/// looks for.
#[test]
fn the_html_report_is_self_contained() {
    let page = std::env::temp_dir().join(format!("coldstart-page-{}.html", std::process::id()));
    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--runs",
        "2",
        "--html",
        page.to_str().unwrap(),
        "--",
        "coldstart",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for absent in ["http://", "https://", "<script", "<link", "src="] {
        assert!(!html.contains(absent), "the page has {absent}");
    }
    assert!(html.contains(r#"data-kind="phase" data-name="load table""#));
    assert!(html.contains(r#"data-kind="lazy" data-name="lookup-table""#));
    // No --memory: no size table.
    assert!(!html.contains("size-row"));
}

/// The value of attribute `name` in the tag that starts `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

fn num(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} in {tag}: {e}"))
}

/// Every opening tag `<NAME …>` (up to its `>`) in `html`, in order.
fn tags<'a>(html: &'a str, opening: &str) -> Vec<&'a str> {
    html.match_indices(opening)
        .map(|(i, _)| &html[i..i + html[i..].find('>').unwrap()])
        .collect()
}

/// The page's own data, read back: the first request's work sits on the invocation's clock,
/// from INIT's end, never inside INIT; every dot plot has an axis with ticks in the row's unit
/// that covers its dots, placed on the same scale; a lazy static nothing needed reads "not
/// built", not "unavailable".
#[test]
fn the_html_page_keeps_one_clock_per_track_and_scales_its_dot_plots() {
    let page = std::env::temp_dir().join(format!("coldstart-axes-{}.html", std::process::id()));
    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--runs",
        "3",
        "--html",
        page.to_str().unwrap(),
        "--",
        "coldstart",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();

    // Waterfall: three tracks, one origin each.
    let tracks = tags(&html, "<table class=\"waterfall\"");
    let origins: Vec<&str> = tracks
        .iter()
        .map(|t| attr(t, "data-origin").unwrap())
        .collect();
    assert_eq!(origins, ["process start", "INIT end", "exec"]);
    let init_end = num(tracks[1], "data-init-end-ms");
    assert!(init_end > 0.0);
    let rows = tags(&html, "<tr class=\"waterfall-row\"");
    let lookup = rows
        .iter()
        .find(|r| attr(r, "data-name") == Some("lookup-table"))
        .expect("the lazy static built by the first request is in the waterfall");
    assert_eq!(attr(lookup, "data-track"), Some("invocation"), "{lookup}");
    let mut on_invocation = 0;
    for row in &rows {
        let start = num(row, "data-start");
        assert!(start >= 0.0, "{row}");
        match attr(row, "data-track").unwrap() {
            "invocation" => {
                on_invocation += 1;
                // On the function's clock, first-invocation work starts at or after INIT's end.
                assert!(num(row, "data-since-process-start") >= init_end, "{row}");
            }
            "init" => assert!(num(row, "data-start") <= init_end, "{row}"),
            _ => {}
        }
    }
    assert!(
        on_invocation >= 3,
        "waiting, the handler and the lazy static: {rows:?}"
    );
    let load = rows
        .iter()
        .find(|r| attr(r, "data-name") == Some("load table"))
        .unwrap();
    assert_eq!(attr(load, "data-track"), Some("init"));
    // Each track's header has an axis with ticks in ms.
    assert!(html.matches("<span class=\"tick\" data-ms=\"0\"").count() >= 3);

    // Dot plots: ticks with units, covering every dot, on the dots' scale.
    let plots: Vec<&str> = html.split("<svg ").skip(1).collect();
    assert!(plots.len() >= 10, "one plot per measured row");
    for plot in plots {
        let plot = &plot[..plot.find("</svg>").unwrap()];
        let axis = num(plot, "data-axis-max");
        let unit = attr(plot, "data-unit").unwrap();
        let x = |v: f64| 4.0 + v / axis * 292.0;
        let ticks: Vec<&str> = plot.split("<g class=\"tick\"").skip(1).collect();
        assert!(ticks.len() >= 2, "{plot}");
        let mut last = -1.0;
        for tick in &ticks {
            let value = num(tick, "data-value");
            assert!(value > last, "ticks ascend: {plot}");
            last = value;
            assert!((num(tick, "x1") - x(value)).abs() < 0.01, "{tick}");
            let label = &tick[tick.find("\">").unwrap()..];
            assert!(label.contains(&format!(" {unit}</text>")), "{tick}");
        }
        assert_eq!(last, axis, "the last tick ends the axis: {plot}");
        let dots = tags(plot, "<circle");
        assert!(!dots.is_empty(), "{plot}");
        for dot in dots {
            let value = num(dot, "data-value");
            assert!((0.0..=axis).contains(&value), "{dot} outside 0..{axis}");
            assert!((num(dot, "cx") - x(value)).abs() < 0.01, "{dot}");
        }
    }

    // The lazy static a `{}` event never needs.
    let rare = html
        .split("<tr class=\"dist-row\" data-section=\"lazy\" data-name=\"rare-route\">")
        .nth(1)
        .expect("a row for rare-route");
    let rare = &rare[..rare.find("</tr>").unwrap()];
    assert!(
        rare.contains("not built in 3 of 3 runs: the first request did not need it"),
        "{rare}"
    );
    assert!(!rare.contains("unavailable"), "{rare}");
}

#[test]
#[ignore = "needs chromium (installed by .ci/run)"]
fn the_html_report_renders_waterfall_distributions_and_sizes() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let out = target_dir().join("coldstart-html");
    std::fs::create_dir_all(&out).unwrap();
    let page = out.join("profile.html");
    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--runs",
        "3",
        "--memory",
        "128,1769",
        "--html",
        page.to_str().unwrap(),
        "--",
        "coldstart",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));

    let url = format!("file://{}", page.display());
    let dom = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The waterfall of the median run: the tool's INIT bar, the named phase, the lazy static.
    for row in [
        r#"class="waterfall-row" data-kind="tool" data-name="exec → first /next (INIT)""#,
        r#"class="waterfall-row" data-kind="phase" data-name="load table""#,
        r#"class="waterfall-row" data-kind="lazy" data-name="lookup-table""#,
        r#"class="dist-row" data-section="tool" data-name="exec → first response""#,
        r#"class="dist-row" data-section="phase" data-name="init""#,
        r#"class="dist-row" data-section="lazy" data-name="lookup-table""#,
        r#"class="size-row" data-memory="128""#,
        r#"class="size-row" data-memory="1769""#,
    ] {
        assert!(dom.contains(row), "the rendered DOM has no {row}:\n{dom}");
    }
    assert_eq!(dom.matches("<section class=\"size\"").count(), 2);
    // Every run of both sizes is a dot in the distribution of exec → first response.
    assert!(dom.matches("class=\"dot\"").count() >= 2 * 3 * 4);

    // A screenshot for people (a CI artifact under target/).
    let png = out.join("profile.png");
    let _ = std::fs::remove_file(&png);
    let shot = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,1600",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());
}
