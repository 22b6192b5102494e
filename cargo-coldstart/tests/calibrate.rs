//! `--calibrate` and `--init-cpu`: the CPU model fitted from report lines as CloudWatch Logs
//! exports them, applied to `--memory` runs, and stated in every table header.

mod support;

use std::path::PathBuf;

use support::{cli, fixture, profile_json};

/// The INIT share the synthetic lines were made with: neither Lambda's proportional share at
/// 128 MB (0.072) nor the boost (1.0), so only the calibration can produce it.
const INIT_SHARE: f64 = 0.25;
/// The first invocation's share in the synthetic lines.
const INVOKE_SHARE: f64 = 0.05;

fn report_line(init_share: f64) -> String {
    let wall = 200.0;
    format!(
        r#"{{"coldstart_report":1,"function":"orders","memory_mb":128,"init_type":"on-demand","reinit":null,"start":"cold","phases_ms":{{"init":{wall}}},"cpu":{{"init_ms":{},"init_wall_ms":{wall},"init_share":{init_share},"first_invocation_ms":{},"first_invocation_wall_ms":{wall},"first_invocation_share":{INVOKE_SHARE}}}}}"#,
        init_share * wall,
        INVOKE_SHARE * wall
    )
}

/// 21 report lines at 128 MB, on-demand, INIT shares 0.15..=0.35 around a median of 0.25, in
/// the four forms an export has; 3 other log lines; 2 malformed report lines and 1 without CPU
/// times.
fn calibration_file(name: &str) -> PathBuf {
    let mut lines = vec![
        "START RequestId: 8f0e Version: $LATEST".to_owned(),
        r#"{"coldstart_report":1,"memory_mb":128,"cpu":{"init_share":"#.to_owned(),
        r#"{"coldstart_report":1,"memory_mb":128,"init_type":"on-demand","cpu":null}"#.to_owned(),
    ];
    for k in -10i32..=10 {
        let line = report_line(INIT_SHARE + f64::from(k) * 0.01);
        lines.push(match k.rem_euclid(4) {
            0 => line,
            1 => format!("2025-09-01T10:00:00.{:03}Z\t8f0e-{k}\t{line}", k + 10),
            2 => format!("1725184800{:03},\"{}\"", k + 10, line.replace('"', "\"\"")),
            _ => format!(
                "        {{ \"timestamp\": 1725184800000, \"message\": {}, \"ingestionTime\": 1 }},",
                serde_json::to_string(&line).unwrap()
            ),
        });
    }
    lines.push("END RequestId: 8f0e".to_owned());
    lines.push("{\"coldstart_report\":1 truncated by an export".to_owned());
    lines.push("REPORT RequestId: 8f0e Duration: 2.00 ms Billed Duration: 3 ms".to_owned());
    let path = std::env::temp_dir().join(format!(
        "coldstart-calibrate-{}-{name}.log",
        std::process::id()
    ));
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn a_calibration_file_is_fitted_and_applied_to_the_runs() {
    let file = calibration_file("applied");
    let (code, json, stderr) = profile_json(
        "spin-init",
        &["--runs", "3", "--calibrate", file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stderr}");

    // The fit: every usable line, whatever its form; the rest counted with the reason.
    let calibration = &json["calibration"];
    assert_eq!(calibration["used"], 21, "{calibration}");
    assert_eq!(calibration["other_lines"], 3, "{calibration}");
    let skipped: u64 = calibration["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["lines"].as_u64().unwrap())
        .sum();
    assert_eq!(skipped, 3, "{calibration}");
    let init = &calibration["init"][0];
    assert_eq!(init["memory_mb"], 128);
    assert_eq!(init["init_type"], "on-demand");
    assert_eq!(init["share"]["n"], 21);
    assert!(
        (init["share"]["median"].as_f64().unwrap() - INIT_SHARE).abs() < 1e-9,
        "{init}"
    );
    assert_eq!(
        calibration["first_invocation"][0]["share"]["median"],
        INVOKE_SHARE
    );

    // Without --memory, the runs are at the calibrated size, with the fitted model.
    let sizes = json["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 1);
    let size = &sizes[0];
    assert_eq!(size["memory_mb"], 128);
    let model = &size["cpu_model"];
    assert!(
        (model["init"]["vcpus"].as_f64().unwrap() - INIT_SHARE).abs() < 1e-9,
        "{model}"
    );
    assert_eq!(model["init"]["basis"], "calibrated");
    assert_eq!(model["init"]["n"], 21);
    assert_eq!(model["invoke"]["vcpus"], INVOKE_SHARE);

    // The projected (or, under a cgroup, measured) INIT: the fixture burns 50 ms of CPU, which
    // at 0.25 vCPU takes at least 4× that long (3× with a 25 % margin for a cgroup's
    // accounting); the proportional model would say 13.8×, the boost 1×.
    let init_ms = size["init_ms"]["median"].as_f64().unwrap();
    let cpu = support::row(&json, "tool", "INIT CPU time").unwrap()["median"]
        .as_f64()
        .unwrap();
    assert!(cpu >= 50.0, "INIT CPU time {cpu} ms, but INIT burned 50 ms");
    if size["limits"] == "cgroup" {
        assert!(
            init_ms >= 0.75 * cpu / INIT_SHARE,
            "INIT {init_ms} ms for {cpu} ms of CPU"
        );
    } else {
        assert_eq!(size["projected"], true, "{size}");
        assert!(
            init_ms >= 50.0 / INIT_SHARE,
            "INIT {init_ms} ms for {cpu} ms of CPU"
        );
    }
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_table_header_states_the_calibrated_model_and_stderr_the_fit() {
    let file = calibration_file("text");
    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--runs",
        "1",
        "--calibrate",
        file.to_str().unwrap(),
        "--",
        "plain",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("CPU model at 128 MB, on-demand: INIT 0.250 vCPU (calibrated: median of 21 report lines), invoke 0.050 vCPU (calibrated: median of 21 report lines)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("calibration: 21 report lines used, 3 skipped, 3 other log lines"),
        "{stderr}"
    );
    assert!(stderr.contains("skipped 2: malformed"), "{stderr}");
    assert!(stderr.contains("skipped 1: no cpu times"), "{stderr}");
    assert!(
        stderr.contains("128 MB on-demand INIT: 0.250 vCPU (median of 21"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_calibration_with_nothing_to_fit_is_a_usage_error() {
    let path = std::env::temp_dir().join(format!(
        "coldstart-calibrate-{}-empty.log",
        std::process::id()
    ));
    std::fs::write(
        &path,
        "START RequestId: 1\n{\"coldstart_report\":1,\"memory_mb\":128,\"cpu\":null}\nEND RequestId: 1\n",
    )
    .unwrap();
    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--calibrate",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing to fit"), "{stderr}");
    assert!(
        stderr.contains("Expected coldstart report lines"),
        "{stderr}"
    );
    assert!(stderr.contains("skipped 1: no cpu times"), "{stderr}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn every_header_states_the_cpu_model_and_offers_the_other() {
    let text = |extra: &[&str]| {
        let fixture = fixture().to_str().unwrap();
        let mut args = vec!["profile", fixture, "--runs", "1"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "plain"]);
        let output = cli(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Nothing limited: the header says so instead of implying 128 MB's CPU.
    let unlimited = text(&[]);
    assert!(
        unlimited.contains(
            "cold runs at 128 MB (the memory size variable only: CPU and memory not limited)"
        ),
        "{unlimited}"
    );
    assert!(unlimited.contains("CPU model: none"), "{unlimited}");
    // The default for on-demand: INIT boosted, assumed, with the other model offered.
    let on_demand = text(&["--memory", "128"]);
    assert!(
        on_demand.contains("CPU model at 128 MB, on-demand: INIT 1.000 vCPU (assumed: on-demand INIT boost; --init-cpu proportional for 0.072), invoke 0.072 vCPU (proportional: 128/1769)"),
        "{on_demand}"
    );
    // Provisioned concurrency: proportional by default.
    let provisioned = text(&["--memory", "128", "--init-type", "provisioned-concurrency"]);
    assert!(
        provisioned.contains("INIT 0.072 vCPU (assumed: provisioned-concurrency INIT, proportional; --init-cpu full for 1.000)"),
        "{provisioned}"
    );
    // The flag flips it.
    let flipped = text(&["--memory", "128", "--init-cpu", "proportional"]);
    assert!(
        flipped.contains("INIT 0.072 vCPU (--init-cpu proportional; --init-cpu full for 1.000)"),
        "{flipped}"
    );
}
