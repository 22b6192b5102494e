//! Warm invocation overhead with no recorder installed (metrics go to the no-op recorder):
//! a handler without instrumentation, with `#[cold_start_handler]`, and the floors, in one run;
//! and the cost of one memory sample (`coldstart::memory::current`).
//! A process of its own, because a global recorder cannot be uninstalled.
//!
//! ```text
//! cargo bench --manifest-path coldstart-bench/Cargo.toml --bench warm_no_recorder
//! ```
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

mod common;

use coldstart::cold_start_handler;
use common::{floor, floor_narrow, handler_body, poll_once, span_only};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
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

fn warm(c: &mut Criterion) {
    // The first invocation of the process is the cold one; everything measured below is warm.
    let _ = coldstart_sync(0);

    let mut group = c.benchmark_group("warm_sync_no_recorder");
    group.bench_function("plain", |b| b.iter(|| plain_sync(black_box(7))));
    group.bench_function("coldstart", |b| b.iter(|| coldstart_sync(black_box(7))));
    group.bench_function("span_only_no_subscriber", |b| {
        b.iter(|| span_only(|| plain_sync(black_box(7))))
    });
    group.bench_function("floor", |b| b.iter(|| floor(|| plain_sync(black_box(7)))));
    group.bench_function("floor_narrow", |b| {
        b.iter(|| floor_narrow(|| plain_sync(black_box(7))))
    });
    group.bench_function("one_clock_read", |b| b.iter(std::time::Instant::now));
    group.finish();

    let mut group = c.benchmark_group("warm_async_no_recorder");
    group.bench_function("plain", |b| b.iter(|| poll_once(plain_async(black_box(7)))));
    group.bench_function("coldstart", |b| {
        b.iter(|| poll_once(coldstart_async(black_box(7))))
    });
    group.bench_function("floor", |b| {
        b.iter(|| floor(|| poll_once(plain_async(black_box(7)))))
    });
    group.bench_function("floor_narrow", |b| {
        b.iter(|| floor_narrow(|| poll_once(plain_async(black_box(7)))))
    });
    group.finish();

    // What a memory sample costs when one is due (at most once a second, see
    // `coldstart::memory`): open, read and parse `/proc/self/status`.
    let mut group = c.benchmark_group("memory");
    group.bench_function("current", |b| b.iter(coldstart::memory::current));
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
