//! Timeouts through the real runtime loop, each event with a 2 s deadline and a 1 s margin: a
//! handler still running 1 s in — sleeping (async), blocking its thread (sync), or finishing at
//! 1.5 s, inside the margin — is recorded as a timeout once and flushed with `Outcome::Timeout`
//! from outside the handler, before the deadline; a handler done at 200 ms is an ordinary
//! invocation, flushed after its response.
//!
//! The margin is wider than the default 300 ms so that every verdict has half a second or more
//! to spare: on a loaded machine the watchdog thread may be scheduled late, and with the default
//! a handler finishing 150 ms into the margin could be done before the watchdog looked.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::local::LocalEvent;
use coldstart::{cold_start_handler, names, Outcome};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_secs(1);

#[cold_start_handler(name = "slow")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mode = event.payload["mode"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match mode.as_str() {
        "sleep" => tokio::time::sleep(Duration::from_millis(2400)).await,
        // Blocks the only worker thread: nothing on the runtime could flush now.
        "block" => std::thread::sleep(Duration::from_millis(2400)),
        "inside" => tokio::time::sleep(Duration::from_millis(1500)).await,
        _ => tokio::time::sleep(Duration::from_millis(200)).await,
    }
    Ok(json!({ "mode": mode }))
}

static FLUSHED: Mutex<Vec<(Outcome, Instant)>> = Mutex::new(Vec::new());

#[test]
fn a_handler_still_running_near_its_deadline_is_recorded_and_flushed_once_before_it() {
    support::recorder();
    let api = support::local_api("timeouts");
    let runtime = support::runtime(1);
    let events = ["quick", "sleep", "block", "inside", "quick"]
        .map(|mode| LocalEvent::json(&json!({ "mode": mode })).deadline_in(DEADLINE));
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .timeout_margin(MARGIN)
            .on_flush(|outcome| FLUSHED.lock().unwrap().push((outcome, Instant::now())))
            .run(service_fn(handler)),
        events,
    );
    // Nothing changes what the handler returns or what lambda_runtime posts.
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");

    let flushed = FLUSHED.lock().unwrap().clone();
    let kinds: Vec<Outcome> = flushed.iter().map(|(outcome, _)| *outcome).collect();
    use Outcome::*;
    assert_eq!(kinds, [Ok, Timeout, Timeout, Timeout, Ok]);
    for ((outcome, at), result) in flushed.iter().zip(&results) {
        if *outcome == Timeout {
            // 1 s in (deadline minus margin, give or take the deadline header's millisecond),
            // before the deadline and before the response.
            let since = *at - result.delivered_at;
            assert!(
                since >= DEADLINE - MARGIN - Duration::from_millis(50) && since < DEADLINE,
                "flushed {since:?} after delivery"
            );
            assert!(*at < result.completed_at);
        } else {
            assert!(result.completed_at <= *at);
        }
    }

    let recorded = support::Recorded::take();
    let slow = ("handler", "slow");
    assert_eq!(
        recorded.counter(names::TIMEOUTS, &[slow, ("start", "warm")]),
        3
    );
    assert_eq!(
        recorded.counter(
            names::ERRORS,
            &[slow, ("start", "warm"), ("outcome", "timeout")]
        ),
        3
    );
    assert_eq!(
        recorded.counter(names::ERRORS, &[]),
        3,
        "nothing else failed"
    );
    // Counted once: the three that finished after their timeout recorded nothing more.
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[slow, ("start", "cold")]),
        1
    );
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[slow, ("start", "warm")]),
        1
    );
    // Every invocation has a duration, the three timed out ones up to their timeout mark
    // (deadline minus margin, 1 s), so the slowest are in every percentile.
    let mut durations = recorded.histogram(names::INVOKE_DURATION, &[slow]);
    durations.sort_by(f64::total_cmp);
    assert_eq!(durations.len(), 5, "{durations:?}");
    for timed_out in &durations[2..] {
        let mark = (DEADLINE - MARGIN).as_secs_f64();
        assert!(
            (mark - 0.05..DEADLINE.as_secs_f64()).contains(timed_out),
            "{durations:?}"
        );
    }
    assert_eq!(
        recorded
            .histogram(names::INVOKE_DURATION, &[slow, ("start", "warm")])
            .len(),
        4
    );
}
