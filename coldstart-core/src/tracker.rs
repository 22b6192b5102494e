//! Invocation tracking: which invocation is the first of the process, what kind of start it
//! was, how long each took and how it ended.
//!
//! A [`Handler`] is a `static` per instrumented handler (the `#[cold_start_handler]` expansion
//! declares it); [`Handler::begin`] starts an [`Invocation`], which records its metrics when it is
//! finished or dropped. Exactly one invocation per process is the first, even when invocations
//! run concurrently: the decision is a single atomic `fetch_add` on a process-wide counter.
//! A warm-up ping answered by `coldstart::lambda` takes a number too ([`warmup`]), so a ping
//! that is the first event consumes the environment's coldness. When init end was marked, an
//! on-demand first invocation whose event arrived more than [`proactive_threshold`] after it is
//! [`StartKind::Proactive`].
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// The first invocation of an on-demand environment whose first event arrived more than
    /// [`proactive_threshold`] after init end: Lambda initialized it ahead of the request
    /// ("proactive initialization"), so nobody waited for INIT. Needs init end to be marked
    /// ([`crate::phases::mark_init_end`], done by `coldstart::lambda::run`).
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
    const COUNT: usize = 5;

    /// The label value (`cold`, `proactive`, `provisioned`, `snapstart`, `warm`).
    ///
    /// ```
    /// assert_eq!(coldstart_core::tracker::StartKind::Cold.as_str(), "cold");
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
    /// assert!(coldstart_core::tracker::StartKind::Provisioned.is_first());
    /// ```
    pub fn is_first(self) -> bool {
        self != StartKind::Warm
    }

    /// The start kind of the first invocation of an environment initialized as `init_type`.
    ///
    /// Unknown initialization types are treated as on-demand (a request may have waited). Never
    /// [`StartKind::Proactive`]: that takes the time between init end and the first event, which
    /// the first invocation measures (see [`proactive_threshold`]).
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
        StartKind::Proactive,
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

/// Invocations begun in this process (all handlers, and warm-up pings), including the one in
/// progress.
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
    /// `true` when the first event was a warm-up ping (see [`warmup`]): it consumed the
    /// environment's coldness and [`handler`](Self::handler) is [`WARMUP_HANDLER`].
    pub warmup: bool,
}

/// The [`FirstInvocation::handler`] of a first event that was a warm-up ping.
pub const WARMUP_HANDLER: &str = "(warm-up ping)";

/// Default of [`proactive_threshold`]: 100 ms.
pub const DEFAULT_PROACTIVE_THRESHOLD: Duration = Duration::from_millis(100);

/// [`proactive_threshold`] in nanoseconds.
static PROACTIVE_THRESHOLD_NS: AtomicU64 =
    AtomicU64::new(DEFAULT_PROACTIVE_THRESHOLD.as_nanos() as u64);

/// Sets the gap between init end and the first event above which the first invocation of an
/// on-demand environment is [`StartKind::Proactive`] rather than [`StartKind::Cold`]. Takes
/// effect for a first invocation that has not begun yet.
///
/// The default, [`DEFAULT_PROACTIVE_THRESHOLD`] (100 ms), is Bref's: a request that triggered
/// INIT is handed to the runtime as soon as INIT ends, so its event follows init end within a
/// few milliseconds; an event arriving much later found an environment that was already waiting.
/// (Datadog instead calls a first invocation proactive when it starts more than 10 s after INIT
/// *started*; measuring from init end does not depend on how long INIT itself took.)
///
/// ```
/// use coldstart_core::tracker::{proactive_threshold, set_proactive_threshold};
/// use std::time::Duration;
///
/// assert_eq!(proactive_threshold(), Duration::from_millis(100));
/// set_proactive_threshold(Duration::from_secs(1));
/// assert_eq!(proactive_threshold(), Duration::from_secs(1));
/// ```
pub fn set_proactive_threshold(threshold: Duration) {
    let nanos = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
    PROACTIVE_THRESHOLD_NS.store(nanos, Ordering::Relaxed);
}

/// The current proactive-initialization threshold (see [`set_proactive_threshold`]).
pub fn proactive_threshold() -> Duration {
    Duration::from_nanos(PROACTIVE_THRESHOLD_NS.load(Ordering::Relaxed))
}

