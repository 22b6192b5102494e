//! What the first invocation leaves for after its response.
//!
//! When `coldstart::lambda`'s layer wraps the runtime, something runs after every response
//! ([`crate::after_response`]), so the first invocation's record-keeping — the metric
//! descriptions, the start-up phases, its own metrics, the cold-start report — waits here until
//! its response is posted: with metrics-exporter-prometheus the first registrations took ~40 µs
//! of the cold request. Without the layer nothing runs after a response, and the first
//! invocation does all of it when it ends. This module only holds the work; the order it runs in
//! is [`crate::after_response`]'s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use super::handler::Recorded;

/// Set by the layer that runs [`crate::after_response`] after every response.
static DEFERRING: AtomicBool = AtomicBool::new(false);

/// The first invocation's metrics, waiting for its response to be posted.
static FIRST_METRICS: Mutex<Option<Recorded>> = Mutex::new(None);
/// The first invocation's descriptions and phases are waiting.
static FIRST_WORK: AtomicBool = AtomicBool::new(false);
/// Something above is waiting: the one load the other invocations pay.
static HAS_PENDING: AtomicBool = AtomicBool::new(false);
/// The first real invocation has finished; its report is waiting.
static REPORT: AtomicBool = AtomicBool::new(false);

/// From now on the first invocation's record-keeping waits for its response.
#[cfg(feature = "lambda")]
pub(crate) fn defer_to_after_response() {
    DEFERRING.store(true, Ordering::Relaxed);
}

/// Whether the first invocation's record-keeping waits for its response.
pub(crate) fn deferring() -> bool {
    DEFERRING.load(Ordering::Relaxed)
}

pub(super) fn leave_first_invocation_work() {
    FIRST_WORK.store(true, Ordering::Relaxed);
    HAS_PENDING.store(true, Ordering::Release);
}

pub(super) fn leave_first_metrics(recorded: Recorded) {
    *FIRST_METRICS.lock().unwrap_or_else(PoisonError::into_inner) = Some(recorded);
    HAS_PENDING.store(true, Ordering::Release);
}

pub(super) fn leave_report() {
    REPORT.store(true, Ordering::Release);
}

/// Records what the first invocation left: its descriptions and phases, then its own metrics.
/// One atomic load once done.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn record_first_invocation() {
    if HAS_PENDING.load(Ordering::Relaxed) && HAS_PENDING.swap(false, Ordering::Acquire) {
        record_now();
    }
}

#[cfg(feature = "lambda")]
#[cold]
#[inline(never)]
fn record_now() {
    if FIRST_WORK.swap(false, Ordering::Relaxed) {
        super::first::first_invocation_work();
    }
    let pending = FIRST_METRICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(recorded) = pending {
        recorded.record(false);
    }
}

/// `true` once, when the first real invocation's report is waiting. One atomic load otherwise.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn take_report() -> bool {
    REPORT.load(Ordering::Relaxed) && REPORT.swap(false, Ordering::Acquire)
}
