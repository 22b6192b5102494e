//! Four execution environments (four processes: this binary run again as children, at the same
//! time) serve events through the real runtime loop and export over OTLP/HTTP (protobuf,
//! `opentelemetry-otlp`, the wire format of the ADOT collector on `localhost:4318`) to a receiver on
//! loopback here, which decodes every request with the protocol's own definitions
//! (`opentelemetry-proto`):
//! - each environment exports under its own resource, `coldstart::otel::resource()`, whose
//!   attributes are what the Lambda variables of that process say: two with a log stream name, two
//!   without one (a local run), and still four identities; within each stream the delta points
//!   follow one another (one writer per stream, as OpenTelemetry's data model requires);
//! - delta sums and histograms whose deltas add up across the environments to what they served,
//!   with our units and bucket boundaries on the wire.
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
use prost::Message;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENDPOINT_VAR: &str = "COLDSTART_TEST_OTLP_ENDPOINT";
/// `lambda` (a log stream name, as on Lambda) or `local` (none, as under `cargo lambda watch`).
const ENVIRONMENT_VAR: &str = "COLDSTART_TEST_ENVIRONMENT";
/// The line on which a child prints the Lambda variables it runs with.
const VARIABLES_LINE: &str = "otlp-test-variables: ";
/// The variables `otel::resource()` reads.
const LAMBDA_VARIABLES: [&str; 5] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_REGION",
];
const ENVIRONMENTS: [&str; 4] = ["lambda", "lambda", "local", "local"];

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
    let run = run_environments();
    for (name, test) in [
        (
            "every_environment_exports_its_own_stream_identity_from_the_lambda_variables",
            every_environment_exports_its_own_stream_identity_from_the_lambda_variables as fn(&Run),
        ),
        (
            "the_environments_export_deltas_that_add_up_over_otlp_http",
            the_environments_export_deltas_that_add_up_over_otlp_http,
        ),
    ] {
        print!("test {name} ... ");
        test(&run);
        println!("ok");
    }
    println!("\ntest result: ok. 2 passed; 0 failed");
}

/// The child: one on-demand environment (a cold invocation, two warm ones) whose provider has
/// `otel::resource()`, flushed over OTLP/HTTP from the flush hook.
fn environment(endpoint: &str) {
    let api = support::local_api("otlp-fn");
    if std::env::var(ENVIRONMENT_VAR).unwrap() == "local" {
        // SAFETY: the child process (harness = false), before it starts a thread of its own; the
        // emulator's own thread never reads the environment.
        unsafe { std::env::remove_var("AWS_LAMBDA_LOG_STREAM_NAME") };
    }
    let variables: BTreeMap<&str, Option<String>> = LAMBDA_VARIABLES
        .iter()
        .map(|name| (*name, std::env::var(name).ok()))
        .collect();
    println!("{VARIABLES_LINE}{}", json!(variables));
    let exporter = MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .expect("OTLP exporter");
    let provider = SdkMeterProvider::builder()
        .with_resource(otel::resource())
        .with_reader(PeriodicReader::builder(otel::Delta(exporter)).build())
        .build();
    let events: Vec<Value> = (1..=3).map(|n| json!({ "n": n })).collect();
    let (flush, results) = support::otel::serve_flushing(&api, &provider, handler, &events);
    assert!(results.iter().all(|r| !r.is_error()));
    flush.flush().expect("the last flush reaches the receiver");
    assert_eq!(flush.failures(), 0, "every flush reached the receiver");
}

/// What the children ran with and what the receiver got.
struct Run {
    /// Per child, in the order of `ENVIRONMENTS`: its Lambda variables (absent ones left out).
    variables: Vec<BTreeMap<String, String>>,
    requests: Vec<ExportMetricsServiceRequest>,
}

/// Starts one child per entry of `ENVIRONMENTS`, all at once (so that their lives overlap, as
/// concurrent environments' do), and waits for them.
fn run_environments() -> Run {
    let (endpoint, received) = receiver();
    let children: Vec<_> = ENVIRONMENTS
        .iter()
        .map(|environment| {
            Command::new(std::env::current_exe().unwrap())
                .env(ENDPOINT_VAR, &endpoint)
                .env(ENVIRONMENT_VAR, environment)
                .stdout(Stdio::piped())
                .spawn()
                .expect("the child environment runs")
        })
        .collect();
    let variables = children
        .into_iter()
        .zip(ENVIRONMENTS)
        .map(|(child, environment)| {
            let output = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{environment}: {}\n{stdout}",
                output.status
            );
            let line = stdout
                .lines()
                .find_map(|line| line.strip_prefix(VARIABLES_LINE))
                .expect("the child prints its variables");
            let variables: BTreeMap<String, Option<String>> = serde_json::from_str(line).unwrap();
            variables
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?)))
                .collect()
        })
        .collect();
    let requests = received.lock().unwrap().clone();
    Run {
        variables,
        requests,
    }
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

