//! The crate's metrics leave as CloudWatch Embedded Metric Format lines through an existing EMF
//! recorder (`metrics_cloudwatch_embedded`), flushed from the flush hook of `coldstart::lambda::run`
//! after every invocation of the real runtime loop; the lines are parsed back, validated against
//! the Embedded Metric Format specification, and checked for names, units, dimensions and values.
//! Every document carries the function's name as the `FunctionName` dimension (the README's
//! `.with_dimension`), so functions sharing a namespace never mix, and every dimension set the
//! README's CloudWatch queries name is one the lines really carry.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Mutex;

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

/// The CloudWatch units EMF accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The rules of the Embedded Metric Format specification a CloudWatch Logs ingestion applies:
/// `_aws` with a millisecond `Timestamp` and one or more directives, each with a `Namespace`,
/// dimension sets of at most 30 names that each point at a string member of the root, and at
/// most 100 metrics whose names point at a number or an array of at most 100 numbers.
fn validate(doc: &Value) -> Result<(), String> {
    let aws = doc.get("_aws").ok_or("no _aws")?;
    aws["Timestamp"]
        .as_u64()
        .ok_or("Timestamp is not an integer")?;
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .filter(|d| !d.is_empty())
        .ok_or("CloudWatchMetrics is not a non-empty array")?;
    for directive in directives {
        let namespace = directive["Namespace"].as_str().ok_or("no Namespace")?;
        if namespace.is_empty() || namespace.len() > 1024 {
            return Err(format!("Namespace {namespace:?} out of range"));
        }
        let sets = directive["Dimensions"].as_array().ok_or("no Dimensions")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err(format!("{} dimensions in one set", set.len()));
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                match doc[name].as_str() {
                    Some(value) if !value.is_empty() && value.len() <= 1024 => {}
                    _ => return Err(format!("dimension {name} has no string value")),
                }
            }
        }
        let metrics = directive["Metrics"].as_array().ok_or("no Metrics")?;
        if metrics.len() > 100 {
            return Err(format!("{} metrics in one directive", metrics.len()));
        }
        for metric in metrics {
            let name = metric["Name"].as_str().ok_or("a metric without Name")?;
            if name.is_empty() || name.len() > 1024 {
                return Err(format!("metric name {name:?} out of range"));
            }
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or("Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{name}: unit {unit:?} is not a CloudWatch unit"));
                }
            }
            match &doc[name] {
                Value::Number(_) => {}
                Value::Array(values)
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => return Err(format!("{name} is not a number or number array: {other}")),
            }
        }
    }
    Ok(())
}

/// The dimension set (sorted) each metric name is reported under, across all documents.
fn dimension_sets(documents: &[Value]) -> Vec<(String, Vec<String>)> {
    let mut sets = Vec::new();
    for doc in documents {
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        let mut set: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect();
        set.sort();
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let entry = (metric["Name"].as_str().unwrap().to_owned(), set.clone());
            if !sets.contains(&entry) {
                sets.push(entry);
            }
        }
    }
    sets
}

/// The guide's CloudWatch queries (`<!-- emf-query -->` blocks): each as (metric name, sorted
/// dimension names, namespace), from `SCHEMA("ns", a, b)` or `{ns,a,b}` and the metric quoted
/// beside it.
fn readme_queries() -> Vec<(String, Vec<String>, String)> {
    let readme = support::guide("cloudwatch_emf");
    let mut queries = Vec::new();
    for block in readme.split("<!-- emf-query -->").skip(1) {
        let body = block
            .split("```")
            .nth(1)
            .expect("a code block after the marker");
        let (schema, metric) = if let Some(at) = body.find("SCHEMA(") {
            let inner = &body[at + 7..];
            let schema = &inner[..inner.find(')').unwrap()];
            let metric = body[..at]
                .rsplit("(\"")
                .next()
                .and_then(|m| m.split('"').next())
                .expect("SELECT f(\"metric\")");
            (schema.to_owned(), metric.to_owned())
        } else {
            let at = body.find('{').expect("SCHEMA(...) or {namespace,dims}");
            let schema = &body[at + 1..at + body[at..].find('}').unwrap()];
            let metric = body
                .split("MetricName=\"")
                .nth(1)
                .and_then(|m| m.split('"').next())
                .expect("MetricName=\"...\"");
            (schema.to_owned(), metric.to_owned())
        };
        let mut parts = schema
            .split(',')
            .map(|p| p.trim().trim_matches('"').to_owned());
        let namespace = parts.next().unwrap();
        let mut dimensions: Vec<String> = parts.collect();
        dimensions.sort();
        queries.push((metric, dimensions, namespace));
    }
    queries
}

#[test]
fn metrics_leave_as_emf_lines_flushed_per_invocation() {
    let api = LocalRuntimeApi::start().expect("local Runtime API");
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    // As the README: the function's name on every metric, so that functions sharing a
    // namespace never mix.
    let function = coldstart::environment::Environment::current()
        .function_name()
        .unwrap_or("local")
        .to_owned();
    assert_eq!(function, api.function_name());
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("coldstart-test")
        .with_dimension("FunctionName", function.clone())
        .init()
        .expect("the only global recorder");
    let runtime = support::runtime(1);
    let results = support::serve(
        &runtime,
        &api,
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
        [
            json!({ "n": 1 }),
            json!({ "n": 2 }),
            json!({ "fail": true }),
        ],
    );
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
        validate(doc).unwrap_or_else(|err| panic!("not valid EMF ({err}): {doc}"));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "coldstart-test"
        );
        // Every metric, the once-per-environment ones included, is the function's own.
        assert_eq!(doc["FunctionName"], function.as_str(), "{doc}");
        let set = &doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
        assert!(
            set.as_array().unwrap().contains(&json!("FunctionName")),
            "{doc}"
        );
    }
    let by_function = ("FunctionName", function.as_str());
    for name in [
        "faas.init_duration",
        "faas.mem_usage",
        "coldstart.phase_duration",
    ] {
        assert!(
            !reported(&documents, name, &[by_function]).is_empty(),
            "{name} carries the function's dimension:\n{lines:#?}"
        );
    }

    // Every dimension set a README query names is one these lines carry, in the namespace the
    // README's example sets up.
    let sets = dimension_sets(&documents);
    let queries = readme_queries();
    assert!(queries.len() >= 4, "{queries:?}");
    for (metric, dimensions, namespace) in &queries {
        assert_eq!(namespace, "orders-api", "the README's namespace");
        assert!(
            sets.contains(&(metric.clone(), dimensions.clone())),
            "the README queries {metric} by {dimensions:?}, which no line carries; the lines carry {sets:#?}"
        );
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
