//! `cargo coldstart profile` against real function binaries: what it measures and reports.

mod support;

use support::{assert_no_child_left, cli, fixture, profile_json, row, runs};

#[test]
fn a_coldstart_function_is_profiled_per_phase_and_lazy_static() {
    let (code, json, stderr) = profile_json("coldstart", &["--runs", "4"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["coldstart_profile"], 1);
    assert_eq!(json["runs_per_size"], 4);
    assert_eq!(json["init_type"], "on-demand");
    let runs = runs(&json);
    assert_eq!(runs.len(), 4);
    for run in runs {
        assert_eq!(run["outcome"], "ok", "{run}");
        assert_eq!(run["report"], true, "{run}");
        assert_eq!(run["start"], "cold", "{run}");
        let next = run["exec_to_first_next_ms"].as_f64().expect("measured");
        let response = run["exec_to_first_response_ms"].as_f64().expect("measured");
        assert!(next > 0.0 && response > next, "{run}");
        assert!(
            run["init_cpu_ms"].as_f64().expect("measured") > 0.0,
            "{run}"
        );
        assert!(
            run["peak_rss_bytes"].as_u64().expect("measured") > 1_000_000,
            "{run}"
        );
    }
    // The report's phases and lazy statics, aggregated over every run.
    for (section, name) in [
        ("phase", "init"),
        ("phase", "user_facing"),
        ("named phase", "load table"),
        ("lazy", "lookup-table"),
        ("tool", "exec → first response"),
        ("tool", "INIT CPU time"),
    ] {
        let summary =
            row(&json, section, name).unwrap_or_else(|| panic!("no row {section}/{name}"));
        assert_eq!(summary["n"], 4, "{section}/{name}: {summary}");
        let (median, p95, max) = (
            summary["median"].as_f64().unwrap(),
            summary["p95"].as_f64().unwrap(),
            summary["max"].as_f64().unwrap(),
        );
        assert!(median <= p95 && p95 <= max, "{section}/{name}: {summary}");
    }
    // `rare-route` serves only `{"route":"rare"}`: with `{}` events it is never built, which is
    // not a failed measurement.
    let rare = json["sizes"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "rare-route")
        .expect("a row for the lazy static nothing needed");
    assert_eq!(rare["summary"], "not built", "{rare}");
    assert_eq!(rare["not_built_runs"], 4, "{rare}");
    assert_eq!(
        rare["not_built"],
        "not built in 4 of 4 runs: the first request did not need it"
    );
    assert_no_child_left(&json);
}

/// An event that needs the rare route builds it in every run; the text table says which
/// lazy statics were not built, in words, on the rows' line.
#[test]
fn a_lazy_static_is_not_built_until_an_event_needs_it() {
    let dir = std::env::temp_dir().join(format!("coldstart-rare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let event = dir.join("rare.json");
    std::fs::write(&event, r#"{"route":"rare"}"#).unwrap();
    let (code, json, stderr) = profile_json(
        "coldstart",
        &["--runs", "2", "--event", event.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stderr}");
    let summary = row(&json, "lazy", "rare-route").expect("a rare-route row");
    assert_eq!(summary["n"], 2, "{summary}");

    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--runs",
        "2",
        "--",
        "coldstart",
    ]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.contains("rare-route")).unwrap();
    assert!(
        line.contains("not built in 2 of 2 runs: the first request did not need it"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_function_without_coldstart_shows_report_fields_as_unavailable() {
    let (code, json, stderr) = profile_json("plain", &["--runs", "3"]);
    assert_eq!(code, 0, "{stderr}");
    for run in runs(&json) {
        assert_eq!(run["outcome"], "ok");
        assert_eq!(run["report"], false);
        assert!(run["exec_to_first_response_ms"].as_f64().is_some());
    }
    assert!(
        row(&json, "tool", "peak RSS").unwrap()["median"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let sections: Vec<&str> = json["sizes"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["section"].as_str().unwrap())
        .collect();
    assert!(sections.iter().all(|s| *s == "tool"), "{sections:?}");

    // The text says so instead of printing zeros.
    let fixture = fixture().to_str().unwrap();
    let output = cli(&["profile", fixture, "--runs", "2", "--", "plain"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("coldstart report: unavailable"), "{text}");
    assert!(!text.contains("0.00 ms"), "{text}");
}

#[test]
fn the_init_type_reaches_the_function() {
    let (code, json, stderr) = profile_json(
        "coldstart",
        &["--runs", "1", "--init-type", "provisioned-concurrency"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(runs(&json)[0]["start"], "provisioned");
    assert_eq!(json["init_type"], "provisioned-concurrency");
}

#[test]
fn several_events_are_served_to_every_cold_process() {
    let dir = std::env::temp_dir().join(format!("coldstart-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("first.json");
    let second = dir.join("second.json");
    std::fs::write(&first, r#"{"n": 1}"#).unwrap();
    std::fs::write(&second, r#"{"n": 2}"#).unwrap();
    let (code, json, stderr) = profile_json(
        "coldstart",
        &[
            "--runs",
            "2",
            "--event",
            first.to_str().unwrap(),
            "--event",
            second.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["events"], 2);
    assert!(runs(&json).iter().all(|r| r["outcome"] == "ok"));
}

#[test]
fn a_delayed_first_event_is_a_proactive_init() {
    // Bref's rule, which coldstart follows: an event > 100 ms after INIT ended is proactive.
    let (code, json, stderr) =
        profile_json("coldstart", &["--runs", "1", "--delay-first-event", "300"]);
    assert_eq!(code, 0, "{stderr}");
    let run = &runs(&json)[0];
    assert_eq!(run["start"], "proactive", "{run}");
    let wait = row(&json, "phase", "wait_for_first_event").unwrap()["median"]
        .as_f64()
        .unwrap();
    assert!(wait >= 300.0, "{wait}");
}

#[test]
fn cargo_passes_coldstart_as_the_first_argument() {
    let output = cli(&["coldstart", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("profile") && help.contains("compare"),
        "{help}"
    );
    assert!(
        help.contains("4  the --percentile"),
        "the exit codes are documented: {help}"
    );
}

#[test]
fn build_an_example_with_cargo() {
    fixture(); // built once already: this build is a no-op
    let output = cli(&[
        "profile",
        "--example",
        "fixture",
        "--package",
        "cargo-coldstart",
        "--cargo-profile",
        "dev",
        "--runs",
        "1",
        "--json",
        "--",
        "plain",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        json["binary"]
            .as_str()
            .unwrap()
            .ends_with("debug/examples/fixture"),
        "{json}"
    );
    assert_eq!(runs(&json)[0]["outcome"], "ok");
}
