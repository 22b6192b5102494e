//! One instrumented handler ([`Handler`], a `static` the `#[cold_start_handler]` expansion
//! declares) and one invocation of it ([`Invocation`], which records its metrics exactly once,
//! when finished or dropped). Not public API: only generated code uses them, through
//! `coldstart::__private`.

#[cfg(feature = "lambda")]
use std::cell::Cell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::first::{self, FirstRealInvocation};
use super::keys::{with_handle, Keys, METADATA};
use super::kinds::{Outcome, StartKind};
use super::recorder::{self, Current};
use super::{pending, settings, timeline, timeouts};

/// One instrumented handler: a `static` the `#[cold_start_handler]` expansion declares. Not
/// public API.
#[doc(hidden)]
pub struct Handler {
    pub(super) name: &'static str,
    budget: Option<Duration>,
    pub(super) keys: Keys,
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
        let (number, start_kind) = first::begin(self.name, first::Event::Handled, started_at);
        timeouts::began(number, self.name, start_kind);
        let (started_ns, idle_raw) = timeline::started_raw(started_at);
        Invocation {
            begun: Begun {
                handler: self,
                number,
                started_at,
                started_ns,
                idle_raw,
                start_kind,
            },
            outcome: None,
            span: InvocationSpan(ManuallyDrop::new(span(self.name, start_kind))),
        }
    }
}

/// One invocation in progress. Created by [`Handler::begin`]; records its metrics exactly once,
/// when finished or dropped. Not public API.
#[doc(hidden)]
#[must_use = "an invocation records its outcome when finished; dropping it records `cancelled`"]
pub struct Invocation {
    begun: Begun,
    outcome: Option<Outcome>,
    /// `coldstart.invocation`, a child of the runtime's invocation span, when a subscriber wants
    /// it; closed when the invocation is dropped, after its metrics are recorded.
    span: InvocationSpan,
}

/// What an invocation keeps from its start until it is recorded: all `Copy`, so that finishing
/// reads it in place (a warm invocation moves nothing).
#[derive(Clone, Copy)]
struct Begun {
    handler: &'static Handler,
    number: u64,
    started_at: Instant,
    /// `started_at` as a start offset (see `timeline::started_raw`).
    started_ns: u64,
    /// The idle gap before it, in nanoseconds plus one; 0: none (see `timeline::started_raw`).
    idle_raw: u64,
    start_kind: StartKind,
}

impl Begun {
    fn idle(&self) -> Option<Duration> {
        timeline::idle_of_raw(self.idle_raw)
    }
}

/// The invocation's span, if one was made ([`span`]): boxed, so that an invocation (which an
/// `async` handler's future holds across its `.await`) stays small when there is none, which is
/// always unless some subscriber enables DEBUG. Closed through one out-of-line function: the drop
/// of a `tracing::Span` (with `tracing`'s `log` fallback) is ~0.7 KiB of code, which was compiled
/// into every part of the crate that could drop an invocation.
struct InvocationSpan(ManuallyDrop<Option<Box<tracing::Span>>>);

impl InvocationSpan {
    fn take(&mut self) -> InvocationSpan {
        InvocationSpan(ManuallyDrop::new(self.0.take()))
    }

    /// Records the invocation's outcome on the span, if there is one.
    #[inline]
    fn record_outcome(&self, outcome: Outcome) {
        if let Some(span) = &*self.0 {
            record_outcome(span, outcome);
        }
    }
}

impl Drop for InvocationSpan {
    #[inline]
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            close(span);
        }
    }
}

#[inline(never)]
fn close(span: Box<tracing::Span>) {
    drop(span);
}

#[cold]
#[inline(never)]
fn record_outcome(span: &tracing::Span, outcome: Outcome) {
    span.record("coldstart.outcome", outcome.as_str());
}

/// The invocation's span: its start kind where OpenTelemetry and X-Ray layers of `tracing` see it
/// (`coldstart.start_kind`, and `faas.coldstart`, true only for a user-facing cold start; the
/// guide's OpenTelemetry chapter, `coldstart::guide::opentelemetry`, compares it with `lambda_runtime`'s own). Not entered, so
/// that the handler's own spans keep their parent.
///
/// DEBUG, so that it is opt-in (`coldstart=debug` in the filter of the layer that exports
/// traces): at INFO, lambda_runtime's usual fmt subscriber would build it on every invocation
/// (~0.8 µs in the repository's `warm_invocation` benchmark, `span_only_info_fmt_subscriber`). `None` unless some subscriber enables DEBUG somewhere: one
/// atomic load (the disabled span itself, its field record and drop, cost more); the span is
/// made out of line.
#[inline]
fn span(handler: &'static str, start_kind: StartKind) -> Option<Box<tracing::Span>> {
    if tracing::level_filters::LevelFilter::current() < tracing::Level::DEBUG {
        return None;
    }
    make_span(handler, start_kind)
}

