//! Warm invocation overhead with a Prometheus recorder installed as the global recorder:
//! a handler without instrumentation, with `#[cold_start_handler]`, with `#[autometrics]`
//! (metrics 0.24 backend, into the same recorder) and with `#[tracing::instrument]` (fmt
//! subscriber writing to a sink), plus the floors, all in one run. Sync and async handlers.
//!
//! ```text
//! cargo bench --manifest-path coldstart-bench/Cargo.toml --bench warm_invocation
//! ```
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

mod common;

use autometrics::autometrics;
use coldstart::cold_start_handler;
use common::{
    bench_batches, floor, floor_handles, floor_recorded, handler_body, poll_once, span_only,
    tracked_begin, tracked_end,
};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Out = Result<u64, &'static str>;

fn plain_sync(n: u64) -> Out {
    handler_body!(n)
}

#[cold_start_handler(name = "bench-sync")]
fn coldstart_sync(n: u64) -> Out {
    handler_body!(n)
}

#[autometrics]
fn autometrics_sync(n: u64) -> Out {
    handler_body!(n)
}

#[tracing::instrument]
fn tracing_sync(n: u64) -> Out {
    handler_body!(n)
}

async fn plain_async(n: u64) -> Out {
    handler_body!(n)
}

#[cold_start_handler(name = "bench-async")]
async fn coldstart_async(n: u64) -> Out {
    handler_body!(n)
}

#[autometrics]
async fn autometrics_async(n: u64) -> Out {
    handler_body!(n)
}

#[tracing::instrument]
async fn tracing_async(n: u64) -> Out {
    handler_body!(n)
}

/// The global recorder: the exporter's own by default; with feature `push` and
/// `WARM_RECORDER=coldstart`, `coldstart::prometheus::recorder` (what `prometheus::install()`
/// installs), bound before the first invocation as after a cold start, so the rows show what its
/// handles cost on the warm path.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        #[cfg(feature = "push")]
        let handle = if std::env::var_os("WARM_RECORDER").is_some_and(|v| v == "coldstart") {
            let (recorder, handle) =
                coldstart::prometheus::recorder(coldstart::prometheus::builder());
            // Builds the exporter: the handles registered from now on are its own.
            let exporter = handle.prometheus_handle().clone();
            metrics::set_global_recorder(recorder).expect("the only recorder of this bench");
            eprintln!("warm_invocation: coldstart::prometheus::recorder, bound");
            exporter
        } else {
            exporters_own()
        };
        #[cfg(not(feature = "push"))]
        let handle = exporters_own();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        handle
    })
}

/// `PrometheusBuilder::build_recorder()`, installed.
fn exporters_own() -> PrometheusHandle {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this bench");
    handle
}

/// Times `iters` calls of `f`; drains the recorder's histogram buckets afterwards (untimed), as
/// its upkeep task would.
fn bench(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, f: impl FnMut(u64) -> Out) {
    let handle = prometheus();
    bench_batches(group, name, f, || handle.run_upkeep());
}

/// The idle gap as the previous code recorded it (a histogram), for the `_idle_histogram` floor
/// only.
fn idle_histogram() -> &'static metrics::Histogram {
    static HANDLE: OnceLock<metrics::Histogram> = OnceLock::new();
    HANDLE
        .get_or_init(|| metrics::histogram!("floor.idle_duration_histogram", "handler" => "floor"))
}

/// The floor of the previous run (before the idle gap became a gauge): the same, but the idle gap
/// recorded into a histogram. Kept, sync only, to show what the gauge saves.
fn floor_prometheus_idle_histogram(n: u64) -> Out {
    let handles = floor_handles();
    let begun = tracked_begin();
    let output = plain_sync(n);
    let ended = tracked_end(begun);
    handles.counter.increment(1);
    handles.duration.record(ended.seconds);
    if let Some(idle) = ended.idle_seconds {
        idle_histogram().record(idle);
    }
    handles.age.set(ended.age_seconds);
    output
}

