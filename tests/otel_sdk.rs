//! `coldstart::otel` through the real runtime loop into the OpenTelemetry SDK's own pipeline
//! (a `PeriodicReader` and the SDK's `InMemoryMetricExporter`, made delta by `otel::Delta`),
//! flushed from the flush hook after every response: the name, unit, description, instrument
//! kind, attributes and values of every metric an on-demand environment records over a cold
//! invocation, a warm-up ping, warm ones and a failing one; histograms with the crate's bucket
//! boundaries; each export holding only what changed since the previous one.

mod support;

use coldstart::{cold_start_handler, lazy, names, otel};
use lambda_runtime::{Error, LambdaEvent};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider, Temporality,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[lazy(name = "catalog")]
static CATALOG: Vec<u32> = (0..1000).collect();

#[cold_start_handler(name = "orders", budget = "1ms")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload["fail"] == json!(true) {
        return Err("failed on purpose".into());
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(json!({ "items": CATALOG.len() }))
}

/// One data point, whatever the instrument: its kind, sorted attributes and value(s).
#[derive(Debug, Clone)]
enum Point {
    Sum {
        monotonic: bool,
        value: f64,
    },
    Gauge(f64),
    Histogram {
        count: u64,
        sum: f64,
        bounds: Vec<f64>,
    },
}

type Attributes = Vec<(String, String)>;

/// One exported metric: unit, description, temporality (none for gauges), points by attributes.
type Exported = (
    String,
    String,
    Option<Temporality>,
    Vec<(Attributes, Point)>,
);

/// Every metric of one export, by name.
#[derive(Debug, Default)]
struct Export {
    metrics: BTreeMap<String, Exported>,
}

fn attributes<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Attributes {
    let mut out: Attributes = kvs
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    out.sort();
    out
}

fn points_f64(data: &MetricData<f64>) -> (Option<Temporality>, Vec<(Attributes, Point)>) {
    match data {
        MetricData::Histogram(h) => (
            Some(h.temporality()),
            h.data_points()
                .map(|p| {
                    (
                        attributes(p.attributes()),
                        Point::Histogram {
                            count: p.count(),
                            sum: p.sum(),
                            bounds: p.bounds().collect(),
                        },
                    )
                })
                .collect(),
        ),
        MetricData::Gauge(g) => (
            None,
            g.data_points()
                .map(|p| (attributes(p.attributes()), Point::Gauge(p.value())))
                .collect(),
        ),
        other => panic!("unexpected f64 data {other:?}"),
    }
}

fn points_u64(data: &MetricData<u64>) -> (Option<Temporality>, Vec<(Attributes, Point)>) {
    match data {
        MetricData::Sum(s) => (
            Some(s.temporality()),
            s.data_points()
                .map(|p| {
                    (
                        attributes(p.attributes()),
                        Point::Sum {
                            monotonic: s.is_monotonic(),
                            value: p.value() as f64,
                        },
                    )
                })
                .collect(),
        ),
        other => panic!("unexpected u64 data {other:?}"),
    }
}

fn export_of(resource: &ResourceMetrics) -> Export {
    let mut export = Export::default();
    for scope in resource.scope_metrics() {
        assert_eq!(scope.scope().name(), otel::SCOPE);
        for metric in scope.metrics() {
            let metric: &Metric = metric;
            let (temporality, points) = match metric.data() {
                AggregatedMetrics::F64(data) => points_f64(data),
                AggregatedMetrics::U64(data) => points_u64(data),
                other => panic!("{}: unexpected data {other:?}", metric.name()),
            };
            let previous = export.metrics.insert(
                metric.name().to_owned(),
                (
                    metric.unit().to_owned(),
                    metric.description().to_owned(),
                    temporality,
                    points,
                ),
            );
            assert!(
                previous.is_none(),
                "{} exported twice in one export: the series of one name must share one instrument identity",
                metric.name()
            );
        }
    }
    export
}

