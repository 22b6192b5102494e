//! A flush hook that panics is not a hook that hangs: its run ends (the panic is caught and
//! logged), and every later invocation is still flushed, even when printing the panic's
//! backtrace (`RUST_BACKTRACE=1`, symbolized in a debug build) takes longer than the flush bound.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::{cold_start_handler, Outcome};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

const EVENTS: u64 = 5;

static HANDLED: AtomicU64 = AtomicU64::new(0);
static RUNS: AtomicUsize = AtomicUsize::new(0);
/// How many invocations had been handled when each run after the panicking one started.
static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[cold_start_handler(name = "panicky-flush")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    HANDLED.fetch_add(1, Ordering::SeqCst);
    Ok(event.payload)
}

#[test]
fn a_panicking_flush_hook_ends_its_run_and_later_invocations_are_still_flushed() {
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("RUST_BACKTRACE", "1") };
    support::recorder();
    let api = support::local_api("panicky-flush");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .on_flush(|outcome: Outcome| {
                let handled = HANDLED.load(Ordering::SeqCst);
                if RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the exporter's first flush fails badly");
                }
                SEEN.lock().unwrap().push(handled);
                let _ = outcome;
            })
            .run(service_fn(handler)),
        (0..EVENTS).map(|n| json!({ "n": n })),
    );
    assert!(results.iter().all(|result| !result.is_error()));
    // The last invocation's flush follows its response: wait for the state, not for a time.
    support::wait_until("a run that saw every invocation", || {
        SEEN.lock().unwrap().last() == Some(&EVENTS)
    });
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(
        seen.last(),
        Some(&EVENTS),
        "a run after the panic covered every invocation: {seen:?}"
    );
    assert!(RUNS.load(Ordering::SeqCst) >= 2);
}
