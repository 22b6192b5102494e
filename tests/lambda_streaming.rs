//! A handler that streams its response, through the real `lambda_runtime` loop: the invocation is
//! timed until its last byte is handed to the runtime (not until the handler returned the
//! stream), its outcome is how the stream ended (a mid-stream error is an error), and the flush
//! runs after the stream ended.

mod support;

use coldstart::lambda::Coldstart;
use coldstart::{cold_start_handler, names};
use lambda_runtime::streaming::{channel, Body, Response};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHUNKS: u64 = 5;
const GAP: Duration = Duration::from_millis(40);

/// When each stream handed its last chunk to the runtime.
static LAST_CHUNK: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
/// When each handler returned its stream.
static RETURNED: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[cold_start_handler(name = "stream")]
async fn handler(event: LambdaEvent<Value>) -> Result<Response<Body>, Error> {
    let fail = event.payload["fail"] == true;
    let (mut tx, rx) = channel();
    tokio::spawn(async move {
        for n in 0..CHUNKS {
            tokio::time::sleep(GAP).await;
            if fail && n == 2 {
                tx.abort(); // the source went away
                LAST_CHUNK.lock().unwrap().push(Instant::now());
                return;
            }
            tx.send_data(format!("chunk {n}\n").into()).await.unwrap();
        }
        LAST_CHUNK.lock().unwrap().push(Instant::now());
    });
    RETURNED.lock().unwrap().push(Instant::now());
    Ok(Response::from(rx))
}

#[test]
fn a_streamed_invocation_is_timed_to_its_last_byte_and_flushed_after_it() {
    support::recorder();
    let api = support::local_api("stream");
    let runtime = support::runtime(2);
    let flushes = Arc::new(Mutex::new(Vec::<(Instant, coldstart::Outcome)>::new()));
    let coldstart = {
        let flushes = flushes.clone();
        Coldstart::new()
            .print_report(false)
            .on_flush(move |outcome| flushes.lock().unwrap().push((Instant::now(), outcome)))
    };
    let results = support::serve(
        &runtime,
        &api,
        coldstart.run(service_fn(handler)),
        [json!({ "fail": false }), json!({ "fail": true })],
    );

    // What the client got: every chunk of the first stream; the second ends in an error after two.
    assert!(results[0].streaming && !results[0].is_error());
    let body = String::from_utf8_lossy(&results[0].body).into_owned();
    for n in 0..CHUNKS {
        assert!(body.contains(&format!("chunk {n}\n")), "{body:?}");
    }
    // lambda_runtime 1.5 writes a mid-stream error as the error "trailer" lines into the body.
    let failed = String::from_utf8_lossy(&results[1].body).into_owned();
    assert!(
        failed.contains("Lambda-Runtime-Function-Error-Type") && !failed.contains("chunk 2"),
        "{failed:?}"
    );

    // Timed to the last byte: at least the stream's own length, though the handler returned
    // its stream at once.
    let recorded = support::Recorded::take();
    let stream = ("handler", "stream");
    let mut durations = recorded.histogram(names::INVOKE_DURATION, &[stream]);
    durations.sort_by(f64::total_cmp);
    assert_eq!(durations.len(), 2, "{durations:?}");
    assert!(durations[0] >= 2.0 * GAP.as_secs_f64(), "{durations:?}");
    assert!(
        durations[1] >= CHUNKS as f64 * GAP.as_secs_f64(),
        "{durations:?}"
    );
    assert!(durations[1] < 10.0, "{durations:?}");
    assert_eq!(
        recorded.counter(names::INVOCATIONS, &[stream, ("start", "cold")]),
        1,
        "the complete stream succeeded"
    );
    assert_eq!(
        recorded.counter(names::ERRORS, &[stream, ("outcome", "error")]),
        1,
        "the stream that failed midway is an error"
    );

    // Flushed after each stream ended, with its outcome.
    let flushes = flushes.lock().unwrap().clone();
    let last_chunks = LAST_CHUNK.lock().unwrap().clone();
    let returned = RETURNED.lock().unwrap().clone();
    assert_eq!(flushes.len(), 2, "{flushes:?}");
    for ((flushed, _), (last_chunk, returned)) in
        flushes.iter().zip(last_chunks.iter().zip(&returned))
    {
        assert!(flushed > last_chunk, "the flush ran after the last chunk");
        assert!(
            flushed.duration_since(*returned) >= 2 * GAP,
            "not at the handler's return"
        );
    }
    assert_eq!(flushes[0].1, coldstart::Outcome::Ok);
    assert_eq!(flushes[1].1, coldstart::Outcome::Error);
}
