//! A streamed first response: the warm-up after it starts once its last byte is handed to the
//! runtime, not when the handler returned the stream, so a client reading the stream never
//! competes with it.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::lazy::{During, Lazy};
use coldstart::{cold_start_handler, lazy};
use lambda_runtime::streaming::{channel, Body, Response};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the first stream handed its last chunk to the runtime.
static LAST_CHUNK: Mutex<Option<Instant>> = Mutex::new(None);
/// When the warm-up built the static.
static BUILT_AT: Mutex<Option<Instant>> = Mutex::new(None);

#[lazy(after_first_response, name = "rules")]
static RULES: u8 = {
    *BUILT_AT.lock().unwrap() = Some(Instant::now());
    1
};

#[cold_start_handler(name = "stream")]
async fn handler(_: LambdaEvent<Value>) -> Result<Response<Body>, Error> {
    let (mut tx, rx) = channel();
    tokio::spawn(async move {
        for n in 0..4 {
            tokio::time::sleep(Duration::from_millis(40)).await;
            tx.send_data(format!("chunk {n}\n").into()).await.unwrap();
        }
        LAST_CHUNK.lock().unwrap().get_or_insert_with(Instant::now);
    });
    Ok(Response::from(rx))
}

#[test]
fn the_warm_up_follows_the_last_byte_of_a_streamed_first_response() {
    support::recorder();
    let api = support::local_api("warm-stream");
    let runtime = support::runtime(2);
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .run(service_fn(handler)),
        [json!({ "n": 1 }), json!({ "n": 2 })],
    );
    assert!(results.iter().all(|r| r.streaming && !r.is_error()));
    assert!(String::from_utf8_lossy(&results[0].body).contains("chunk 3\n"));

    let built_at = BUILT_AT.lock().unwrap().expect("the warm-up built it");
    let last_chunk = LAST_CHUNK.lock().unwrap().expect("the first stream ended");
    assert!(
        built_at >= last_chunk,
        "built before the stream's last chunk"
    );
    assert!(built_at <= results[1].next_requested_at);
    assert_eq!(Lazy::info(&RULES).during, Some(During::AfterFirstResponse));
}
