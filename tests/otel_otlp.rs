//! Two execution environments (two processes: this binary run again as a child) serve events
//! through the real runtime loop and export over OTLP/HTTP (protobuf, `opentelemetry-otlp`, the
//! wire format of the ADOT collector on `localhost:4318`) to a receiver on loopback here, which
//! decodes every request with the protocol's own definitions (`opentelemetry-proto`): delta sums
//! and histograms whose deltas add up across the environments to what they served, our units and
//! bucket boundaries on the wire, and one resource per environment.
//!
//! `harness = false`: the global recorder and the runtime's environment are per process, so the
//! child role is chosen by an environment variable, not by a test filter.

mod support;

use coldstart::{cold_start_handler, names, otel};
use lambda_runtime::{Error, LambdaEvent};
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, AggregationTemporality, Metric};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;
use prost::Message;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENDPOINT_VAR: &str = "COLDSTART_TEST_OTLP_ENDPOINT";
const ENVIRONMENT_VAR: &str = "COLDSTART_TEST_ENVIRONMENT";

#[cold_start_handler(name = "orders")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {
    if let Ok(endpoint) = std::env::var(ENDPOINT_VAR) {
        environment(&endpoint);
        return;
    }
    if std::env::args().any(|arg| arg == "--ignored") {
        // `.ci/run` runs the test command again with `--ignored`; nothing here is ignored.
        return;
    }
    print!("test two_environments_export_deltas_that_add_up_over_otlp_http ... ");
    two_environments_export_deltas_that_add_up_over_otlp_http();
    println!("ok\n\ntest result: ok. 1 passed; 0 failed");
}

/// The child: one on-demand environment (a cold invocation, two warm ones), flushed over
/// OTLP/HTTP from the flush hook.
fn environment(endpoint: &str) {
    let api = support::local_api("otlp-fn");
    let exporter = MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .expect("OTLP exporter");
    let instance = std::env::var(ENVIRONMENT_VAR).unwrap();
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder()
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.instance.id",
                    instance,
                ))
                .build(),
        )
        .with_reader(PeriodicReader::builder(otel::Delta(exporter)).build())
        .build();
    let events: Vec<Value> = (1..=3).map(|n| json!({ "n": n })).collect();
    let (flush, results) = support::otel::serve_flushing(&api, &provider, handler, &events);
    assert!(results.iter().all(|r| !r.is_error()));
    flush.flush().expect("the last flush reaches the receiver");
    assert_eq!(flush.failures(), 0, "every flush reached the receiver");
}

/// Serves OTLP/HTTP on loopback: every `POST /v1/metrics` body is decoded and kept.
fn receiver() -> (String, Arc<Mutex<Vec<ExportMetricsServiceRequest>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || serve(stream, &store));
        }
    });
    (endpoint, received)
}

fn serve(stream: TcpStream, store: &Mutex<Vec<ExportMetricsServiceRequest>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return; // the client closed the connection
        }
        let mut length = 0;
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "content-type" => content_type = value.trim().to_owned(),
                "transfer-encoding" => panic!("chunked OTLP bodies are not expected"),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        assert!(
            request_line.starts_with("POST /v1/metrics "),
            "{request_line}"
        );
        assert_eq!(content_type, "application/x-protobuf");
        let request = ExportMetricsServiceRequest::decode(body.as_slice())
            .expect("a valid ExportMetricsServiceRequest");
        store.lock().unwrap().push(request);
        // An empty ExportMetricsServiceResponse.
        writer
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
            )
            .unwrap();
    }
}

