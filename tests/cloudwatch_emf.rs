//! The crate's metrics leave as CloudWatch Embedded Metric Format lines through an existing EMF
//! recorder (`metrics_cloudwatch_embedded`), flushed from the flush hook of `coldstart::lambda::run`
//! after every invocation of the real runtime loop; the lines are parsed back and checked for
//! names, units, dimensions and values.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

#[cold_start_handler(name = "emf")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload["fail"] == true {
        return Err("failed on purpose".into());
    }
    Ok(event.payload)
}

/// Every EMF line flushed so far, one per flush and label set.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The metric documents whose dimensions include `dimensions`, that report `name`:
/// (unit, value) pairs.
fn reported(documents: &[Value], name: &str, dimensions: &[(&str, &str)]) -> Vec<(String, Value)> {
    documents
        .iter()
        .filter(|doc| {
            dimensions
                .iter()
                .all(|(key, value)| doc[*key].as_str() == Some(*value))
        })
        .filter_map(|doc| {
            let metrics = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array()?;
            let metric = metrics.iter().find(|m| m["Name"] == name)?;
            Some((
                metric["Unit"].as_str().unwrap_or("None").to_owned(),
                doc[name].clone(),
            ))
        })
        .collect()
}

#[test]
fn metrics_leave_as_emf_lines_flushed_per_invocation() {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("coldstart-test")
        .init()
        .expect("the only global recorder");
    let api = LocalRuntimeApi::start().expect("local Runtime API");
    api.set_env();
    let runtime = support::runtime(1);
    let results = runtime.block_on(async {
        tokio::spawn(
            Coldstart::new()
                .on_flush(move |_| {
                    // Before the response goes back, as on Lambda (stdout there).
                    let mut out = Vec::new();
                    collector.flush(&mut out).expect("in-memory write");
                    let text = String::from_utf8(out).expect("EMF is JSON text");
                    LINES
                        .lock()
                        .unwrap()
                        .extend(text.lines().map(str::to_owned));
                })
                .run(service_fn(handler)),
        );
        for payload in [
            json!({ "n": 1 }),
            json!({ "n": 2 }),
            json!({ "fail": true }),
        ] {
            api.push_json(&payload);
        }
        api.wait_for_all(Duration::from_secs(30))
            .await
            .expect("three results")
    });
    assert_eq!(
        results.iter().map(|r| r.is_error()).collect::<Vec<_>>(),
        [false, false, true]
    );

    let lines = LINES.lock().unwrap().clone();
    let documents: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON document"))
        .collect();
    for doc in &documents {
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "coldstart-test"
        );
        assert!(doc["_aws"]["Timestamp"].as_u64().is_some(), "{doc}");
    }

    let emf = ("handler", "emf");
    assert_eq!(
        reported(&documents, "faas.coldstarts", &[emf]),
        [("Count".to_owned(), json!(1))],
        "exactly one cold start, in the first flush:\n{lines:#?}"
    );
    assert_eq!(
        reported(&documents, "faas.invocations", &[emf, ("start", "cold")]),
        [("Count".to_owned(), json!(1))]
    );
    // Counters are deltas per flush: one warm success in the second flush.
    assert_eq!(
        reported(&documents, "faas.invocations", &[emf, ("start", "warm")]),
        [("Count".to_owned(), json!(1))]
    );
    assert_eq!(
        reported(
            &documents,
            "faas.errors",
            &[emf, ("start", "warm"), ("outcome", "error")]
        ),
        [("Count".to_owned(), json!(1))]
    );
    let durations = reported(&documents, "faas.invoke_duration", &[emf]);
    assert_eq!(durations.len(), 3, "one duration per flush: {durations:?}");
    for (unit, values) in &durations {
        assert_eq!(unit, "Seconds");
        let values = values.as_array().expect("histograms flush as value arrays");
        assert_eq!(values.len(), 1);
        assert!(values[0].as_f64().unwrap() > 0.0);
    }
    let phases = reported(
        &documents,
        "coldstart.phase_duration",
        &[("phase", "to_first_invocation")],
    );
    assert_eq!(phases.len(), 1, "{phases:?}");
    assert_eq!(phases[0].0, "Seconds");
}
