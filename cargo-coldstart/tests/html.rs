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
