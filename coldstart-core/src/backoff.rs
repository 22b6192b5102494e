//! Back-off for an exporter that fails: after a failed export, the exports asked for during the
//! next period are skipped instead of attempted, so that a gateway or collector that is down
//! costs one bounded attempt per period, not one per invocation.
//!
//! The period doubles with each failure in a row, from [`Backoff::INITIAL`] up to the exporter's
//! maximum, and a success ends it. Skipping loses nothing by itself: what an exporter keeps for
//! the next attempt is its own business (the aggregating push keeps its increments, the
//! per-environment push sends everything each time).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The back-off state of one exporter.
#[derive(Debug)]
pub(crate) struct Backoff {
    max: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Failed attempts in a row.
    failures: u32,
    /// No attempt before this instant.
    retry_at: Option<Instant>,
}

impl Backoff {
    /// The period after the first failure in a row.
    pub(crate) const INITIAL: Duration = Duration::from_secs(1);
    /// The default longest period.
    pub(crate) const DEFAULT_MAX: Duration = Duration::from_secs(30);

    pub(crate) fn new(max: Duration) -> Backoff {
        Backoff {
            max,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn set_max(&mut self, max: Duration) {
        self.max = max;
    }

    /// `Ok` when an attempt may be made at `now`, else how long until one may.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Duration> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.retry_at {
            Some(at) if now < at => Err(at - now),
            _ => Ok(()),
        }
    }

    /// Whether the last attempt failed (whatever the time): the next attempt is a retry.
    #[cfg(any(feature = "otel", test))]
    pub(crate) fn failing(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failures
            > 0
    }

    /// An attempt succeeded: the next one is made whenever it is asked for.
    pub(crate) fn succeeded(&self) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = State::default();
    }

    /// An attempt that ended at `now` failed: returns the period before the next one.
    pub(crate) fn failed(&self, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failures = state.failures.saturating_add(1);
        let doublings = (state.failures - 1).min(16);
        let period = Self::INITIAL.saturating_mul(1 << doublings).min(self.max);
        state.retry_at = Some(now + period);
        period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_double_up_to_the_maximum_and_a_success_ends_them() {
        let backoff = Backoff::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(backoff.check(t0), Ok(()));
        assert_eq!(backoff.failed(t0), Duration::from_secs(1));
        assert_eq!(
            backoff.check(t0 + Duration::from_millis(400)),
            Err(Duration::from_millis(600))
        );
        assert_eq!(backoff.check(t0 + Duration::from_secs(1)), Ok(()));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(backoff.failed(t1), Duration::from_secs(2));
        assert_eq!(backoff.failed(t1), Duration::from_secs(4));
        assert_eq!(backoff.failed(t1), Duration::from_secs(5));
        assert_eq!(backoff.failed(t1), Duration::from_secs(5));
        assert!(backoff.check(t1 + Duration::from_secs(4)).is_err());
        assert!(backoff.failing());
        backoff.succeeded();
        assert!(!backoff.failing());
        assert_eq!(backoff.check(t1), Ok(()));
        assert_eq!(backoff.failed(t1), Duration::from_secs(1));
    }

    #[test]
    fn a_maximum_below_the_initial_period_caps_it() {
        let backoff = Backoff::new(Duration::from_millis(100));
        let t0 = Instant::now();
        assert_eq!(backoff.failed(t0), Duration::from_millis(100));
        assert_eq!(backoff.failed(t0), Duration::from_millis(100));
    }
}