#[cold]
#[inline(never)]
fn make_span(handler: &'static str, start_kind: StartKind) -> Option<Box<tracing::Span>> {
    let span = tracing::debug_span!(
        target: "coldstart",
        "coldstart.invocation",
        coldstart.handler = handler,
        coldstart.start_kind = start_kind.as_str(),
        faas.coldstart = start_kind == StartKind::Cold,
        coldstart.outcome = tracing::field::Empty,
    );
    (!span.is_disabled()).then(|| Box::new(span))
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("handler", &self.begun.handler.name)
            .field("start_kind", &self.begun.start_kind)
            .field("number", &self.begun.number)
            .finish()
    }
}

impl Invocation {
    /// What kind of start this invocation is.
    pub fn start_kind(&self) -> StartKind {
        self.begun.start_kind
    }

    /// `true` for the first invocation of the process (whatever its start kind).
    pub fn is_first(&self) -> bool {
        self.begun.start_kind.is_first()
    }

    /// This invocation's number in the process, starting at 1.
    pub fn number(&self) -> u64 {
        self.begun.number
    }

    /// What its handler's thread knows of it while running its code (see `running`).
    #[cfg(feature = "concurrent")]
    #[inline]
    pub(super) fn current(&self) -> super::running::Current {
        super::running::Current {
            number: self.begun.number,
            started_raw: self.begun.started_ns,
            idle_raw: self.begun.idle_raw,
        }
    }

    /// Time since the invocation began.
    pub fn elapsed(&self) -> Duration {
        self.begun.started_at.elapsed()
    }

    /// How long the environment sat idle before this invocation: since the previous invocation
    /// (or warm-up ping) finished. `None` for the first one.
    pub fn idle(&self) -> Option<Duration> {
        self.begun.idle()
    }

    /// Ends the invocation with `outcome` and records its metrics.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    /// Sets the outcome it is recorded with when dropped: what the `#[cold_start_handler]`
    /// expansion calls right before the handler returns. Unlike [`finish`](Self::finish), the
    /// invocation is not moved, which in an `async fn`'s state machine is a copy of the whole
    /// record on every warm invocation.
    #[inline]
    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        let finished_at = Instant::now();
        let outcome = match self.outcome {
            Some(outcome) => outcome,
            None => unfinished(),
        };
        // Parked for `coldstart::lambda` when it is polling this handler (a streamed response is
        // timed to its last byte); recorded now otherwise, in place.
        if parking_armed() {
            park_or_record(Finished {
                begun: self.begun,
                span: self.span.take(),
                outcome,
                finished_at,
            });
        } else {
            record(&self.begun, outcome, finished_at, &self.span);
        }
    }
}

/// The outcome of an invocation dropped before it was finished.
#[cold]
fn unfinished() -> Outcome {
    if std::thread::panicking() {
        Outcome::Panic
    } else {
        Outcome::Cancelled
    }
}

/// Parks `finished` ([`park`]), or records it now (by its drop) when it is given back.
#[inline(never)]
fn park_or_record(finished: Finished) {
    drop(park(finished));
}