/// Records one warm-up ping (see `coldstart::lambda`) and returns its start kind.
///
/// A ping takes an invocation number like any invocation, so a ping that is the first event of
/// the environment consumes its coldness: it gets the first start kind (and records the
/// start-up phases), and the next real invocation is [`StartKind::Warm`]. It counts in
/// `coldstart.warmups{source, start}` only: never in `faas.coldstarts`, `faas.invocations` or
/// `faas.invoke_duration`. `source` must come from a bounded set (it is a label value).
///
/// ```
/// use coldstart_core::tracker::{first_invocation, invocation_count, warmup, StartKind};
///
/// assert_eq!(warmup("lambda-warmer"), StartKind::Cold); // first event of the process
/// assert!(first_invocation().unwrap().warmup);
/// assert_eq!(warmup("lambda-warmer"), StartKind::Warm);
/// assert_eq!(invocation_count(), 2);
/// ```
pub fn warmup(source: &'static str) -> StartKind {
    let started_at = Instant::now();
    let number = INVOCATIONS.fetch_add(1, Ordering::AcqRel) + 1;
    let start_kind = if number == 1 {
        begin_first(WARMUP_HANDLER, true, started_at)
    } else {
        StartKind::Warm
    };
    timeline::started(started_at);
    metrics::counter!(
        names::WARMUPS,
        names::LABEL_SOURCE => source,
        names::LABEL_START => start_kind.as_str(),
    )
    .increment(1);
    start_kind
}

/// Notes that the warm-up ping begun with [`warmup`] has been answered, so that the idle time
/// before the next invocation is measured from here.
///
/// ```
/// coldstart_core::tracker::warmup("warmup");
/// coldstart_core::tracker::warmup_finished();
/// assert!(coldstart_core::tracker::idle_since_last_invocation().is_some());
/// ```
pub fn warmup_finished() {
    timeline::finished(Instant::now());
}

/// The cold path: runs once per process, may allocate.
#[cold]
fn begin_first(handler: &'static str, warmup: bool, started_at: Instant) -> StartKind {
    let init_end = phases::init_end();
    // When the event arrived: taken by `coldstart::lambda`'s layer before deserialization,
    // otherwise approximated by the start of the first invocation.
    let arrived = phases::first_event().unwrap_or(started_at);
    let mut start_kind = StartKind::first_for(Environment::current_init_type());
    if start_kind == StartKind::Cold
        && init_end
            .is_some_and(|end| arrived.saturating_duration_since(end) > proactive_threshold())
    {
        start_kind = StartKind::Proactive;
    }
    let _ = FIRST.set(FirstInvocation {
        handler,
        start_kind,
        started_at,
        warmup,
    });
    if crate::deferred::enabled() {
        FIRST_WORK_PENDING.store(true, Ordering::Relaxed);
        HAS_PENDING.store(true, Ordering::Release);
    } else {
        first_invocation_work();
    }
    start_kind
}

/// What the first invocation (or ping) does only for the record: describe the metrics, record
/// `faas.init_duration` and its `coldstart.phase_duration`s.
fn first_invocation_work() {
    names::describe_once();
    record_phases();
}

/// `faas.init_duration` and the `coldstart.phase_duration` of the first invocation (or ping).
fn record_phases() {
    let Some(first) = FIRST.get() else { return };
    let started_at = first.started_at;
    let init_end = phases::init_end();
    let arrived = phases::first_event().unwrap_or(started_at);
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
    if let Some(init_end) = init_end {
        let init = init_end
            .saturating_duration_since(process_start)
            .as_secs_f64();
        phase(names::PHASE_INIT, init);
        metrics::histogram!(names::INIT_DURATION).record(init);
        phase(
            names::PHASE_WAIT_FOR_FIRST_EVENT,
            arrived.saturating_duration_since(init_end).as_secs_f64(),
        );
    }
}

// When `crate::deferred` is enabled, the first invocation leaves its record-keeping here for
// [`record_deferred`] (after its response, or before a flush hook): with metrics-exporter-prometheus
// the first registrations took ~40 µs of the cold request.

