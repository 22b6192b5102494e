//! The report's CPU times count from the process start, not from whatever ran in the process
//! before `exec`: a bootstrap script that `exec`s the binary (or `cargo run`) leaves its own CPU
//! time in the process's counters, and an INIT share computed from those would read hundreds of
//! vCPUs.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::process::{Command, Stdio};

/// Set in the child: the test binary started again as the function.
const CHILD: &str = "COLDSTART_CPU_EXEC_CHILD";

#[cold_start_handler(name = "after-exec")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// The function: run by the parent test below through a shell that burns CPU and then `exec`s
/// this binary; prints the CPU its process had at start and its cold-start report.
#[test]
#[ignore = "child-process entry: run by `cpu_spent_before_exec_is_not_init` in a child process"]
fn function_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let before_main = coldstart::cpu::process_cpu_time().expect("getrusage works on Linux");
    let api = LocalRuntimeApi::builder()
        .function_name("after-exec")
        .start()
        .expect("local Runtime API");
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = support::runtime(1);
    support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .run(service_fn(handler)),
        [json!({ "n": 1 })],
    );
    let report = coldstart::cold_start_report().expect("the first invocation finished");
    println!("before-main-ms {}", before_main.as_secs_f64() * 1e3);
    println!("report {}", report.to_json());
}

#[test]
fn cpu_spent_before_exec_is_not_init() {
    let exe = std::env::current_exe().expect("the test binary");
    // The shell counts to 400,000 (hundreds of ms of CPU), then becomes the function.
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"i=0; while [ "$i" -lt 400000 ]; do i=$((i + 1)); done; exec "$@""#)
        .arg("sh")
        .arg(&exe)
        .args(["--ignored", "--exact", "function_process", "--nocapture"])
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in\n{stdout}"))
            .to_owned()
    };
    let before_main: f64 = line("before-main-ms ").parse().expect("a number");
    let report: Value = serde_json::from_str(&line("report ")).expect("the report's JSON");
    // The premise: the process's counters carry the shell's loop into the binary.
    assert!(before_main >= 50.0, "the shell used {before_main} ms");

    let cpu = &report["cpu"];
    let init_ms = cpu["init_ms"].as_f64().expect("INIT CPU");
    let init_wall_ms = cpu["init_wall_ms"].as_f64().expect("INIT wall time");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    // No process gets more CPU than its cores give it in the same wall time; with the shell's
    // CPU counted this read `before_main / init_wall`, hundreds.
    assert!(
        init_ms <= init_wall_ms * cores,
        "INIT {init_ms} ms CPU in {init_wall_ms} ms wall, {before_main} ms before main: {cpu}"
    );
    assert!(init_ms < before_main, "{cpu}");
    let share = cpu["init_share"].as_f64().expect("a share");
    assert!(share > 0.0 && share <= cores, "{cpu}");
}
