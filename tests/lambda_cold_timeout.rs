//! The first invocation of an on-demand environment runs out of time: the most likely invocation
//! to time out (INIT plus a cold handler at a small memory size). It is watched like any other:
//! recorded as a cold start that timed out, with its duration up to the timeout mark, and flushed
//! before its deadline, although the watchdog's thread is not started before it began.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalEvent;
use coldstart::{cold_start_handler, names, Outcome};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A 2 s deadline with a 1 s margin, so that the verdict (flushed before the deadline) has a
/// second to spare on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_secs(1);

#[cold_start_handler(name = "cold-slow")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    // Waits on something slow (a database at a cold connection, say), past its deadline.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    Ok(event.payload)
}

static FLUSHED: Mutex<Vec<(Outcome, Instant)>> = Mutex::new(Vec::new());

#[test]
fn a_cold_invocation_that_runs_out_of_time_is_recorded_and_flushed_before_its_deadline() {
    support::recorder();
    let api = support::local_api("cold-timeout");
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .timeout_margin(MARGIN)
            .on_flush(|outcome| FLUSHED.lock().unwrap().push((outcome, Instant::now())))
            .run(service_fn(handler)),
        [LocalEvent::json(&json!({ "n": 1 })).deadline_in(DEADLINE)],
    );
    let result = &results[0];

    // Flushed once, as a timeout, 1 s in (deadline minus margin): before the deadline.
    let flushed = FLUSHED.lock().unwrap().clone();
    assert_eq!(flushed.len(), 1, "{flushed:?}");
    let (outcome, at) = flushed[0];
    assert_eq!(outcome, Outcome::Timeout);
    let since = at - result.delivered_at;
    assert!(
        since >= DEADLINE - MARGIN - Duration::from_millis(50) && since < DEADLINE,
        "flushed {since:?} after delivery"
    );

    let recorded = support::Recorded::take();
    let cold = [("handler", "cold-slow"), ("start", "cold")];
    assert_eq!(recorded.counter(names::TIMEOUTS, &cold), 1);
    assert_eq!(
        recorded.counter(names::ERRORS, &[cold[0], cold[1], ("outcome", "timeout")]),
        1
    );
    assert_eq!(
        recorded.counter(names::COLDSTARTS, &[cold[0]]),
        1,
        "a cold start that timed out is a cold start"
    );
    assert_eq!(recorded.counter(names::INVOCATIONS, &[cold[0]]), 0);
    let durations = recorded.histogram(names::INVOKE_DURATION, &cold);
    assert_eq!(durations.len(), 1, "{durations:?}");
    let mark = (DEADLINE - MARGIN).as_secs_f64();
    assert!(
        (mark - 0.05..DEADLINE.as_secs_f64()).contains(&durations[0]),
        "{durations:?}"
    );
    assert_eq!(
        recorded
            .histogram(names::INIT_DURATION, &[("init_type", "on-demand")])
            .len(),
        1
    );
}