/// The first invocation's metrics, waiting for its response to be posted.
static PENDING_FIRST: std::sync::Mutex<Option<Recorded>> = std::sync::Mutex::new(None);
/// [`first_invocation_work`] is waiting.
static FIRST_WORK_PENDING: AtomicBool = AtomicBool::new(false);
/// Something above is waiting: the one load the other invocations pay.
static HAS_PENDING: AtomicBool = AtomicBool::new(false);

/// Does what the first invocation left for later (see [`crate::deferred`]); one atomic load once
/// done.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn record_deferred() {
    if HAS_PENDING.load(Ordering::Relaxed) && HAS_PENDING.swap(false, Ordering::Acquire) {
        record_deferred_now();
    }
}

#[cfg(feature = "lambda")]
#[cold]
#[inline(never)]
fn record_deferred_now() {
    if FIRST_WORK_PENDING.swap(false, Ordering::Relaxed) {
        first_invocation_work();
    }
    let pending = PENDING_FIRST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(recorded) = pending {
        recorded.record(false);
    }
}

/// The start kind of invocation `number` (from 1): the first invocation's kind for 1, `warm`
/// for the others. In the instant between the first invocation taking number 1 and recording
/// its kind, the kind is derived the same way it will be recorded (without the proactive check,
/// which needs the event's arrival).
pub(crate) fn start_kind_of(number: u64) -> StartKind {
    match number {
        1 => first_invocation().map_or_else(
            || StartKind::first_for(Environment::current_init_type()),
            |first| first.start_kind,
        ),
        _ => StartKind::Warm,
    }
}

/// The first invocation of the process, if one has begun.
pub fn first_invocation() -> Option<FirstInvocation> {
    FIRST.get().copied()
}

/// How many invocations have begun in this process, across all handlers, warm-up pings
/// ([`warmup`]) included.
///
/// ```
/// assert_eq!(coldstart_core::tracker::invocation_count(), 0);
/// ```
pub fn invocation_count() -> u64 {
    INVOCATIONS.load(Ordering::Relaxed)
}

/// Set once, by the first real (non-ping) invocation of the process to finish.
static FIRST_REAL: OnceLock<FirstRealInvocation> = OnceLock::new();

/// The first invocation of the process that reached a handler (warm-up pings do not), once it
/// has finished: what the cold-start report and the budget check are about.
///
/// ```
/// use coldstart_core::tracker::{first_real_invocation, Handler, Outcome, StartKind};
///
/// static H: Handler = Handler::new("h");
/// assert!(first_real_invocation().is_none());
/// H.begin().finish(Outcome::Ok);
/// let first = first_real_invocation().unwrap();
/// assert_eq!((first.number, first.start_kind), (1, StartKind::Cold));
/// assert!(first.finished_at >= first.started_at);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FirstRealInvocation {
    /// The handler that served it.
    pub handler: &'static str,
    /// Its invocation number (2 or more when warm-up pings came first).
    pub number: u64,
    /// Its start kind ([`StartKind::Warm`] when a warm-up ping took the environment's coldness).
    pub start_kind: StartKind,
    /// How it ended.
    pub outcome: Outcome,
    /// When it began.
    pub started_at: Instant,
    /// When it ended.
    pub finished_at: Instant,
    /// The cold-start budget that applied: the handler's, else the process-wide one.
    pub budget: Option<Duration>,
}

impl FirstRealInvocation {
    /// How long it ran.
    pub fn duration(&self) -> Duration {
        self.finished_at.saturating_duration_since(self.started_at)
    }

    /// For a user-facing cold start ([`StartKind::Cold`]): process start to the end of this
    /// invocation, what the request that triggered INIT waited for (as far as the process can
    /// see: Lambda's own work before `exec` is not included). `None` for other start kinds.
    pub fn user_facing_cold_start(&self) -> Option<Duration> {
        (self.start_kind == StartKind::Cold).then(|| {
            self.finished_at
                .saturating_duration_since(phases::process_start().0)
        })
    }

    /// By how much a user-facing cold start exceeded the budget, if it did.
    pub fn exceeded_budget(&self) -> Option<Duration> {
        let total = self.user_facing_cold_start()?;
        let budget = self.budget?;
        total.checked_sub(budget).filter(|over| !over.is_zero())
    }
}

/// The first real invocation of the process, once it has finished (see [`FirstRealInvocation`]).
pub fn first_real_invocation() -> Option<FirstRealInvocation> {
    FIRST_REAL.get().copied()
}

