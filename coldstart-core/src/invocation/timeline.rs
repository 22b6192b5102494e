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
/// environment sat idle before it, as stored: nanoseconds plus one, 0 for none (see
/// [`idle_of_raw`]).
///
/// Both instants are already whole nanoseconds since process start, so the gap is one
/// subtraction (no round trip through `Instant`).
#[inline]
pub(super) fn started_raw(at: Instant) -> (u64, u64) {
    let now = phases::start_offset(at);
    LAST_STARTED.store(now, Ordering::Relaxed);
    let raw = match LAST_FINISHED.load(Ordering::Relaxed) {
        0 => 0,
        finished => now.saturating_sub(finished) + 1,
    };
    LAST_IDLE.store(raw, Ordering::Relaxed);
    (now, raw)
}

/// An idle gap as [`started_raw`] stores it, as a duration.
#[inline]
pub(super) fn idle_of_raw(raw: u64) -> Option<Duration> {
    (raw != 0).then(|| Duration::from_nanos(raw - 1))
}

/// Notes an invocation's end; returns the stored value (nanoseconds since process start plus
/// one), which [`crate::memory`] reuses instead of converting `at` again.
#[inline]
pub(super) fn finished(at: Instant) -> u64 {
    let raw = phases::start_offset(at);
    LAST_FINISHED.store(raw, Ordering::Relaxed);
    raw
}

fn last_idle() -> Option<Duration> {
    idle_of_raw(LAST_IDLE.load(Ordering::Relaxed))
}

/// What handler code can read about the invocation in progress: inside a `#[cold_start_handler]`
/// its own invocation, also when others run at once (`run_concurrent`, with the `concurrent`
/// feature); elsewhere (a task the handler spawned, a handler without the attribute) the most
/// recently begun one in the process.
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
    if let Some(current) = super::running::current() {
        return Some(CurrentInvocation {
            number: current.number,
            start_kind: start_kind_of(current.number),
            started_at: decode(current.started_raw)?,
            idle: idle_of_raw(current.idle_raw),
        });
    }
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

/// [`environment_age_at`] for an instant given as its [`phases::start_offset`], in nanoseconds: a
/// subtraction, once init end's own offset is known (what a warm invocation's record uses).
#[inline]
pub(super) fn environment_age_ns_at_offset(offset: u64) -> u64 {
    /// [`phases::init_end`] as a start offset once it is marked; 0 until then.
    static INIT_END_OFFSET: AtomicU64 = AtomicU64::new(0);
    let since = match INIT_END_OFFSET.load(Ordering::Relaxed) {
        0 => init_end_offset(&INIT_END_OFFSET),
        end => end,
    };
    offset.saturating_sub(since)
}

/// Init end's start offset, kept in `slot` once init end is marked; until then, the process
/// start's own (1).
#[inline]
fn init_end_offset(slot: &AtomicU64) -> u64 {
    match phases::init_end() {
        Some(end) => {
            let end = phases::start_offset(end);
            slot.store(end, Ordering::Relaxed);
            end
        }
        None => 1,
    }
}

/// `Duration::from_nanos(nanos).as_secs_f64()`, bit for bit, in fewer instructions: under a
/// second (most invocations' durations) it is the nanoseconds over 10^9 (the whole seconds
/// add an exact `0.0`), with no division into whole seconds; above, the whole seconds are
/// converted as a signed integer (they fit: at most `u64::MAX / 10^9`), which is cheaper than
/// an unsigned conversion.
#[inline]
pub(super) fn seconds(nanos: u64) -> f64 {
    const NANOS_PER_SEC: u64 = 1_000_000_000;
    if nanos < NANOS_PER_SEC {
        return (nanos as u32) as f64 / NANOS_PER_SEC as f64;
    }
    let whole = (nanos / NANOS_PER_SEC) as i64;
    let fraction = (nanos % NANOS_PER_SEC) as u32;
    whole as f64 + f64::from(fraction) / NANOS_PER_SEC as f64
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_is_duration_as_secs_f64_bit_for_bit() {
        let mut values = vec![0, 1, 999_999_999, 1_000_000_000, 1_000_000_001, u64::MAX];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.extend([x, x >> 20, x >> 34, x >> 44]);
        }
        for nanos in values {
            let expected = Duration::from_nanos(nanos).as_secs_f64();
            assert_eq!(seconds(nanos).to_bits(), expected.to_bits(), "{nanos}");
        }
    }
}
