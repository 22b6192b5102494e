//! Under `run_concurrent` (Lambda Managed Instances) a lazy static and a named phase that the cold
//! invocation's handler starts after a warm one began are still the cold invocation's: in the
//! static's `during`, the `during` labels, and the report's budget breakdown; and
//! `current_invocation()` in its handler says it is the cold one. Driven through the
//! real `lambda_runtime` loop served by the local Runtime API.
#![cfg(feature = "concurrent")]

mod support;

use coldstart::lazy::{During, Lazy};
use coldstart::{cold_start_handler, lazy, names, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The cold invocation's handler has begun.
static FIRST_BEGAN: AtomicBool = AtomicBool::new(false);
/// The warm invocation's handler has begun (it is then the most recently begun invocation).
static SECOND_BEGAN: AtomicBool = AtomicBool::new(false);
/// What `current_invocation()` said in the cold handler once the warm one had begun.
static SEEN_BY_COLD: Mutex<Option<(u64, bool)>> = Mutex::new(None);

/// Each piece of the cold start takes long enough to be among the five the report's budget
/// breakdown keeps (the only shorter part is the event's deserialization).
const WORK: Duration = Duration::from_millis(100);

#[lazy(name = "cart")]
static CART: Vec<u32> = {
    std::thread::sleep(WORK);
    (0..1_000).collect()
};

// A 1 ms budget, so that the report breaks the cold start down into what dominated it.
#[cold_start_handler(name = "overlap", budget = "1ms")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["n"].as_u64() {
        Some(1) => {
            FIRST_BEGAN.store(true, Ordering::SeqCst);
            while !SECOND_BEGAN.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let current = coldstart::current_invocation().expect("an invocation in progress");
            *SEEN_BY_COLD.lock().unwrap() = Some((current.number, current.is_cold()));
            let priced = coldstart::phase("pricing", || {
                std::thread::sleep(WORK);
                CART.len()
            });
            Ok(json!({ "priced": priced }))
        }
        _ => {
            SECOND_BEGAN.store(true, Ordering::SeqCst);
            Ok(json!({ "ok": true }))
        }
    }
}

#[test]
fn what_the_cold_handler_starts_after_a_warm_one_began_is_the_cold_invocations() {
    support::recorder();
    let api = support::local_api("overlap");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "2") };
    let runtime = support::runtime(2);
    support::start(
        &runtime,
        &api,
        coldstart::lambda::Coldstart::new()
            .print_report(false)
            .run_concurrent(service_fn(handler)),
        [json!({ "n": 1 })],
    );
    // The second event is queued only once the first invocation has begun: that one is number 1.
    support::wait_until("the cold invocation began", || {
        FIRST_BEGAN.load(Ordering::SeqCst)
    });
    let results = support::drive(&runtime, &api, [json!({ "n": 2 })]);
    assert!(results.iter().all(|result| !result.is_error()));
    assert_eq!(coldstart::invocation::invocation_count(), 2);

    assert_eq!(*SEEN_BY_COLD.lock().unwrap(), Some((1, true)));
    let cold = During::Invocation {
        number: 1,
        start_kind: StartKind::Cold,
    };
    assert_eq!(
        Lazy::info(&CART).during,
        Some(cold),
        "built by the cold invocation, after the warm one began"
    );

    support::wait_until("the report", || coldstart::cold_start_report().is_some());
    let report = coldstart::cold_start_report().unwrap();
    let budget = report.budget.expect("a 1 ms budget is exceeded");
    let parts: Vec<&str> = budget
        .dominant
        .iter()
        .map(|(what, _)| what.as_str())
        .collect();
    for part in [
        "lazy `cart` (during the first invocation)",
        "phase `pricing` (during the first invocation)",
    ] {
        assert!(parts.contains(&part), "{part} missing from {parts:?}");
    }

    let recorded = support::Recorded::take();
    let during_cold = ("during", "cold");
    assert_eq!(
        recorded
            .histogram(
                names::LAZY_INIT_DURATION,
                &[("lazy", "cart"), during_cold, ("outcome", "ok")]
            )
            .len(),
        1
    );
    assert_eq!(
        recorded
            .histogram(
                names::PHASE_DURATION,
                &[("phase", "pricing"), during_cold, ("outcome", "ok")]
            )
            .len(),
        1
    );
}