/// The process-wide cold-start budget, in nanoseconds (0: none).
static COLD_START_BUDGET_NS: AtomicU64 = AtomicU64::new(0);

/// Sets a cold-start budget for every handler that has none of its own (see
/// [`Handler::with_budget`]); `coldstart::lambda::Coldstart::cold_start_budget` calls this. The
/// seed targets: a simple API < 100 ms, with a database < 200 ms, complex processing < 500 ms,
/// ML inference < 1 s.
///
/// ```
/// use coldstart_core::tracker::{cold_start_budget, set_cold_start_budget};
/// use std::time::Duration;
///
/// assert_eq!(cold_start_budget(), None);
/// set_cold_start_budget(Duration::from_millis(200));
/// assert_eq!(cold_start_budget(), Some(Duration::from_millis(200)));
/// ```
pub fn set_cold_start_budget(budget: Duration) {
    let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX).max(1);
    COLD_START_BUDGET_NS.store(nanos, Ordering::Relaxed);
}

/// The process-wide cold-start budget, if one was set.
pub fn cold_start_budget() -> Option<Duration> {
    match COLD_START_BUDGET_NS.load(Ordering::Relaxed) {
        0 => None,
        nanos => Some(Duration::from_nanos(nanos)),
    }
}

/// What handler code can read about the invocation in progress: the most recently begun one in
/// the process (exact with `lambda_runtime::run`, which serves one invocation at a time; under
/// `run_concurrent` another request may have begun since).
///
/// ```
/// use coldstart_core::tracker::{current_invocation, Handler, Outcome};
///
/// static H: Handler = Handler::new("h");
/// let invocation = H.begin();
/// let current = current_invocation().unwrap();
/// assert!(current.is_cold());
/// assert_eq!(current.number, 1);
/// invocation.finish(Outcome::Ok);
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
    /// How long the environment sat idle before it (see [`Invocation::idle`]).
    pub idle: Option<Duration>,
}

impl CurrentInvocation {
    /// `true` for a user-facing cold start ([`StartKind::Cold`]): what Powertools logs as
    /// `cold_start`.
    pub fn is_cold(&self) -> bool {
        self.start_kind == StartKind::Cold
    }
}

/// The invocation in progress (see [`CurrentInvocation`]); `None` before the first one.
pub fn current_invocation() -> Option<CurrentInvocation> {
    let number = INVOCATIONS.load(Ordering::Acquire);
    let started_at = timeline::last_started()?;
    if number == 0 {
        return None;
    }
    let start_kind = start_kind_of(number);
    Some(CurrentInvocation {
        number,
        start_kind,
        started_at,
        idle: timeline::last_idle(),
    })
}

/// How long this execution environment has existed: since init end when it was marked (the
/// environment's useful life), else since process start.
///
/// ```
/// let age = coldstart_core::tracker::environment_age();
/// assert!(age < std::time::Duration::from_secs(3600));
/// ```
pub fn environment_age() -> Duration {
    environment_age_at(Instant::now())
}

fn environment_age_at(now: Instant) -> Duration {
    let since = phases::init_end().unwrap_or_else(|| phases::process_start().0);
    now.saturating_duration_since(since)
}

/// How long the environment has been idle: since the last invocation (or warm-up ping) finished,
/// `None` before any finished. Read it at the start of a handler to decide whether a connection
/// kept across invocations has been idle past a server's timeout.
///
/// ```
/// use coldstart_core::tracker::{idle_since_last_invocation, Handler, Outcome};
/// static H: Handler = Handler::new("h");
/// assert!(idle_since_last_invocation().is_none());
/// H.begin().finish(Outcome::Ok);
/// assert!(idle_since_last_invocation().is_some());
/// ```
pub fn idle_since_last_invocation() -> Option<Duration> {
    timeline::last_finished().map(|finished| finished.elapsed())
}

/// When invocations began and finished, as nanoseconds since process start plus one (0: never),
/// so that reading them costs an atomic load and writing them a store.
mod timeline {
    use super::*;

    static LAST_STARTED: AtomicU64 = AtomicU64::new(0);
    static LAST_FINISHED: AtomicU64 = AtomicU64::new(0);
    static LAST_IDLE: AtomicU64 = AtomicU64::new(0);

