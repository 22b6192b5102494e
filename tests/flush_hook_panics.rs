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
use std::time::{Duration, Instant};

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
    std::env::set_var("RUST_BACKTRACE", "1");
    support::recorder();
    let api = support::local_api("panicky-flush");
    let runtime = support::runtime(2);
    let results = runtime.block_on(async {
        tokio::spawn(
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
        );
        for n in 0..EVENTS {
            api.push_json(&json!({ "n": n }));
        }
        api.wait_for_all(Duration::from_secs(60))
            .await
            .expect("every result")
    });
    assert!(results.iter().all(|result| !result.is_error()));
    // The last invocation's flush follows its response: wait for the state, not for a time.
    let deadline = Instant::now() + Duration::from_secs(60);
    while SEEN.lock().unwrap().last() != Some(&EVENTS) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(
        seen.last(),
        Some(&EVENTS),
        "a run after the panic covered every invocation: {seen:?}"
    );
    assert!(RUNS.load(Ordering::SeqCst) >= 2);
}