/// Attributes as text; an integer is written in decimal with an `int:` prefix, so that a number
/// sent as a string is told apart.
fn string_attributes(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => format!("int:{i}"),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// The resource attributes of every `ResourceMetrics` of `requests`, with its metrics.
fn resources(
    requests: &[ExportMetricsServiceRequest],
) -> impl Iterator<
    Item = (
        BTreeMap<String, String>,
        &opentelemetry_proto::tonic::metrics::v1::ResourceMetrics,
    ),
> {
    requests.iter().flat_map(|request| {
        request.resource_metrics.iter().map(|resource_metrics| {
            let resource = string_attributes(
                &resource_metrics
                    .resource
                    .as_ref()
                    .expect("a resource")
                    .attributes,
            );
            (resource, resource_metrics)
        })
    })
}

/// A resource without the attributes that tell one environment from another.
fn shared_part(resource: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut shared = resource.clone();
    shared.remove("faas.instance");
    shared.remove("service.instance.id");
    shared
}

/// The delta points of every stream (resource, scope, metric, point attributes) as
/// `(start, end)` intervals in nanoseconds, with `identity` choosing the resource's part of the
/// stream's name.
fn delta_intervals(
    requests: &[ExportMetricsServiceRequest],
    identity: impl Fn(&BTreeMap<String, String>) -> BTreeMap<String, String>,
) -> BTreeMap<String, Vec<(u64, u64)>> {
    let mut streams: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for (resource, resource_metrics) in resources(requests) {
        let resource = identity(&resource);
        for scope in &resource_metrics.scope_metrics {
            let scope_name = scope.scope.as_ref().map(|s| s.name.clone());
            for metric in &scope.metrics {
                let points: Vec<(Vec<KeyValue>, u64, u64)> =
                    match metric.data.as_ref().expect("data") {
                        metric::Data::Sum(sum) => sum
                            .data_points
                            .iter()
                            .map(|p| {
                                (
                                    p.attributes.clone(),
                                    p.start_time_unix_nano,
                                    p.time_unix_nano,
                                )
                            })
                            .collect(),
                        metric::Data::Histogram(histogram) => histogram
                            .data_points
                            .iter()
                            .map(|p| {
                                (
                                    p.attributes.clone(),
                                    p.start_time_unix_nano,
                                    p.time_unix_nano,
                                )
                            })
                            .collect(),
                        _ => Vec::new(), // gauges: last values, not deltas
                    };
                for (attributes, start, end) in points {
                    let stream = format!(
                        "{resource:?} {scope_name:?} {} {:?}",
                        metric.name,
                        string_attributes(&attributes)
                    );
                    streams.entry(stream).or_default().push((start, end));
                }
            }
        }
    }
    for intervals in streams.values_mut() {
        intervals.sort_unstable();
    }
    streams
}

/// How many points start before the previous point of their stream ended.
fn overlapping(streams: &BTreeMap<String, Vec<(u64, u64)>>) -> usize {
    streams
        .values()
        .map(|intervals| {
            intervals
                .windows(2)
                .filter(|pair| pair[1].0 < pair[0].1)
                .count()
        })
        .sum()
}

fn every_environment_exports_its_own_stream_identity_from_the_lambda_variables(run: &Run) {
    let Run {
        variables,
        requests,
    } = run;
    // What each child's variables say its resource is (the SDK's own attributes aside).
    let expected: Vec<BTreeMap<String, String>> = variables
        .iter()
        .map(|vars| {
            let name = vars["AWS_LAMBDA_FUNCTION_NAME"].clone();
            let memory_mb: i64 = vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"].parse().unwrap();
            let mut resource: BTreeMap<String, String> = [
                ("service.name", name.clone()),
                ("faas.name", name),
                ("faas.version", vars["AWS_LAMBDA_FUNCTION_VERSION"].clone()),
                (
                    "faas.max_memory",
                    format!("int:{}", memory_mb * 1024 * 1024),
                ),
                ("cloud.provider", "aws".to_owned()),
                ("cloud.platform", "aws_lambda".to_owned()),
                ("cloud.region", vars["AWS_REGION"].clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            if let Some(stream) = vars.get("AWS_LAMBDA_LOG_STREAM_NAME") {
                resource.insert("faas.instance".to_owned(), stream.clone());
                resource.insert("service.instance.id".to_owned(), stream.clone());
            }
            resource
        })
        .collect();
    assert_eq!(
        ENVIRONMENTS
            .iter()
            .zip(variables)
            .filter(|(env, vars)| (**env == "lambda")
                == vars.contains_key("AWS_LAMBDA_LOG_STREAM_NAME"))
            .count(),
        ENVIRONMENTS.len(),
        "a log stream name in the lambda children only: {variables:?}"
    );

    let mut seen: BTreeSet<BTreeMap<String, String>> = BTreeSet::new();
    for (resource, _) in resources(requests) {
        let ours: BTreeMap<String, String> = resource
            .iter()
            .filter(|(key, _)| !key.starts_with("telemetry.sdk."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(resource["telemetry.sdk.language"], "rust", "{resource:?}");
        let instance = ours
            .get("faas.instance")
            .unwrap_or_else(|| panic!("no faas.instance: one identity for all: {resource:?}"));
        assert_eq!(ours.get("service.instance.id"), Some(instance));
        // The child it came from: the one with that log stream name, or else a local one (whose
        // identity is made per process).
        let matches = expected
            .iter()
            .filter(|want| match want.get("faas.instance") {
                Some(_) => **want == ours,
                None => instance.starts_with("local-") && **want == shared_part(&ours),
            })
            .count();
        assert!(
            matches >= 1,
            "no child has the resource {ours:?}; expected one of {expected:?}"
        );
        seen.insert(resource);
    }
    // One identity per environment, and nothing but the instance attributes tells them apart.
    assert_eq!(seen.len(), ENVIRONMENTS.len(), "{seen:#?}");
    let instances: BTreeSet<&String> = seen.iter().map(|r| &r["faas.instance"]).collect();
    assert_eq!(instances.len(), ENVIRONMENTS.len(), "{instances:?}");
    let shared: BTreeSet<_> = seen.iter().map(shared_part).collect();
    assert_eq!(shared.len(), 1, "{shared:#?}");

    // One writer per stream: within each, a delta point starts where the previous one ended.
    let streams = delta_intervals(requests, BTreeMap::clone);
    let points: usize = streams.values().map(Vec::len).sum();
    assert!(points >= 4 * 6, "{points} delta points");
    assert_eq!(overlapping(&streams), 0, "{streams:#?}");
    // The same points under a resource without the per-environment attributes (the SDK's default
    // resource had none): said, not asserted, as it depends on how the children were scheduled.
    let merged = delta_intervals(requests, shared_part);
    print!(
        "({} streams, {points} delta points; without faas.instance and service.instance.id: {} \
         streams, {} points overlapping another environment's) ",
        streams.len(),
        merged.len(),
        overlapping(&merged)
    );
}

fn the_environments_export_deltas_that_add_up_over_otlp_http(run: &Run) {
    let requests = &run.requests;
    let n = ENVIRONMENTS.len();
    assert!(requests.len() >= 3 * n, "{} OTLP requests", requests.len());

    let mut environments = BTreeSet::new();
    // (metric, environment, attributes) → summed value or count.
    let mut sums: BTreeMap<(String, BTreeMap<String, String>), f64> = BTreeMap::new();
    let mut counts: BTreeMap<(String, BTreeMap<String, String>), u64> = BTreeMap::new();
    let mut coldstarts_per_environment: BTreeMap<String, f64> = BTreeMap::new();
    for request in requests {
        for resource_metrics in &request.resource_metrics {
            let resource = string_attributes(
                &resource_metrics
                    .resource
                    .as_ref()
                    .expect("a resource")
                    .attributes,
            );
            let environment = resource["faas.instance"].clone();
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
    assert_eq!(environments.len(), n, "{environments:?}");
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
    let n_f64 = n as f64;
    assert_eq!(sums[&key(names::COLDSTARTS, &[h])], n_f64);
    assert_eq!(coldstarts_per_environment.len(), n);
    assert!(
        coldstarts_per_environment.values().all(|&c| c == 1.0),
        "{coldstarts_per_environment:?}"
    );
    assert_eq!(
        sums[&key(names::INVOCATIONS, &[h, ("start", "cold")])],
        n_f64
    );
    assert_eq!(
        sums[&key(names::INVOCATIONS, &[h, ("start", "warm")])],
        2.0 * n_f64
    );
    assert_eq!(
        counts[&key(names::INVOKE_DURATION, &[h, ("start", "warm")])],
        2 * n as u64
    );
    assert_eq!(
        counts[&key(names::INIT_DURATION, &[("init_type", "on-demand")])],
        n as u64
    );
}
