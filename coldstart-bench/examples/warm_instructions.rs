//! Instructions per warm invocation, counted by callgrind: a measure of the warm path that a
//! loaded machine does not disturb (criterion's nanoseconds swing 30–50 % when other builds
//! run). The same handlers and floors as `benches/warm_invocation.rs` and
//! `benches/warm_no_recorder.rs`, each called `N` times in its own `loop_*` function, twice:
//!
//! ```sh
//! cargo build --release --example warm_instructions
//! for mode in prometheus none; do
//!     valgrind --tool=callgrind --callgrind-out-file=warm.$mode.out \
//!         target/release/examples/warm_instructions $mode
//!     callgrind_annotate --inclusive=yes warm.$mode.out | grep 'warm_instructions::loop_'
//! done
//! ```
//!
//! Divide each `loop_*` line by `2 * N` (40,000): instructions per invocation. With
//! `prometheus` a Prometheus recorder and a fmt subscriber at INFO are installed, as in
//! `warm_invocation`; with `none`, nothing, as in `warm_no_recorder`.

#[path = "../benches/common.rs"]
mod common;

use coldstart::cold_start_handler;
use common::{floor, floor_recorded, handler_body, poll_once};
use std::hint::black_box;

type Out = Result<u64, &'static str>;

fn plain_sync(n: u64) -> Out {
    handler_body!(n)
}

async fn plain_async(n: u64) -> Out {
    handler_body!(n)
}

#[cold_start_handler(name = "bench-sync")]
fn coldstart_sync(n: u64) -> Out {
    handler_body!(n)
}

#[cold_start_handler(name = "bench-async")]
async fn coldstart_async(n: u64) -> Out {
    handler_body!(n)
}

/// Invocations per `loop_*` call.
const N: u64 = 20_000;

#[inline(never)]
fn loop_coldstart_sync() {
    for i in 0..N {
        let _ = black_box(coldstart_sync(black_box(i)));
    }
}

#[inline(never)]
fn loop_coldstart_async() {
    for i in 0..N {
        let _ = black_box(poll_once(coldstart_async(black_box(i))));
    }
}

#[inline(never)]
fn loop_floor_prometheus_sync() {
    for i in 0..N {
        let _ = black_box(floor_recorded(|| plain_sync(black_box(i))));
    }
}

#[inline(never)]
fn loop_floor_prometheus_async() {
    for i in 0..N {
        let _ = black_box(floor_recorded(|| poll_once(plain_async(black_box(i)))));
    }
}

#[inline(never)]
fn loop_floor_sync() {
    for i in 0..N {
        let _ = black_box(floor(|| plain_sync(black_box(i))));
    }
}

#[inline(never)]
fn loop_floor_async() {
    for i in 0..N {
        let _ = black_box(floor(|| poll_once(plain_async(black_box(i)))));
    }
}

fn main() {
    let prometheus = std::env::args().nth(1).as_deref() == Some("prometheus");
    let handle = prometheus.then(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder");
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        handle
    });
    // The cold invocations, then enough warm ones for the probe thread to find the global
    // recorder (handles are cached from then on).
    for i in 0..100 {
        let _ = coldstart_sync(i);
        let _ = poll_once(coldstart_async(i));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    for _ in 0..2 {
        loop_coldstart_sync();
        loop_coldstart_async();
        if prometheus {
            loop_floor_prometheus_sync();
            loop_floor_prometheus_async();
        } else {
            loop_floor_sync();
            loop_floor_async();
        }
        if let Some(handle) = &handle {
            handle.run_upkeep();
        }
    }
}
