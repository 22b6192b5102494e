//! Functions that misbehave: every run is reported as what happened, with the stderr tail; the
//! tool never hangs and never leaves a process behind.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{assert_no_child_left, cli, fixture, fixture_alive, profile_json, row, runs};

#[test]
fn a_crash_in_init_is_reported_with_its_stderr() {
    let (code, json, _) = profile_json("crash-in-init", &["--runs", "2"]);
    assert_eq!(code, 3);
    for run in runs(&json) {
        assert_eq!(run["outcome"], "exited_in_init", "{run}");
        assert!(
            run["detail"].as_str().unwrap().contains("exit status 101"),
            "{run}"
        );
        assert!(
            run["stderr_tail"]
                .as_str()
                .unwrap()
                .contains("crashing during INIT on purpose"),
            "{run}"
        );
        assert_eq!(run["exec_to_first_response_ms"], "unavailable");
        assert_eq!(run["exec_to_first_next_ms"], "unavailable");
    }
    assert_eq!(json["sizes"][0]["runs_failed"], 2);
    assert_eq!(json["sizes"][0]["cold_start_ms"], "unavailable");
    assert_no_child_left(&json);

    // The text report names the failure and shows the stderr tail.
    let output = cli(&[
        "profile",
        fixture().to_str().unwrap(),
        "--runs",
        "1",
        "--",
        "crash-in-init",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("run 1: exited during INIT (exit status 101)"),
        "{text}"
    );
    assert!(text.contains("stderr | "), "{text}");
    assert!(
        text.contains("exec → first response") && text.contains("unavailable"),
        "{text}"
    );
}

#[test]
fn an_init_error_is_reported_with_its_type_and_message() {
    let (code, json, _) = profile_json("init-error", &["--runs", "1"]);
    assert_eq!(code, 3);
    let run = &runs(&json)[0];
    assert_eq!(run["outcome"], "init_error", "{run}");
    let detail = run["detail"].as_str().unwrap();
    assert!(
        detail.contains("Fixture.ConfigMissing") && detail.contains("TABLE_NAME is not set"),
        "{run}"
    );
    assert_no_child_left(&json);
}

#[test]
fn a_function_that_never_asks_for_an_event_times_out_and_is_killed() {
    let (code, json, _) = profile_json("never-next", &["--runs", "2", "--timeout", "0.5"]);
    assert_eq!(code, 3);
    for run in runs(&json) {
        assert_eq!(run["outcome"], "never_asked_for_event", "{run}");
        assert!(
            run["stderr_tail"]
                .as_str()
                .unwrap()
                .contains("INIT that never ends"),
            "{run}"
        );
        // It ran, so its CPU time and memory were measurable; its INIT never ended.
        assert_eq!(run["exec_to_first_next_ms"], "unavailable");
    }
    // Failed runs count in no summary: their CPU time so far is not an INIT's.
    assert_eq!(row(&json, "tool", "INIT CPU time").unwrap(), "unavailable");
    assert_eq!(row(&json, "tool", "peak RSS").unwrap(), "unavailable");
    assert_no_child_left(&json);
}

#[test]
fn a_function_that_hangs_in_its_handler_times_out_and_is_killed() {
    // The timeout counts from exec, INIT included: long enough for a loaded machine to start the
    // fixture and reach its first event (with 0.5 s a slow start read as "never asked").
    let (code, json, _) = profile_json("hang", &["--runs", "1", "--timeout", "3"]);
    assert_eq!(code, 3);
    let run = &runs(&json)[0];
    assert_eq!(run["outcome"], "timed_out_in_invocation", "{run}");
    assert!(
        run["exec_to_first_next_ms"].as_f64().is_some(),
        "INIT ended: {run}"
    );
    assert_eq!(run["exec_to_first_response_ms"], "unavailable");
    assert!(
        run["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("never answering it"),
        "{run}"
    );
    assert_no_child_left(&json);
}

#[test]
fn an_error_response_fails_the_run() {
    let (code, json, _) = profile_json("error", &["--runs", "1"]);
    assert_eq!(code, 3);
    let run = &runs(&json)[0];
    assert_eq!(run["outcome"], "invocation_error", "{run}");
    assert_eq!(run["exec_to_first_response_ms"], "unavailable");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let fixture = fixture().to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("coldstart-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let event = dir.join("event.json");
    std::fs::write(&event, "{not json").unwrap();

    let output = cli(&["profile", fixture, "--event", event.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("event.json: not JSON"), "{stderr}");

    let output = cli(&["profile", "/nonexistent/function"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/function: no such file"));

    let output = cli(&["profile", fixture, "--budget", "100"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the unit must be ms, s or us"));

    let output = cli(&["profile", fixture, "--memory", "64"]);
    assert_eq!(output.status.code(), Some(2));

    let output = cli(&["profile", fixture, "--env", "NOEQUALS"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("KEY=VALUE"));

    let output = cli(&["compare", fixture, fixture, "--html", "x.html"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'--html'"));
    assert!(!std::path::Path::new("x.html").exists());

    let output = cli(&["compare", fixture]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("compare needs two binaries"));

    let output = cli(&["profile", "--runs", "2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to profile"));
}

/// Usage errors are found before anything is built: these name targets that do not exist, so
/// a build would fail with exit 1 and cargo's error; they exit 2 with the usage error instead.
#[test]
fn compare_usage_errors_exit_2_before_building() {
    for (args, expected) in [
        (
            &[
                "compare",
                "--bin",
                "no-such-target",
                "--bin",
                "no-such-other",
                "--html",
                "x.html",
            ][..],
            "'--html'",
        ),
        (
            &["compare", "--bin", "no-such-target"][..],
            "compare needs two binaries",
        ),
        (
            &[
                "compare",
                "--example",
                "a",
                "--example",
                "b",
                "--example",
                "c",
            ][..],
            "compare needs two binaries",
        ),
        (
            &["compare", "--bin", "no-such-target", "--a-env", "NOEQUALS"][..],
            "KEY=VALUE",
        ),
    ] {
        let output = cli(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("build failed") && !stderr.contains("Compiling"),
            "{stderr}"
        );
    }
    // What compare's help offers, it accepts; the budget's help is a whole sentence.
    let help = cli(&["compare", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("--html"), "{help}");
    assert!(help.contains("--memory"), "{help}");
    assert!(
        help.contains("with compare, B's (the candidate) at every size, whatever A's is"),
        "{help}"
    );
    let help = cli(&["profile", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--html"));
}

/// The pids of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid == Some(&parent.to_string()) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn ctrl_c_kills_the_function_and_exits_130() {
    let mut tool = Command::new(env!("CARGO_BIN_EXE_cargo-coldstart"))
        .args([
            "profile",
            fixture().to_str().unwrap(),
            "--timeout",
            "60",
            "--",
            "never-next",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let function = loop {
        if let Some(pid) = children_of(tool.id())
            .into_iter()
            .find(|pid| fixture_alive(u64::from(*pid)))
        {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the function never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = Command::new("kill")
        .args(["-INT", &tool.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = tool.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // The tool sends SIGKILL and exits; the kernel ends the function when it next runs, which
    // on a loaded machine may be a moment after the tool is gone.
    let killed = Instant::now();
    while fixture_alive(u64::from(function)) {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the function {function} survived Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
