//! Warm invocation overhead with coldstart's OpenTelemetry recorder (`coldstart::otel`) installed
//! as the global recorder, beside `warm_invocation`'s Prometheus rows: a handler without
//! instrumentation, with `#[cold_start_handler]`, and the floor of what an invocation records
//! with this recorder (the same four operations on handles registered once). Its own bench
//! binary because a process has one global recorder; no `tracing` subscriber is installed, so the
//! invocation span costs its disabled-callsite check only. Every batch is exported afterwards
//! (untimed) through the SDK's delta pipeline into its in-memory exporter, then dropped.
//!
//! ```text
//! cargo bench --manifest-path coldstart-bench/Cargo.toml --features otel --bench warm_invocation_otel
//! ```
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

mod common;

use coldstart::{cold_start_handler, otel};
use common::{bench_batches, floor, floor_recorded, handler_body, poll_once};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use std::sync::OnceLock;
use std::time::Duration;

type Out = Result<u64, &'static str>;

fn plain_sync(n: u64) -> Out {
    handler_body!(n)
}

#[cold_start_handler(name = "bench-sync")]
fn coldstart_sync(n: u64) -> Out {
    handler_body!(n)
}

async fn plain_async(n: u64) -> Out {
    handler_body!(n)
}

#[cold_start_handler(name = "bench-async")]
async fn coldstart_async(n: u64) -> Out {
    handler_body!(n)
}

struct Pipeline {
    flush: otel::OtelFlush,
    exporter: InMemoryMetricExporter,
}

fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(otel::Delta(exporter.clone()))
                    .with_interval(Duration::from_secs(3600))
                    .build(),
            )
            .build();
        let flush = otel::install(&provider).expect("the only recorder of this bench");
        Pipeline { flush, exporter }
    })
}

/// Times `iters` calls of `f`; then (untimed) exports the batch and drops what was exported, as
/// the flush hook would.
fn bench(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, f: impl FnMut(u64) -> Out) {
    let pipeline = pipeline();
    bench_batches(group, name, f, || {
        pipeline.flush.flush().expect("in-memory export");
        pipeline.exporter.reset();
    });
}

fn warm(c: &mut Criterion) {
    pipeline();
    // The first invocation of the process is the cold one; everything measured below is warm.
    let _ = coldstart_sync(0);
    let _ = poll_once(coldstart_async(0));

    let mut group = c.benchmark_group("warm_sync_otel");
    bench(&mut group, "plain", plain_sync);
    bench(&mut group, "coldstart", coldstart_sync);
    bench(&mut group, "floor_no_recorder", |n| floor(|| plain_sync(n)));
    bench(&mut group, "floor_otel_handles", |n| {
        floor_recorded(|| plain_sync(n))
    });
    group.finish();

    let mut group = c.benchmark_group("warm_async_otel");
    bench(&mut group, "plain", |n| poll_once(plain_async(n)));
    bench(&mut group, "coldstart", |n| poll_once(coldstart_async(n)));
    bench(&mut group, "floor_otel_handles", |n| {
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
