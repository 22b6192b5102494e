//! Warming after the first response under `run_concurrent` (Lambda Managed Instances): a burst of
//! overlapping invocations with a slow flush hook. The marked static is built once, after the
//! first response was posted, attributed `after_first_response`, and no invocation fails or
//! waits for it.
#![cfg(feature = "concurrent")]

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::{During, Lazy, State};
use coldstart::{cold_start_handler, lazy, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static BUILDS: AtomicUsize = AtomicUsize::new(0);
static BUILT_AT: Mutex<Option<Instant>> = Mutex::new(None);

#[lazy(after_first_response, name = "rules")]
static RULES: usize = {
    BUILDS.fetch_add(1, Ordering::SeqCst);
    *BUILT_AT.lock().unwrap() = Some(Instant::now());
    std::thread::sleep(Duration::from_millis(50));
    7
};

#[cold_start_handler(name = "burst")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(event.payload)
}

#[test]
fn a_burst_of_overlapping_invocations_warms_once_after_the_first_response() {
    support::recorder();
    let api = support::local_api("warm-concurrent");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "4") };
    let runtime = support::runtime(2);

    const EVENTS: usize = 24;
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            // A slow hook: overlapping invocations finish while others flush.
            .on_flush(|_| std::thread::sleep(Duration::from_millis(30)))
            .run_concurrent(service_fn(handler)),
        (0..EVENTS).map(|n| json!({ "n": n })),
    );
    assert_eq!(results.len(), EVENTS);
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");

    // Built exactly once, after a response had been posted, not on any request.
    let first_response = results.iter().map(|r| r.completed_at).min().unwrap();
    let built_at = BUILT_AT.lock().unwrap().expect("the warm-up built it");
    assert!(built_at >= first_response, "built before any response");
    assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
    let info = Lazy::info(&RULES);
    assert_eq!(info.state, State::Ready);
    assert_eq!(info.during, Some(During::AfterFirstResponse));
    assert_eq!(*RULES, 7);

    let recorded = support::Recorded::take();
    let built = recorded.histogram(
        names::LAZY_INIT_DURATION,
        &[
            ("lazy", "rules"),
            ("during", "after_first_response"),
            ("outcome", "ok"),
        ],
    );
    assert_eq!(built.len(), 1);
    let burst = ("handler", "burst");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[burst]), 1);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[burst, ("start", "warm")]),
        EVENTS as u64 - 1
    );
}
