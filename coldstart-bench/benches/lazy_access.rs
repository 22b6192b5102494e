//! Access to an initialized lazy static: `#[coldstart::lazy]` vs `std::sync::LazyLock` vs
//! `once_cell::sync::Lazy`. All three are one atomic acquire load and a branch once initialized.
//!
//! ```text
//! cargo bench --manifest-path coldstart-bench/Cargo.toml --bench lazy_access
//! ```
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::LazyLock;

#[coldstart::lazy]
static COLDSTART_LAZY: Vec<u64> = (0..16).collect();

static STD_LAZY_LOCK: LazyLock<Vec<u64>> = LazyLock::new(|| (0..16).collect());

static ONCE_CELL_LAZY: once_cell::sync::Lazy<Vec<u64>> =
    once_cell::sync::Lazy::new(|| (0..16).collect());

fn initialized_access(c: &mut Criterion) {
    // Initialize all three first: only the fast path is measured.
    assert_eq!(
        COLDSTART_LAZY.len() + STD_LAZY_LOCK.len() + ONCE_CELL_LAZY.len(),
        48
    );
    let mut group = c.benchmark_group("initialized_access");
    group.bench_function("coldstart::lazy", |b| {
        b.iter(|| black_box(&COLDSTART_LAZY)[3])
    });
    group.bench_function("std::sync::LazyLock", |b| {
        b.iter(|| black_box(&STD_LAZY_LOCK)[3])
    });
    group.bench_function("once_cell::sync::Lazy", |b| {
        b.iter(|| black_box(&ONCE_CELL_LAZY)[3])
    });
    group.finish();
}

criterion_group!(benches, initialized_access);
criterion_main!(benches);