#[cfg(feature = "lambda")]
thread_local! {
    /// While `coldstart::lambda` polls a handler's future ([`parking`]): an invocation that
    /// finishes is left here instead of being recorded.
    static PARKING: Cell<Slot> = const { Cell::new(Slot::Off) };
    /// `true` exactly while [`PARKING`] is [`Slot::Armed`]: what [`park`] reads first, so that
    /// an invocation finishing outside `coldstart::lambda` (nothing armed) is recorded without
    /// moving itself in and out of the slot (a warm invocation's hot path; the slot's type needs
    /// a thread-local destructor, this flag does not).
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

#[cfg(feature = "lambda")]
enum Slot {
    Off,
    Armed,
    Parked(Finished),
}

/// Whether [`parking`] is armed on this thread: one thread-local load.
#[cfg(feature = "lambda")]
#[inline]
fn parking_armed() -> bool {
    ARMED.try_with(Cell::get).unwrap_or(false)
}

/// Leaves `finished` in the armed slot; gives it back when the slot is not armed (or full).
#[cfg(feature = "lambda")]
fn park(finished: Finished) -> Option<Finished> {
    if !parking_armed() {
        return Some(finished);
    }
    PARKING
        .try_with(|slot| match slot.replace(Slot::Off) {
            Slot::Armed => {
                slot.set(Slot::Parked(finished));
                ARMED.set(false);
                None
            }
            other => {
                slot.set(other);
                Some(finished)
            }
        })
        // The thread is being torn down: the closure was dropped with `finished` in it, which
        // recorded it.
        .unwrap_or(None)
}

/// Without `coldstart::lambda` nothing polls a handler to park its invocation.
#[cfg(not(feature = "lambda"))]
#[inline(always)]
fn parking_armed() -> bool {
    false
}

/// Without `coldstart::lambda` nothing polls a handler to park its invocation: it is given back,
/// to be recorded at once.
#[cfg(not(feature = "lambda"))]
#[inline(always)]
fn park(finished: Finished) -> Option<Finished> {
    Some(finished)
}

/// While the returned guard lives, an invocation that finishes on this thread is parked in it
/// ([`Parking::take`]) instead of recorded. `coldstart::lambda` arms it around each poll of a
/// handler's future: for a buffered response it records the parked invocation right away; for a
/// streamed one, when the stream ends. Not nested: an inner guard disarms for the rest of the
/// outer one's poll (an invocation finishing then is recorded at once, as without parking).
#[cfg(feature = "lambda")]
pub(crate) fn parking() -> Parking {
    let _ = PARKING.try_with(|slot| drop(slot.replace(Slot::Armed)));
    let _ = ARMED.try_with(|armed| armed.set(true));
    Parking
}

/// The guard of [`parking`].
#[cfg(feature = "lambda")]
pub(crate) struct Parking;

#[cfg(feature = "lambda")]
impl Parking {
    /// The invocation that finished while the guard lived, if one did.
    pub(crate) fn take(&self) -> Option<Finished> {
        let _ = ARMED.try_with(|armed| armed.set(true));
        PARKING
            .try_with(|slot| match slot.replace(Slot::Armed) {
                Slot::Parked(finished) => Some(finished),
                _ => None,
            })
            .ok()
            .flatten()
    }
}

#[cfg(feature = "lambda")]
impl Drop for Parking {
    fn drop(&mut self) {
        // Anything left parked is recorded here, by `Finished`'s drop.
        let _ = ARMED.try_with(|armed| armed.set(false));
        let _ = PARKING.try_with(|slot| drop(slot.replace(Slot::Off)));
    }
}

/// An invocation whose handler has returned, waiting to be recorded: at once, or (a streamed
/// response) when its stream ends. Records exactly once, when [`complete`](Self::complete)d or
/// dropped.
pub(crate) struct Finished {
    begun: Begun,
    span: InvocationSpan,
    outcome: Outcome,
    finished_at: Instant,
}

impl fmt::Debug for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished")
            .field("handler", &self.begun.handler.name)
            .field("number", &self.begun.number)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl Finished {
    /// The invocation ended only now, with `outcome` (its streamed response ended, or failed):
    /// records it so.
    #[cfg(feature = "lambda")]
    pub(crate) fn complete(mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.finished_at = Instant::now();
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        record_finished(self);
    }
}

/// [`record`], for a finished invocation that was parked or given back: compiled once, out of
/// line (an invocation that is not parked is recorded in [`Invocation`]'s drop, inline).
#[inline(never)]
fn record_finished(finished: &Finished) {
    record(
        &finished.begun,
        finished.outcome,
        finished.finished_at,
        &finished.span,
    );
}

/// Records a finished invocation: its metrics, the first real invocation's summary, the memory
/// sample when one is due, the outcome on its span.
///
/// A warm invocation (number above 1, after the first real invocation finished, no timeout
/// pending) checks that with three loads and records its metrics inline; everything else
/// (skipping a timed-out one, leaving the first invocation's metrics for after its response,
/// the cold-start report) is out of line, in [`record_unusual`].
#[inline(always)]
fn record(begun: &Begun, outcome: Outcome, finished_at: Instant, span: &InvocationSpan) {
    // Both ends as whole nanoseconds since process start: the duration and the age are
    // subtractions, with one conversion of the finish instant (each `Instant` difference is
    // a call into std on a path measured in tens of nanoseconds).
    let finished_ns = timeline::finished(finished_at);
    let recorded = Recorded::new(begun, outcome, finished_ns);
    if begun.number == 1 || timeouts::any_timed_out() || !FirstRealInvocation::is_set() {
        record_unusual(begun, recorded, finished_at);
    } else {
        // Number above 1: a warm invocation (`first::begin`).
        recorded.record_warm();
    }
    crate::memory::sample_at_most_every_second(finished_ns);
    span.record_outcome(outcome);
}

/// [`record`] for an invocation that may have timed out, be the first of the process, or be the
/// first real one to finish.
#[cold]
#[inline(never)]
fn record_unusual(begun: &Begun, recorded: Recorded, finished_at: Instant) {
    if timeouts::take_timed_out(begun.number) {
        // Already recorded as a timeout, shortly before its deadline: counted once.
    } else if begun.number == 1 && pending::deferring() {
        pending::leave_first_metrics(recorded);
    } else {
        recorded.record(begun.number > 1);
    }
    if !FirstRealInvocation::is_set() && is_first_real(begun) {
        first_real_finished(begun, recorded.outcome, finished_at);
    }
}

/// Whether this is the invocation the cold-start report describes: the environment's first
/// invocation when it reached a handler (whichever invocation finishes first: under
/// `run_concurrent` a warm one often does); when the first event was a warm-up ping or a
/// rejected payload (the coldness is gone, every later invocation is warm), the first real
/// invocation to finish.
fn is_first_real(begun: &Begun) -> bool {
    begun.number == 1
        || first::first_invocation().is_some_and(|first| first.warmup || first.rejected)
}

/// The cold path of the first real (non-ping) invocation of the process: its summary, the
/// budget check and the cold-start report. Runs once; may allocate.
#[cold]
#[inline(never)]
fn first_real_finished(begun: &Begun, outcome: Outcome, finished_at: Instant) {
    let handler = begun.handler;
    let summary = FirstRealInvocation {
        handler: handler.name,
        start_kind: begun.start_kind,
        outcome,
        started_at: begun.started_at,
        finished_at,
        budget: handler.budget.or_else(settings::cold_start_budget),
    };
    if !summary.set() {
        return; // another invocation finished first
    }
    crate::cpu::note_first_invocation_end();
    let _ = FIRST_HANDLER.set(handler);
    if summary.exceeded_budget().is_some() {
        metrics::with_recorder(|recorder| {
            recorder
                .register_counter(handler.budget_exceeded_key(), &METADATA)
                .increment(1);
        });
    }
    if pending::deferring() {
        pending::leave_report();
    } else {
        // The one call up the dependency order (see the crate docs): without coldstart's
        // layer nothing runs after the response, so the report is made here.
        crate::after_response::first_real_invocation_finished_without_layer();
    }
}

/// The metrics of one finished invocation, computed when it finished; the durations are kept
/// as nanoseconds and made seconds only when a recorder takes them (not at all for the no-op
/// recorder).
#[derive(Clone, Copy)]
pub(super) struct Recorded {
    handler: &'static Handler,
    start_kind: StartKind,
    outcome: Outcome,
    /// The invocation's duration.
    nanos: u64,
    /// The idle gap before it, plus one; 0: none (see `timeline::started_raw`).
    idle_raw: u64,
    /// The environment's age when it finished.
    age_nanos: u64,
}

impl Recorded {
    /// The metrics of `begun`, finished with `outcome` at `finished_ns` (a start offset).
    #[inline(always)]
    fn new(begun: &Begun, outcome: Outcome, finished_ns: u64) -> Recorded {
        Recorded {
            handler: begun.handler,
            start_kind: begun.start_kind,
            outcome,
            nanos: finished_ns.saturating_sub(begun.started_ns),
            idle_raw: begun.idle_raw,
            age_nanos: timeline::environment_age_ns_at_offset(finished_ns),
        }
    }

    #[inline(always)]
    fn seconds(&self) -> f64 {
        timeline::seconds(self.nanos)
    }

    #[inline(always)]
    fn idle(&self) -> Option<f64> {
        (self.idle_raw != 0).then(|| timeline::seconds(self.idle_raw - 1))
    }

    #[inline(always)]
    fn age(&self) -> f64 {
        timeline::seconds(self.age_nanos)
    }

    /// [`record`](Self::record) for a warm invocation (never the first of the process): the
    /// start kind is known, so its checks fold away, and the probe may start. Once the global
    /// recorder is known and the handles this invocation needs are cached, they are used right
    /// here: `metrics::with_recorder` is asked only which recorder is current.
    #[inline(always)]
    fn record_warm(&self) {
        crate::render_gate::recording(|| {
            match metrics::with_recorder(|recorder| recorder::current(recorder, true)) {
                Current::Global if self.record_cached(StartKind::Warm) => {}
                // Every handle it would give does nothing.
                Current::Noop => {}
                _ => self.record_looked_up(StartKind::Warm, true),
            }
        });
    }

    /// Records through the handles cached for the global recorder (which is current), if all
    /// the ones this invocation needs are there; `false` (nothing recorded) otherwise.
    #[inline(always)]
    fn record_cached(&self, start_kind: StartKind) -> bool {
        let handles = &self.handler.keys.handles;
        let kind = start_kind.index();
        let count = match self.outcome.failure_index() {
            None => &handles.invocations[kind],
            Some(failure) => &handles.errors[kind][failure],
        };
        let (Some(count), Some(duration), Some(age)) =
            (count.get(), handles.duration[kind].get(), handles.age.get())
        else {
            return false;
        };
        let idle = match self.idle_raw {
            0 => None,
            _ => match handles.idle.get() {
                Some(gauge) => Some(gauge),
                None => return false,
            },
        };
        count.increment(1);
        duration.record(self.seconds());
        if let (Some(gauge), Some(seconds)) = (idle, self.idle()) {
            gauge.set(seconds);
        }
        age.set(self.age());
        true
    }

    /// [`record_to`](Self::record_to) the current recorder, looking up or registering what is
    /// not cached: out of line, for the first warm invocations, thread-local recorders and
    /// [`record`](Self::record) (the one copy of `record_to` in the binary).
    #[inline(never)]
    fn record_looked_up(&self, start_kind: StartKind, may_probe: bool) {
        metrics::with_recorder(|recorder| self.record_to(recorder, start_kind, may_probe));
    }

    /// Hands the values to the current recorder; `may_probe` allows starting the probe that
    /// tells whether it is the global one (never on the first invocation: see
    /// [`recorder::current`]).
    pub(super) fn record(&self, may_probe: bool) {
        crate::render_gate::recording(|| self.record_looked_up(self.start_kind, may_probe));
    }

    /// [`record`](Self::record) into `recorder`, with `start_kind` (`self.start_kind`, or a
    /// constant where it is known).
    #[inline(always)]
    fn record_to(&self, recorder: &dyn metrics::Recorder, start_kind: StartKind, may_probe: bool) {
        // The global recorder outlives every invocation: its handles are cached (an atomic
        // load each). Any other recorder (thread-local, or none installed) is looked up.
        let cache = match recorder::current(recorder, may_probe) {
            Current::Global => true,
            // Every handle it would give does nothing.
            Current::Noop => return,
            Current::Other => false,
        };
        let Recorded {
            handler, outcome, ..
        } = *self;
        let (seconds, idle, age) = (self.seconds(), self.idle(), self.age());
        let handles = &handler.keys.handles;
        let kind = start_kind.index();
        if start_kind == StartKind::Cold {
            with_handle(
                cache,
                &handles.coldstarts,
                move || recorder.register_counter(handler.coldstarts_key(), &METADATA),
                |counter| counter.increment(1),
            );
        }
        let failure = outcome.failure_index();
        let count_handle = match failure {
            None => &handles.invocations[kind],
            Some(failure) => &handles.errors[kind][failure],
        };
        with_handle(
            cache,
            count_handle,
            move || recorder.register_counter(handler.count_key(kind, failure), &METADATA),
            |counter| counter.increment(1),
        );
        with_handle(
            cache,
            &handles.duration[kind],
            move || recorder.register_histogram(handler.duration_key(kind), &METADATA),
            |histogram| histogram.record(seconds),
        );
        if let Some(idle) = idle {
            with_handle(
                cache,
                &handles.idle,
                move || recorder.register_gauge(handler.idle_key(), &METADATA),
                |gauge| gauge.set(idle),
            );
        }
        with_handle(
            cache,
            &handles.age,
            move || recorder.register_gauge(handler.age_key(), &METADATA),
            |gauge| gauge.set(age),
        );
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
