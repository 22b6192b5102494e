//! `Coldstart::on_shutdown` through real processes: this test binary starts itself again as the
//! function (the `function_process` entry below, selected by `COLDSTART_SHUTDOWN_CHILD`), serves
//! it events through the local Runtime API in the test process, sends it a real SIGTERM with
//! `kill`, and reads what it printed and how it exited.
//!
//! The Pushgateway recipe test is `#[ignore]`d: `.ci/run` starts a real gateway, sets
//! `COLDSTART_PUSHGATEWAY_URL` and runs it with `--ignored`. Its hook does what the README's
//! recipe does, push then delete, and nothing else: what reached the gateway, and in which
//! order, the test reads from outside, through a recording proxy.
#![cfg(unix)]

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use coldstart::prometheus::{self, PushError, Pushgateway};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The variable that turns this binary into the function, and says which hook it sets.
const CHILD: &str = "COLDSTART_SHUTDOWN_CHILD";
/// The Pushgateway instance the `pushgateway` child uses.
const INSTANCE: &str = "COLDSTART_SHUTDOWN_INSTANCE";
/// Where the `pushgateway` child's shutdown hook sends its push and delete (the recording proxy).
const HOOK_GATEWAY: &str = "COLDSTART_SHUTDOWN_HOOK_GATEWAY";
const HELPER_EXTENSION: &str = "_lambda-rust-runtime-no-op-graceful-shutdown-helper";
const JOB: &str = "coldstart-shutdown-test";

static INVOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[cold_start_handler(name = "shutdown")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    INVOCATIONS.fetch_add(1, Ordering::SeqCst);
    Ok(event.payload)
}

/// The function process. As a child it serves events until it receives a signal, and never
/// returns; run directly (`--ignored`, no `COLDSTART_SHUTDOWN_CHILD`) it does nothing.
#[test]
#[ignore = "child-process entry: run by the SIGTERM tests of this file in a child process"]
fn function_process() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let mut coldstart = Coldstart::new().print_report(false);
    coldstart = match mode.as_str() {
        "none" => coldstart,
        "print" => coldstart.on_shutdown(|| {
            // What the hook awaits runs on the function's runtime, as `on_shutdown` says.
            let n = tokio::runtime::Handle::current()
                .block_on(async { INVOCATIONS.load(Ordering::SeqCst) });
            println!("hook: ran after {n} invocations");
        }),
        "panic" => coldstart.on_shutdown(|| panic!("the hook fails on purpose")),
        "hang" => coldstart.on_shutdown(|| std::thread::sleep(Duration::from_secs(600))),
        "pushgateway" => pushgateway_recipe(coldstart),
        other => panic!("unknown {CHILD} mode {other:?}"),
    };
    let runtime = support::runtime(2);
    let result = runtime.block_on(coldstart.run(service_fn(handler)));
    panic!("the runtime loop ended: {result:?}");
}

/// The README's recipe: every invocation pushes, and the shutdown hook pushes what was recorded
/// since (here a counter it increments itself), then deletes the group, each request bounded at
/// 150 ms so that both fit in the hook's 400 ms. It prints how each request ended; the test reads
/// what the gateway received from outside.
fn pushgateway_recipe(coldstart: Coldstart) -> Coldstart {
    let url = std::env::var("COLDSTART_PUSHGATEWAY_URL").expect("the URL is passed on");
    let hook_url = std::env::var(HOOK_GATEWAY).expect("the hook's URL is passed on");
    let instance = std::env::var(INSTANCE).expect("the instance is passed on");
    let handle = prometheus::install().expect("first recorder");
    // The per-invocation pushes are not what is tested here: generous bounds, so that on a
    // loaded machine each one lands before the runtime asks for the next event.
    let per_invocation = Pushgateway::new(&url, JOB)
        .expect("a valid URL")
        .instance(instance.clone())
        .timeout(Duration::from_secs(10));
    let gateway = Pushgateway::new(&hook_url, JOB)
        .expect("a valid URL")
        .instance(instance)
        .timeout(Duration::from_millis(150));
    let flush_handle = handle.clone();
    coldstart
        .flush_timeout(Duration::from_secs(20))
        .on_flush(move |_| {
            per_invocation.push_or_report(&flush_handle);
        })
        .on_shutdown(move || {
            metrics::counter!("test_final_flushes").increment(1);
            println!("hook: final push {}", ended(gateway.push(&handle)));
            println!("hook: delete {}", ended(gateway.delete()));
        })
}

/// How a request of the hook ended, as it prints it.
fn ended(result: Result<(), PushError>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(PushError::Timeout(_)) => "timed out".to_owned(),
        Err(err) => format!("failed: {err}"),
    }
}

// --- the parent side -------------------------------------------------------------------------

/// This test binary, started as the function in `mode`, pointed at `api`.
fn spawn_function(api: &LocalRuntimeApi, mode: &str, extra: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--ignored",
            "--exact",
            "function_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(api.env())
        .env(CHILD, mode)
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the function process starts")
}