    fn encode(at: Instant) -> u64 {
        phases::start_offset(at)
    }

    fn decode(raw: u64) -> Option<Instant> {
        (raw != 0).then(|| phases::process_start().0 + Duration::from_nanos(raw - 1))
    }

    /// Notes an invocation's start; returns how long the environment sat idle before it.
    ///
    /// Both instants are already whole nanoseconds since process start, so the gap is one
    /// subtraction (no round trip through `Instant`).
    pub(super) fn started(at: Instant) -> Option<Duration> {
        let now = encode(at);
        LAST_STARTED.store(now, Ordering::Relaxed);
        let raw = match LAST_FINISHED.load(Ordering::Relaxed) {
            0 => 0,
            finished => now.saturating_sub(finished) + 1,
        };
        LAST_IDLE.store(raw, Ordering::Relaxed);
        (raw != 0).then(|| Duration::from_nanos(raw - 1))
    }

    /// Notes an invocation's end; returns the stored value (nanoseconds since process start plus
    /// one), which [`crate::memory`] reuses instead of converting `at` again.
    pub(super) fn finished(at: Instant) -> u64 {
        let raw = encode(at);
        LAST_FINISHED.store(raw, Ordering::Relaxed);
        raw
    }

    pub(super) fn last_started() -> Option<Instant> {
        decode(LAST_STARTED.load(Ordering::Relaxed))
    }

    pub(super) fn last_finished() -> Option<Instant> {
        decode(LAST_FINISHED.load(Ordering::Relaxed))
    }

    pub(super) fn last_idle() -> Option<Duration> {
        match LAST_IDLE.load(Ordering::Relaxed) {
            0 => None,
            raw => Some(Duration::from_nanos(raw - 1)),
        }
    }
}

