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
use std::time::{Duration, Instant};

const EVENTS: u64 = 6;
const HANG: Duration = Duration::from_secs(5);
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
    let results = runtime.block_on(async {
        tokio::spawn(
            Coldstart::new()
                .print_report(false)
                .flush_timeout(BOUND)
                .on_flush(|_| {
                    if RUNNING.swap(true, Ordering::SeqCst) {
                        OVERLAPPED.store(true, Ordering::SeqCst);
                    }
                    let handled = HANDLED.load(Ordering::SeqCst);
                    if RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
                        std::thread::sleep(HANG); // a push to a gateway that never answers
                    } else {
                        SEEN.lock().unwrap().push(handled);
                    }
                    RUNNING.store(false, Ordering::SeqCst);
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

    // Served while the hook hung: each response to the next event handed out took at most the
    // bound (the first) or nothing (the others: a run already past its bound is not waited for).
    // A wait for the hook itself would be 5 s; 1 s is slack for a loaded machine.
    for pair in results.windows(2) {
        let gap = pair[1].delivered_at - pair[0].completed_at;
        assert!(
            gap < Duration::from_secs(1),
            "response → next event: {gap:?}"
        );
    }

    // Once the hook returns, its next run covers every invocation.
    let deadline = Instant::now() + Duration::from_secs(60);
    while SEEN.lock().unwrap().last() != Some(&EVENTS) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&EVENTS), "runs after the hang: {seen:?}");
    assert!(!OVERLAPPED.load(Ordering::SeqCst), "one run at a time");
}