fn labels(pairs: &[(&str, &str)]) -> Attributes {
    let mut out: Attributes = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_metric_reaches_the_sdk_pipeline_with_units_buckets_and_delta_sums() {
    let api = support::local_api("on-demand");
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        // The interval is long: every export in this test comes from a flush.
        .with_reader(
            PeriodicReader::builder(otel::Delta(exporter.clone()))
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let events = [
        json!({ "n": 1 }),
        json!({ "source": "serverless-plugin-warmup" }),
        json!({ "n": 2 }),
        json!({ "n": 3 }),
        json!({ "n": 4, "fail": true }),
    ];
    let (flush, results) = support::otel::serve_flushing(&api, &provider, handler, &events);
    let errors: Vec<bool> = results.iter().map(|r| r.is_error()).collect();
    assert_eq!(errors, [false, false, false, false, true]);
    // The hook of the last invocation may still be running: flush once more from here.
    flush.flush().expect("flushed");
    assert_eq!(flush.failures(), 0);

    let exports: Vec<Export> = exporter
        .get_finished_metrics()
        .expect("exports")
        .iter()
        .map(export_of)
        .collect();
    // One export per flush: after each of the five answers (the ping's included), and ours.
    assert!(exports.len() >= 5, "{} exports", exports.len());

    // Every metric of the crate that this environment can record, with its definition.
    let expected_kinds = [
        (names::COLDSTARTS, "sum"),
        (names::INVOCATIONS, "sum"),
        (names::ERRORS, "sum"),
        (names::BUDGET_EXCEEDED, "sum"),
        (names::WARMUPS, "sum"),
        (names::INVOKE_DURATION, "histogram"),
        (names::INIT_DURATION, "histogram"),
        (names::PHASE_DURATION, "histogram"),
        (names::LAZY_INIT_DURATION, "histogram"),
        (names::MEM_USAGE, "histogram"),
        (names::IDLE_DURATION, "gauge"),
        (names::ENVIRONMENT_AGE, "gauge"),
    ];
    for (name, kind) in expected_kinds {
        let def = names::ALL.iter().find(|d| d.name == name).unwrap();
        let seen: Vec<_> = exports.iter().filter_map(|e| e.metrics.get(name)).collect();
        assert!(!seen.is_empty(), "{name} never exported");
        for (unit, description, temporality, points) in seen {
            assert_eq!(unit, otel::unit_of(name, def.unit), "{name}");
            assert_eq!(description, def.description, "{name}");
            if kind != "gauge" {
                assert_eq!(*temporality, Some(Temporality::Delta), "{name}");
            }
            for (attrs, point) in points {
                // Only the label keys the definition names.
                for (key, _) in attrs {
                    assert!(def.labels.contains(&key.as_str()), "{name}: {key}");
                }
                match (kind, point) {
                    ("sum", Point::Sum { monotonic, .. }) => assert!(monotonic, "{name}"),
                    ("gauge", Point::Gauge(v)) => assert!(*v >= 0.0, "{name}"),
                    ("histogram", Point::Histogram { bounds, .. }) => assert_eq!(
                        bounds.as_slice(),
                        names::buckets_for(name).unwrap(),
                        "{name}: our bucket boundaries"
                    ),
                    _ => panic!("{name}: {point:?} is not a {kind}"),
                }
            }
        }
    }
    let units: BTreeMap<&str, &str> = [
        (names::INVOKE_DURATION, "s"),
        (names::MEM_USAGE, "By"),
        (names::COLDSTARTS, "{coldstart}"),
        (names::INVOCATIONS, "{invocation}"),
    ]
    .into();
    for (name, unit) in units {
        let exported = exports.iter().find_map(|e| e.metrics.get(name)).unwrap();
        assert_eq!(exported.0, unit, "{name}");
    }

    // What a backend adds up: the sum of the deltas, per series.
    let total = |name: &str, wanted: &[(&str, &str)]| -> (f64, u64) {
        let wanted = labels(wanted);
        let mut value = 0.0;
        let mut count = 0;
        for export in &exports {
            let Some((_, _, _, points)) = export.metrics.get(name) else {
                continue;
            };
            for (attrs, point) in points {
                if *attrs != wanted {
                    continue;
                }
                match point {
                    Point::Sum { value: v, .. } => value += v,
                    Point::Histogram { count: c, sum, .. } => {
                        count += c;
                        value += sum;
                    }
                    Point::Gauge(_) => {}
                }
            }
        }
        (value, count)
    };
    let h = ("handler", "orders");
    assert_eq!(total(names::COLDSTARTS, &[h]).0, 1.0);
    assert_eq!(total(names::BUDGET_EXCEEDED, &[h]).0, 1.0);
    assert_eq!(total(names::INVOCATIONS, &[h, ("start", "cold")]).0, 1.0);
    assert_eq!(total(names::INVOCATIONS, &[h, ("start", "warm")]).0, 2.0);
    assert_eq!(
        total(names::ERRORS, &[h, ("start", "warm"), ("outcome", "error")]).0,
        1.0
    );
    assert_eq!(
        total(
            names::WARMUPS,
            &[("source", "serverless-plugin-warmup"), ("start", "warm")]
        )
        .0,
        1.0
    );
    let (cold_seconds, cold_count) = total(names::INVOKE_DURATION, &[h, ("start", "cold")]);
    assert_eq!(cold_count, 1);
    assert!(
        cold_seconds >= 0.002,
        "the handler sleeps 2 ms: {cold_seconds}"
    );
    assert_eq!(
        total(names::INVOKE_DURATION, &[h, ("start", "warm")]).1,
        3,
        "two successes and the error"
    );
    assert_eq!(
        total(names::INIT_DURATION, &[("init_type", "on-demand")]).1,
        1
    );
    assert_eq!(total(names::PHASE_DURATION, &[("phase", "init")]).1, 1);
    assert_eq!(
        total(
            names::LAZY_INIT_DURATION,
            &[("lazy", "catalog"), ("during", "cold"), ("outcome", "ok")]
        )
        .1,
        1
    );
    let (peak, samples) = total(names::MEM_USAGE, &[]);
    assert!(samples >= 1 && peak > 1024.0 * 1024.0, "{samples} {peak}");

    // Delta: the cold start is in exactly one export (cumulative would repeat it in every
    // later one), and a later export holds the warm invocations only.
    let with_coldstart = exports
        .iter()
        .filter(|e| e.metrics.contains_key(names::COLDSTARTS))
        .count();
    assert_eq!(with_coldstart, 1);
    let last_invocations = exports
        .iter()
        .rev()
        .find_map(|e| e.metrics.get(names::INVOCATIONS))
        .unwrap();
    assert!(last_invocations
        .3
        .iter()
        .all(|(attrs, _)| attrs.contains(&("start".to_owned(), "warm".to_owned()))));
}