/// Applies `op` to the handle in `slot` (registering it first if needed) when `cache` says the
/// current recorder is the global one, else to a handle looked up now.
#[inline(always)]
fn with_handle<H>(
    cache: bool,
    slot: &OnceLock<H>,
    register: impl FnOnce() -> H,
    op: impl FnOnce(&H),
) {
    if cache {
        op(slot.get_or_init(register));
    } else {
        op(&register());
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The metric keys of one handler, each built the first time it is needed, and the handles
/// registered under them with the global recorder.
///
/// The first invocation builds only the few keys it records (building all of them costs ~15 000
/// instructions, measurable on the cold path); the rest are built with the cold-start report
/// ([`Handler::build_all_keys`]), after the first response when `coldstart::lambda` runs the
/// function, so that later invocations allocate nothing.
struct Keys {
    coldstarts: OnceLock<Key>,
    invocations: [OnceLock<Key>; StartKind::COUNT],
    errors: [[OnceLock<Key>; Outcome::FAILURES]; StartKind::COUNT],
    duration: [OnceLock<Key>; StartKind::COUNT],
    idle: OnceLock<Key>,
    age: OnceLock<Key>,
    budget_exceeded: OnceLock<Key>,
    handles: Handles,
}

/// One slot per key of [`Keys`]: the handle registered under that key with the global recorder,
/// filled the first time an invocation needs it while the current recorder is the global one (see
/// [`is_global_recorder`]). A slot is never filled from another recorder, so a handle is never
/// a no-op registered before the recorder was installed, nor a thread-local recorder's handle;
/// series are registered only when first used, exactly as without the cache.
struct Handles {
    coldstarts: OnceLock<metrics::Counter>,
    invocations: [OnceLock<metrics::Counter>; StartKind::COUNT],
    errors: [[OnceLock<metrics::Counter>; Outcome::FAILURES]; StartKind::COUNT],
    duration: [OnceLock<metrics::Histogram>; StartKind::COUNT],
    idle: OnceLock<metrics::Gauge>,
    age: OnceLock<metrics::Gauge>,
}

impl Handles {
    const fn new() -> Handles {
        Handles {
            coldstarts: OnceLock::new(),
            invocations: [const { OnceLock::new() }; StartKind::COUNT],
            errors: [const { [const { OnceLock::new() }; Outcome::FAILURES] }; StartKind::COUNT],
            duration: [const { OnceLock::new() }; StartKind::COUNT],
            idle: OnceLock::new(),
            age: OnceLock::new(),
        }
    }
}

impl Keys {
    const fn new() -> Keys {
        Keys {
            coldstarts: OnceLock::new(),
            invocations: [const { OnceLock::new() }; StartKind::COUNT],
            errors: [const { [const { OnceLock::new() }; Outcome::FAILURES] }; StartKind::COUNT],
            duration: [const { OnceLock::new() }; StartKind::COUNT],
            idle: OnceLock::new(),
            age: OnceLock::new(),
            budget_exceeded: OnceLock::new(),
            handles: Handles::new(),
        }
    }
}

/// A key labelled `handler`, then `start` and `outcome` when given.
fn key(
    name: &'static str,
    handler: &'static str,
    start: Option<StartKind>,
    outcome: Option<Outcome>,
) -> Key {
    let mut labels = Vec::with_capacity(3);
    labels.push(Label::new(names::LABEL_HANDLER, handler));
    if let Some(start) = start {
        labels.push(Label::new(names::LABEL_START, start.as_str()));
    }
    if let Some(outcome) = outcome {
        labels.push(Label::new(names::LABEL_OUTCOME, outcome.as_str()));
    }
    Key::from_parts(name, labels)
}

impl Handler {
    /// The key in `slot`, built on first use. One function for every slot, so that the
    /// `OnceLock` initialization code exists once in the binary.
    fn key_in<'a>(
        &self,
        slot: &'a OnceLock<Key>,
        name: &'static str,
        start: Option<StartKind>,
        outcome: Option<Outcome>,
    ) -> &'a Key {
        slot.get_or_init(|| key(name, self.name, start, outcome))
    }

    fn coldstarts_key(&self) -> &Key {
        self.key_in(&self.keys.coldstarts, names::COLDSTARTS, None, None)
    }

    fn count_key(&self, kind: usize, failure: Option<usize>) -> &Key {
        let start = Some(StartKind::ALL[kind]);
        match failure {
            None => self.key_in(
                &self.keys.invocations[kind],
                names::INVOCATIONS,
                start,
                None,
            ),
            Some(failure) => self.key_in(
                &self.keys.errors[kind][failure],
                names::ERRORS,
                start,
                Some(Outcome::FAILED[failure]),
            ),
        }
    }

    fn duration_key(&self, kind: usize) -> &Key {
        let start = Some(StartKind::ALL[kind]);
        self.key_in(
            &self.keys.duration[kind],
            names::INVOKE_DURATION,
            start,
            None,
        )
    }

    fn idle_key(&self) -> &Key {
        self.key_in(&self.keys.idle, names::IDLE_DURATION, None, None)
    }

    fn age_key(&self) -> &Key {
        self.key_in(&self.keys.age, names::ENVIRONMENT_AGE, None, None)
    }

    fn budget_exceeded_key(&self) -> &Key {
        self.key_in(
            &self.keys.budget_exceeded,
            names::BUDGET_EXCEEDED,
            None,
            None,
        )
    }

    /// Builds every metric key of this handler that is not built yet, so that no later
    /// invocation allocates one. Called with the cold-start report.
    pub(crate) fn build_all_keys(&self) {
        self.coldstarts_key();
        for kind in 0..StartKind::COUNT {
            self.count_key(kind, None);
            for failure in 0..Outcome::FAILURES {
                self.count_key(kind, Some(failure));
            }
            self.duration_key(kind);
        }
        self.idle_key();
        self.age_key();
        self.budget_exceeded_key();
    }
}

/// The handler of the first real invocation, whose remaining keys the report builds.
static FIRST_HANDLER: OnceLock<&'static Handler> = OnceLock::new();

/// Builds the remaining metric keys of the first real invocation's handler (see [`Keys`]).
pub(crate) fn build_first_handler_keys() {
    if let Some(handler) = FIRST_HANDLER.get() {
        handler.build_all_keys();
    }
}

/// A recorder object, told apart from others by its address and size. Zero-sized recorders have
/// no id: any number of them may sit at the same (dangling) address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RecorderId {
    addr: usize,
    size: usize,
}

impl RecorderId {
    fn of(recorder: &dyn metrics::Recorder) -> Option<RecorderId> {
        let size = std::mem::size_of_val(recorder);
        let addr = (recorder as *const dyn metrics::Recorder)
            .cast::<()>()
            .addr();
        (size != 0).then_some(RecorderId { addr, size })
    }
}

