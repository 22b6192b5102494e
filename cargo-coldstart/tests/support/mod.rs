//! Driving the real `cargo-coldstart` binary against the real fixture functions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// The fixture function (`examples/fixture.rs`), built once with the dev profile (its
/// dependencies are already built for the tests; behaviour, not speed, is tested here).
pub fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "build",
                "--package",
                "cargo-coldstart",
                "--example",
                "fixture",
                "--message-format=json-render-diagnostics",
            ])
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building the fixture failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "fixture")
            .and_then(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the fixture's executable")
    })
}

/// Runs `cargo-coldstart ARGS`.
pub fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-coldstart"))
        .args(args)
        .output()
        .expect("cargo-coldstart runs")
}

/// Runs `cargo-coldstart profile FIXTURE --json EXTRA... -- MODE` and returns exit code and JSON.
pub fn profile_json(mode: &str, extra: &[&str]) -> (i32, Value, String) {
    let fixture = fixture().to_str().expect("utf-8 path");
    let mut args = vec!["profile", fixture, "--json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", mode]);
    let output = cli(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {stdout}\nstderr: {stderr}"));
    (output.status.code().expect("exit code"), json, stderr)
}

/// The runs of the first memory size.
pub fn runs(json: &Value) -> &Vec<Value> {
    json["sizes"][0]["runs"].as_array().expect("runs array")
}

/// The summary of the row named `name` in `section` of the first size.
pub fn row<'a>(json: &'a Value, section: &str, name: &str) -> Option<&'a Value> {
    json["sizes"][0]["rows"]
        .as_array()?
        .iter()
        .find(|r| r["section"] == section && r["name"] == name)
        .map(|r| &r["summary"])
}

/// Whether a process with this pid still exists and runs the fixture.
pub fn fixture_alive(pid: u64) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        // A zombie has an empty command line; it is not running anything.
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains("fixture"),
        Err(_) => false,
    }
}

/// Every run's process is gone.
pub fn assert_no_child_left(json: &Value) {
    for run in runs(json) {
        let pid = run["pid"].as_u64().expect("every started run has a pid");
        assert!(
            !fixture_alive(pid),
            "the function process {pid} was left behind"
        );
    }
}
