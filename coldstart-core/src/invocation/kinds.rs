//! The vocabulary every metric label and report uses: what kind of start an invocation was
//! ([`StartKind`]) and how it ended ([`Outcome`]).

use std::fmt;

use crate::environment::InitType;

/// What kind of start an invocation was: the `start` label.
///
/// ```
/// use coldstart::StartKind;
/// assert_eq!(StartKind::Snapstart.as_str(), "snapstart");
/// assert!(StartKind::Cold.is_first());
/// assert!(!StartKind::Warm.is_first());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartKind {
    /// The first invocation of an on-demand environment: a request waited for INIT.
    Cold,
    /// The first invocation of an on-demand environment whose first event arrived more than
    /// [`proactive_threshold`](super::proactive_threshold) after init end: Lambda initialized it
    /// ahead of the request ("proactive initialization"), so nobody waited for INIT. Needs init
    /// end to be marked ([`crate::phases::mark_init_end`], done by `coldstart::lambda::run`).
    Proactive,
    /// The first invocation of an environment initialized ahead of demand by provisioned
    /// concurrency or Lambda Managed Instances.
    Provisioned,
    /// The first invocation after a SnapStart restore.
    Snapstart,
    /// Any later invocation of the same environment.
    Warm,
}

impl StartKind {
    pub(crate) const COUNT: usize = 5;

    pub(crate) const ALL: [StartKind; StartKind::COUNT] = [
        StartKind::Cold,
        StartKind::Proactive,
        StartKind::Provisioned,
        StartKind::Snapstart,
        StartKind::Warm,
    ];

    /// The label value (`cold`, `proactive`, `provisioned`, `snapstart`, `warm`).
    ///
    /// ```
    /// assert_eq!(coldstart::StartKind::Cold.as_str(), "cold");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StartKind::Cold => "cold",
            StartKind::Proactive => "proactive",
            StartKind::Provisioned => "provisioned",
            StartKind::Snapstart => "snapstart",
            StartKind::Warm => "warm",
        }
    }

    /// `true` for every kind but [`StartKind::Warm`]: the first invocation of an environment.
    ///
    /// ```
    /// assert!(coldstart::StartKind::Provisioned.is_first());
    /// ```
    pub fn is_first(self) -> bool {
        self != StartKind::Warm
    }

    /// The start kind of the first invocation of an environment initialized as `init_type`.
    ///
    /// Unknown initialization types are treated as on-demand (a request may have waited). Never
    /// [`StartKind::Proactive`]: that takes the time between init end and the first event, which
    /// the first invocation measures (see [`proactive_threshold`](super::proactive_threshold)).
    ///
    /// ```
    /// use coldstart::{InitType, StartKind};
    /// assert_eq!(StartKind::first_for(&InitType::SnapStart), StartKind::Snapstart);
    /// assert_eq!(StartKind::first_for(&InitType::Unknown("x".into())), StartKind::Cold);
    /// ```
    pub fn first_for(init_type: &InitType) -> StartKind {
        match init_type {
            InitType::OnDemand | InitType::Unknown(_) => StartKind::Cold,
            InitType::ProvisionedConcurrency | InitType::LambdaManagedInstances => {
                StartKind::Provisioned
            }
            InitType::SnapStart => StartKind::Snapstart,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an invocation, a warm-up ping or a lazy static's initializer ended: the `outcome` label,
/// and what the flush hook (`coldstart::lambda::Coldstart::on_flush`) is told.
///
/// | variant | label | where it appears |
/// |---|---|---|
/// | [`Ok`](Outcome::Ok) | `ok` | every handler, initializer and flush hook |
/// | [`Error`](Outcome::Error) | `error` | `faas.errors`, `coldstart.lazy_init_duration`, the flush hook |
/// | [`Panic`](Outcome::Panic) | `panic` | the same |
/// | [`Cancelled`](Outcome::Cancelled) | `cancelled` | `faas.errors`, `coldstart.lazy_init_duration` |
/// | [`Rejected`](Outcome::Rejected) | `rejected` | the flush hook: the payload never reached the handler |
/// | [`Warmup`](Outcome::Warmup) | `warmup` | the flush hook: a warm-up ping was answered |
/// | [`Timeout`](Outcome::Timeout) | `timeout` | `faas.errors`, the flush hook: still running shortly before its deadline |
///
/// ```
/// use coldstart::Outcome;
/// assert_eq!(Outcome::Panic.as_str(), "panic");
/// assert!(Outcome::Ok.is_ok());
/// assert!(Outcome::Rejected.is_failure());
/// assert!(!Outcome::Warmup.is_failure());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler returned normally (`Ok(_)`, or a value that is not a `Result`); an
    /// initializer produced its value.
    Ok,
    /// The handler (or a fallible initializer) returned `Err(_)`.
    Error,
    /// A panic unwound through the handler or the initializer.
    Panic,
    /// The handler's (or an async initializer's) future was dropped before it completed, e.g. by
    /// a timeout.
    Cancelled,
    /// The payload never reached the handler: `lambda_runtime` could not deserialize it into the
    /// handler's event type and posts the error.
    Rejected,
    /// A warm-up ping was answered; the handler was not called.
    Warmup,
    /// The handler was still running shortly before the invocation's deadline
    /// (`coldstart::lambda::Coldstart::timeout_margin`): recorded then, and flushed, before
    /// Lambda stops the environment.
    Timeout,
}

impl Outcome {
    /// How many outcomes a handler's invocation can fail with (`faas.errors` series per start).
    pub(crate) const FAILURES: usize = 3;

    /// The failures a handler's invocation records in `faas.errors`, in key-slot order.
    pub(crate) const FAILED: [Outcome; Outcome::FAILURES] =
        [Outcome::Error, Outcome::Panic, Outcome::Cancelled];

    /// The label value (`ok`, `error`, `panic`, `cancelled`, `rejected`, `warmup`, `timeout`).
    ///
    /// ```
    /// assert_eq!(coldstart::Outcome::Cancelled.as_str(), "cancelled");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
            Outcome::Rejected => "rejected",
            Outcome::Warmup => "warmup",
            Outcome::Timeout => "timeout",
        }
    }

    /// `true` only for [`Outcome::Ok`].
    ///
    /// ```
    /// assert!(!coldstart::Outcome::Error.is_ok());
    /// ```
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    /// `true` for the outcomes Lambda counts as errors: `error`, `panic`, `cancelled`,
    /// `rejected`, `timeout`.
    ///
    /// ```
    /// assert!(coldstart::Outcome::Cancelled.is_failure());
    /// assert!(!coldstart::Outcome::Ok.is_failure());
    /// ```
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Warmup)
    }

    /// The key slot of a failed handler invocation (see [`Outcome::FAILED`]); `None` for `ok`.
    #[inline]
    pub(crate) fn failure_index(self) -> Option<usize> {
        // `Error`, `Panic` and `Cancelled` are declared right after `Ok`, in `FAILED`'s order.
        let index = (self as usize).wrapping_sub(Outcome::Error as usize);
        (index < Outcome::FAILURES).then_some(index)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn failure_index_is_the_slot_in_failed() {
        let all = [
            Outcome::Ok,
            Outcome::Error,
            Outcome::Panic,
            Outcome::Cancelled,
            Outcome::Rejected,
            Outcome::Warmup,
            Outcome::Timeout,
        ];
        for outcome in all {
            let expected = Outcome::FAILED.iter().position(|o| *o == outcome);
            assert_eq!(outcome.failure_index(), expected, "{outcome}");
        }
    }
}
