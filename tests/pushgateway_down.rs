//! A Pushgateway that is down or hung never fails an invocation and never stalls it beyond the
//! push bound: the flush hook pushes with `push_or_report`, through the real runtime loop.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use coldstart::prometheus::{self, PushError, Pushgateway};
use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cold_start_handler(name = "unpushed")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// When each flush hook began to push.
static FLUSHED: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[test]
fn invocations_succeed_within_the_bound_when_the_gateway_is_down_or_hung() {
    let handle = prometheus::install().expect("first recorder");
    // Hung: accepts connections (the kernel's backlog) and never answers.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    // Down: nothing listens on this port any more.
    let down_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bound = Duration::from_millis(100);
    let gateways = Arc::new([
        Pushgateway::new(&format!("http://{}", hung.local_addr().unwrap()), "hung")
            .unwrap()
            .timeout(bound),
        Pushgateway::new(&format!("http://127.0.0.1:{down_port}"), "down")
            .unwrap()
            .timeout(bound),
    ]);

    let api = LocalRuntimeApi::start().expect("local Runtime API");
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = support::runtime(1);
    let hook_gateways = Arc::clone(&gateways);
    let hook_handle = handle.clone();
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            // Every flush is waited for, however slow the machine: one left behind at the
            // default 300 ms bound would have the next one skipped, and a failure uncounted.
            // A push that stalled would now hold the runtime for 20 s and never be counted.
            .flush_timeout(Duration::from_secs(20))
            .on_flush(move |_| {
                FLUSHED.lock().unwrap().push(Instant::now());
                for gateway in hook_gateways.iter() {
                    gateway.push_or_report(&hook_handle);
                }
            })
            .run(service_fn(handler)),
        (0..3).map(|n| json!({ "n": n })),
    );

    // Every invocation succeeded and was answered before its flush began to push: no client
    // waited for a gateway.
    assert!(results.iter().all(|r| !r.is_error()));
    assert_eq!(results[2].json().unwrap(), json!({ "n": 2 }));
    let flushed = FLUSHED.lock().unwrap().clone();
    assert_eq!(flushed.len(), results.len(), "one flush per invocation");
    for (result, flushed) in results.iter().zip(&flushed) {
        assert!(
            result.completed_at <= *flushed,
            "a push before its response"
        );
    }
    // The first push to each gateway returned and failed, counted by the gateway and in the
    // metric. A later flush that began less than a second after the first one is within the
    // back-off that failure started (1 s from when it ended): skipped, not attempted. So a
    // gateway that is down or hung costs one bounded attempt, not one per invocation (and the
    // flushes run one at a time, so a stalled push would have left a flush out).
    let skipped = flushed[1..]
        .iter()
        .filter(|at| at.duration_since(flushed[0]) < Duration::from_secs(1))
        .count() as u64;
    for gateway in gateways.iter() {
        let failures = gateway.failures();
        assert!(
            (1..=3 - skipped).contains(&failures),
            "{failures} failures, {skipped} flushes within the back-off"
        );
        if skipped == 2 {
            assert_eq!(failures, 1);
        }
    }
    let counted = gateways[0].failures() + gateways[1].failures();
    let text = handle.render();
    let prometheus_name = names::ALL
        .iter()
        .find(|def| def.name == names::EXPORT_FAILURES)
        .unwrap()
        .prometheus;
    assert_eq!(prometheus_name, "coldstart_export_failures_total");
    let failures = format!("{prometheus_name}{{exporter=\"pushgateway\"}} {counted}");
    assert!(text.lines().any(|l| l == failures), "{failures}\n{text}");
    // What ends a push to the hung gateway is its bound, and the down one refuses at once.
    let ended = gateways[0].push(&handle);
    assert!(matches!(ended, Err(PushError::Timeout(_))), "{ended:?}");
    let ended = gateways[1].push(&handle);
    assert!(matches!(ended, Err(PushError::Io(_))), "{ended:?}");
    drop(hung);
}
