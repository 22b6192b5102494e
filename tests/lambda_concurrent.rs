//! `coldstart::lambda::run_concurrent` with `AWS_LAMBDA_MAX_CONCURRENCY=8` (Lambda Managed
//! Instances): many invocations in flight at once in one environment, exactly one of them cold.
#![cfg(feature = "concurrent")]

mod support;

use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

#[cold_start_handler(name = "fan-in")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    MAX_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    Ok(event.payload)
}

#[test]
fn many_invocations_in_flight_count_exactly_one_cold_start() {
    support::recorder();
    let api = support::local_api("concurrent");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "8") };
    let runtime = support::runtime(2);

    const EVENTS: usize = 48;
    let events = (0..EVENTS)
        .map(|n| json!({ "n": n }))
        .chain([json!({ "warmer": true, "__WARMER_CONCURRENCY__": 8 })]);
    let results = support::serve(
        &runtime,
        &api,
        coldstart::lambda::run_concurrent(service_fn(handler)),
        events,
    );
    assert!(results.iter().all(|r| !r.is_error()));
    assert!(
        MAX_IN_FLIGHT.load(Ordering::SeqCst) > 1,
        "the invocations overlapped"
    );

    let recorded = support::Recorded::take();
    let fan_in = ("handler", "fan-in");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[fan_in]), 1);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[fan_in, ("start", "cold")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[fan_in, ("start", "warm")]),
        EVENTS as u64 - 1
    );
    assert_eq!(recorded.counter(names::WARMUPS, &[("start", "warm")]), 1);
    assert_eq!(coldstart::invocation::invocation_count(), EVENTS as u64 + 1);
}
