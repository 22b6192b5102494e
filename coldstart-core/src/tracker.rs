//! Invocation tracking: which invocation is the first of the process, what kind of start it
//! was, how long each took and how it ended.
//!
//! A [`Handler`] is a `static` per instrumented handler (the `#[cold_start_handler]` expansion
//! declares it); [`Handler::begin`] starts an [`Invocation`], which records its metrics when it is
//! finished or dropped. Exactly one invocation per process is the first, even when invocations
//! run concurrently: the decision is a single atomic `fetch_add` on a process-wide counter.
//!
//! ```
//! use coldstart_core::tracker::{Handler, Outcome, StartKind};
//!
//! static CHECKOUT: Handler = Handler::new("checkout");
//!
//! let first = CHECKOUT.begin();
//! assert!(first.is_first());
//! assert_eq!(first.start_kind(), StartKind::Cold); // no AWS_LAMBDA_INITIALIZATION_TYPE: on-demand
//! first.finish(Outcome::Ok);
//!
//! let second = CHECKOUT.begin();
//! assert_eq!(second.start_kind(), StartKind::Warm);
//! assert_eq!(second.number(), 2);
//! second.finish(Outcome::Error);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{Key, Label, Level, Metadata};

use crate::environment::{Environment, InitType};
use crate::names;
use crate::phases;

/// What kind of start an invocation was.
///
/// ```
/// use coldstart_core::tracker::StartKind;
/// assert_eq!(StartKind::Snapstart.as_str(), "snapstart");
/// assert!(StartKind::Cold.is_first());
/// assert!(!StartKind::Warm.is_first());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartKind {
    /// The first invocation of an on-demand environment: a request waited for INIT.
    Cold,
    /// The first invocation of an environment initialized ahead of demand by provisioned
    /// concurrency or Lambda Managed Instances.
    Provisioned,
    /// The first invocation after a SnapStart restore.
    Snapstart,
    /// Any later invocation of the same environment.
    Warm,
}

impl StartKind {
    const COUNT: usize = 4;

    /// The label value (`cold`, `provisioned`, `snapstart`, `warm`).
    ///
    /// ```
    /// assert_eq!(coldstart_core::tracker::StartKind::Cold.as_str(), "cold");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StartKind::Cold => "cold",
            StartKind::Provisioned => "provisioned",
            StartKind::Snapstart => "snapstart",
            StartKind::Warm => "warm",
        }
    }

    /// `true` for every kind but [`StartKind::Warm`]: the first invocation of an environment.
    ///
    /// ```
    /// assert!(coldstart_core::tracker::StartKind::Provisioned.is_first());
    /// ```
    pub fn is_first(self) -> bool {
        self != StartKind::Warm
    }

    /// The start kind of the first invocation of an environment initialized as `init_type`.
    ///
    /// Unknown initialization types are treated as on-demand (a request may have waited).
    ///
    /// ```
    /// use coldstart_core::{environment::InitType, tracker::StartKind};
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

    const ALL: [StartKind; StartKind::COUNT] = [
        StartKind::Cold,
        StartKind::Provisioned,
        StartKind::Snapstart,
        StartKind::Warm,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an invocation ended.
///
/// ```
/// use coldstart_core::tracker::Outcome;
/// assert_eq!(Outcome::Panic.as_str(), "panic");
/// assert!(Outcome::Ok.is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler returned normally (`Ok(_)`, or a value that is not a `Result`).
    Ok,
    /// The handler returned `Err(_)`.
    Error,
    /// A panic unwound through the handler.
    Panic,
    /// The handler's future was dropped before it completed (cancelled, e.g. by a timeout).
    Cancelled,
}

impl Outcome {
    const FAILURES: usize = 3;

    /// The label value (`ok`, `error`, `panic`, `cancelled`).
    ///
    /// ```
    /// assert_eq!(coldstart_core::tracker::Outcome::Cancelled.as_str(), "cancelled");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// `true` only for [`Outcome::Ok`].
    ///
    /// ```
    /// assert!(!coldstart_core::tracker::Outcome::Error.is_ok());
    /// ```
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    const FAILED: [Outcome; Outcome::FAILURES] =
        [Outcome::Error, Outcome::Panic, Outcome::Cancelled];

