//! The words a lazy static is described in: where an initializer ran ([`During`]), which form
//! it was declared as ([`Form`]), its [`State`], and its entry in the list ([`LazyInfo`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::invocation::{self, StartKind};

/// A boxed, `Send` future: what an async initializer is turned into (once, on its first run).
///
/// ```
/// let future: coldstart::lazy::BoxFuture<u8> = Box::pin(async { 1 });
/// # let _ = future;
/// ```
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where an initializer ran: during INIT, forced by [`prewarm`](super::prewarm), or during an invocation.
///
/// ```
/// use coldstart::lazy::During;
/// use coldstart::StartKind;
///
/// // No invocation has begun in this process yet:
/// assert_eq!(During::now(), During::Init);
/// let third = During::Invocation { number: 3, start_kind: StartKind::Warm };
/// assert_eq!(third.as_str(), "warm");
/// assert_eq!(third.invocation(), Some(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum During {
    /// No invocation had begun in the process: the work happened during INIT (or after INIT,
    /// before the first event arrived).
    Init,
    /// Forced by [`prewarm`](super::prewarm).
    Prewarm,
    /// Forced by a warm-up ping (`coldstart::lambda` builds the `prewarm` statics when it
    /// answers one), or run while a warm-up ping was the only event the environment had seen.
    /// No user request waited for it.
    Warmup,
    /// Built by `coldstart::lambda` after the first response was posted and before the runtime
    /// asked for the next event (`Coldstart::warm_after_first_response`): billed, but no client
    /// waited for it.
    AfterFirstResponse,
    /// During an invocation: its number in the process (from 1) and its start kind.
    Invocation {
        /// The invocation's number in the process, starting at 1.
        number: u64,
        /// Its start kind: the first invocation's kind for number 1, otherwise `warm`.
        start_kind: StartKind,
    },
}

impl During {
    /// Where work starting now on this thread would be attributed: inside a
    /// `#[cold_start_handler]`, its own invocation; elsewhere the most recently begun one, or
    /// INIT before any (see the [module docs](super)).
    ///
    /// ```
    /// assert_eq!(coldstart::lazy::During::now().as_str(), "init");
    /// ```
    pub fn now() -> During {
        // Inside a handler: its own invocation, even when another one began since.
        let number = invocation::running().unwrap_or_else(invocation::invocation_count);
        match number {
            0 => During::Init,
            1 if invocation::first_invocation().is_some_and(|first| first.warmup) => During::Warmup,
            number => During::Invocation {
                number,
                start_kind: invocation::start_kind_of(number),
            },
        }
    }

    /// The `during` label value: `init`, `prewarm`, `warmup`, `after_first_response`, or the invocation's start kind
    /// (`cold`, `proactive`, `provisioned`, `snapstart`, `warm`).
    ///
    /// ```
    /// assert_eq!(coldstart::lazy::During::Prewarm.as_str(), "prewarm");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            During::Init => "init",
            During::Prewarm => "prewarm",
            During::Warmup => "warmup",
            During::AfterFirstResponse => "after_first_response",
            During::Invocation { start_kind, .. } => start_kind.as_str(),
        }
    }

    /// The invocation number, for [`During::Invocation`].
    ///
    /// ```
    /// assert_eq!(coldstart::lazy::During::Init.invocation(), None);
    /// ```
    pub fn invocation(self) -> Option<u64> {
        match self {
            During::Invocation { number, .. } => Some(number),
            _ => None,
        }
    }

    /// `true` when a request waited for this work: it ran during an invocation (any start kind).
    ///
    /// ```
    /// use coldstart::lazy::During;
    /// assert!(!During::Init.on_request_path());
    /// assert!(!During::Prewarm.on_request_path());
    /// assert!(!During::AfterFirstResponse.on_request_path());
    /// ```
    pub fn on_request_path(self) -> bool {
        matches!(self, During::Invocation { .. })
    }
}

impl fmt::Display for During {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            During::Invocation { number, start_kind } => {
                write!(f, "invocation {number} ({start_kind})")
            }
            other => f.write_str(other.as_str()),
        }
    }
}

