//! `cargo coldstart compare` and `--budget`.

mod support;

use serde_json::Value;
use support::{cli, fixture, profile_json};

#[test]
fn compare_pairs_runs_of_two_functions() {
    let fixture = fixture().to_str().unwrap();
    let output = cli(&[
        "compare",
        fixture,
        "--a-env",
        "FIXTURE_MODE=plain",
        "--b-env",
        "FIXTURE_MODE=coldstart",
        "--runs",
        "6",
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["coldstart_compare"], 1);
    let a = json["a"]["runs"].as_array().unwrap();
    let b = json["b"]["runs"].as_array().unwrap();
    assert_eq!((a.len(), b.len()), (6, 6));
    // The environments reached the functions: only B prints a report.
    assert!(a
        .iter()
        .all(|r| r["report"] == false && r["outcome"] == "ok"));
    assert!(b
        .iter()
        .all(|r| r["report"] == true && r["outcome"] == "ok"));
    let rows = json["rows"].as_array().unwrap();
    let response = rows
        .iter()
        .find(|r| r["name"] == "exec → first response")
        .unwrap();
    assert_eq!(response["pairs"], 6);
    let [low, high] = [0, 1].map(|i| response["diff_interval_95"][i].as_f64().unwrap());
    let median = response["diff_median"].as_f64().unwrap();
    assert!(low <= median && median <= high, "{response}");
    // The ratio is A's median over B's.
    let ratio = response["ratio_a_over_b"].as_f64().unwrap();
    let (a_median, b_median) = (
        response["a_median"].as_f64().unwrap(),
        response["b_median"].as_f64().unwrap(),
    );
    assert!((ratio - a_median / b_median).abs() < 1e-9, "{response}");
    // Rows only B has (its report) are shown, with why A has none.
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {json}"))
    };
    let lookup = row("lazy: lookup-table");
    assert_eq!(lookup["a_median"], "absent", "{lookup}");
    assert!(lookup["b_median"].as_f64().unwrap() > 0.0, "{lookup}");
    assert!(
        lookup["a_note"]
            .as_str()
            .unwrap()
            .contains("not a lazy static"),
        "{lookup}"
    );
    assert_eq!(lookup["pairs"], 0);
    // `rare-route` only serves `{"route":"rare"}`: never built by a `{}` event.
    let rare = row("lazy: rare-route");
    assert_eq!(rare["b_median"], "not built", "{rare}");
    assert_eq!(
        rare["b_note"],
        "B: not built in 6 of 6 runs: the first request did not need it"
    );
    assert!(row("phase: user_facing")["b_median"].as_f64().is_some());
    // What INIT costs, per side, in GB-s.
    let cost = row("INIT GB-s");
    assert_eq!(cost["unit"], "GB-s");
    let gb = 128.0 / 1024.0;
    for side in ["a_median", "b_median"] {
        let value = cost[side].as_f64().unwrap();
        // At least 1 ms of INIT, billed at 128 MB.
        assert!(value >= gb * 0.001 - 1e-12, "{cost}");
    }

    let text = cli(&[
        "compare",
        fixture,
        "--a-env",
        "FIXTURE_MODE=plain",
        "--b-env",
        "FIXTURE_MODE=coldstart",
        "--runs",
        "2",
    ]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "B − A",
        "95 % interval",
        "ratio = A median ÷ B median",
        "lazy: lookup-table",
        "    A: no coldstart report, so not a lazy static there",
        "lazy: rare-route",
        "    B: not built in 2 of 2 runs: the first request did not need it",
        "INIT GB-s",
        "A printed no coldstart report",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
    // The answer in words, for exec → first response.
    assert!(
        text.lines()
            .any(|l| l.starts_with("exec → first response: B is ")
                || l.starts_with("exec → first response: no clear difference")),
        "{text}"
    );
    assert!(!text.contains("unavailable"), "{text}");
}

/// Provisioned concurrency: INIT is not billed as duration, so no INIT GB-s, and no run is
/// user-facing; both are said in words.
#[test]
fn provisioned_concurrency_has_no_init_gb_seconds() {
    let fixture = fixture().to_str().unwrap();
    let args = [
        "compare",
        fixture,
        fixture,
        "--runs",
        "2",
        "--init-type",
        "provisioned-concurrency",
        "--",
        "coldstart",
    ];
    let output = cli(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let cost = text.lines().find(|l| l.starts_with("INIT GB-s ")).unwrap();
    assert!(cost.contains("not billed"), "{text}");
    assert!(
        !cost.contains("0."),
        "no GB-s number where INIT is not billed: {cost}"
    );
    assert!(
        text.contains("INIT GB-s: provisioned-concurrency INIT is not billed as duration"),
        "{text}"
    );
    assert!(
        text.contains("user_facing: missing in 2 of 2 runs, started `provisioned`"),
        "{text}"
    );
    let mut json_args = args.to_vec();
    json_args.insert(5, "--json");
    let output = cli(&json_args);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let cost = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "INIT GB-s")
        .unwrap();
    assert_eq!(cost["a_median"], "not billed as duration", "{cost}");
    assert_eq!(cost["b_median"], "not billed as duration", "{cost}");

    // profile's per-size table too.
    let (code, json, stderr) = profile_json(
        "coldstart",
        &[
            "--runs",
            "1",
            "--memory",
            "512",
            "--init-type",
            "provisioned-concurrency",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["sizes"][0]["init_gb_seconds"],
        "not billed as duration"
    );
    assert_eq!(json["sizes"][0]["init_billed_as_duration"], false);
}

/// Several `--memory` sizes: each gets its pairs and table, then one line per size.
#[test]
fn compare_runs_every_memory_size() {
    let fixture = fixture().to_str().unwrap();
    let output = cli(&[
        "compare", fixture, fixture, "--runs", "2", "--memory", "128,1769", "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sizes = json["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2);
    for (size, mb) in sizes.iter().zip([128, 1769]) {
        assert_eq!(size["memory_mb"], mb);
        assert_eq!(size["a_runs"].as_array().unwrap().len(), 2);
        assert_eq!(size["b_runs"].as_array().unwrap().len(), 2);
        let cost = size["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "INIT GB-s")
            .unwrap();
        // Billed at this size: at least 1 ms × its memory.
        assert!(
            cost["a_median"].as_f64().unwrap() >= f64::from(mb) / 1024.0 * 0.001 - 1e-12,
            "{cost}"
        );
    }
    let output = cli(&[
        "compare", fixture, fixture, "--runs", "1", "--memory", "128,1769",
    ]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("across memory sizes"), "{text}");
    assert!(
        text.contains("  128 MB ") && text.contains(" 1769 MB "),
        "{text}"
    );
}

#[test]
fn the_budget_sets_the_exit_code() {
    let (code, json, _) = profile_json("plain", &["--runs", "3", "--budget", "1us"]);
    assert_eq!(code, 4);
    assert_eq!(json["budget"]["exceeded"], true);
    assert_eq!(json["budget"]["percentile"], 95.0);
    assert!(json["budget"]["values"][0]["ms"].as_f64().unwrap() > 0.001);

    let (code, json, _) = profile_json(
        "plain",
        &["--runs", "3", "--budget", "10s", "--percentile", "50"],
    );
    assert_eq!(code, 0);
    assert_eq!(json["budget"]["exceeded"], false);

    // A failed run is reported as such even when a budget is set.
    let (code, _, _) = profile_json("crash-in-init", &["--runs", "1", "--budget", "10s"]);
    assert_eq!(code, 3);

    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--runs",
        "2",
        "--budget",
        "1us",
        "--",
        "plain",
    ]);
    assert_eq!(output.status.code(), Some(4));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("budget: p95 of exec → first response is") && text.contains("EXCEEDED"),
        "{text}"
    );
}

#[test]
fn memory_sizes_without_limits_are_projected_and_labelled() {
    let (code, json, stderr) = profile_json("coldstart", &["--runs", "2", "--memory", "128,1769"]);
    assert_eq!(code, 0, "{stderr}");
    let sizes = json["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2);
    assert_eq!(sizes[0]["memory_mb"], 128);
    assert_eq!(sizes[1]["memory_mb"], 1769);
    for size in sizes {
        let cost = size["init_gb_seconds"]["median"].as_f64().unwrap();
        let init = size["init_ms"]["median"].as_f64().unwrap();
        let gb = size["memory_mb"].as_f64().unwrap() / 1024.0;
        // Billed INIT: rounded up to the millisecond, times the memory.
        assert!(cost >= gb * init / 1e3 - 1e-12, "{size}");
        if size["limits"] == "none" {
            assert_eq!(size["projected"], size["memory_mb"] != 1769, "{size}");
        }
    }
    if sizes[0]["limits"] == "none" {
        // Why no limits could be applied, in plain words.
        assert!(
            !sizes[0]["limits_unavailable"].as_str().unwrap().is_empty(),
            "{json}"
        );
    }
}

/// Where cgroups are writable (CI runs as root), `--memory 128 --init-cpu proportional` gives
/// the function's INIT 128/1769 of a vCPU: a CPU-bound INIT of known CPU cost (50 ms, measured)
/// takes about 1769/128 ≈ 13.8× that long (±25 %). (On-demand INIT defaults to the boost, a full
/// vCPU; the proportional model is the one asked for here.) Compared with the CPU time rather than with a run at 1,769 MB, whose wall time
/// a busy machine stretches. Skipped with a message where limits cannot be applied, unless
/// `COLDSTART_REQUIRE_CGROUPS=1` (set by `.ci/run`).
#[test]
fn memory_128_slows_a_cpu_bound_init_by_lambdas_factor() {
    let (code, json, stderr) = profile_json(
        "spin-init",
        &[
            "--runs",
            "3",
            "--memory",
            "128",
            "--init-cpu",
            "proportional",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let size = &json["sizes"][0];
    if size["limits"] != "cgroup" {
        let why = &size["limits_unavailable"];
        assert!(
            std::env::var_os("COLDSTART_REQUIRE_CGROUPS").is_none_or(|v| v != "1"),
            "COLDSTART_REQUIRE_CGROUPS=1 but no limits: {why}"
        );
        eprintln!("skipped: limits cannot be applied here ({why})");
        return;
    }
    assert_eq!(size["projected"], false);
    let init = size["init_ms"]["median"].as_f64().unwrap();
    let cpu = size["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "INIT CPU time")
        .unwrap()["summary"]["median"]
        .as_f64()
        .unwrap();
    assert!(cpu >= 50.0, "INIT CPU time {cpu} ms, but INIT burned 50 ms");
    let factor = init / cpu;
    let expected = 1769.0 / 128.0;
    assert!(
        (factor - expected).abs() <= 0.25 * expected,
        "INIT at 128 MB took {factor:.1}× its CPU time ({init:.1} ms for {cpu:.1} ms); Lambda's share says {expected:.1}×"
    );
}

/// The INIT CPU time is the function's: a fixture that burns 50 ms of CPU in INIT is measured at
/// no less, and without limits the 128 MB projection with the proportional model scales it by
/// 1769/128.
#[test]
fn init_cpu_time_is_measured_and_projected() {
    let (code, json, stderr) = profile_json(
        "spin-init",
        &[
            "--runs",
            "2",
            "--memory",
            "128",
            "--init-cpu",
            "proportional",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let size = &json["sizes"][0];
    let cpu = size["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "INIT CPU time")
        .unwrap()["summary"]["median"]
        .as_f64()
        .unwrap();
    assert!(cpu >= 50.0, "INIT CPU time {cpu} ms, but INIT burned 50 ms");
    if size["limits"] == "none" {
        assert_eq!(size["projected"], true);
        let init = size["init_ms"]["median"].as_f64().unwrap();
        // The median of per-run projections: at least the smallest run's CPU × 1769/128.
        assert!(init >= 50.0 * 1769.0 / 128.0, "{init}");
    }
}
