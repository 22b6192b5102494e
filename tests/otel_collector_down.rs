//! No collector listening:
//! - every invocation still succeeds, the first failed OTLP/HTTP export from the flush hook is
//!   counted in `coldstart.export_failures{exporter="otel"}` (which a second reader of the same
//!   provider, the SDK's in-memory exporter, receives), and the next invocations' flushes are
//!   skipped while `flush_or_report` backs off;
//! - then the collector (an OTLP/HTTP receiver on the same loopback port) comes back: the flush
//!   after the back-off delivers everything recorded during the outage except the documented
//!   loss, the batch of the first failed flush.

mod support;

use coldstart::otel::{OtelFlush, OtelRecorder};
use coldstart::{cold_start_handler, names, otel};
use lambda_runtime::{Error, LambdaEvent};
use opentelemetry::metrics::MeterProvider;
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use prost::Message;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cold_start_handler(name = "orders")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// The tests of this file, one at a time: the first sets the process environment for
/// `lambda_runtime`, while the other's HTTP clients read it (proxy variables).
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_missing_collector_is_counted_and_never_fails_an_invocation() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let api = support::local_api("collector-down");
    let otlp = otlp_exporter(closed_port());
    let memory = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(otel::Delta(otlp)).build())
        .with_reader(PeriodicReader::builder(otel::Delta(memory.clone())).build())
        .build();
    let events: Vec<Value> = (1..=3).map(|n| json!({ "n": n })).collect();
    let (flush, results) = support::otel::serve_flushing(&api, &provider, handler, &events);
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");
    assert_eq!(results[2].json().unwrap(), json!({ "n": 3 }));
    // A hook runs before the next `/next`, so the first one (failed) has ended; the other two
    // came well within the 1 s that follows it and were skipped, not attempted.
    let failures = flush.failures();
    assert_eq!(
        failures, 1,
        "the first flush fails, the next two are backed off"
    );
    // Collect what was counted after the first hook's collection (the OTLP side, with that
    // counter to send, fails again, uncounted: this is `flush`, not `flush_or_report`).
    let _ = flush.flush();

    // What the in-memory reader received: every failure, with its attribute.
    let exported: u64 = memory
        .get_finished_metrics()
        .unwrap()
        .iter()
        .flat_map(|resource| resource.scope_metrics())
        .flat_map(|scope| scope.metrics())
        .filter(|metric| metric.name() == names::EXPORT_FAILURES)
        .map(|metric| match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => sum
                .data_points()
                .map(|point| {
                    let attributes: Vec<_> = point
                        .attributes()
                        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                        .collect();
                    assert_eq!(attributes, [("exporter".to_owned(), "otel".to_owned())]);
                    point.value()
                })
                .sum::<u64>(),
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(exported, failures);
}

/// A loopback address where nothing listens: bound, then released.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn otlp_exporter(address: SocketAddr) -> MetricExporter {
    MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://{address}/v1/metrics"))
        .with_timeout(Duration::from_millis(200))
        .build()
        .expect("OTLP exporter")
}

