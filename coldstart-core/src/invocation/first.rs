//! Numbering and the first invocation: which invocation is the first of the process (exactly
//! one, decided by a single atomic `fetch_add`), what kind of start it was (including proactive
//! initialization), warm-up pings that take a number too, and the first *real* invocation that
//! the cold-start report and the budget check are about.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::kinds::{Outcome, StartKind};
use super::pending;
#[cfg(feature = "lambda")]
use super::timeline;
use crate::environment::Environment;
use crate::names::{emit, Emit};
use crate::{names, phases};

/// Invocations begun in this process (all handlers, and warm-up pings), including the one in
/// progress.
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The first invocation of the process, once it has begun.
static FIRST: OnceLock<FirstInvocation> = OnceLock::new();

/// The first invocation of the process, once it has begun: the environment's first event,
/// which may have been a warm-up ping.
///
/// ```
/// use coldstart::invocation::first_invocation;
///
/// #[coldstart::cold_start_handler(name = "h")]
/// fn handler(event: u32) -> u32 {
///     event
/// }
///
/// assert!(first_invocation().is_none());
/// handler(1);
/// let first = first_invocation().unwrap();
/// assert_eq!(first.handler, "h");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FirstInvocation {
    /// The handler that served it ([`WARMUP_HANDLER`] for a warm-up ping).
    pub handler: &'static str,
    /// Its start kind (never [`StartKind::Warm`]).
    pub start_kind: StartKind,
    /// When it began.
    pub started_at: Instant,
    /// `true` when the first event was a warm-up ping: it consumed the environment's coldness,
    /// and the next real invocation is `warm`.
    pub warmup: bool,
    /// `true` when the first event's payload never reached a handler (`lambda_runtime` could not
    /// deserialize it into the handler's event type): that request waited for INIT and was
    /// answered with an error, and the next request is `warm`.
    pub rejected: bool,
}

/// The [`FirstInvocation::handler`] of a first event that was a warm-up ping.
pub const WARMUP_HANDLER: &str = "(warm-up ping)";

/// The [`FirstInvocation::handler`] of a first event whose payload was rejected before reaching
/// a handler.
pub const REJECTED_HANDLER: &str = "(rejected payload)";

/// What an event turned out to be, for numbering.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// It reached a handler.
    Handled,
    /// A warm-up ping, answered by `coldstart::lambda`.
    #[cfg_attr(not(feature = "lambda"), allow(dead_code))]
    Warmup,
    /// Its payload was rejected before reaching a handler.
    #[cfg_attr(not(feature = "lambda"), allow(dead_code))]
    Rejected,
}

/// Takes the next invocation number (from 1) and, for number 1, decides the environment's
/// start kind. The one `fetch_add` every invocation and ping pays.
#[inline]
pub(crate) fn begin(handler: &'static str, event: Event, started_at: Instant) -> (u64, StartKind) {
    let number = INVOCATIONS.fetch_add(1, Ordering::AcqRel) + 1;
    let start_kind = if number == 1 {
        begin_first(handler, event, started_at)
    } else {
        StartKind::Warm
    };
    (number, start_kind)
}

/// The cold path: runs once per process, may allocate.
#[cold]
fn begin_first(handler: &'static str, event: Event, started_at: Instant) -> StartKind {
    // INIT's CPU time, when init end was not marked (otherwise already read there).
    crate::cpu::note_init_end();
    let init_end = phases::init_end();
    // When the event arrived: taken by `coldstart::lambda`'s layer before deserialization,
    // otherwise approximated by the start of the first invocation.
    let arrived = phases::first_event().unwrap_or(started_at);
    let mut start_kind = StartKind::first_for(Environment::current_init_type());
    if start_kind == StartKind::Cold
        && init_end.is_some_and(|end| {
            arrived.saturating_duration_since(end) > super::settings::proactive_threshold()
        })
    {
        start_kind = StartKind::Proactive;
    }
    let _ = FIRST.set(FirstInvocation {
        handler,
        start_kind,
        started_at,
        warmup: event == Event::Warmup,
        rejected: event == Event::Rejected,
    });
    if pending::deferring() {
        pending::leave_first_invocation_work();
    } else {
        first_invocation_work();
    }
    start_kind
}

