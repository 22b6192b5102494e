//! The real `lambda_runtime` client loop, served by the local Runtime API, invoking an
//! instrumented handler cold, then warm, then with an error and a panic: the recorded metrics
//! must say exactly that.

mod support;

use coldstart::local::LocalRuntimeApi;
use coldstart::phases::{self, StartSource};
use coldstart::{cold_start_handler, names, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

#[cold_start_handler(name = "e2e")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if let Some(sleep) = event.payload["sleep_ms"].as_u64() {
        tokio::time::sleep(Duration::from_millis(sleep)).await;
    }
    match event.payload["mode"].as_str() {
        Some("error") => Err("the handler failed on purpose".into()),
        Some("panic") => panic!("the handler panicked on purpose"),
        _ => Ok(json!({ "ok": event.payload["n"] })),
    }
}

#[test]
fn cold_then_warm_then_error_and_panic_through_the_runtime_loop() {
    support::recorder();
    // The panic hook runs inside the handler's time; a quiet one keeps a printed backtrace
    // (RUST_BACKTRACE) from making the panicking invocation look slower than the cold one.
    std::panic::set_hook(Box::new(|_| {}));
    let api = LocalRuntimeApi::builder()
        .function_name("e2e-function")
        .start()
        .expect("local Runtime API");
    // Before any other thread of ours exists: the runtime reads these on start.
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = support::runtime(2);

    // The cold invocation does noticeably more work than the warm ones.
    let cold = json!({ "n": 0, "sleep_ms": 40 });
    let warm = (1..=3).map(|n| json!({ "n": n }));
    let failing = [json!({ "mode": "error" }), json!({ "mode": "panic" })];
    let events = std::iter::once(cold)
        .chain(warm)
        .chain(failing)
        .chain([json!({ "n": 99 })]);
    let results = support::serve(
        &runtime,
        &api,
        lambda_runtime::run(service_fn(handler)),
        events,
    );

    // What the Runtime API received.
    let outcomes: Vec<bool> = results.iter().map(|r| r.is_error()).collect();
    assert_eq!(outcomes, [false, false, false, false, true, true, false]);
    assert_eq!(results[0].json().unwrap(), json!({ "ok": 0 }));
    assert_eq!(results[6].json().unwrap(), json!({ "ok": 99 }));

    // What the crate recorded.
    let recorded = support::Recorded::take();
    let e2e = ("handler", "e2e");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[e2e]), 1);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[e2e, ("start", "cold")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[e2e, ("start", "warm")]),
        4
    );
    for outcome in ["error", "panic"] {
        assert_eq!(
            recorded.counter(
                names::ERRORS,
                &[e2e, ("start", "warm"), ("outcome", outcome)]
            ),
            1,
            "{outcome}: {:?}",
            recorded.series(names::ERRORS)
        );
    }
    assert_eq!(recorded.counter(names::ERRORS, &[e2e]), 2);

    let cold = recorded.histogram(names::INVOKE_DURATION, &[e2e, ("start", "cold")]);
    let warm = recorded.histogram(names::INVOKE_DURATION, &[e2e, ("start", "warm")]);
    assert_eq!(cold.len(), 1);
    assert_eq!(warm.len(), 6, "errors and panics are timed too");
    assert!(
        cold[0] >= 0.040,
        "the cold invocation slept 40 ms: {cold:?}"
    );
    assert!(warm.iter().all(|w| *w > 0.0 && *w < cold[0]), "{warm:?}");

    // Phases: the process started before the first invocation, which began after the constructor
    // and before the Runtime API saw its response.
    let to_first = recorded.histogram(
        names::PHASE_DURATION,
        &[("phase", names::PHASE_TO_FIRST_INVOCATION)],
    );
    assert_eq!(to_first.len(), 1);
    let (process_start, source) = phases::process_start();
    assert_eq!(
        source,
        StartSource::Constructor,
        "the .init_array constructor survived linking into a downstream binary"
    );
    let first = coldstart::invocation::first_invocation().expect("first invocation");
    assert_eq!(first.start_kind, StartKind::Cold);
    assert!(process_start < first.started_at);
    assert!(first.started_at < results[0].completed_at);
    let measured = first.started_at.duration_since(process_start).as_secs_f64();
    assert!((to_first[0] - measured).abs() < 1e-6);
    // Init end was not marked (no run wrapper here), so no init phase is claimed.
    assert!(recorded.histogram(names::INIT_DURATION, &[]).is_empty());
    assert_eq!(coldstart::invocation::invocation_count(), 7);
}