/// The global recorder's id, once a probe has seen it. It never changes: `metrics` 0.24 lets the
/// global recorder be set once, never unsets it, and leaks it (`Box::leak`), so it stays at the
/// same address until the process ends and no other object is ever allocated there.
static GLOBAL_RECORDER: OnceLock<RecorderId> = OnceLock::new();

/// The address of the last recorder a probe was started for while no global recorder was known,
/// so that a thread-local recorder used for many invocations is probed once, not every time.
static LAST_PROBED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `true` only if `recorder` (the one `metrics::with_recorder` handed out) is known to be the
/// global recorder, whose handles may therefore be cached for the rest of the process.
///
/// `metrics` 0.24 does not say whether the current recorder is thread-local or global, and a
/// thread-local recorder's address may be reused by a later one, so an address alone proves
/// nothing. A thread that never installed a local recorder does see the global one, though: a
/// probe asks a new thread once and the global recorder's id is remembered forever; from then on
/// the check is one comparison. An object of nonzero size at the global recorder's address and
/// of its size is that recorder itself (a live object occupies its bytes alone, and the global
/// one is never freed); only unsafe code could make a reference to a same-sized first field of
/// it, since `metrics` hands it out as `&dyn Recorder` only. Any doubt answers `false`, which
/// only means the series are looked up through `recorder`, as the `metrics` macros do.
///
/// When the answer is not known yet and `may_probe` is set, a probe is started in the
/// background and this invocation answers `false`; the first invocation of the process passes
/// `false`, so the cold start never pays for the probe.
fn is_global_recorder(recorder: &dyn metrics::Recorder, may_probe: bool) -> bool {
    let Some(id) = RecorderId::of(recorder) else {
        return false; // the no-op recorder (nothing installed), or another zero-sized one
    };
    match GLOBAL_RECORDER.get() {
        Some(global) => *global == id,
        None => {
            if may_probe {
                start_probe(id);
            }
            false
        }
    }
}

