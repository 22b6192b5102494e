//! A re-init under AWS's own Runtime Interface Emulator: the first invocation of an environment
//! runs past its 3 s timeout; the emulator kills the runtime and, on the next invoke, starts it
//! again in the same environment (same `/tmp`), as Lambda does after a timeout ("suppressed
//! init"). The first process records the timeout before its deadline and leaves its marker; the
//! second one's cold-start report says it is a re-init after a timeout.
//!
//! `#[ignore]`d: it needs the emulator's binary, whose path `.ci/run` passes in `COLDSTART_RIE`
//! (from `../shared/tools/rie/`), and runs it with `--ignored`.
#![cfg(unix)]

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "COLDSTART_RIE_CHILD";

#[cold_start_handler(name = "reinit")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let sleep = event.payload["sleep_ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(sleep)).await;
    Ok(event.payload)
}

/// The function process the emulator starts (as its bootstrap); does nothing when run directly.
#[test]
#[ignore = "child-process entry: run by `after_a_cold_timeout_the_next_process_reports_a_reinit` in a child process"]
fn function_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    exit_with_the_emulator();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A wide margin: the timeout is recorded (and the marker written) 1.5 s before the
    // emulator's deadline, however loaded the machine.
    let coldstart = Coldstart::new().timeout_margin(Duration::from_millis(1500));
    let result = runtime.block_on(coldstart.run(service_fn(handler)));
    panic!("the runtime loop ended: {result:?}");
}

/// The emulator does not stop the runtime it started when it is killed: the function process
/// exits once its parent (the emulator) is gone, so that no test leaves one behind.
fn exit_with_the_emulator() {
    let emulator = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        if std::os::unix::process::parent_id() != emulator {
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// POSTs an invoke to the emulator and returns the body of its answer.
fn invoke(port: u16, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => panic!("the emulator does not listen: {err}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /2015-03-31/functions/function/invocations HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
#[ignore = "needs AWS's Runtime Interface Emulator (COLDSTART_RIE); .ci/run runs it"]
fn after_a_cold_timeout_the_next_process_reports_a_reinit() {
    let rie = std::env::var("COLDSTART_RIE").expect("COLDSTART_RIE: the emulator's binary");
    let tmp = std::env::temp_dir().join(format!("coldstart-rie-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let log = tmp.join("rie.log");
    let (invoke_port, api_port) = (free_port(), free_port());
    let mut emulator = Command::new(rie)
        .args([
            "--runtime-interface-emulator-address",
            &format!("127.0.0.1:{invoke_port}"),
            "--runtime-api-address",
            &format!("127.0.0.1:{api_port}"),
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "function_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "eu-west-1")
        // The environment's /tmp, fresh: what survives the runtime process is only what this
        // environment wrote.
        .env("TMPDIR", &tmp)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator starts");

    // 1. A cold invocation that runs past its deadline: the emulator answers with its timeout.
    let first = invoke(invoke_port, r#"{"sleep_ms":6000}"#);
    // 2. The next invoke re-inits the runtime in the same environment.
    let second = invoke(invoke_port, r#"{"sleep_ms":0}"#);
    // Let the second process print its report (after its response).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut output = String::new();
    while Instant::now() < deadline {
        output = std::fs::read_to_string(&log).unwrap_or_default();
        if output.contains("\"coldstart_report\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = emulator.kill();
    let _ = emulator.wait();
    let _ = std::fs::remove_dir_all(&tmp);

    assert!(first.contains("Task timed out"), "{first}");
    assert!(second.contains(r#""sleep_ms":0"#), "{second}");
    let reports: Vec<Value> = output
        .lines()
        .filter_map(|line| line.find("{\"coldstart_report\"").map(|at| &line[at..]))
        .map(|json| serde_json::from_str(json).expect("a JSON report line"))
        .collect();
    // The first process never finished its invocation; the second reports its own cold start.
    assert_eq!(reports.len(), 1, "{output}");
    let report = &reports[0];
    assert_eq!(report["start"], "cold", "{report}");
    assert_eq!(report["reinit"], "timeout", "{report}");
}
