//! Named phases of your own start-up code: which part of INIT took the time.
//!
//! Wrap a piece of INIT work in a phase and it is timed, recorded as
//! `coldstart.phase_duration{phase="…"}` beside the crate's own phases (`init`,
//! `wait_for_first_event`, `to_first_invocation`), and placed on the cold-start report's
//! timeline. Three forms, for the three shapes code comes in:
//!
//! | form | for |
//! |---|---|
//! | [`phase("name", \|\| …)`](phase) | a closure: returns its value |
//! | [`phase_async("name", async { … }).await`](phase_async) | a future: awaits it |
//! | [`let _phase = phase_guard("name");`](phase_guard) | synchronous code that does not fit a closure: ends when the guard is dropped |
//!
//! ```
//! let config = coldstart::phase("load config", || {
//!     let rules = coldstart::phase("parse rules", || vec!["allow all"]);
//!     (rules, "eu-west-1")
//! });
//! assert_eq!(config.1, "eu-west-1");
//!
//! let runs = coldstart::named_phases::runs();
//! assert_eq!(runs[0].name, "load config");
//! assert_eq!(runs[1].name, "parse rules");
//! assert_eq!(runs[1].depth, runs[0].depth + 1); // nested
//! ```
//!
//! # What is recorded
//!
//! Every run of a phase records `coldstart.phase_duration` (seconds) with labels `phase` (its
//! name), `during` (where it ran, as for lazy statics: `init` before any invocation, `prewarm`,
//! `warmup`, or the start kind of the invocation it ran in; see
//! [`During`]) and `outcome` (`ok`, `panic`, `cancelled`). The built-in
//! phases carry only `phase`. A phase nested in a lazy static's initializer inherits the
//! static's `during` (so one run by [`prewarm`](crate::lazy::prewarm) says `prewarm`).
//!
//! **Durations are exclusive**, as lazy statics' are: the time of phases nested in a phase, and
//! of lazy statics initialized inside it, is subtracted from it (and recorded for them), so the
//! durations add up to the time spent; [`PhaseRun::inclusive`] keeps the total. Both share one
//! stack of timed frames per thread. An async phase's duration is
//! wall-clock time from its first poll to its end, suspended time included, minus what it
//! drove nested in it; phases joined concurrently (`tokio::join!`) each measure their own
//! wall-clock time and overlap on the timeline, as they did, and an async phase that joins them
//! has their whole time subtracted from its own (down to zero: it only waited).
//!
//! # Names and mistakes
//!
//! Names are `&'static str`: written in your source, a bounded set of label values.
//!
//! - **The same name twice** is two runs: two samples in the histogram, two rows on the
//!   timeline, nothing merged and nothing rejected (a phase run on every invocation is recorded
//!   every time; see [`runs`] for what the report keeps).
//! - **An empty name** is recorded as it is (`phase=""`; Prometheus shows such a series without
//!   the `phase` label): give phases names.
//! - **A panic** inside a phase propagates unchanged; the phase is recorded with
//!   `outcome="panic"`, nothing is poisoned and the next phase is timed normally.
//! - **A future dropped** before it completes records `outcome="cancelled"`.
//! - **A guard that is never dropped** (`mem::forget`) records nothing: its run stays
//!   [open](PhaseRun::outcome) on the timeline. Phases started after it on the same thread are
//!   timed normally.

use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::invocation::Outcome;
use crate::lazy::{Attempt, During, End, FrameKind, Start, Subject};
use crate::names;

/// How many runs [`runs`] keeps for the report (the first ones of the process); every run is
/// recorded in the metric.
pub const KEPT_RUNS: usize = 256;

/// One run of a named phase, as [`runs`] lists it.
///
/// ```
/// use coldstart::named_phases::runs;
/// use coldstart::{During, Outcome};
///
/// coldstart::phase("warm caches", || ());
/// let run = runs().into_iter().find(|run| run.name == "warm caches").unwrap();
/// assert_eq!(run.outcome, Some(Outcome::Ok));
/// assert_eq!(run.during, During::Init);
/// assert!(run.duration.unwrap() <= run.inclusive.unwrap());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhaseRun {
    /// The phase's name.
    pub name: &'static str,
    /// When it started, since [`process_start`](crate::phases::process_start).
    pub started: Duration,
    /// How many phases and lazy initializers enclosed it on its thread (0: none).
    pub depth: u32,
    /// Where it ran: [`During::Init`] before any invocation (see [`crate::lazy::During`]).
    pub during: During,
    /// How it ended (`ok`, `panic`, `cancelled`); `None` while it is open (running, or a
    /// leaked guard).
    pub outcome: Option<Outcome>,
    /// Its exclusive duration (nested phases and lazy statics subtracted), once ended.
    pub duration: Option<Duration>,
    /// Its inclusive duration, once ended.
    pub inclusive: Option<Duration>,
}

static RUNS: Mutex<Vec<PhaseRun>> = Mutex::new(Vec::new());

fn kept() -> MutexGuard<'static, Vec<PhaseRun>> {
    // Nothing panics while the lock is held; if something did, the list is still usable.
    RUNS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The runs of named phases so far (the first [`KEPT_RUNS`] of the process), in the order they
