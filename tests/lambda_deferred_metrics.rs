//! Under `coldstart::lambda::run` without a flush hook, the first invocation's metrics and the
//! metric descriptions reach the recorder after its response is posted and before the runtime asks
//! for the next event: the cold request does not wait for the recorder's first registrations, and
//! nothing is lost. (With a flush hook they are recorded before the hook runs:
//! `tests/cloudwatch_emf.rs`.)

mod support;

use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::DebuggingRecorder;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Instant;

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// When each metric name was first registered or described.
static FIRST_SEEN: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

fn seen(name: &str) {
    let mut first = FIRST_SEEN.lock().unwrap();
    if !first.iter().any(|(n, _)| n == name) {
        first.push((name.to_owned(), Instant::now()));
    }
}

fn first_seen(name: &str) -> Option<Instant> {
    let first = FIRST_SEEN.lock().unwrap();
    first.iter().find(|(n, _)| n == name).map(|(_, at)| *at)
}

/// A debugging recorder that notes when each name first reaches it.
struct Timestamped(DebuggingRecorder);

impl Recorder for Timestamped {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        seen(&format!("describe {}", key.as_str()));
        self.0.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        seen(&format!("describe {}", key.as_str()));
        self.0.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        seen(&format!("describe {}", key.as_str()));
        self.0.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        seen(key.name());
        self.0.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        seen(key.name());
        self.0.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        seen(key.name());
        self.0.register_histogram(key, metadata)
    }
}

#[test]
fn the_first_invocations_metrics_wait_for_its_response() {
    let api = support::local_api("deferred");
    metrics::set_global_recorder(Timestamped(DebuggingRecorder::new())).unwrap();
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
        coldstart::lambda::run(service_fn(handler)),
        [json!({ "n": 1 }), json!({ "n": 2 })],
    );
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");
    // The first response was received by the API before anything reached the recorder, and
    // everything the first invocation records had reached it before the runtime asked for the
    // second event.
    let response_posted = results[0].completed_at;
    let asked_for_second = results[1].next_requested_at;
    for name in [
        names::COLDSTARTS,
        names::INVOCATIONS,
        names::INVOKE_DURATION,
        names::ENVIRONMENT_AGE,
        names::INIT_DURATION,
        names::PHASE_DURATION,
        "describe faas.coldstarts",
        "describe faas.invoke_duration",
    ] {
        let at = first_seen(name).unwrap_or_else(|| panic!("{name} never reached the recorder"));
        assert!(
            at > response_posted,
            "{name} reached the recorder before the first response was posted"
        );
        assert!(
            at < asked_for_second,
            "{name} reached the recorder after the runtime asked for the next event"
        );
    }
}
