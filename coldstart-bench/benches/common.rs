//! Shared by the warm-invocation benches: one handler body, a poll-once executor, the floors.
#![allow(dead_code)] // each bench uses a different part of this module

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// The body every handler variant runs: a few nanoseconds of arithmetic that can fail.
macro_rules! handler_body {
    ($n:expr) => {{
        let n: u64 = $n;
        if n == u64::MAX {
            Err("n is too large")
        } else {
            Ok(n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
        }
    }};
}
pub(crate) use handler_body;

/// Polls a future that completes without waiting, once, with a no-op waker: what is left is the
/// future's own cost, not an executor's.
pub fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the bench handlers never wait"),
    }
}

static FLOOR_COUNT: AtomicU64 = AtomicU64::new(0);
static FLOOR_NANOS: AtomicU64 = AtomicU64::new(0);

/// The narrow floor of the previous runs: read the clock before and after, and account for it
/// with two relaxed atomic adds. Nothing else is kept, nothing is exported. Kept to show what
/// the additions since then (the timeline, the memory-sample check) cost.
#[inline(always)]
pub fn floor_narrow<T>(run: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let output = run();
    let nanos = started.elapsed().as_nanos() as u64;
    FLOOR_COUNT.fetch_add(1, Ordering::Relaxed);
    FLOOR_NANOS.fetch_add(nanos, Ordering::Relaxed);
    output
}

// The state a tracked invocation keeps, written the cheapest way: instants as nanoseconds since a
// base instant (0: never) in relaxed atomics, as `coldstart_core::invocation::timeline` does.
static BASE: OnceLock<Instant> = OnceLock::new();
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);
static LAST_STARTED: AtomicU64 = AtomicU64::new(0);
static LAST_FINISHED: AtomicU64 = AtomicU64::new(0);
static LAST_IDLE: AtomicU64 = AtomicU64::new(0);
static FIRST_DONE: AtomicBool = AtomicBool::new(false);
static LAST_SAMPLE: AtomicU64 = AtomicU64::new(0);

#[inline(always)]
fn encode(at: Instant) -> u64 {
    let base = *BASE.get_or_init(Instant::now);
    at.saturating_duration_since(base).as_nanos() as u64 + 1
}

/// What [`tracked_begin`] hands to [`tracked_end`].
pub struct Begun {
    started: Instant,
    idle_ns: u64,
}

/// What a recorder would be given at the end of a tracked invocation.
pub struct Ended {
    /// The invocation's duration.
    pub seconds: f64,
    /// The idle gap before it, if a previous invocation finished.
    pub idle_seconds: Option<f64>,
    /// The environment's age when it finished (here: since the base instant).
    pub age_seconds: f64,
}

/// The start of a tracked invocation, at its minimum: one clock read, the invocation number
/// (`fetch_add`), the start instant stored, the previous finish loaded, the idle gap stored.
#[inline(always)]
pub fn tracked_begin() -> Begun {
    let started = Instant::now();
    std::hint::black_box(INVOCATIONS.fetch_add(1, Ordering::AcqRel));
    let at = encode(started);
    LAST_STARTED.store(at, Ordering::Relaxed);
    let last = LAST_FINISHED.load(Ordering::Relaxed);
    let idle_ns = if last == 0 {
        0
    } else {
        at.saturating_sub(last) + 1
    };
    LAST_IDLE.store(idle_ns, Ordering::Relaxed);
    Begun { started, idle_ns }
}

