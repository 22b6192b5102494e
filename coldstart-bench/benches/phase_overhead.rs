//! What a named phase costs (issue 14: no more than a `#[lazy]` initialization's bookkeeping).
//!
//! ```text
//! cargo bench --manifest-path coldstart-bench/Cargo.toml --bench phase_overhead
//! ```
//!
//! No recorder is installed, so both record into the no-op recorder: what is measured is the
//! bookkeeping (the timed attempt, its frame, the clock reads). `lazy_first_access` forces a
//! fresh `Lazy` per iteration (built in the untimed setup), which is one whole initialization's
//! bookkeeping around the same trivial initializer.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use coldstart::lazy::Lazy;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;

fn bookkeeping(c: &mut Criterion) {
    let mut group = c.benchmark_group("bookkeeping");
    group.bench_function("plain_call", |b| b.iter(|| black_box(black_box(7u32) + 1)));
    group.bench_function("phase", |b| {
        b.iter(|| coldstart::phase("bench", || black_box(black_box(7u32) + 1)))
    });
    group.bench_function("lazy_first_access", |b| {
        b.iter_batched(
            || {
                Lazy::new("bench", module_path!(), false, false, || {
                    black_box(7u32) + 1
                })
            },
            |lazy| *Lazy::force(&lazy),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bookkeeping);
criterion_main!(benches);
