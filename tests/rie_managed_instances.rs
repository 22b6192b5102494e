//! Lambda Managed Instances under AWS's own Runtime Interface Emulator: INIT runs before any
//! invoke (init type `lambda-managed-instances`), invokes overlap in one environment through
//! `coldstart::lambda::run_concurrent`, and the emulator's deadlines, about 10^6 times too far
//! ahead (nanoseconds in a millisecond field, its own bug), are taken as no deadline: said once,
//! never recorded as timeouts.
//!
//! `#[ignore]`d: it needs the emulator (`COLDSTART_RIE`, set by `.ci/run`) and root, since in
//! this mode the emulator only runs `/var/task/bootstrap`: a private mount namespace
//! (`unshare -m`) puts this test's bootstrap there without touching the machine's `/var/task`
//! beyond creating the empty mount point.
#![cfg(all(unix, feature = "concurrent"))]

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHILD: &str = "COLDSTART_RIE_LMI_CHILD";
/// `AWS_LAMBDA_MAX_CONCURRENCY`; each round sends this many invokes at once.
const CONCURRENCY: usize = 4;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

#[cold_start_handler(name = "lmi")]
async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let in_flight = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(300)).await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    Ok(json!({ "in_flight": in_flight }))
}

/// The function process the emulator starts (through `/var/task/bootstrap`).
#[test]
#[ignore = "child-process entry: run by `managed_instances_overlap_and_an_absurd_deadline_is_no_deadline` in a child process"]
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
    let result = runtime.block_on(Coldstart::new().run_concurrent(service_fn(handler)));
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

/// Invokes until the emulator takes it: it refuses an invoke with `Runtime.Unavailable` ("no
/// idle runtimes") while every runtime worker is busy or has not asked for its next event yet,
/// instead of queueing it as Lambda does.
fn invoke(port: u16, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = invoke_once(port, body);
        if !answer.contains("Runtime.Unavailable") || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn invoke_once(port: u16, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
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
#[ignore = "needs AWS's Runtime Interface Emulator (COLDSTART_RIE) and root; .ci/run runs it"]
fn managed_instances_overlap_and_an_absurd_deadline_is_no_deadline() {
    let rie = std::env::var("COLDSTART_RIE").expect("COLDSTART_RIE: the emulator's binary");
    let dir = std::env::temp_dir().join(format!("coldstart-rie-lmi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let task = dir.join("task");
    std::fs::create_dir_all(&task).unwrap();
    let bootstrap = task.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexec '{}' --ignored --exact function_process --nocapture --test-threads=1\n",
            std::env::current_exe().unwrap().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.join("rie.log");
    let (invoke_port, api_port) = (free_port(), free_port());
    let script = r#"mkdir -p /var/task && mount --bind "$1" /var/task && shift && exec "$@""#;
    let mut emulator = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&task)
        .arg(&rie)
        .args([
            "--runtime-interface-emulator-address",
            &format!("127.0.0.1:{invoke_port}"),
            "--runtime-api-address",
            &format!("127.0.0.1:{api_port}"),
        ])
        .env(CHILD, "1")
        .env("AWS_LAMBDA_MAX_CONCURRENCY", CONCURRENCY.to_string())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
        .env("AWS_REGION", "eu-west-1")
        .env("TMPDIR", &dir)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .expect("unshare starts");

    // Two rounds of overlapping invokes.
    let mut answers: Vec<String> = Vec::new();
    for round in 0..2 {
        answers.extend(std::thread::scope(|scope| {
            let handles: Vec<_> = (0..CONCURRENCY)
                .map(|n| {
                    scope.spawn(move || {
                        invoke(invoke_port, &format!(r#"{{"round":{round},"n":{n}}}"#))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        }));
    }
    // Let the after-response work print (the report follows the first response).
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
    let _ = std::fs::remove_dir_all(&dir);

    let in_flight: Vec<u64> = answers
        .iter()
        .map(|answer| {
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
            let value: Value = serde_json::from_str(body)
                .unwrap_or_else(|err| panic!("{err}: {answer}\n{output}"));
            value["in_flight"]
                .as_u64()
                .unwrap_or_else(|| panic!("a handler's answer: {answer}\n{output}"))
        })
        .collect();
    assert!(
        in_flight.iter().any(|n| *n > 1),
        "invokes overlapped: {in_flight:?}"
    );
    let report_line = output
        .lines()
        .find_map(|line| line.find("{\"coldstart_report\"").map(|at| &line[at..]))
        .unwrap_or_else(|| panic!("a report line:\n{output}"));
    let report: Value = serde_json::from_str(report_line).unwrap();
    assert_eq!(report["init_type"], "lambda-managed-instances", "{report}");
    assert_ne!(
        report["start"], "cold",
        "INIT was not user-facing: {report}"
    );
    assert_eq!(
        output.matches("beyond Lambda's 900 s maximum").count(),
        1,
        "said once:\n{output}"
    );
}
