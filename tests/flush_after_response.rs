//! With the default `FlushAt::AfterResponse`, the first flush comes after the first response and
//! already carries everything the first invocation records only after its response — its own
//! metrics, the start-up phases and the memory sample the cold-start report takes — so an
//! environment that serves a single invocation still exports all of it.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cold_start_handler(name = "single")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// What each flush saw: when it ran, memory samples, cold starts, phase durations.
static SEEN: Mutex<Vec<(Instant, usize, u64, usize)>> = Mutex::new(Vec::new());

#[test]
fn the_first_flush_follows_the_first_response_and_carries_its_record() {
    support::recorder();
    let api = support::local_api("single-invocation");
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            // Waited for however slow the machine: the flush is checked once the runtime
            // asks for the next event, which it would do without it after 300 ms.
            .flush_timeout(Duration::from_secs(20))
            .on_flush(|_| {
                let recorded = support::Recorded::take();
                SEEN.lock().unwrap().push((
                    Instant::now(),
                    recorded.histogram(names::MEM_USAGE, &[]).len(),
                    recorded.counter(names::COLDSTARTS, &[("handler", "single")]),
                    recorded.histogram(names::PHASE_DURATION, &[]).len(),
                ));
            })
            .run(service_fn(handler)),
        [json!({ "n": 1 })],
    );
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (at, samples, coldstarts, phases) = seen[0];
    assert!(
        results[0].completed_at <= at,
        "flushed before the response arrived"
    );
    assert_eq!(samples, 1, "the memory sample leaves with the first flush");
    assert_eq!(coldstarts, 1);
    assert_eq!(phases, 3, "init, wait_for_first_event, to_first_invocation");
}