    fn failure_index(self) -> Option<usize> {
        Outcome::FAILED.iter().position(|o| *o == self)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Invocations begun in this process (all handlers), including the one in progress.
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The first invocation of the process, once it has begun.
static FIRST: OnceLock<FirstInvocation> = OnceLock::new();

/// The first invocation of the process: when it began and what kind of start it was.
///
/// ```
/// use coldstart_core::tracker::{first_invocation, Handler, Outcome};
///
/// static H: Handler = Handler::new("h");
/// assert!(first_invocation().is_none());
/// H.begin().finish(Outcome::Ok);
/// let first = first_invocation().unwrap();
/// assert_eq!(first.handler, "h");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FirstInvocation {
    /// The handler that served it.
    pub handler: &'static str,
    /// Its start kind (never [`StartKind::Warm`]).
    pub start_kind: StartKind,
    /// When it began.
    pub started_at: Instant,
}

/// The first invocation of the process, if one has begun.
pub fn first_invocation() -> Option<FirstInvocation> {
    FIRST.get().copied()
}

/// How many invocations have begun in this process, across all handlers.
///
/// ```
/// assert_eq!(coldstart_core::tracker::invocation_count(), 0);
/// ```
pub fn invocation_count() -> u64 {
    INVOCATIONS.load(Ordering::Relaxed)
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The metric keys of one handler, built once on its first invocation so that later
/// invocations allocate nothing.
struct Keys {
    coldstarts: Key,
    invocations: [Key; StartKind::COUNT],
    errors: [[Key; Outcome::FAILURES]; StartKind::COUNT],
    duration: [Key; StartKind::COUNT],
}

impl Keys {
    fn new(handler: &'static str) -> Keys {
        let handler = || Label::new(names::LABEL_HANDLER, handler);
        let start = |kind: StartKind| Label::new(names::LABEL_START, kind.as_str());
        Keys {
            coldstarts: Key::from_parts(names::COLDSTARTS, vec![handler()]),
            invocations: StartKind::ALL
                .map(|kind| Key::from_parts(names::INVOCATIONS, vec![handler(), start(kind)])),
            errors: StartKind::ALL.map(|kind| {
                Outcome::FAILED.map(|outcome| {
                    Key::from_parts(
                        names::ERRORS,
                        vec![
                            handler(),
                            start(kind),
                            Label::new(names::LABEL_OUTCOME, outcome.as_str()),
                        ],
                    )
                })
            }),
            duration: StartKind::ALL
                .map(|kind| Key::from_parts(names::INVOKE_DURATION, vec![handler(), start(kind)])),
        }
    }
}

/// One instrumented handler. Declare it as a `static`; `#[cold_start_handler]` does this for you.
///
/// ```
/// use coldstart_core::tracker::{Handler, Outcome};
///
/// static ORDERS: Handler = Handler::new("orders");
/// assert_eq!(ORDERS.name(), "orders");
/// let invocation = ORDERS.begin();
/// // ... the handler's work ...
/// invocation.finish(Outcome::Ok);
/// ```
pub struct Handler {
    name: &'static str,
    keys: OnceLock<Keys>,
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handler").field("name", &self.name).finish()
    }
}

impl Handler {
    /// A handler whose metrics carry `handler="<name>"`.
    pub const fn new(name: &'static str) -> Handler {
        Handler {
            name,
            keys: OnceLock::new(),
        }
    }

    /// The handler's label value.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Starts tracking one invocation. Finish it with [`Invocation::finish`]; if it is dropped
    /// instead, it is recorded as a [`Outcome::Panic`] when a panic is unwinding and as
    /// [`Outcome::Cancelled`] otherwise.
    pub fn begin(&'static self) -> Invocation {
        let started_at = Instant::now();
        let number = INVOCATIONS.fetch_add(1, Ordering::AcqRel) + 1;
        let start_kind = if number == 1 {
            self.begin_first(started_at)
        } else {
            StartKind::Warm
        };
        Invocation {
            handler: self,
            start_kind,
            number,
            started_at,
            outcome: None,
        }
    }

    /// The cold path: runs once per process, may allocate.
    #[cold]
    fn begin_first(&'static self, started_at: Instant) -> StartKind {
        let start_kind = StartKind::first_for(Environment::current().init_type());
        let _ = FIRST.set(FirstInvocation {
            handler: self.name,
            start_kind,
            started_at,
        });
        names::describe_metrics();
        let (process_start, _) = phases::process_start();
        let phase = |name: &'static str, seconds: f64| {
            metrics::histogram!(names::PHASE_DURATION, names::LABEL_PHASE => name).record(seconds);
        };
        phase(
            names::PHASE_TO_FIRST_INVOCATION,
            started_at
                .saturating_duration_since(process_start)
                .as_secs_f64(),
        );
        if let Some(init_end) = phases::init_end() {
            let init = init_end
                .saturating_duration_since(process_start)
                .as_secs_f64();
            phase(names::PHASE_INIT, init);
            metrics::histogram!(names::INIT_DURATION).record(init);
            phase(
                names::PHASE_WAIT_FOR_FIRST_EVENT,
                started_at.saturating_duration_since(init_end).as_secs_f64(),
            );
        }
        start_kind
    }

    fn keys(&self) -> &Keys {
        self.keys.get_or_init(|| Keys::new(self.name))
    }
}

/// One invocation in progress. Created by [`Handler::begin`]; records its metrics exactly once,
/// when finished or dropped.
#[must_use = "an invocation records its outcome when finished; dropping it records `cancelled`"]
pub struct Invocation {
    handler: &'static Handler,
    start_kind: StartKind,
    number: u64,
    started_at: Instant,
    outcome: Option<Outcome>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("handler", &self.handler.name)
            .field("start_kind", &self.start_kind)
            .field("number", &self.number)
            .finish()
    }
}

impl Invocation {
    /// What kind of start this invocation is.
    pub fn start_kind(&self) -> StartKind {
        self.start_kind
    }

    /// `true` for the first invocation of the process (whatever its start kind).
    pub fn is_first(&self) -> bool {
        self.start_kind.is_first()
    }

    /// This invocation's number in the process, starting at 1.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Time since the invocation began.
    pub fn elapsed(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// Ends the invocation with `outcome` and records its metrics.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    fn record(&self, outcome: Outcome) {
        let seconds = self.started_at.elapsed().as_secs_f64();
        let keys = self.handler.keys();
        let kind = self.start_kind.index();
        metrics::with_recorder(|recorder| {
            if self.start_kind == StartKind::Cold {
                recorder
                    .register_counter(&keys.coldstarts, &METADATA)
                    .increment(1);
            }
            let count = match outcome.failure_index() {
                None => &keys.invocations[kind],
                Some(failure) => &keys.errors[kind][failure],
            };
            recorder.register_counter(count, &METADATA).increment(1);
            recorder
                .register_histogram(&keys.duration[kind], &METADATA)
                .record(seconds);
        });
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        let outcome = self.outcome.unwrap_or(if std::thread::panicking() {
            Outcome::Panic
        } else {
            Outcome::Cancelled
        });
        self.record(outcome);
    }
}
