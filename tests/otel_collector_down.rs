//! No collector listening: every invocation still succeeds, and each failed OTLP/HTTP export from
//! the flush hook is counted in `coldstart.export_failures{exporter="otel"}`, which a second
//! reader of the same provider (the SDK's in-memory exporter) receives.

mod support;

use coldstart::{cold_start_handler, names, otel};
use lambda_runtime::{Error, LambdaEvent};
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::Duration;

#[cold_start_handler(name = "orders")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn a_missing_collector_is_counted_and_never_fails_an_invocation() {
    let api = support::local_api("collector-down");
    // A loopback port nobody listens on: bound, then released.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let otlp = MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://{closed}/v1/metrics"))
        .with_timeout(Duration::from_millis(200))
        .build()
        .expect("OTLP exporter");
    let memory = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(otel::Delta(otlp)).build())
        .with_reader(PeriodicReader::builder(otel::Delta(memory.clone())).build())
        .build();
    let events: Vec<Value> = (1..=3).map(|n| json!({ "n": n })).collect();
    let (flush, results) = support::otel::serve_flushing(&api, &provider, handler, &events);
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");
    assert_eq!(results[2].json().unwrap(), json!({ "n": 3 }));
    // The last hook may still be running after its response: wait for the three failures.
    let waited = std::time::Instant::now();
    while flush.failures() < 3 && waited.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let failures = flush.failures();
    assert_eq!(failures, 3, "one failed export per invocation's flush");
    // Collect what was counted after the last hook's collection (the OTLP side, with that
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
