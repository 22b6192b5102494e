//! What coldstart runs on its own threads after a response (a sync static built by
//! `warm_after_first_response`, the flush hook) runs inside the function's tokio runtime, as the
//! same code would on a request: a sync initializer that spawns a background task and a flush
//! hook that hands its export to the runtime work there too, through the real `lambda_runtime`
//! loop served by the local Runtime API.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::{During, Lazy, State};
use coldstart::{cold_start_handler, lazy, Outcome};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counts the refresher task's ticks: the task only runs if the spawn reached the runtime.
static REFRESHES: AtomicU64 = AtomicU64::new(0);
/// Counts the flush hook's exports that ran as tasks on the runtime.
static EXPORTS: AtomicU64 = AtomicU64::new(0);

/// A cache with a background refresher, as a sync static often is: its initializer spawns the
/// task on the ambient runtime (`tokio::spawn` panics outside one).
#[lazy(after_first_response, name = "cache")]
static CACHE: Arc<u32> = {
    let cache = Arc::new(7);
    tokio::spawn(async {
        REFRESHES.fetch_add(1, Ordering::SeqCst);
    });
    cache
};

#[cold_start_handler(name = "background-tokio")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["n"].as_u64() {
        Some(2) => Ok(json!({ "cache": **CACHE })),
        _ => Ok(json!({ "ok": true })),
    }
}

#[test]
fn a_warmed_sync_static_and_the_flush_hook_run_inside_the_functions_runtime() {
    support::recorder();
    let api = support::local_api("background-tokio");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .warm_timeout(support::PATIENCE)
            .on_flush(|_: Outcome| {
                // An exporter that hands its work to the runtime (a panic here is caught and
                // logged by the flusher, and the count stays behind).
                tokio::runtime::Handle::current().spawn(async {
                    EXPORTS.fetch_add(1, Ordering::SeqCst);
                });
            })
            .run(service_fn(handler)),
        [json!({ "n": 1 })],
    );
    assert!(!results[0].is_error());

    // Built after the first response, by the warm-up, not failed there and left to a request.
    let cache = Lazy::info(&CACHE);
    assert_eq!(
        (cache.state, cache.during, cache.failures),
        (State::Ready, Some(During::AfterFirstResponse), 0),
        "the warm-up's thread had no tokio runtime: {cache:?}"
    );
    support::wait_until("the refresher task ran", || {
        REFRESHES.load(Ordering::SeqCst) == 1
    });
    support::wait_until("the flush hook's export ran on the runtime", || {
        EXPORTS.load(Ordering::SeqCst) >= 1
    });

    let results = support::drive(&runtime, &api, [json!({ "n": 2 })]);
    assert_eq!(results[1].json().unwrap(), json!({ "cache": 7 }));
    assert_eq!(REFRESHES.load(Ordering::SeqCst), 1, "built once");
    support::wait_until("the second flush's export ran", || {
        EXPORTS.load(Ordering::SeqCst) >= 2
    });
}