/// What the first invocation (or ping) does only for the record: describe the metrics, record
/// `faas.init_duration` and its `coldstart.phase_duration`s.
pub(super) fn first_invocation_work() {
    names::describe_once();
    record_phases();
}

/// `faas.init_duration` and the `coldstart.phase_duration` of the first invocation (or ping).
fn record_phases() {
    crate::render_gate::recording(record_phases_now);
}

fn record_phases_now() {
    record_init();
    let Some(first) = FIRST.get() else { return };
    let started_at = first.started_at;
    let arrived = phases::first_event().unwrap_or(started_at);
    let (process_start, _) = phases::process_start();
    let phase = |name: &'static str, seconds: f64| {
        let labels = [(names::LABEL_PHASE, name)];
        emit(names::PHASE_DURATION, &labels, Emit::Record(seconds));
    };
    phase(
        names::PHASE_TO_FIRST_INVOCATION,
        started_at
            .saturating_duration_since(process_start)
            .as_secs_f64(),
    );
    if let Some(init_end) = phases::init_end() {
        phase(
            names::PHASE_WAIT_FOR_FIRST_EVENT,
            arrived.saturating_duration_since(init_end).as_secs_f64(),
        );
    }
}

/// INIT is recorded.
static INIT_RECORDED: AtomicBool = AtomicBool::new(false);

/// Records INIT once per process, once init end is marked: `faas.init_duration{init_type}`, its
/// `coldstart.init_gigabyte_seconds` and `coldstart.phase_duration{phase="init"}` (with the
/// metric descriptions). With the first invocation's record-keeping; and by `coldstart::lambda`
/// at init end when INIT is not user-facing, and at shutdown, so that an environment nobody
/// invoked still reports its INIT.
pub(crate) fn record_init() {
    let Some(init_end) = phases::init_end() else {
        return;
    };
    if INIT_RECORDED.load(Ordering::Relaxed) || INIT_RECORDED.swap(true, Ordering::AcqRel) {
        return;
    }
    names::describe_once();
    crate::render_gate::recording(|| {
        let (process_start, _) = phases::process_start();
        let init = init_end.saturating_duration_since(process_start);
        let seconds = Emit::Record(init.as_secs_f64());
        emit(
            names::PHASE_DURATION,
            &[(names::LABEL_PHASE, names::PHASE_INIT)],
            seconds,
        );
        let env = Environment::current();
        let init_type = [(names::LABEL_INIT_TYPE, env.init_type().label())];
        emit(names::INIT_DURATION, &init_type, seconds);
        if let Some(cause) = crate::reinit::reinit() {
            emit(
                names::REINITS,
                &[(names::LABEL_AFTER, cause.as_str())],
                Emit::Count(1),
            );
        }
        if let Some(gb_seconds) =
            crate::billing::init_gigabyte_seconds(env.init_type(), env.memory_size_mb(), init)
        {
            emit(
                names::INIT_GIGABYTE_SECONDS,
                &init_type,
                Emit::Record(gb_seconds),
            );
        }
    });
}

/// Records one warm-up ping (answered by `coldstart::lambda`) and returns its start kind.
///
/// A ping takes an invocation number like any invocation, so a ping that is the first event of
/// the environment consumes its coldness: it gets the first start kind (and records the
/// start-up phases), and the next real invocation is [`StartKind::Warm`]. It counts in
/// `coldstart.warmups{source, start}` only: never in `faas.coldstarts`, `faas.invocations` or
/// `faas.invoke_duration`. `source` comes from a bounded set (it is a label value).
#[cfg(feature = "lambda")]
pub(crate) fn warmup(source: &'static str) -> StartKind {
    let started_at = Instant::now();
    let (_, start_kind) = begin(WARMUP_HANDLER, Event::Warmup, started_at);
    timeline::started_raw(started_at);
    let labels = [
        (names::LABEL_SOURCE, source),
        (names::LABEL_START, start_kind.as_str()),
    ];
    emit(names::WARMUPS, &labels, Emit::Count(1));
    start_kind
}

