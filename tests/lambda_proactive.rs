//! Proactive initialization: an on-demand environment whose first event arrives long after INIT
//! ended (here 300 ms, past the 100 ms default threshold) did not make anyone wait, so its first
//! invocation is `proactive`, not `cold`, and `faas.coldstarts` stays at zero.

mod support;

use coldstart::local::LocalEvent;
use coldstart::{cold_start_handler, names, phases, StartKind};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

#[cold_start_handler(name = "reports")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn a_first_event_long_after_init_end_is_a_proactive_start() {
    support::recorder();
    let api = support::local_api("proactive");
    let runtime = support::runtime(1);

    let results = support::serve(
        &runtime,
        &api,
        coldstart::lambda::run(service_fn(handler)),
        [
            LocalEvent::json(&json!({ "n": 1 })).delay(Duration::from_millis(300)),
            LocalEvent::json(&json!({ "n": 2 })),
        ],
    );
    assert!(results.iter().all(|r| !r.is_error()));

    let first = coldstart::invocation::first_invocation().unwrap();
    assert_eq!(first.start_kind, StartKind::Proactive);
    let gap = phases::first_event().unwrap() - phases::init_end().unwrap();
    assert!(gap >= Duration::from_millis(300), "{gap:?}");

    let recorded = support::Recorded::take();
    let reports = ("handler", "reports");
    assert_eq!(recorded.counter(names::COLDSTARTS, &[]), 0);
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[reports, ("start", "proactive")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[reports, ("start", "warm")]),
        1
    );
    assert_eq!(
        recorded
            .histogram(names::INVOKE_DURATION, &[reports, ("start", "proactive")])
            .len(),
        1
    );
    // The gap is what `wait_for_first_event` records; INIT itself is recorded too.
    let wait = recorded.histogram(
        names::PHASE_DURATION,
        &[("phase", names::PHASE_WAIT_FOR_FIRST_EVENT)],
    );
    assert_eq!(wait, [gap.as_secs_f64()]);
    assert_eq!(recorded.histogram(names::INIT_DURATION, &[]).len(), 1);
}