/// The end of a tracked invocation, at its minimum: one clock read, the finish instant stored,
/// the first-real-invocation flag loaded, the memory-sample-due check (one load, a comparison;
/// the once-a-second sample itself is only marked, never read, here).
#[inline(always)]
pub fn tracked_end(begun: Begun) -> Ended {
    let finished = Instant::now();
    let at = encode(finished);
    LAST_FINISHED.store(at, Ordering::Relaxed);
    if !FIRST_DONE.load(Ordering::Relaxed) {
        FIRST_DONE.store(true, Ordering::Relaxed);
    }
    let last = LAST_SAMPLE.load(Ordering::Relaxed);
    if last == 0 || at.saturating_sub(last) >= 1_000_000_000 {
        LAST_SAMPLE.store(at, Ordering::Relaxed);
    }
    Ended {
        seconds: finished
            .saturating_duration_since(begun.started)
            .as_secs_f64(),
        idle_seconds: (begun.idle_ns != 0).then(|| (begun.idle_ns - 1) as f64 * 1e-9),
        age_seconds: (at - 1) as f64 * 1e-9,
    }
}

/// The floor with no recorder: two clock reads and the atomics the tracker keeps per invocation
/// ([`tracked_begin`], [`tracked_end`]); the values a recorder would get are computed and dropped.
#[inline(always)]
pub fn floor<T>(run: impl FnOnce() -> T) -> T {
    let begun = tracked_begin();
    let output = run();
    let _ = tracked_end(begun);
    output
}

/// The `coldstart.invocation` span as `#[cold_start_handler]` makes it (DEBUG, built only when
/// some subscriber enables DEBUG), around `run`, alone: with no subscriber one atomic load (the
/// global max level).
#[inline(always)]
pub fn span_only<T>(run: impl FnOnce() -> T) -> T {
    let span =
        (tracing::level_filters::LevelFilter::current() >= tracing::Level::DEBUG).then(|| {
            tracing::debug_span!(
                target: "coldstart",
                "coldstart.invocation",
                coldstart.handler = "bench-sync",
                coldstart.start_kind = "warm",
                faas.coldstart = false,
                coldstart.outcome = tracing::field::Empty,
            )
        });
    let output = run();
    if let Some(span) = &span {
        span.record("coldstart.outcome", "ok");
    }
    output
}

/// Handles registered once with the global recorder, for the floors with a recorder.
pub struct FloorHandles {
    pub counter: metrics::Counter,
    pub duration: metrics::Histogram,
    pub idle: metrics::Gauge,
    pub age: metrics::Gauge,
}

/// The floor handles, registered with the global recorder on first use (install it first).
pub fn floor_handles() -> &'static FloorHandles {
    static HANDLES: std::sync::OnceLock<FloorHandles> = std::sync::OnceLock::new();
    HANDLES.get_or_init(|| FloorHandles {
        counter: metrics::counter!("floor.invocations", "handler" => "floor", "start" => "warm"),
        duration: metrics::histogram!("floor.invoke_duration", "handler" => "floor", "start" => "warm"),
        idle: metrics::gauge!("floor.idle_duration", "handler" => "floor"),
        age: metrics::gauge!("floor.environment_age", "handler" => "floor"),
    })
}

/// The floor with the installed recorder, for what a warm invocation records: two clock reads and
/// the tracker's atomics ([`floor`]), then the four metric operations on handles registered once:
/// the counter increment, the duration histogram record, and two gauge sets (idle gap,
/// environment age). That is the recorder's own cost with nothing looked up.
#[inline(always)]
pub fn floor_recorded<T>(run: impl FnOnce() -> T) -> T {
    let handles = floor_handles();
    let begun = tracked_begin();
    let output = run();
    let ended = tracked_end(begun);
    handles.counter.increment(1);
    handles.duration.record(ended.seconds);
    if let Some(idle) = ended.idle_seconds {
        handles.idle.set(idle);
    }
    handles.age.set(ended.age_seconds);
    output
}

/// Times `iters` calls of `f` per criterion batch; then, untimed, runs `after_batch` (the
/// recorder's upkeep or export), so memory stays flat however long criterion runs.
pub fn bench_batches<O>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut f: impl FnMut(u64) -> O,
    after_batch: impl Fn(),
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let started = std::time::Instant::now();
            for i in 0..iters {
                let _ = std::hint::black_box(f(std::hint::black_box(i)));
            }
            let elapsed = started.elapsed();
            after_batch();
            elapsed
        })
    });
}