/// The narrow floor of the earlier runs: two clock reads, then only the counter and the duration
/// histogram on handles registered once. Kept to show what the tracker's atomics and the two
/// gauges add.
fn floor_prometheus_narrow(n: u64) -> Out {
    let handles = floor_handles();
    let started = Instant::now();
    let output = plain_sync(n);
    let seconds = started.elapsed().as_secs_f64();
    handles.counter.increment(1);
    handles.duration.record(seconds);
    output
}

/// The four metric operations of `common::floor_recorded` (and its two clock reads), looking each
/// series up in the recorder on every call, as `counter!`, `histogram!` and `gauge!` do (and as
/// `#[cold_start_handler]` does under a thread-local recorder).
fn floor_with_lookups(n: u64) -> Out {
    let started = Instant::now();
    let output = plain_sync(n);
    let finished = Instant::now();
    let seconds = finished.saturating_duration_since(started).as_secs_f64();
    metrics::counter!("floor.invocations", "handler" => "floor", "start" => "warm").increment(1);
    metrics::histogram!("floor.invoke_duration", "handler" => "floor", "start" => "warm")
        .record(seconds);
    metrics::gauge!("floor.idle_duration", "handler" => "floor").set(seconds);
    metrics::gauge!("floor.environment_age", "handler" => "floor").set(seconds);
    output
}

/// `common::span_only` at INFO, the level the span first had (the fmt subscriber installed here
/// builds it on every call).
fn span_only_info(n: u64) -> Out {
    let span = tracing::info_span!(
        target: "coldstart",
        "coldstart.invocation",
        coldstart.handler = "bench-sync",
        coldstart.start_kind = "warm",
        faas.coldstart = false,
        coldstart.outcome = tracing::field::Empty,
    );
    let output = plain_sync(n);
    span.record("coldstart.outcome", "ok");
    output
}

fn warm(c: &mut Criterion) {
    prometheus();
    // The first invocation of the process is the cold one; everything measured below is warm.
    let _ = coldstart_sync(0);
    let _ = poll_once(coldstart_async(0));

    let mut group = c.benchmark_group("warm_sync_prometheus");
    bench(&mut group, "plain", plain_sync);
    bench(&mut group, "coldstart", coldstart_sync);
    bench(&mut group, "autometrics", autometrics_sync);
    bench(&mut group, "tracing", tracing_sync);
    bench(&mut group, "floor_no_recorder", |n| floor(|| plain_sync(n)));
    bench(&mut group, "floor_prometheus_handles", |n| {
        floor_recorded(|| plain_sync(n))
    });
    bench(
        &mut group,
        "floor_prometheus_handles_idle_histogram",
        floor_prometheus_idle_histogram,
    );
    bench(
        &mut group,
        "floor_prometheus_handles_narrow",
        floor_prometheus_narrow,
    );
    bench(&mut group, "floor_prometheus_lookups", floor_with_lookups);
    bench(&mut group, "span_only_fmt_subscriber", |n| {
        span_only(|| plain_sync(n))
    });
    bench(&mut group, "span_only_info_fmt_subscriber", span_only_info);
    group.finish();

    let mut group = c.benchmark_group("warm_async_prometheus");
    bench(&mut group, "plain", |n| poll_once(plain_async(n)));
    bench(&mut group, "coldstart", |n| poll_once(coldstart_async(n)));
    bench(&mut group, "autometrics", |n| {
        poll_once(autometrics_async(n))
    });
    bench(&mut group, "tracing", |n| poll_once(tracing_async(n)));
    bench(&mut group, "floor_no_recorder", |n| {
        floor(|| poll_once(plain_async(n)))
    });
    bench(&mut group, "floor_prometheus_handles", |n| {
        floor_recorded(|| poll_once(plain_async(n)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    targets = warm
}
criterion_main!(benches);