/// Which of the four forms a lazy static was declared as.
///
/// ```
/// use coldstart::lazy::Form;
/// assert_eq!(Form::AsyncFallible.as_str(), "async, fallible");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Form {
    /// `#[lazy]`: [`Lazy`](super::Lazy).
    Sync,
    /// `#[lazy(async)]`: [`AsyncLazy`](super::AsyncLazy).
    Async,
    /// `#[lazy(fallible)]`: [`TryLazy`](super::TryLazy).
    Fallible,
    /// `#[lazy(async, fallible)]`: [`AsyncTryLazy`](super::AsyncTryLazy).
    AsyncFallible,
}

impl Form {
    /// The options that declare this form, as written in the attribute (`""` for plain).
    ///
    /// ```
    /// assert_eq!(coldstart::lazy::Form::Sync.as_str(), "");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Sync => "",
            Form::Async => "async",
            Form::Fallible => "fallible",
            Form::AsyncFallible => "async, fallible",
        }
    }
}

/// The state of a lazy static.
///
/// ```
/// use coldstart::lazy::State;
/// assert_eq!(State::Failed { failures: 2 }.to_string(), "failed 2 times");
/// assert_eq!(State::NotInitialized.to_string(), "not initialized");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Never touched (or touched only by an attempt that has not finished: see `Initializing`).
    NotInitialized,
    /// An initializer is running now and none has succeeded yet.
    Initializing,
    /// Initialized: every access returns the value.
    Ready,
    /// Every attempt so far failed (`Err`, panic, or a dropped async initializer); the next
    /// access tries again.
    Failed {
        /// How many attempts failed.
        failures: u32,
    },
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::NotInitialized => f.write_str("not initialized"),
            State::Initializing => f.write_str("initializing"),
            State::Ready => f.write_str("ready"),
            State::Failed { failures: 1 } => f.write_str("failed once"),
            State::Failed { failures } => write!(f, "failed {failures} times"),
        }
    }
}

/// One lazy static, as [`statics`](super::statics) lists it.
///
/// ```
/// use coldstart::lazy::{During, Lazy, State};
///
/// #[coldstart::lazy(name = "table")]
/// static TABLE: [u8; 4] = [1, 2, 3, 4];
///
/// let _ = TABLE[0];
/// let info = Lazy::info(&TABLE);
/// assert_eq!(info.name, "table");
/// assert_eq!(info.state, State::Ready);
/// assert_eq!(info.during, Some(During::Init));
/// assert!(info.duration.is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LazyInfo {
    /// The `lazy` label: `name = "…"` as written, or by default the module path below the crate
    /// root joined with the static's identifier (`orders::TABLE`; `TABLE` at the crate root).
    /// Statics declared in function bodies are named after the function's module.
    pub name: &'static str,
    /// The module it is declared in, crate name included (`module_path!()`).
    pub module_path: &'static str,
    /// Which form it was declared as.
    pub form: Form,
    /// Whether it is marked `prewarm`.
    pub prewarm: bool,
    /// Whether it is marked `after_first_response` (built after the first response when
    /// `coldstart::lambda` warms the marked statics).
    pub after_first_response: bool,
    /// Its state.
    pub state: State,
    /// Failed attempts so far (also counted once the static is ready).
    pub failures: u32,
    /// Exclusive duration of the last finished attempt (nested lazy statics subtracted).
    pub duration: Option<Duration>,
    /// Inclusive duration of the last finished attempt (nested lazy statics included).
    pub inclusive: Option<Duration>,
    /// Where the last finished attempt ran.
    pub during: Option<During>,
    /// Exclusive time of every finished attempt, failed ones included: what the static cost.
    pub spent: Duration,
    /// When the last finished attempt started, since process start
    /// ([`process_start`](crate::phases::process_start)): its place in the start-up timeline.
    pub started: Option<Duration>,
    /// How many lazy initializers and [named phases](crate::named_phases) enclosed the last
    /// finished attempt on its thread (0: none).
    pub depth: u32,
}