/// Starts a thread (which has no thread-local recorder) that runs `metrics::with_recorder` to
/// learn the global recorder's id, without waiting for it: once per process after a global
/// recorder is installed, plus once per distinct recorder seen before that (thread-local ones in
/// tests). The caller pays for starting a thread (microseconds), once.
#[cold]
#[inline(never)]
fn start_probe(id: RecorderId) {
    use std::sync::atomic::Ordering::Relaxed;
    if LAST_PROBED.load(Relaxed) == id.addr || LAST_PROBED.swap(id.addr, Relaxed) == id.addr {
        return;
    }
    // 15 bytes: the whole name fits in `comm`. If no thread can be started, handles are simply
    // not cached.
    crate::spawn_detached(
        "coldstart-probe",
        Box::new(|| {
            if let Some(global) = metrics::with_recorder(|global| RecorderId::of(global)) {
                let _ = GLOBAL_RECORDER.set(global);
            }
        }),
    );
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
    budget: Option<Duration>,
    keys: Keys,
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
            budget: None,
            keys: Keys::new(),
        }
    }

    /// The same handler with a cold-start budget: when a user-facing cold start served by it
    /// (process start to the end of its first invocation) takes longer, the report says by how
    /// much and what dominated, and `coldstart.budget_exceeded` counts it. See [`crate::report`].
    ///
    /// ```
    /// use coldstart_core::tracker::Handler;
    /// use std::time::Duration;
    ///
    /// static API: Handler = Handler::new("api").with_budget(Duration::from_millis(100));
    /// assert_eq!(API.budget(), Some(Duration::from_millis(100)));
    /// ```
    pub const fn with_budget(mut self, budget: Duration) -> Handler {
        self.budget = Some(budget);
        self
    }

    /// The budget set with [`with_budget`](Self::with_budget), if any.
    pub fn budget(&self) -> Option<Duration> {
        self.budget
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
            begin_first(self.name, false, started_at)
        } else {
            StartKind::Warm
        };
        let idle = timeline::started(started_at);
        Invocation {
            handler: self,
            start_kind,
            number,
            started_at,
            idle,
            outcome: None,
        }
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
    idle: Option<Duration>,
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

    /// How long the environment sat idle before this invocation: since the previous invocation
    /// (or warm-up ping) finished. `None` for the first one.
    pub fn idle(&self) -> Option<Duration> {
        self.idle
    }

    /// Ends the invocation with `outcome` and records its metrics.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    fn record(&self, outcome: Outcome) {
        let finished_at = Instant::now();
        let recorded = Recorded {
            handler: self.handler,
            start_kind: self.start_kind,
            failure: outcome.failure_index(),
            seconds: finished_at
                .saturating_duration_since(self.started_at)
                .as_secs_f64(),
            idle: self.idle.map(|idle| idle.as_secs_f64()),
            age: environment_age_at(finished_at).as_secs_f64(),
        };
        if self.number == 1 && crate::deferred::enabled() {
            *PENDING_FIRST
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(recorded);
            HAS_PENDING.store(true, Ordering::Release);
        } else {
            recorded.record(self.number > 1);
        }
        let finished_ns = timeline::finished(finished_at);
        if FIRST_REAL.get().is_none() {
            self.first_real_finished(outcome, finished_at);
        }
        crate::memory::sample_at_most_every_second(finished_ns);
    }

    /// The cold path of the first real (non-ping) invocation of the process: its summary, the
    /// budget check and the cold-start report. Runs once; may allocate.
    #[cold]
    #[inline(never)]
    fn first_real_finished(&self, outcome: Outcome, finished_at: Instant) {
        let summary = FirstRealInvocation {
            handler: self.handler.name,
            number: self.number,
            start_kind: self.start_kind,
            outcome,
            started_at: self.started_at,
            finished_at,
            budget: self.handler.budget.or_else(cold_start_budget),
        };
        if FIRST_REAL.set(summary).is_err() {
            return; // another invocation finished first
        }
        let _ = FIRST_HANDLER.set(self.handler);
        if summary.exceeded_budget().is_some() {
            let handler = self.handler;
            metrics::with_recorder(|recorder| {
                recorder
                    .register_counter(handler.budget_exceeded_key(), &METADATA)
                    .increment(1);
            });
        }
        crate::report::first_real_invocation_finished();
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

/// The metrics of one finished invocation, computed when it finished.
#[derive(Clone, Copy)]
struct Recorded {
    handler: &'static Handler,
    start_kind: StartKind,
    failure: Option<usize>,
    seconds: f64,
    idle: Option<f64>,
    age: f64,
}

impl Recorded {
    /// Hands the values to the current recorder; `may_probe` allows starting the probe that
    /// tells whether it is the global one (never on the first invocation: see
    /// [`is_global_recorder`]).
    #[inline(always)]
    fn record(&self, may_probe: bool) {
        let Recorded {
            handler,
            start_kind,
            failure,
            seconds,
            idle,
            age,
        } = *self;
        let handles = &handler.keys.handles;
        let kind = start_kind.index();
        let count_handle = match failure {
            None => &handles.invocations[kind],
            Some(failure) => &handles.errors[kind][failure],
        };
        metrics::with_recorder(|recorder| {
            // The global recorder outlives every invocation: its handles are cached (an atomic
            // load each). Any other recorder (thread-local, or none installed) is looked up.
            let cache = is_global_recorder(recorder, may_probe);
            if start_kind == StartKind::Cold {
                with_handle(
                    cache,
                    &handles.coldstarts,
                    || recorder.register_counter(handler.coldstarts_key(), &METADATA),
                    |counter| counter.increment(1),
                );
            }
            with_handle(
                cache,
                count_handle,
                || recorder.register_counter(handler.count_key(kind, failure), &METADATA),
                |counter| counter.increment(1),
            );
            with_handle(
                cache,
                &handles.duration[kind],
                || recorder.register_histogram(handler.duration_key(kind), &METADATA),
                |histogram| histogram.record(seconds),
            );
            if let Some(idle) = idle {
                with_handle(
                    cache,
                    &handles.idle,
                    || recorder.register_gauge(handler.idle_key(), &METADATA),
                    |gauge| gauge.set(idle),
                );
            }
            with_handle(
                cache,
                &handles.age,
                || recorder.register_gauge(handler.age_key(), &METADATA),
                |gauge| gauge.set(age),
            );
        });
    }
}