fn string_attributes(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn two_environments_export_deltas_that_add_up_over_otlp_http() {
    let (endpoint, received) = receiver();
    for environment in ["env-a", "env-b"] {
        let status = Command::new(std::env::current_exe().unwrap())
            .env(ENDPOINT_VAR, &endpoint)
            .env(ENVIRONMENT_VAR, environment)
            .status()
            .expect("the child environment runs");
        assert!(status.success(), "{environment}: {status}");
    }
    let requests = received.lock().unwrap().clone();
    assert!(requests.len() >= 6, "{} OTLP requests", requests.len());

    let mut environments = BTreeSet::new();
    // (metric, environment, attributes) → summed value or count.
    let mut sums: BTreeMap<(String, BTreeMap<String, String>), f64> = BTreeMap::new();
    let mut counts: BTreeMap<(String, BTreeMap<String, String>), u64> = BTreeMap::new();
    let mut coldstarts_per_environment: BTreeMap<String, f64> = BTreeMap::new();
    for request in &requests {
        for resource_metrics in &request.resource_metrics {
            let resource = string_attributes(
                &resource_metrics
                    .resource
                    .as_ref()
                    .expect("a resource")
                    .attributes,
            );
            let environment = resource["service.instance.id"].clone();
            environments.insert(environment.clone());
            for scope in &resource_metrics.scope_metrics {
                assert_eq!(scope.scope.as_ref().unwrap().name, otel::SCOPE);
                for metric in &scope.metrics {
                    let metric: &Metric = metric;
                    let def = names::ALL
                        .iter()
                        .find(|d| d.name == metric.name)
                        .unwrap_or_else(|| panic!("not ours: {}", metric.name));
                    assert_eq!(metric.unit, otel::unit_of(def.name, def.unit));
                    assert_eq!(metric.description, def.description);
                    match metric.data.as_ref().expect("data") {
                        metric::Data::Sum(sum) => {
                            assert!(sum.is_monotonic, "{}", metric.name);
                            assert_eq!(
                                sum.aggregation_temporality,
                                AggregationTemporality::Delta as i32,
                                "{}",
                                metric.name
                            );
                            for point in &sum.data_points {
                                let value = match point.value {
                                    Some(
                                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v),
                                    ) => v as f64,
                                    Some(
                                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v),
                                    ) => v,
                                    None => panic!("no value"),
                                };
                                let attributes = string_attributes(&point.attributes);
                                *sums.entry((metric.name.clone(), attributes)).or_default() +=
                                    value;
                                if metric.name == names::COLDSTARTS {
                                    *coldstarts_per_environment
                                        .entry(environment.clone())
                                        .or_default() += value;
                                }
                            }
                        }
                        metric::Data::Histogram(histogram) => {
                            assert_eq!(
                                histogram.aggregation_temporality,
                                AggregationTemporality::Delta as i32,
                                "{}",
                                metric.name
                            );
                            for point in &histogram.data_points {
                                assert_eq!(
                                    point.explicit_bounds.as_slice(),
                                    names::buckets_for(&metric.name).unwrap(),
                                    "{}",
                                    metric.name
                                );
                                assert_eq!(
                                    point.bucket_counts.iter().sum::<u64>(),
                                    point.count,
                                    "{}",
                                    metric.name
                                );
                                let attributes = string_attributes(&point.attributes);
                                *counts.entry((metric.name.clone(), attributes)).or_default() +=
                                    point.count;
                            }
                        }
                        metric::Data::Gauge(_) => {
                            assert_eq!(def.kind, names::MetricKind::Gauge, "{}", metric.name);
                        }
                        other => panic!("{}: unexpected {other:?}", metric.name),
                    }
                }
            }
        }
    }
    assert_eq!(
        environments,
        BTreeSet::from(["env-a".to_owned(), "env-b".to_owned()])
    );
    let key = |name: &str, pairs: &[(&str, &str)]| {
        (
            name.to_owned(),
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let h = ("handler", "orders");
    // What the backend adds up: one cold start per environment, two warm invocations each.
    assert_eq!(sums[&key(names::COLDSTARTS, &[h])], 2.0);
    assert_eq!(
        coldstarts_per_environment,
        BTreeMap::from([("env-a".to_owned(), 1.0), ("env-b".to_owned(), 1.0)])
    );
    assert_eq!(sums[&key(names::INVOCATIONS, &[h, ("start", "cold")])], 2.0);
    assert_eq!(sums[&key(names::INVOCATIONS, &[h, ("start", "warm")])], 4.0);
    assert_eq!(
        counts[&key(names::INVOKE_DURATION, &[h, ("start", "warm")])],
        4
    );
    assert_eq!(
        counts[&key(names::INIT_DURATION, &[("init_type", "on-demand")])],
        2
    );
}
