//! A flush hook that hangs is bounded: no invocation waits for it longer than
//! `Coldstart::flush_timeout`, the ones that come while it hangs do not wait for it at all, and
//! once it returns its next run exports every invocation it missed. Nothing is skipped.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const EVENTS: u64 = 6;
/// The hook's first run hangs on it (a push to a gateway that never answers) until the test opens
/// it, after every invocation was answered.
static HANG: support::Gate = support::Gate::new();
const BOUND: Duration = Duration::from_millis(100);

static HANDLED: AtomicU64 = AtomicU64::new(0);
static RUNS: AtomicUsize = AtomicUsize::new(0);
static RUNNING: AtomicBool = AtomicBool::new(false);
static OVERLAPPED: AtomicBool = AtomicBool::new(false);
/// How many invocations had been handled when each run after the hanging one started.
static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[cold_start_handler(name = "hung-flush")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    HANDLED.fetch_add(1, Ordering::SeqCst);
    Ok(event.payload)
}

#[test]
fn a_hanging_flush_hook_delays_no_invocation_beyond_its_bound_and_misses_nothing() {
    support::recorder();
    let api = support::local_api("hung-flush");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .flush_timeout(BOUND)
            .on_flush(|_| {
                if RUNNING.swap(true, Ordering::SeqCst) {
                    OVERLAPPED.store(true, Ordering::SeqCst);
                }
                let handled = HANDLED.load(Ordering::SeqCst);
                if RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
                    HANG.wait(); // a push to a gateway that never answers
                } else {
                    SEEN.lock().unwrap().push(handled);
                }
                RUNNING.store(false, Ordering::SeqCst);
            })
            .run(service_fn(handler)),
        (0..EVENTS).map(|n| json!({ "n": n })),
    );
    assert!(results.iter().all(|result| !result.is_error()));

    // Served while the hook hung: every event was answered, and the runtime is back at `/next`,
    // while the first run is still inside the hook and no other run has started (the first
    // response waited for the bound, the others for nothing: a run past its bound is not waited
    // for). Had any invocation waited for the hook itself, none of this would have happened
    // before the gate opened.
    assert_eq!(results.len() as u64, EVENTS);
    assert!(RUNNING.load(Ordering::SeqCst), "the first run still hangs");
    assert_eq!(RUNS.load(Ordering::SeqCst), 1, "no run began while it hung");

    // Once the hook returns, its next run covers every invocation.
    HANG.open();
    support::wait_until("a run that saw every invocation", || {
        SEEN.lock().unwrap().last() == Some(&EVENTS)
    });
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&EVENTS), "runs after the hang: {seen:?}");
    assert!(!OVERLAPPED.load(Ordering::SeqCst), "one run at a time");
}