/// Polls `ready` until it holds; kills the child and fails after 60 s.
fn wait_until(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let (status, stdout, stderr) = finish(child);
            panic!("gave up waiting for {what} ({status:?})\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Serves `events` invocations and waits until the runtime asks for the next event (every
/// flush hook has returned or was left behind at its bound), then until the function's
/// extension (if any) waits for its next event: by then the signal handlers are installed (the
/// helper sets them up before it starts the extension's loop).
fn serve(api: &LocalRuntimeApi, child: &mut Child, events: usize, with_extension: bool) {
    for n in 0..events {
        api.push_json(&json!({ "n": n }));
    }
    wait_until(child, "the responses", || api.results().len() == events);
    wait_until(child, "the runtime's next /next", || {
        api.pending_next_requests() == 1
    });
    if with_extension {
        wait_until(child, "the extension's event/next", || {
            api.pending_extension_next_requests() == 1
        });
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM failed: {status}");
}

/// Waits for the child to exit (at most 60 s, then kills it) and returns its status and output.
fn finish(child: &mut Child) -> (ExitStatus, String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stdout, stderr)
}

/// What the hook printed (libtest's `test function_process ... ` may precede the first line).
fn hook_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|line| line.find("hook:").map(|at| &line[at..]))
        .collect()
}

fn api(name: &str) -> LocalRuntimeApi {
    LocalRuntimeApi::builder()
        .function_name(name)
        .start()
        .expect("local Runtime API")
}

#[test]
fn sigterm_runs_the_hook_once_after_the_invocations_and_exits_0() {
    let api = api("shutdown-print");
    let mut child = spawn_function(&api, "print", &[]);
    serve(&api, &mut child, 2, true);

    // The no-op extension registered during INIT: before the runtime asked for its first event.
    let extensions = api.extensions();
    assert_eq!(extensions.len(), 1, "{extensions:?}");
    assert_eq!(extensions[0].name, HELPER_EXTENSION);
    assert!(extensions[0].events.is_empty(), "{extensions:?}");
    let first_next = api.results()[0].next_requested_at;
    assert!(extensions[0].registered_at < first_next);

    sigterm(&child);
    let (status, stdout, stderr) = finish(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}\n{stdout}\n{stderr}");
    let hook_lines = hook_lines(&stdout);
    assert_eq!(hook_lines, ["hook: ran after 2 invocations"], "{stdout}");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(
        !stderr.contains("coldstart:"),
        "no warning expected:\n{stderr}"
    );
}

#[test]
fn a_panicking_hook_is_caught_and_the_process_still_exits_0() {
    let api = api("shutdown-panic");
    // Without a backtrace: capturing and symbolizing one in this debug binary can take longer
    // than the hook's 400 ms on a loaded machine (it happens before the panic reaches the catch),
    // and the process would exit before the panic is reported. What is tested is the catch.
    let mut child = spawn_function(&api, "panic", &[("RUST_BACKTRACE", "0")]);
    serve(&api, &mut child, 1, true);
    sigterm(&child);
    let (status, stdout, stderr) = finish(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}\n{stdout}\n{stderr}");
    assert!(stderr.contains("the hook fails on purpose"), "{stderr}");
    assert!(
        stderr.contains("coldstart: the on_shutdown hook panicked; the process exits anyway"),
        "{stderr}"
    );
}

#[test]
fn a_hanging_hook_is_cut_off_at_the_bound_and_the_process_exits_0() {
    let api = api("shutdown-hang");
    let mut child = spawn_function(&api, "hang", &[]);
    serve(&api, &mut child, 1, true);
    sigterm(&child);
    // The hook sleeps 600 s: that the process exits 0 at all, and says why, shows it was cut off
    // (the 400 ms bound itself is not asserted as a timing).
    let (status, stdout, stderr) = finish(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("coldstart: the on_shutdown hook did not return within 400 ms"),
        "{stderr}"
    );
}

#[test]
fn without_a_hook_nothing_registers_and_sigterm_kills_as_before() {
    let api = api("shutdown-none");
    let mut child = spawn_function(&api, "none", &[]);
    serve(&api, &mut child, 1, false);
    assert!(api.extensions().is_empty());
    sigterm(&child);
    let (status, _, stderr) = finish(&mut child);
    assert_eq!(status.signal(), Some(15), "{status:?}\n{stderr}");
}

/// What one request through [`RecordingProxy`] was and what the gateway answered.
#[derive(Debug, Clone)]
struct Exchange {
    /// `PUT /metrics/job/… HTTP/1.1`
    request: String,
    body: String,
    /// `HTTP/1.1 200 OK`
    status: String,
}

/// A loopback proxy in front of the real Pushgateway that records every exchange before it
/// hands the answer back: the test sees what the hook sent and what the gateway answered,
/// without the hook spending any of its bound on checking.
struct RecordingProxy {
    url: String,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl RecordingProxy {
    fn start(gateway: &str) -> RecordingProxy {
        let upstream = gateway
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&exchanges);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, log) = (upstream.clone(), Arc::clone(&log));
                std::thread::spawn(move || {
                    let _ = forward(client, &upstream, &log);
                });
            }
        });
        RecordingProxy { url, exchanges }
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }
}