/// Records one event whose payload `lambda_runtime` could not deserialize into the handler's
/// event type, so it never reached a handler (`coldstart::lambda`'s layer sees this), and
/// returns its start kind.
///
/// Like a ping it takes an invocation number, so a rejected first event is the environment's
/// first invocation: the request waited for INIT, and the next one is [`StartKind::Warm`]. It
/// counts in `faas.errors{start, outcome="rejected"}` and, when it was a cold start, in
/// `faas.coldstarts`, without a `handler` label (it never reached one); never in
/// `faas.invocations` or `faas.invoke_duration`.
#[cfg(feature = "lambda")]
pub(crate) fn rejected() -> StartKind {
    let started_at = Instant::now();
    let (_, start_kind) = begin(REJECTED_HANDLER, Event::Rejected, started_at);
    timeline::started_raw(started_at);
    if start_kind == StartKind::Cold {
        emit(names::COLDSTARTS, &[], Emit::Count(1));
    }
    let labels = [
        (names::LABEL_START, start_kind.as_str()),
        (names::LABEL_OUTCOME, Outcome::Rejected.as_str()),
    ];
    emit(names::ERRORS, &labels, Emit::Count(1));
    timeline::finished(Instant::now());
    start_kind
}

/// Notes that the warm-up ping begun with [`warmup`] has been answered, so that the idle time
/// before the next invocation is measured from here.
#[cfg(feature = "lambda")]
pub(crate) fn warmup_finished() {
    timeline::finished(Instant::now());
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

/// The first invocation of the process, if one has begun (see [`FirstInvocation`]).
pub fn first_invocation() -> Option<FirstInvocation> {
    FIRST.get().copied()
}

/// How many invocations have begun in this process, across all handlers, warm-up pings and
/// rejected payloads included.
///
/// ```
/// assert_eq!(coldstart::invocation::invocation_count(), 0);
/// ```
pub fn invocation_count() -> u64 {
    INVOCATIONS.load(Ordering::Relaxed)
}

/// [`invocation_count`], ordered after the writes of the invocation that took the number.
pub(super) fn begun() -> u64 {
    INVOCATIONS.load(Ordering::Acquire)
}

/// Set once, by the first real (non-ping) invocation of the process to finish.
static FIRST_REAL: OnceLock<FirstRealInvocation> = OnceLock::new();

/// The first invocation of the process that reached a handler (warm-up pings do not), once it
/// has finished: what the cold-start report and the budget check are about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FirstRealInvocation {
    /// The handler that served it.
    pub(crate) handler: &'static str,
    /// Its start kind ([`StartKind::Warm`] when a warm-up ping took the environment's coldness).
    pub(crate) start_kind: StartKind,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// When it began.
    pub(crate) started_at: Instant,
    /// When it ended.
    pub(crate) finished_at: Instant,
    /// The cold-start budget that applied: the handler's, else the process-wide one.
    pub(crate) budget: Option<Duration>,
}

impl FirstRealInvocation {
    /// How long it ran.
    pub(crate) fn duration(&self) -> Duration {
        self.finished_at.saturating_duration_since(self.started_at)
    }

    /// For a user-facing cold start ([`StartKind::Cold`]): process start to the end of this
    /// invocation, what the request that triggered INIT waited for (as far as the process can
    /// see: Lambda's own work before `exec` is not included). `None` for other start kinds.
    pub(crate) fn user_facing_cold_start(&self) -> Option<Duration> {
        (self.start_kind == StartKind::Cold).then(|| {
            self.finished_at
                .saturating_duration_since(phases::process_start().0)
        })
    }

    /// By how much a user-facing cold start exceeded the budget, if it did.
    pub(crate) fn exceeded_budget(&self) -> Option<Duration> {
        let total = self.user_facing_cold_start()?;
        let budget = self.budget?;
        total.checked_sub(budget).filter(|over| !over.is_zero())
    }

    /// Sets it; `false` if another invocation finished first.
    pub(super) fn set(self) -> bool {
        FIRST_REAL.set(self).is_ok()
    }

    /// The first real invocation's summary, once it has finished.
    pub(crate) fn get() -> Option<FirstRealInvocation> {
        FIRST_REAL.get().copied()
    }

    /// Whether it has finished: one atomic load.
    #[inline]
    pub(super) fn is_set() -> bool {
        FIRST_REAL.get().is_some()
    }
}