/// started.
///
/// ```
/// coldstart::phase("one", || ());
/// coldstart::phase("two", || ());
/// let runs = coldstart::named_phases::runs();
/// assert!(runs.windows(2).all(|w| w[0].started <= w[1].started));
/// ```
pub fn runs() -> Vec<PhaseRun> {
    let mut runs = kept().clone();
    // Kept in the order they were registered, which is the order they started, except for
    // threads racing between reading the clock and taking the lock.
    crate::sort::sort_by(&mut runs, |a, b| {
        (a.started, a.depth) < (b.started, b.depth)
    });
    runs
}

/// The phase a timed attempt is about: its name and its place in the kept list.
struct Named {
    name: &'static str,
    index: Option<usize>,
}

impl Subject for Named {
    fn started(&mut self, start: &Start) {
        let mut runs = kept();
        if runs.len() < KEPT_RUNS {
            self.index = Some(runs.len());
            runs.push(PhaseRun {
                name: self.name,
                started: start.offset,
                depth: start.depth,
                during: start.during,
                outcome: None,
                duration: None,
                inclusive: None,
            });
        }
    }

    fn ended(&mut self, start: &Start, end: &End) {
        if let Some(index) = self.index {
            if let Some(run) = kept().get_mut(index) {
                run.outcome = Some(end.outcome);
                run.duration = Some(end.duration);
                run.inclusive = Some(end.inclusive);
            }
        }
        crate::render_gate::recording(|| {
            let labels = [
                (names::LABEL_PHASE, self.name),
                (names::LABEL_DURING, start.during.as_str()),
                (names::LABEL_OUTCOME, end.outcome.as_str()),
            ];
            let seconds = names::Emit::Record(end.duration.as_secs_f64());
            names::emit(names::PHASE_DURATION, &labels, seconds);
        });
    }
}

fn start(name: &'static str) -> Attempt<Named> {
    Attempt::start(Named { name, index: None }, None, FrameKind::Phase)
}

/// Runs `work` as the phase `name` and returns what it returns.
///
/// A panic in `work` propagates; the phase is recorded with `outcome="panic"`.
///
/// ```
/// let catalog: Vec<u32> = coldstart::phase("load catalog", || (0..1_000).collect());
/// assert_eq!(catalog.len(), 1_000);
/// ```
pub fn phase<R>(name: &'static str, work: impl FnOnce() -> R) -> R {
    let mut attempt = start(name);
    let value = attempt.run(work);
    attempt.finish(Outcome::Ok);
    value
}

/// Awaits `work` as the phase `name` and returns its output.
///
/// Every poll of `work` runs inside the phase, so sync phases and lazy statics it drives are
/// nested in it. The returned future is `Send` when `work` is. Dropped before it completes, it
/// records `outcome="cancelled"`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let client = coldstart::phase_async("connect", async { "connected" }).await;
/// assert_eq!(client, "connected");
/// # });
/// ```
pub async fn phase_async<F: std::future::Future>(name: &'static str, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    // Started at the first poll, like the work itself.
    let mut attempt = start(name);
    let output = std::future::poll_fn(|cx| attempt.run(|| work.as_mut().poll(cx))).await;
    attempt.finish(Outcome::Ok);
    output
}

/// Starts the phase `name`; it ends when the returned guard is dropped.
///
/// For synchronous code that does not fit in a closure (early returns, `?`, several
/// statements). The guard is neither `Send` nor `Sync`: the phase is tied to the thread's stack
/// of frames, so it cannot be held across an `.await` in a spawned future (use
/// [`phase_async`] there). Dropped while unwinding, it records `outcome="panic"`.
///
/// ```
/// fn parse_model(bytes: &[u8]) -> Result<usize, String> {
///     let _phase = coldstart::phase_guard("parse model");
///     if bytes.is_empty() {
///         return Err("empty model".into()); // the phase ends here too
///     }
///     Ok(bytes.len())
/// }
/// assert_eq!(parse_model(b"weights"), Ok(7));
/// ```
pub fn phase_guard(name: &'static str) -> PhaseGuard {
    let attempt = start(name);
    let frame = attempt.enter();
    PhaseGuard {
        attempt,
        frame,
        _not_send: PhantomData,
    }
}

/// A running phase started by [`phase_guard`]: dropping it ends the phase.
///
/// ```
/// let guard = coldstart::phase_guard("warm up");
/// drop(guard); // recorded now
/// ```
///
/// It stays on the thread that started it, so a spawned future cannot hold it across an
/// `.await` (use [`phase_async`]):
///
/// ```compile_fail
/// fn spawnable<F: std::future::Future + Send>(_: F) {}
/// spawnable(async {
///     let _phase = coldstart::phase_guard("connect");
///     std::future::ready(()).await;
/// });
/// ```
#[must_use = "the phase ends when the guard is dropped: bind it with `let _phase = …`"]
pub struct PhaseGuard {
    attempt: Attempt<Named>,
    frame: usize,
    /// The guard must end on the thread whose frame stack it entered.
    _not_send: PhantomData<*const ()>,
}

impl PhaseGuard {
    /// Where this phase runs.
    ///
    /// ```
    /// let guard = coldstart::phase_guard("setup");
    /// assert_eq!(guard.during(), coldstart::During::Init);
    /// ```
    pub fn during(&self) -> During {
        self.attempt.during()
    }
}

impl Drop for PhaseGuard {
    fn drop(&mut self) {
        self.attempt.exit(self.frame);
        self.attempt.finish(if std::thread::panicking() {
            Outcome::Panic
        } else {
            Outcome::Ok
        });
    }
}

impl std::fmt::Debug for PhaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhaseGuard")
            .field("during", &self.attempt.during())
            .finish_non_exhaustive()
    }
}
