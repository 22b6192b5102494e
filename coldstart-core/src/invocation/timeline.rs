//! When invocations began and finished: the invocation in progress, the idle gap before it and
//! the environment's age.
//!
//! Instants are stored as nanoseconds since process start plus one (0: never), so that reading
//! them costs an atomic load and writing them a store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::first::{begun, start_kind_of};
use super::kinds::StartKind;
use crate::phases;

static LAST_STARTED: AtomicU64 = AtomicU64::new(0);
static LAST_FINISHED: AtomicU64 = AtomicU64::new(0);
static LAST_IDLE: AtomicU64 = AtomicU64::new(0);

fn decode(raw: u64) -> Option<Instant> {
    (raw != 0).then(|| phases::process_start().0 + Duration::from_nanos(raw - 1))
}

/// Notes an invocation's start; returns its [`phases::start_offset`] and how long the
/// environment sat idle before it.
///
/// Both instants are already whole nanoseconds since process start, so the gap is one
/// subtraction (no round trip through `Instant`).
pub(super) fn started(at: Instant) -> (u64, Option<Duration>) {
    let now = phases::start_offset(at);
    LAST_STARTED.store(now, Ordering::Relaxed);
    let raw = match LAST_FINISHED.load(Ordering::Relaxed) {
        0 => 0,
        finished => now.saturating_sub(finished) + 1,
    };
    LAST_IDLE.store(raw, Ordering::Relaxed);
    (now, (raw != 0).then(|| Duration::from_nanos(raw - 1)))
}

/// Notes an invocation's end; returns the stored value (nanoseconds since process start plus
/// one), which [`crate::memory`] reuses instead of converting `at` again.
pub(super) fn finished(at: Instant) -> u64 {
    let raw = phases::start_offset(at);
    LAST_FINISHED.store(raw, Ordering::Relaxed);
    raw
}

fn last_idle() -> Option<Duration> {
    match LAST_IDLE.load(Ordering::Relaxed) {
        0 => None,
        raw => Some(Duration::from_nanos(raw - 1)),
    }
}

/// What handler code can read about the invocation in progress: the most recently begun one in
/// the process (exact with `lambda_runtime::run`, which serves one invocation at a time; under
/// `run_concurrent` another request may have begun since).
///
/// ```
/// #[coldstart::cold_start_handler]
/// fn handler(event: u32) -> bool {
///     let current = coldstart::current_invocation().unwrap();
///     assert_eq!(current.number, 1);
///     current.is_cold()
/// }
///
/// assert!(handler(1)); // no AWS_LAMBDA_INITIALIZATION_TYPE: on-demand, so cold
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CurrentInvocation {
    /// Its number in the process, starting at 1 (warm-up pings count).
    pub number: u64,
    /// Its start kind.
    pub start_kind: StartKind,
    /// When it began.
    pub started_at: Instant,
    /// How long the environment sat idle before it: since the previous invocation (or warm-up
    /// ping) finished. `None` for the first one.
    pub idle: Option<Duration>,
}

impl CurrentInvocation {
    /// `true` for a user-facing cold start ([`StartKind::Cold`]): what Powertools logs as
    /// `cold_start`.
    ///
    /// ```
    /// #[coldstart::cold_start_handler]
    /// fn handler(event: u32) -> u32 {
    ///     if coldstart::current_invocation().is_some_and(|current| current.is_cold()) {
    ///         println!("this request waited for INIT");
    ///     }
    ///     event
    /// }
    /// # handler(1);
    /// ```
    pub fn is_cold(&self) -> bool {
        self.start_kind == StartKind::Cold
    }
}

/// The invocation in progress (see [`CurrentInvocation`]); `None` before the first one.
///
/// ```
/// assert!(coldstart::current_invocation().is_none()); // no invocation has begun
/// ```
pub fn current_invocation() -> Option<CurrentInvocation> {
    let number = begun();
    let started_at = decode(LAST_STARTED.load(Ordering::Relaxed))?;
    if number == 0 {
        return None;
    }
    Some(CurrentInvocation {
        number,
        start_kind: start_kind_of(number),
        started_at,
        idle: last_idle(),
    })
}

/// How long this execution environment has existed: since init end when it was marked (the
/// environment's useful life), else since process start.
///
/// ```
/// let age = coldstart::environment_age();
/// assert!(age < std::time::Duration::from_secs(3600));
/// ```
pub fn environment_age() -> Duration {
    environment_age_at(Instant::now())
}

/// [`environment_age_at`] for an instant given as its [`phases::start_offset`]: a subtraction,
/// once init end's own offset is known (what a warm invocation's record uses).
pub(super) fn environment_age_at_offset(offset: u64) -> Duration {
    /// [`phases::init_end`] as a start offset once it is marked; 0 until then.
    static INIT_END_OFFSET: AtomicU64 = AtomicU64::new(0);
    let since = match INIT_END_OFFSET.load(Ordering::Relaxed) {
        0 => match phases::init_end() {
            Some(end) => {
                let end = phases::start_offset(end);
                INIT_END_OFFSET.store(end, Ordering::Relaxed);
                end
            }
            None => 1, // the process start's own offset
        },
        end => end,
    };
    Duration::from_nanos(offset.saturating_sub(since))
}

pub(super) fn environment_age_at(now: Instant) -> Duration {
    let since = phases::init_end().unwrap_or_else(|| phases::process_start().0);
    now.saturating_duration_since(since)
}

/// How long the environment has been idle: since the last invocation (or warm-up ping) finished,
/// `None` before any finished. Read it at the start of a handler to decide whether a connection
/// kept across invocations has been idle past a server's timeout.
///
/// ```
/// #[coldstart::cold_start_handler]
/// fn handler(event: u32) -> u32 {
///     event
/// }
///
/// assert!(coldstart::idle_since_last_invocation().is_none());
/// handler(1);
/// assert!(coldstart::idle_since_last_invocation().is_some());
/// ```
pub fn idle_since_last_invocation() -> Option<Duration> {
    decode(LAST_FINISHED.load(Ordering::Relaxed)).map(|finished| finished.elapsed())
}
