//! `FlushAt::BeforeResponse`: the flush hook runs while the client waits, after the handler (or
//! ping, or rejection) and before the Runtime API receives the response, for every outcome.

mod support;

use coldstart::lambda::{Coldstart, FlushAt};
use coldstart::local::LocalEvent;
use coldstart::{cold_start_handler, Outcome};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Deserialize)]
struct Order {
    id: u64,
    #[serde(default)]
    mode: String,
}

#[cold_start_handler(name = "orders")]
async fn handler(event: LambdaEvent<Order>) -> Result<Value, Error> {
    match event.payload.mode.as_str() {
        "error" => Err("the handler failed on purpose".into()),
        "panic" => panic!("the handler panicked on purpose"),
        _ => Ok(json!({ "id": event.payload.id })),
    }
}

static FLUSHED: Mutex<Vec<(Outcome, Instant)>> = Mutex::new(Vec::new());

#[test]
fn before_response_flushes_while_the_client_waits() {
    support::recorder();
    std::panic::set_hook(Box::new(|_| {}));
    let api = support::local_api("flush-before");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .flush_at(FlushAt::BeforeResponse)
            .on_flush(|outcome| FLUSHED.lock().unwrap().push((outcome, Instant::now())))
            .run(service_fn(handler)),
        [
            LocalEvent::json(&json!({ "id": 1 })),
            LocalEvent::json(&json!({ "id": 2, "mode": "error" })),
            LocalEvent::json(&json!({ "id": 3, "mode": "panic" })),
            LocalEvent::new("not json"),
            LocalEvent::json(&json!({ "warmup": true })),
            LocalEvent::json(&json!({ "id": 4 })),
        ],
    );
    let errors: Vec<bool> = results.iter().map(|r| r.is_error()).collect();
    assert_eq!(errors, [false, true, true, true, false, false]);

    let flushed = FLUSHED.lock().unwrap().clone();
    let kinds: Vec<Outcome> = flushed.iter().map(|(outcome, _)| *outcome).collect();
    use Outcome::*;
    assert_eq!(kinds, [Ok, Error, Panic, Rejected, Warmup, Ok]);
    for ((outcome, at), result) in flushed.iter().zip(&results) {
        assert!(
            result.delivered_at <= *at && *at < result.completed_at,
            "{outcome}: flushed at {at:?}, delivered {:?}, completed {:?}",
            result.delivered_at,
            result.completed_at
        );
    }
}
