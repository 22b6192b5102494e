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
    // Rows only B has (its report) are not compared.
    assert!(rows
        .iter()
        .all(|r| !r["name"].as_str().unwrap().starts_with("lazy")));

    let text = cli(&["compare", fixture, fixture, "--runs", "2"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("B − A") && text.contains("95 % interval"),
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
