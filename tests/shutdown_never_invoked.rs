//! An on-demand environment that Lambda retires before any request reached it (a proactive
//! init nobody used) still reports its INIT: at SIGTERM, before the `on_shutdown` hook runs, so
//! that the hook's last push carries it. Through a real process (this test binary started again
//! as the function), the local Runtime API and a real SIGTERM.
#![cfg(unix)]

use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "COLDSTART_NEVER_INVOKED_CHILD";

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// The function process: prints what its Prometheus rendering holds at shutdown.
#[test]
#[ignore = "child-process entry: run by `an_environment_never_invoked_reports_its_init_at_shutdown` in a child process"]
fn function_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let handle = coldstart::prometheus::install().expect("the first recorder");
    let coldstart = Coldstart::new().on_shutdown(move || {
        for line in coldstart::prometheus::render(&handle).lines() {
            if line.starts_with("faas_init_duration_seconds_count")
                || line.starts_with("faas_coldstarts_total")
            {
                println!("at shutdown: {line}");
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(coldstart.run(service_fn(handler)));
    panic!("the runtime loop ended: {result:?}");
}

#[test]
fn an_environment_never_invoked_reports_its_init_at_shutdown() {
    let api = LocalRuntimeApi::builder()
        .function_name("never-invoked")
        .start()
        .expect("local Runtime API");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "function_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(api.env())
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the function process starts");
    // INIT is over once the runtime waits for its first event and the extension for its own.
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.pending_next_requests() == 0 || api.pending_extension_next_requests() == 0 {
        assert!(Instant::now() < deadline, "INIT never ended");
        assert!(child.try_wait().unwrap().is_none(), "the function exited");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(status.success(), "{status:?}\n{stdout}");
    assert!(
        stdout
            .contains(r#"at shutdown: faas_init_duration_seconds_count{init_type="on-demand"} 1"#),
        "INIT is in the last rendering:\n{stdout}"
    );
    assert!(
        !stdout.contains("faas_coldstarts_total"),
        "no request, no cold start:\n{stdout}"
    );
}