#[test]
fn what_an_outage_recorded_reaches_the_collector_when_it_returns_but_the_first_failed_batch() {
    // Every back-off period is 1 s (the first one always is; the maximum stops the doubling).
    const PERIOD: Duration = Duration::from_secs(1);
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let address = closed_port();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(otel::Delta(otlp_exporter(address))).build())
        .build();
    let flush = OtelFlush::new(provider.clone())
        .max_backoff(PERIOD)
        .probe(otlp_exporter(address));
    // Not the global recorder (the other test installs it): this thread's, over this provider.
    let recorder = OtelRecorder::new(provider.meter("outage"));
    let received = metrics::with_local_recorder(&recorder, || {
        let record = |n: u64| {
            metrics::counter!("test.orders").increment(n);
            metrics::histogram!("test.order_value").record(n as f64);
        };
        record(1); // collected by the first flush, which fails: the documented loss
        assert!(!flush.flush_or_report());
        assert_eq!(flush.failures(), 1);
        for n in [2, 4, 8] {
            record(n);
            assert!(!flush.flush_or_report(), "skipped while backing off");
        }
        assert_eq!(flush.failures(), 1, "the skipped flushes attempted nothing");

        // A retry after the period, the collector still down: the probe fails, nothing is
        // collected, and the next period begins.
        std::thread::sleep(PERIOD);
        record(16);
        assert!(!flush.flush_or_report());
        assert_eq!(flush.failures(), 2, "the failed probe");
        record(32);
        assert!(!flush.flush_or_report(), "skipped again");
        assert_eq!(flush.failures(), 2);

        // The collector comes back on the same port.
        let received = receiver(address);
        std::thread::sleep(PERIOD);
        record(64);
        assert!(flush.flush_or_report(), "the probe and the flush reach it");
        assert_eq!(flush.failures(), 2);
        record(128);
        assert!(flush.flush_or_report(), "the back-off has ended");
        received
    });

    let requests = received.lock().unwrap().clone();
    // Attempts at the receiver: the probe (no metrics), then the two flushes.
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(
        metric_count(&requests[0]),
        0,
        "the probe carries no metrics"
    );
    let sums = |request: &ExportMetricsServiceRequest, name: &str| sum_of(request, name);
    // Everything recorded from the first skipped flush on, in one batch of deltas.
    assert_eq!(sums(&requests[1], "test.orders"), 2 + 4 + 8 + 16 + 32 + 64);
    assert_eq!(
        histogram_of(&requests[1], "test.order_value"),
        (6, (2 + 4 + 8 + 16 + 32 + 64) as f64)
    );
    // Both failures (the flush and the probe), counted after the first collection.
    assert_eq!(sums(&requests[1], names::EXPORT_FAILURES), 2);
    assert_eq!(sums(&requests[2], "test.orders"), 128);
    assert_eq!(histogram_of(&requests[2], "test.order_value"), (1, 128.0));
}

fn metric_count(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|resource| &resource.scope_metrics)
        .map(|scope| scope.metrics.len())
        .sum()
}

fn metrics_named<'a>(
    request: &'a ExportMetricsServiceRequest,
    name: &'a str,
) -> impl Iterator<Item = &'a metric::Data> + 'a {
    request
        .resource_metrics
        .iter()
        .flat_map(|resource| &resource.scope_metrics)
        .flat_map(|scope| &scope.metrics)
        .filter(move |metric| metric.name == name)
        .filter_map(|metric| metric.data.as_ref())
}

/// The sum of the integer points of the sums named `name` in `request`.
fn sum_of(request: &ExportMetricsServiceRequest, name: &str) -> i64 {
    metrics_named(request, name)
        .map(|data| match data {
            metric::Data::Sum(sum) => sum
                .data_points
                .iter()
                .map(|point| match point.value {
                    Some(number_data_point::Value::AsInt(value)) => value,
                    other => panic!("{other:?}"),
                })
                .sum::<i64>(),
            other => panic!("{other:?}"),
        })
        .sum()
}

/// (count, sum) of the histograms named `name` in `request`.
fn histogram_of(request: &ExportMetricsServiceRequest, name: &str) -> (u64, f64) {
    metrics_named(request, name)
        .flat_map(|data| match data {
            metric::Data::Histogram(histogram) => histogram.data_points.iter(),
            other => panic!("{other:?}"),
        })
        .fold((0, 0.0), |(count, sum), point| {
            (count + point.count, sum + point.sum.unwrap_or_default())
        })
}

/// An OTLP/HTTP receiver on `address`: every `POST /v1/metrics` body is decoded and kept, in
/// order, and answered with success.
fn receiver(address: SocketAddr) -> Arc<Mutex<Vec<ExportMetricsServiceRequest>>> {
    let listener = TcpListener::bind(address).expect("the port is still free");
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || serve(stream, &store));
        }
    });
    received
}

fn serve(stream: TcpStream, store: &Mutex<Vec<ExportMetricsServiceRequest>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return; // the client closed the connection
        }
        assert!(
            request_line.starts_with("POST /v1/metrics "),
            "{request_line}"
        );
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let request = ExportMetricsServiceRequest::decode(body.as_slice())
            .expect("a valid ExportMetricsServiceRequest");
        store.lock().unwrap().push(request);
        writer
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
            )
            .unwrap();
    }
}
