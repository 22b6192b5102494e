//! `prometheus/rules.yml` (recording rules and alerts for the aggregating-gateway path) passes
//! `promtool check rules`, and its unit tests `prometheus/rules.test.yml` (input series, the
//! recorded values and the alerts that must and must not fire, worked out by hand) pass
//! `promtool test rules`. `promtool` comes with Debian's `prometheus` package, which `.ci/run`
//! installs; a plain `cargo test` skips these (`#[ignore]`).

use std::path::Path;
use std::process::Command;

/// Runs `promtool <args>` in the folder of the rules (the test file names `rules.yml` relative
/// to itself) and fails with promtool's whole output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("promtool is installed (Debian package prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} (in {}): {}\n{text}",
        args.join(" "),
        dir.display(),
        out.status
    );
    text
}

#[test]
#[ignore = "needs promtool (Debian package prometheus; .ci/run installs it)"]
fn promtool_checks_the_rules() {
    let out = promtool(&["check", "rules", "rules.yml"]);
    // Every rule parsed, none skipped: 9 recording rules and 5 alerts.
    assert!(out.contains("SUCCESS: 14 rules found"), "{out}");
}

#[test]
#[ignore = "needs promtool (Debian package prometheus; .ci/run installs it)"]
fn promtool_unit_tests_of_the_rules_pass() {
    let out = promtool(&["test", "rules", "rules.test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}
