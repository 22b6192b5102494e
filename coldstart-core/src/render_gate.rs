//! Keeps coldstart's own histogram samples out of the way of a concurrent render.
//!
//! metrics-util 0.20's histogram storage (`AtomicBucket`) can lose a sample pushed while a
//! render (`PrometheusHandle::render`, which drains it with `clear_with`) swaps the bucket out:
//! the push lands in the detached block after the render has read it. Under `run_concurrent`
//! invocations record while another invocation's flush hook renders, so there coldstart's
//! histogram records take the shared side of a lock and [`rendering`] (what
//! `coldstart::prometheus::render` and `Pushgateway::push` use) the exclusive side: a render waits
//! for the records in progress and holds new ones back until it is done.
//!
//! The lock is armed only by `run_concurrent`; under `run`, which records nothing while its flush
//! hook renders, a record pays one relaxed atomic load. What it cannot cover: metrics recorded
//! outside coldstart (your own `histogram!` calls) and renders that do not go through
//! [`rendering`] (your own `handle.render()`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

/// Set once `run_concurrent` starts: from then on records and renders are serialized.
static ARMED: AtomicBool = AtomicBool::new(false);
static GATE: RwLock<()> = RwLock::new(());

/// Serializes coldstart's histogram records with [`rendering`] from now on (`run_concurrent`
/// calls it before the runtime serves any invocation).
#[cfg(feature = "concurrent")]
pub(crate) fn arm() {
    ARMED.store(true, Ordering::Release);
}

/// Runs `record` (one or more of coldstart's histogram records, never nested in another
/// `recording`) so that no render through [`rendering`] drains the histogram at the same time.
#[inline(always)]
pub(crate) fn recording<R>(record: impl FnOnce() -> R) -> R {
    if ARMED.load(Ordering::Relaxed) {
        let _shared = GATE.read().unwrap_or_else(PoisonError::into_inner);
        record()
    } else {
        record()
    }
}

/// Runs `render` while no [`recording`] is in progress.
#[cfg(feature = "prometheus")]
pub(crate) fn rendering<R>(render: impl FnOnce() -> R) -> R {
    let _exclusive = GATE.write().unwrap_or_else(PoisonError::into_inner);
    render()
}
