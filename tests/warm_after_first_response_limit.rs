//! The warm-up after the first response holds the next event at most `Coldstart::warm_timeout`:
//! with a second event already waiting and a static that cannot finish, the runtime asks for the
//! next event once the limit passes; the async initializer still running is dropped
//! (`cancelled`), the sync one not started yet stays lazy, and both are built on their next access.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::{AsyncLazy, During, Lazy, State};
use coldstart::{cold_start_handler, lazy, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

/// Closed until the test lets the statics finish.
static GATE: support::Gate = support::Gate::new();

#[lazy(after_first_response, name = "slow-a")]
static SLOW_A: u8 = {
    GATE.wait();
    1
};

#[lazy(after_first_response, name = "slow-b")]
static SLOW_B: u8 = {
    GATE.wait();
    2
};

/// Never ready while the gate is closed.
#[lazy(async, after_first_response, name = "pending")]
static PENDING: u8 = async {
    while !GATE.is_open() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    3
};

const LIMIT: Duration = Duration::from_millis(200);

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["n"].as_u64() {
        Some(3) => Ok(json!(*SLOW_A + *SLOW_B + *PENDING.get().await)),
        n => Ok(json!(n)),
    }
}

#[test]
fn a_waiting_event_is_held_no_longer_than_the_limit() {
    support::recorder();
    let api = support::local_api("warm-limit");
    let runtime = support::runtime(2);
    // The second event is waiting before the first response.
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .warm_timeout(LIMIT)
            .run(service_fn(handler)),
        [json!({ "n": 1 }), json!({ "n": 2 })],
    );
    assert!(results.iter().all(|r| !r.is_error()));
    // Both answered while the gate is closed: the warm-up let go of /next without its statics,
    // after holding it for the limit.
    let held = results[1]
        .next_requested_at
        .saturating_duration_since(results[0].completed_at);
    assert!(
        held >= LIMIT,
        "held {held:?}, less than the {LIMIT:?} limit"
    );
    // One sync static was running when the limit passed (it goes on, on its thread); the other
    // never started. The async one was dropped.
    let mut states = [Lazy::info(&SLOW_A).state, Lazy::info(&SLOW_B).state];
    states.sort_by_key(|state| *state == State::NotInitialized);
    assert_eq!(states, [State::Initializing, State::NotInitialized]);
    assert_eq!(
        AsyncLazy::info(&PENDING).state,
        State::Failed { failures: 1 }
    );
    let recorded = support::Recorded::take();
    let cancelled = recorded.histogram(
        names::LAZY_INIT_DURATION,
        &[
            ("lazy", "pending"),
            ("during", "after_first_response"),
            ("outcome", "cancelled"),
        ],
    );
    assert_eq!(cancelled.len(), 1);

    // Nothing is lost: the next access builds what the warm-up did not.
    GATE.open();
    let results = support::drive(&runtime, &api, [json!({ "n": 3 })]);
    assert_eq!(results[2].json().unwrap(), json!(6));
    let third = During::Invocation {
        number: 3,
        start_kind: coldstart::StartKind::Warm,
    };
    assert_eq!(AsyncLazy::info(&PENDING).during, Some(third));
    let (a, b) = (Lazy::info(&SLOW_A), Lazy::info(&SLOW_B));
    assert_eq!((a.state, b.state), (State::Ready, State::Ready));
    // The one running at the limit finished on the warm-up's thread; the other on the request.
    let mut during = [a.during.unwrap(), b.during.unwrap()];
    during.sort_by_key(|d| d.invocation());
    assert_eq!(during, [During::AfterFirstResponse, third]);
}
