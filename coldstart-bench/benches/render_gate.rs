//! What the render gate adds to a histogram record (issue 13): under `run_concurrent` each of
//! coldstart's histogram records takes the shared side of a `std::sync::RwLock` so that a render
//! through `coldstart::prometheus::render` never drains a histogram mid-push; elsewhere the gate
//! is one relaxed atomic load. The gate is private to coldstart-core, so this bench times the
//! same primitives around the same record: a cached histogram handle of a Prometheus recorder.
//!
//! ```text
//! cargo bench --manifest-path coldstart-bench/Cargo.toml --bench render_gate
//! ```
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{criterion_group, criterion_main, Criterion};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Instant;

static ARMED: AtomicBool = AtomicBool::new(false);
static GATE: RwLock<()> = RwLock::new(());

/// A record through the gate, as coldstart-core's `render_gate::recording` does it.
#[inline(always)]
fn gated(histogram: &metrics::Histogram) {
    if ARMED.load(Ordering::Relaxed) {
        let _shared = GATE.read().unwrap();
        histogram.record(black_box(0.001));
    } else {
        histogram.record(black_box(0.001));
    }
}

fn record(c: &mut Criterion) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this bench");
    let histogram = metrics::histogram!("bench_seconds");

    let mut group = c.benchmark_group("histogram_record");
    // Times `iters` records; drains the buckets afterwards (untimed), as the exporter's upkeep
    // would, so memory stays flat however long criterion runs.
    let mut run = |name: &str, armed: bool, gate: bool| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                ARMED.store(armed, Ordering::Relaxed);
                let started = Instant::now();
                for _ in 0..iters {
                    if gate {
                        gated(&histogram);
                    } else {
                        histogram.record(black_box(0.001));
                    }
                }
                let elapsed = started.elapsed();
                handle.run_upkeep();
                elapsed
            })
        });
    };
    run("bare", false, false);
    run("gate_unarmed", false, true);
    run("gate_armed", true, true);
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
