//! The process-wide settings invocation tracking reads: the proactive-initialization threshold
//! and the cold-start budget. They are set in one place, `coldstart::lambda::Coldstart` (its
//! `end_init`, once per process); here they can only be read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Default of [`proactive_threshold`]: 100 ms.
pub const DEFAULT_PROACTIVE_THRESHOLD: Duration = Duration::from_millis(100);

/// [`proactive_threshold`] in nanoseconds.
static PROACTIVE_THRESHOLD_NS: AtomicU64 =
    AtomicU64::new(DEFAULT_PROACTIVE_THRESHOLD.as_nanos() as u64);

/// The process-wide cold-start budget, in nanoseconds (0: none).
static COLD_START_BUDGET_NS: AtomicU64 = AtomicU64::new(0);

/// The gap between init end and the first event above which the first invocation of an
/// on-demand environment is [`StartKind::Proactive`](super::StartKind::Proactive) rather than
/// `cold`. Set with `coldstart::lambda::Coldstart::proactive_threshold`.
///
/// The default, [`DEFAULT_PROACTIVE_THRESHOLD`] (100 ms), is Bref's: a request that triggered
/// INIT is handed to the runtime as soon as INIT ends, so its event follows init end within a
/// few milliseconds; an event arriving much later found an environment that was already waiting.
/// (Datadog instead calls a first invocation proactive when it starts more than 10 s after INIT
/// *started*; measuring from init end does not depend on how long INIT itself took.)
///
/// ```
/// use coldstart::invocation::proactive_threshold;
/// assert_eq!(proactive_threshold(), std::time::Duration::from_millis(100));
/// ```
pub fn proactive_threshold() -> Duration {
    Duration::from_nanos(PROACTIVE_THRESHOLD_NS.load(Ordering::Relaxed))
}

/// Takes effect for a first invocation that has not begun yet.
#[cfg(feature = "lambda")]
pub(crate) fn set_proactive_threshold(threshold: Duration) {
    let nanos = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
    PROACTIVE_THRESHOLD_NS.store(nanos, Ordering::Relaxed);
}

/// The cold-start budget for every handler that has none of its own (a handler's own is
/// `#[cold_start_handler(budget = "…")]`), if one was set with
/// `coldstart::lambda::Coldstart::cold_start_budget`.
///
/// ```
/// assert_eq!(coldstart::invocation::cold_start_budget(), None);
/// ```
pub fn cold_start_budget() -> Option<Duration> {
    match COLD_START_BUDGET_NS.load(Ordering::Relaxed) {
        0 => None,
        nanos => Some(Duration::from_nanos(nanos)),
    }
}

#[cfg(feature = "lambda")]
pub(crate) fn set_cold_start_budget(budget: Duration) {
    let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX).max(1);
    COLD_START_BUDGET_NS.store(nanos, Ordering::Relaxed);
}