/// One request (`Content-Length` body, `Connection: close`, as `Pushgateway` sends them) passed
/// on to `upstream`, its answer recorded, then returned.
fn forward(client: TcpStream, upstream: &str, log: &Mutex<Vec<Exchange>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(head.as_bytes())?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    let status = String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    log.lock().unwrap().push(Exchange {
        request: head.lines().next().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    let mut client = client;
    client.write_all(&response)
}

/// Attempts of the Pushgateway recipe test before it gives up on the machine.
const ATTEMPTS: u32 = 5;

#[test]
#[ignore = "needs a Pushgateway at COLDSTART_PUSHGATEWAY_URL (.ci/run starts one)"]
fn at_sigterm_the_recipe_pushes_last_then_deletes_the_group_from_a_real_pushgateway() {
    let url = std::env::var("COLDSTART_PUSHGATEWAY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:9091".to_owned());
    // The hook gets SHUTDOWN_HOOK_BOUND (400 ms) for its push and delete, 150 ms each. On a
    // loaded machine the gateway may answer slower than that: an attempt cut off at the bound,
    // or whose request timed out, shows nothing about the recipe either way, and another is
    // made. Anything else an attempt finds decides the test.
    for attempt in 1..=ATTEMPTS {
        match recipe_attempt(&url, attempt) {
            Ok(()) => return,
            Err(why) => eprintln!("attempt {attempt} of {ATTEMPTS} did not finish in time: {why}"),
        }
    }
    panic!("in {ATTEMPTS} attempts the hook never got its push and delete done within its bound");
}

/// One function process through the recipe: `Err` when time ran out, a panic when something
/// is wrong.
fn recipe_attempt(url: &str, attempt: u32) -> Result<(), String> {
    let instance = format!("shutdown-{}-{attempt}", std::process::id());
    let group = format!("/metrics/job/{JOB}/instance/{instance}");
    let ours = format!(r#"instance="{instance}""#);
    let in_gateway = || {
        support::scrape(url)
            .lines()
            .filter(|l| l.contains(&ours))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let proxy = RecordingProxy::start(url);
    let api = api("shutdown-gateway");
    let mut child = spawn_function(
        &api,
        "pushgateway",
        &[
            ("COLDSTART_PUSHGATEWAY_URL", url),
            (HOOK_GATEWAY, &proxy.url),
            (INSTANCE, &instance),
        ],
    );
    serve(&api, &mut child, 3, true);
    // The third invocation's push (two warm ones) in the gateway: no per-invocation push is left
    // to land after the hook's delete.
    let warm = format!(
        r#"faas_invocations_total{{handler="shutdown",{ours},job="{JOB}",start="warm"}} 2"#
    );
    wait_until(
        &mut child,
        "the per-invocation pushes in the gateway",
        || in_gateway().contains(&warm),
    );

    sigterm(&child);
    let (status, stdout, stderr) = finish(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}\n{stdout}\n{stderr}");
    let hook_lines = hook_lines(&stdout);
    if stderr.contains("coldstart: the on_shutdown hook did not return within")
        || hook_lines.iter().any(|l| l.ends_with("timed out"))
    {
        // Leave the gateway as it was: the group goes whether the hook deleted it or not.
        let _ = Pushgateway::new(url, JOB)
            .unwrap()
            .instance(instance)
            .timeout(Duration::from_secs(10))
            .delete();
        return Err(format!("{hook_lines:?}\n{stderr}"));
    }
    assert_eq!(
        hook_lines,
        ["hook: final push ok", "hook: delete ok"],
        "{stdout}\n{stderr}"
    );

    // The gateway stored the push (it answers a PUT once it has), which carried what the hook
    // recorded, then was asked to delete the group.
    let exchanges = proxy.exchanges();
    let seen: Vec<(&str, &str)> = exchanges
        .iter()
        .map(|e| (e.request.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(exchanges.len(), 2, "{seen:#?}");
    let (push, delete) = (&exchanges[0], &exchanges[1]);
    assert_eq!(push.request, format!("PUT {group} HTTP/1.1"), "{seen:#?}");
    assert!(push.status.starts_with("HTTP/1.1 200"), "{seen:#?}");
    // The test's own counter keeps the name it was given (coldstart renames only its own).
    assert!(
        push.body.lines().any(|l| l == "test_final_flushes 1"),
        "the final push carries what the hook recorded:\n{}",
        push.body
    );
    assert_eq!(
        delete.request,
        format!("DELETE {group} HTTP/1.1"),
        "{seen:#?}"
    );
    assert!(delete.status.starts_with("HTTP/1.1 202"), "{seen:#?}");

    // The gateway applies a delete after it has answered it: the group goes soon after.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = in_gateway();
        if left.is_empty() {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "the group is still there a minute after its delete:\n{}",
            left.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
