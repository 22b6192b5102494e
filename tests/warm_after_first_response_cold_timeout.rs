//! A first invocation that runs out of time leaves no time to warm in: the statics marked
//! `after_first_response` are not started after its late response, the next event is not held
//! for them, and they stay lazy for the request that needs one.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::{During, Lazy, State};
use coldstart::local::LocalEvent;
use coldstart::{cold_start_handler, lazy};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static BUILDS: AtomicUsize = AtomicUsize::new(0);

#[lazy(after_first_response, name = "rules")]
static RULES: usize = BUILDS.fetch_add(1, Ordering::SeqCst) + 41;

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["n"].as_u64() {
        // Past its deadline (a cold connection, say).
        Some(1) => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(json!(1))
        }
        Some(2) => Ok(json!(2)),
        _ => Ok(json!(*RULES)),
    }
}

#[test]
fn a_cold_invocation_that_timed_out_starts_no_warm_up() {
    support::recorder();
    let api = support::local_api("warm-cold-timeout");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .timeout_margin(Duration::from_millis(100))
            .run(service_fn(handler)),
        [
            LocalEvent::json(&json!({ "n": 1 })).deadline_in(Duration::from_millis(500)),
            LocalEvent::json(&json!({ "n": 2 })),
        ],
    );
    assert_eq!(results.len(), 2);
    // Nothing built it after the first (timed-out) response, nor while the second ran.
    assert_eq!(BUILDS.load(Ordering::SeqCst), 0);
    assert_eq!(Lazy::info(&RULES).state, State::NotInitialized);

    // The request that needs it builds it, once.
    let third = support::drive(&runtime, &api, [json!({ "n": 3 })]);
    assert_eq!(third.last().unwrap().json().unwrap(), json!(41));
    assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
    assert_eq!(
        Lazy::info(&RULES).during,
        Some(During::Invocation {
            number: 3,
            start_kind: coldstart::StartKind::Warm
        })
    );
}
