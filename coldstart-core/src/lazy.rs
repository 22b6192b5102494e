//! Lazily initialized statics that measure themselves: what each one cost, where it ran, and
//! which were never needed.
//!
//! Declare them with `#[coldstart::lazy]` (the attribute expands to one of the four types below
//! plus a link-time registration); this module is the runtime behind it.
//!
//! | declared as | type | access |
//! |---|---|---|
//! | `#[lazy] static X: T = expr;` | [`Lazy<T>`] | `*X`, `X.field`, `X.method()` (deref) → `&T` |
//! | `#[lazy(async)] static X: T = async { … };` | [`AsyncLazy<T>`] | `X.get().await` → `&T` |
//! | `#[lazy(fallible)] static X: Result<T, E> = expr;` | [`TryLazy<T, E>`] | `X.get()` → `Result<&T, E>` |
//! | `#[lazy(async, fallible)] static X: Result<T, E> = async { … };` | [`AsyncTryLazy<T, E>`] | `X.get().await` → `Result<&T, E>` |
//!
//! # Guarantees
//!
//! - **Once.** The initializer runs to success at most once, even when many threads (or tasks)
//!   race the first access: the others wait for it and then share the value. The sync forms use
//!   `once_cell::sync::OnceCell`, the async forms `tokio::sync::OnceCell`. After initialization
//!   an access is one atomic acquire load, as cheap as dereferencing a `std::sync::LazyLock`.
//! - **Errors are not cached.** When a fallible initializer returns `Err`, that error goes to the
//!   caller whose access ran it, the static stays uninitialized, and the next access (or a
//!   caller already waiting) runs the initializer again.
//! - **Panics do not poison.** When an initializer panics, the panic propagates to the caller
//!   whose access ran it, the static stays uninitialized, and the next access runs the
//!   initializer again. The attempt is counted as a failure (`outcome="panic"`). The same holds
//!   for an async initializer whose future is dropped before it completes (`outcome="cancelled"`).
//!
//! # What is recorded
//!
//! Every run of an initializer, successful or not, records `coldstart.lazy_init_duration`
//! (seconds) with labels `lazy` (the static's name), `during` (see [`During`]: `init`,
//! `prewarm`, `warmup`, `cold`, `proactive`, `provisioned`, `snapstart`, `warm`) and `outcome`
//! (`ok`, `error`, `panic`, `cancelled`), and updates the static's entry in [`report`].
//!
//! **Where it ran** is decided when the attempt starts: [`During::Prewarm`] when [`prewarm`]
//! forced it, [`During::Warmup`] when a warm-up ping forced it (or the only event so far was a
//! ping), [`During::Init`] if no invocation has begun in the process yet, and otherwise the
//! most recently begun invocation: its number, and its start kind (the first invocation's kind
//! for number 1, `warm` for the others). When several invocations run at once in one environment
//! (`lambda_runtime::run_concurrent`), "most recently begun" may be another request than the one
//! that touched the static: the attribution is then approximate. A lazy static initialized while
//! another one's initializer runs (nested) inherits the outer one's `during`.
//!
//! **Durations are exclusive.** When one initializer touches another lazy static that is not
//! ready yet, the nested initializer's time is recorded for the nested static only and is
//! subtracted from the outer one's, so the durations of all statics add up to the time spent
//! initializing them. [`LazyInfo::inclusive`] keeps the outer one's total. For the async forms the
//! duration is wall-clock time from the start of the attempt to its end, including time the task
//! spent suspended; nested lazy statics that the initializer itself drives (sync ones, or async
//! ones it awaits and initializes) are subtracted as for the sync forms, but time spent waiting
//! for another task that is initializing a static is not.
//!
//! # Registry
//!
//! Every static declared with `#[lazy]` is registered at link time (with the `inventory` crate:
//! one pointer pushed onto a list by a loader-run constructor, before `main`), so [`report`]
//! lists statics that were never touched and [`prewarm`] can force the ones marked `prewarm`
//! without any code naming them.
//!
//! ```
//! use coldstart_core::lazy::{Lazy, State};
//!
//! // What `#[lazy] static RULES: Vec<String> = load();` expands to, minus the registration.
//! static RULES: Lazy<Vec<String>> = Lazy::new("rules", module_path!(), false, || {
//!     vec!["deny all".to_owned()]
//! });
//!
//! assert_eq!(Lazy::info(&RULES).state, State::NotInitialized);
//! assert_eq!(RULES.len(), 1); // first access: runs the initializer, timed
//! assert_eq!(Lazy::info(&RULES).state, State::Ready);
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::names;
use crate::tracker::{self, Outcome, StartKind};

/// A boxed, `Send` future: what an async initializer is turned into (once, on its first run).
///
/// ```
/// let future: coldstart_core::lazy::BoxFuture<u8> = Box::pin(async { 1 });
/// # let _ = future;
/// ```
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where an initializer ran: during INIT, forced by [`prewarm`], or during an invocation.
///
/// ```
/// use coldstart_core::lazy::During;
/// use coldstart_core::tracker::StartKind;
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
    /// Forced by [`prewarm`].
    Prewarm,
    /// Forced by a warm-up ping (`coldstart::lambda` builds the `prewarm` statics when it
    /// answers one), or run while a warm-up ping was the only event the environment had seen.
    /// No user request waited for it.
    Warmup,
    /// During an invocation: its number in the process (from 1) and its start kind.
    Invocation {
        /// The invocation's number in the process, starting at 1.
        number: u64,
        /// Its start kind: the first invocation's kind for number 1, otherwise `warm`.
        start_kind: StartKind,
    },
}

impl During {
    /// Where work starting now would be attributed (see the [module docs](self)).
    ///
    /// ```
    /// assert_eq!(coldstart_core::lazy::During::now().as_str(), "init");
    /// ```
    pub fn now() -> During {
        match tracker::invocation_count() {
            0 => During::Init,
            1 if tracker::first_invocation().is_some_and(|first| first.warmup) => During::Warmup,
            number => During::Invocation {
                number,
                start_kind: tracker::start_kind_of(number),
            },
        }
    }

    /// The `during` label value: `init`, `prewarm`, `warmup`, or the invocation's start kind
    /// (`cold`, `proactive`, `provisioned`, `snapstart`, `warm`).
    ///
    /// ```
    /// assert_eq!(coldstart_core::lazy::During::Prewarm.as_str(), "prewarm");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            During::Init => "init",
            During::Prewarm => "prewarm",
            During::Warmup => "warmup",
            During::Invocation { start_kind, .. } => start_kind.as_str(),
        }
    }

    /// The invocation number, for [`During::Invocation`].
    ///
    /// ```
    /// assert_eq!(coldstart_core::lazy::During::Init.invocation(), None);
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
    /// use coldstart_core::lazy::During;
    /// assert!(!During::Init.on_request_path());
    /// assert!(!During::Prewarm.on_request_path());
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
/// use coldstart_core::lazy::Form;
/// assert_eq!(Form::AsyncFallible.as_str(), "async, fallible");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Form {
    /// `#[lazy]`: [`Lazy`].
    Sync,
    /// `#[lazy(async)]`: [`AsyncLazy`].
    Async,
    /// `#[lazy(fallible)]`: [`TryLazy`].
    Fallible,
    /// `#[lazy(async, fallible)]`: [`AsyncTryLazy`].
    AsyncFallible,
}

impl Form {
    /// The options that declare this form, as written in the attribute (`""` for plain).
    ///
    /// ```
    /// assert_eq!(coldstart_core::lazy::Form::Sync.as_str(), "");
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
/// use coldstart_core::lazy::State;
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

/// One lazy static, as [`report`] sees it.
///
/// ```
/// use coldstart_core::lazy::{Lazy, During, State};
///
/// static TABLE: Lazy<[u8; 4]> = Lazy::new("table", module_path!(), false, || [1, 2, 3, 4]);
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
    /// The `lazy` label: `name = "…"`, or the static's identifier.
    pub name: &'static str,
    /// The module it is declared in.
    pub module_path: &'static str,
    /// Which form it was declared as.
    pub form: Form,
    /// Whether it is marked `prewarm`.
    pub prewarm: bool,
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
}

/// Every lazy static of the program, most expensive first. Returned by [`report`].
///
/// Its `Display` prints one line per static.
///
/// ```
/// let report = coldstart_core::lazy::report();
/// for lazy in &report.lazies {
///     println!("{} cost {:?}", lazy.name, lazy.spent);
/// }
/// print!("{report}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// One entry per `#[lazy]` static, sorted by [`LazyInfo::spent`], descending (then by name).
    pub lazies: Vec<LazyInfo>,
}

impl Report {
    /// The entry named `name` (the `lazy` label), if any.
    ///
    /// ```
    /// assert!(coldstart_core::lazy::report().get("no such static").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&LazyInfo> {
        self.lazies.iter().find(|lazy| lazy.name == name)
    }

    /// The statics a request waited for: the last attempt ran during an invocation.
    ///
    /// ```
    /// assert_eq!(coldstart_core::lazy::report().on_request_path().count(), 0);
    /// ```
    pub fn on_request_path(&self) -> impl Iterator<Item = &LazyInfo> {
        self.lazies
            .iter()
            .filter(|lazy| lazy.during.is_some_and(During::on_request_path))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.lazies.iter().map(|l| l.name.len()).max().unwrap_or(4);
        for lazy in &self.lazies {
            let duration = lazy
                .duration
                .map(|d| format!("{:>10.3} ms", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| format!("{:>13}", "-"));
            let during = lazy
                .during
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".to_owned());
            let mut state = lazy.state.to_string();
            if lazy.state == State::Ready && lazy.failures > 0 {
                state = format!("ready after {} failed", lazy.failures);
            }
            writeln!(
                f,
                "{:<width$}  {}  {:<26}  {:<24} {}{}",
                lazy.name,
                duration,
                during,
                state,
                lazy.module_path,
                if lazy.prewarm { " [prewarm]" } else { "" },
            )?;
        }
        Ok(())
    }
}

/// Every `#[lazy]` static linked into the program, touched or not, most expensive first.
///
/// ```
/// let report = coldstart_core::lazy::report();
/// assert!(report.lazies.windows(2).all(|w| w[0].spent >= w[1].spent));
/// ```
pub fn report() -> Report {
    let mut lazies: Vec<LazyInfo> = inventory::iter::<Registration>
        .into_iter()
        .map(|registration| (registration.entry)().info())
        .collect();
    // The name and module path make the order total.
    crate::sort::sort_by(&mut lazies, |a, b| {
        b.spent
            .cmp(&a.spent)
            .then_with(|| a.name.cmp(b.name))
            .then_with(|| a.module_path.cmp(b.module_path))
            .is_lt()
    });
    Report { lazies }
}

/// What [`prewarm`] did.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let prewarmed = coldstart_core::lazy::prewarm().await;
/// assert!(prewarmed.is_ok());
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prewarmed {
    /// `prewarm` statics this call initialized.
    pub initialized: Vec<&'static str>,
    /// `prewarm` statics that were ready already.
    pub already_ready: Vec<&'static str>,
    /// `prewarm` statics whose initializer failed: `Error` (an `Err`) or `Panic`. They stay
    /// uninitialized and are retried on their next access.
    pub failed: Vec<(&'static str, Outcome)>,
    /// How long the call took.
    pub elapsed: Duration,
}

impl Prewarmed {
    /// `true` when no initializer failed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert!(coldstart_core::lazy::prewarm().await.is_ok());
    /// # });
    /// ```
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Initializes every `#[lazy(prewarm)]` static that is not ready yet, one after the other, async
/// ones awaited; attributed as [`During::Prewarm`].
///
/// Call it during INIT (before the runtime loop) in environments Lambda initializes ahead of
/// demand — provisioned concurrency, SnapStart, proactive init — so that no request waits for
/// these statics. A failure (an `Err` or a panic) is reported in the result, never propagated:
/// the static stays uninitialized and is retried on its next access. A panic's message still
/// goes to the panic hook (stderr by default).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let prewarmed = coldstart_core::lazy::prewarm().await;
/// for (name, outcome) in &prewarmed.failed {
///     eprintln!("prewarming {name} failed: {outcome}");
/// }
/// # });
/// ```
pub async fn prewarm() -> Prewarmed {
    prewarm_as(During::Prewarm).await
}

/// [`prewarm`], attributed to `during` (`coldstart::lambda` uses [`During::Warmup`] when a
/// warm-up ping forces the `prewarm` statics).
pub(crate) async fn prewarm_as(during: During) -> Prewarmed {
    let started = Instant::now();
    let mut prewarmed = Prewarmed {
        initialized: Vec::new(),
        already_ready: Vec::new(),
        failed: Vec::new(),
        elapsed: Duration::ZERO,
    };
    // Only `fn` pointers, names and boxed `Send` futures live across the awaits below, so the
    // future stays `Send` (it runs inside `Send` services such as `lambda_http`'s).
    let entries: Vec<fn() -> &'static dyn Registered> = inventory::iter::<Registration>
        .into_iter()
        .map(|registration| registration.entry)
        .collect();
    for entry in entries {
        let (name, force) = {
            let entry = entry();
            let meta = entry.meta();
            if !meta.prewarm {
                continue;
            }
            if entry.is_ready() {
                prewarmed.already_ready.push(meta.name);
                continue;
            }
            (meta.name, entry.prewarm(during))
        };
        match force.await {
            Outcome::Ok => prewarmed.initialized.push(name),
            failed => prewarmed.failed.push((name, failed)),
        }
    }
    prewarmed.elapsed = started.elapsed();
    prewarmed
}

// ---------------------------------------------------------------------------------------------
// Per-static bookkeeping.

struct Last {
    duration: Duration,
    inclusive: Duration,
    during: During,
}

struct Stats {
    running: u32,
    ready: bool,
    failures: u32,
    spent: Duration,
    last: Option<Last>,
}

/// The name and bookkeeping every lazy static carries. Only touched off the fast path.
#[doc(hidden)]
pub struct Meta {
    name: &'static str,
    module_path: &'static str,
    prewarm: bool,
    stats: Mutex<Stats>,
}

impl Meta {
    const fn new(name: &'static str, module_path: &'static str, prewarm: bool) -> Meta {
        Meta {
            name,
            module_path,
            prewarm,
            stats: Mutex::new(Stats {
                running: 0,
                ready: false,
                failures: 0,
                spent: Duration::ZERO,
                last: None,
            }),
        }
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        // Nothing panics while the lock is held; if something did, the counts are still usable.
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn info(&self, form: Form) -> LazyInfo {
        let stats = self.stats();
        let state = if stats.ready {
            State::Ready
        } else if stats.running > 0 {
            State::Initializing
        } else if stats.failures > 0 {
            State::Failed {
                failures: stats.failures,
            }
        } else {
            State::NotInitialized
        };
        LazyInfo {
            name: self.name,
            module_path: self.module_path,
            form,
            prewarm: self.prewarm,
            state,
            failures: stats.failures,
            duration: stats.last.as_ref().map(|last| last.duration),
            inclusive: stats.last.as_ref().map(|last| last.inclusive),
            during: stats.last.as_ref().map(|last| last.during),
            spent: stats.spent,
        }
    }
}

impl fmt::Debug for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meta")
            .field("name", &self.name)
            .field("module_path", &self.module_path)
            .field("prewarm", &self.prewarm)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Timing one attempt, with nested attempts subtracted.

/// One initializer running on this thread: time spent in attempts nested inside it, and where
/// it is attributed (inherited by the nested ones).
struct Frame {
    nested: Duration,
    during: During,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

fn current_frame_during() -> Option<During> {
    FRAMES
        .try_with(|frames| frames.borrow().last().map(|frame| frame.during))
        .ok()
        .flatten()
}

/// One run of an initializer. Records itself exactly once: on [`Attempt::finish`], or when
/// dropped unfinished (a panic unwinding through it, or an async initializer dropped).
struct Attempt<'a> {
    meta: &'a Meta,
    started: Instant,
    during: During,
    nested: Duration,
    done: bool,
}

impl<'a> Attempt<'a> {
    fn start(meta: &'a Meta, forced: Option<During>) -> Attempt<'a> {
        let during = forced
            .or_else(current_frame_during)
            .unwrap_or_else(During::now);
        meta.stats().running += 1;
        Attempt {
            meta,
            started: Instant::now(),
            during,
            nested: Duration::ZERO,
            done: false,
        }
    }

    /// Runs `f` with this attempt as the innermost frame of the thread.
    fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        struct Exit<'n> {
            depth: usize,
            nested: &'n mut Duration,
        }
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                let _ = FRAMES.try_with(|frames| {
                    let mut frames = frames.borrow_mut();
                    while frames.len() > self.depth {
                        if let Some(frame) = frames.pop() {
                            *self.nested += frame.nested;
                        }
                    }
                });
            }
        }
        let depth = FRAMES
            .try_with(|frames| {
                let mut frames = frames.borrow_mut();
                frames.push(Frame {
                    nested: Duration::ZERO,
                    during: self.during,
                });
                frames.len() - 1
            })
            .unwrap_or(usize::MAX);
        let _exit = Exit {
            depth,
            nested: &mut self.nested,
        };
        f()
    }

    fn finish(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let inclusive = self.started.elapsed();
        let duration = inclusive.saturating_sub(self.nested);
        // Whoever runs on this thread around us (an outer initializer) did not spend this time.
        let _ = FRAMES.try_with(|frames| {
            if let Some(outer) = frames.borrow_mut().last_mut() {
                outer.nested += inclusive;
            }
        });
        {
            let mut stats = self.meta.stats();
            stats.running = stats.running.saturating_sub(1);
            if outcome.is_ok() {
                stats.ready = true;
            } else {
                stats.failures += 1;
            }
            stats.spent += duration;
            stats.last = Some(Last {
                duration,
                inclusive,
                during: self.during,
            });
        }
        metrics::histogram!(
            names::LAZY_INIT_DURATION,
            names::LABEL_LAZY => self.meta.name,
            names::LABEL_DURING => self.during.as_str(),
            names::LABEL_OUTCOME => outcome.as_str(),
        )
        .record(duration.as_secs_f64());
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.finish(if std::thread::panicking() {
            Outcome::Panic
        } else {
            Outcome::Cancelled
        });
    }
}

/// An async initializer's future, timed: every poll runs inside the attempt's frame.
struct Timed<'a, T> {
    attempt: Attempt<'a>,
    future: BoxFuture<T>,
    outcome: fn(&T) -> Outcome,
}

impl<'a, T> Timed<'a, T> {
    fn start(
        meta: &'a Meta,
        forced: Option<During>,
        init: fn() -> BoxFuture<T>,
        outcome: fn(&T) -> Outcome,
    ) -> Timed<'a, T> {
        let mut attempt = Attempt::start(meta, forced);
        // Whatever the initializer does before returning its future is timed too.
        let future = attempt.run(init);
        Timed {
            attempt,
            future,
            outcome,
        }
    }
}

impl<T> Future for Timed<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let future = &mut this.future;
        let poll = this.attempt.run(|| future.as_mut().poll(cx));
        if let Poll::Ready(value) = &poll {
            this.attempt.finish((this.outcome)(value));
        }
        poll
    }
}

fn always_ok<T>(_: &T) -> Outcome {
    Outcome::Ok
}

fn result_outcome<T, E>(result: &Result<T, E>) -> Outcome {
    if result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Error
    }
}

/// Polls a future, turning a panic into `Err(())` (for [`prewarm`]).
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

fn outcome_of_sync(run: impl FnOnce() -> Outcome) -> BoxFuture<Outcome> {
    let outcome = catch_unwind(AssertUnwindSafe(run)).unwrap_or(Outcome::Panic);
    Box::pin(std::future::ready(outcome))
}

// ---------------------------------------------------------------------------------------------
// The four forms.

/// A lazily initialized value: `#[lazy] static NAME: T = expr;`.
///
/// Dereferences to `T`, running the initializer on first access (once, timed, attributed; see the
/// [module docs](self)). `Sync` (usable in a `static`) when `T: Send + Sync`.
///
/// Like `std::sync::LazyLock`, its own functions are associated functions (`Lazy::force(&X)`,
/// `Lazy::info(&X)`), so that they never shadow the methods of `T` reached through `Deref`.
///
/// ```
/// use coldstart_core::lazy::Lazy;
///
/// static PRIMES: Lazy<Vec<u32>> = Lazy::new("primes", module_path!(), false, || {
///     (2..50).filter(|n| (2..*n).all(|d| n % d != 0)).collect()
/// });
///
/// assert_eq!(PRIMES[..4], [2, 3, 5, 7]);
/// assert_eq!(PRIMES.get(20), None); // `Vec::get`, through `Deref`
/// assert_eq!(Lazy::force(&PRIMES).len(), 15);
/// ```
pub struct Lazy<T> {
    cell: once_cell::sync::OnceCell<T>,
    init: fn() -> T,
    meta: Meta,
}

impl<T> Lazy<T> {
    /// A lazy value named `name` (the `lazy` label) declared in `module_path`, built by `init`.
    ///
    /// `#[lazy]` calls this and registers the static; a `Lazy` built by hand works the same but
    /// is not listed by [`report`] nor forced by [`prewarm`].
    ///
    /// ```
    /// static N: coldstart_core::lazy::Lazy<u64> =
    ///     coldstart_core::lazy::Lazy::new("n", module_path!(), false, || 6 * 7);
    /// assert_eq!(*N, 42);
    /// ```
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        init: fn() -> T,
    ) -> Lazy<T> {
        Lazy {
            cell: once_cell::sync::OnceCell::new(),
            init,
            meta: Meta::new(name, module_path, prewarm),
        }
    }

    /// The value, initializing it first if needed. Same as dereferencing.
    ///
    /// ```
    /// use coldstart_core::lazy::Lazy;
    /// static S: Lazy<String> = Lazy::new("s", module_path!(), false, || "hi".repeat(2));
    /// assert_eq!(Lazy::force(&S), "hihi");
    /// ```
    #[inline]
    pub fn force(this: &Self) -> &T {
        match this.cell.get() {
            Some(value) => value,
            None => this.initialize(None),
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// use coldstart_core::lazy::Lazy;
    /// static S: Lazy<u8> = Lazy::new("s", module_path!(), false, || 1);
    /// assert_eq!(Lazy::get_if_ready(&S), None);
    /// let _ = *S;
    /// assert_eq!(Lazy::get_if_ready(&S), Some(&1));
    /// ```
    #[inline]
    pub fn get_if_ready(this: &Self) -> Option<&T> {
        this.cell.get()
    }

    /// This static's entry in the [`report`].
    ///
    /// ```
    /// use coldstart_core::lazy::Lazy;
    /// static S: Lazy<u8> = Lazy::new("s", module_path!(), false, || 1);
    /// assert_eq!(Lazy::info(&S).name, "s");
    /// ```
    pub fn info(this: &Self) -> LazyInfo {
        this.meta.info(Form::Sync)
    }

    #[cold]
    #[inline(never)]
    fn initialize(&self, forced: Option<During>) -> &T {
        self.cell.get_or_init(|| {
            let mut attempt = Attempt::start(&self.meta, forced);
            let value = attempt.run(self.init);
            attempt.finish(Outcome::Ok);
            value
        })
    }
}

impl<T> Deref for Lazy<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        Lazy::force(self)
    }
}

impl<T: fmt::Debug> fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lazy")
            .field("name", &self.meta.name)
            .field("value", &self.cell.get())
            .finish()
    }
}

/// A lazily initialized value whose initializer can fail:
/// `#[lazy(fallible)] static NAME: Result<T, E> = expr;`.
///
/// [`TryLazy::get`] returns `Ok(&T)` once an attempt succeeded. An `Err` is returned to the
/// caller whose access ran the failing attempt and is never cached: the next access tries again.
///
/// ```
/// use coldstart_core::lazy::{State, TryLazy};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static TRIES: AtomicU32 = AtomicU32::new(0);
/// static PORT: TryLazy<u16, String> = TryLazy::new("port", module_path!(), false, || {
///     match TRIES.fetch_add(1, Ordering::Relaxed) {
///         0 => Err("not yet".to_owned()),
///         _ => Ok(8080),
///     }
/// });
///
/// assert_eq!(PORT.get(), Err("not yet".to_owned()));
/// assert_eq!(PORT.info().state, State::Failed { failures: 1 });
/// assert_eq!(PORT.get(), Ok(&8080));
/// assert_eq!(PORT.get(), Ok(&8080)); // cached: no third attempt
/// assert_eq!(TRIES.load(Ordering::Relaxed), 2);
/// ```
pub struct TryLazy<T, E> {
    cell: once_cell::sync::OnceCell<T>,
    init: fn() -> Result<T, E>,
    meta: Meta,
}

impl<T, E> TryLazy<T, E> {
    /// A fallible lazy value; see [`Lazy::new`].
    ///
    /// ```
    /// static N: coldstart_core::lazy::TryLazy<u8, ()> =
    ///     coldstart_core::lazy::TryLazy::new("n", module_path!(), false, || Ok(1));
    /// assert_eq!(N.get(), Ok(&1));
    /// ```
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        init: fn() -> Result<T, E>,
    ) -> TryLazy<T, E> {
        TryLazy {
            cell: once_cell::sync::OnceCell::new(),
            init,
            meta: Meta::new(name, module_path, prewarm),
        }
    }

    /// The value, running the initializer if no attempt has succeeded yet; its `Err` if that
    /// attempt failed.
    ///
    /// ```
    /// static N: coldstart_core::lazy::TryLazy<u8, &str> =
    ///     coldstart_core::lazy::TryLazy::new("n", module_path!(), false, || Err("down"));
    /// assert_eq!(N.get(), Err("down"));
    /// ```
    #[inline]
    pub fn get(&self) -> Result<&T, E> {
        match self.cell.get() {
            Some(value) => Ok(value),
            None => self.force(None),
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// static N: coldstart_core::lazy::TryLazy<u8, ()> =
    ///     coldstart_core::lazy::TryLazy::new("n", module_path!(), false, || Ok(1));
    /// assert_eq!(N.get_if_ready(), None);
    /// ```
    #[inline]
    pub fn get_if_ready(&self) -> Option<&T> {
        self.cell.get()
    }

    /// This static's entry in the [`report`].
    ///
    /// ```
    /// static N: coldstart_core::lazy::TryLazy<u8, ()> =
    ///     coldstart_core::lazy::TryLazy::new("n", module_path!(), false, || Ok(1));
    /// assert_eq!(N.info().failures, 0);
    /// ```
    pub fn info(&self) -> LazyInfo {
        self.meta.info(Form::Fallible)
    }

    #[cold]
    #[inline(never)]
    fn force(&self, forced: Option<During>) -> Result<&T, E> {
        self.cell.get_or_try_init(|| {
            let mut attempt = Attempt::start(&self.meta, forced);
            let result = attempt.run(self.init);
            attempt.finish(result_outcome(&result));
            result
        })
    }
}

impl<T: fmt::Debug, E> fmt::Debug for TryLazy<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryLazy")
            .field("name", &self.meta.name)
            .field("value", &self.cell.get())
            .finish()
    }
}

/// A lazily initialized value built by a future:
/// `#[lazy(async)] static NAME: T = async { … };`.
///
/// [`AsyncLazy::get`] awaits the initializer on first access; concurrent callers wait for the
/// same run. The initializer must be `Send` (so that handlers stay `Send`, as `lambda_http`
/// requires).
///
/// ```
/// use coldstart_core::lazy::AsyncLazy;
///
/// static CONFIG: AsyncLazy<String> = AsyncLazy::new("config", module_path!(), false, || {
///     Box::pin(async { "region=eu-west-1".to_owned() })
/// });
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(CONFIG.get().await, "region=eu-west-1");
/// # });
/// ```
pub struct AsyncLazy<T> {
    cell: tokio::sync::OnceCell<T>,
    init: fn() -> BoxFuture<T>,
    meta: Meta,
}

impl<T> AsyncLazy<T> {
    /// An async lazy value; see [`Lazy::new`]. `init` returns the boxed initializer future.
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncLazy<u8> =
    ///     coldstart_core::lazy::AsyncLazy::new("n", module_path!(), false, || Box::pin(async { 1 }));
    /// assert!(N.get_if_ready().is_none());
    /// ```
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        init: fn() -> BoxFuture<T>,
    ) -> AsyncLazy<T> {
        AsyncLazy {
            cell: tokio::sync::OnceCell::const_new(),
            init,
            meta: Meta::new(name, module_path, prewarm),
        }
    }

    /// The value, awaiting the initializer first if needed.
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncLazy<u8> =
    ///     coldstart_core::lazy::AsyncLazy::new("n", module_path!(), false, || Box::pin(async { 7 }));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(*N.get().await, 7);
    /// # });
    /// ```
    pub async fn get(&self) -> &T {
        match self.cell.get() {
            Some(value) => value,
            None => self.force(None).await,
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncLazy<u8> =
    ///     coldstart_core::lazy::AsyncLazy::new("n", module_path!(), false, || Box::pin(async { 7 }));
    /// assert_eq!(N.get_if_ready(), None);
    /// ```
    #[inline]
    pub fn get_if_ready(&self) -> Option<&T> {
        self.cell.get()
    }

    /// This static's entry in the [`report`].
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncLazy<u8> =
    ///     coldstart_core::lazy::AsyncLazy::new("n", module_path!(), true, || Box::pin(async { 7 }));
    /// assert!(N.info().prewarm);
    /// ```
    pub fn info(&self) -> LazyInfo {
        self.meta.info(Form::Async)
    }

    async fn force(&self, forced: Option<During>) -> &T {
        self.cell
            .get_or_init(|| Timed::start(&self.meta, forced, self.init, always_ok))
            .await
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncLazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncLazy")
            .field("name", &self.meta.name)
            .field("value", &self.cell.get())
            .finish()
    }
}

/// A lazily initialized value built by a fallible future:
/// `#[lazy(async, fallible)] static NAME: Result<T, E> = async { … };`.
///
/// Combines [`AsyncLazy`] and [`TryLazy`]: `get().await` returns `Result<&T, E>`, errors are
/// returned to their caller and never cached.
///
/// ```
/// use coldstart_core::lazy::AsyncTryLazy;
///
/// static POOL: AsyncTryLazy<Vec<u8>, String> =
///     AsyncTryLazy::new("pool", module_path!(), false, || Box::pin(async { Ok(vec![1, 2]) }));
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(POOL.get().await.map(Vec::len), Ok(2));
/// # });
/// ```
pub struct AsyncTryLazy<T, E> {
    cell: tokio::sync::OnceCell<T>,
    init: fn() -> BoxFuture<Result<T, E>>,
    meta: Meta,
}

impl<T, E> AsyncTryLazy<T, E> {
    /// An async, fallible lazy value; see [`Lazy::new`].
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncTryLazy<u8, ()> = coldstart_core::lazy::AsyncTryLazy::new(
    ///     "n", module_path!(), false, || Box::pin(async { Ok(1) }),
    /// );
    /// assert!(N.get_if_ready().is_none());
    /// ```
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        init: fn() -> BoxFuture<Result<T, E>>,
    ) -> AsyncTryLazy<T, E> {
        AsyncTryLazy {
            cell: tokio::sync::OnceCell::const_new(),
            init,
            meta: Meta::new(name, module_path, prewarm),
        }
    }

    /// The value, awaiting the initializer if no attempt has succeeded yet; its `Err` if that
    /// attempt failed.
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncTryLazy<u8, &str> = coldstart_core::lazy::AsyncTryLazy::new(
    ///     "n", module_path!(), false, || Box::pin(async { Err("refused") }),
    /// );
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(N.get().await, Err("refused"));
    /// # });
    /// ```
    pub async fn get(&self) -> Result<&T, E> {
        match self.cell.get() {
            Some(value) => Ok(value),
            None => self.force(None).await,
        }
    }

    /// The value if it is initialized; never runs the initializer.
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncTryLazy<u8, ()> = coldstart_core::lazy::AsyncTryLazy::new(
    ///     "n", module_path!(), false, || Box::pin(async { Ok(1) }),
    /// );
    /// assert_eq!(N.get_if_ready(), None);
    /// ```
    #[inline]
    pub fn get_if_ready(&self) -> Option<&T> {
        self.cell.get()
    }

    /// This static's entry in the [`report`].
    ///
    /// ```
    /// static N: coldstart_core::lazy::AsyncTryLazy<u8, ()> = coldstart_core::lazy::AsyncTryLazy::new(
    ///     "n", module_path!(), false, || Box::pin(async { Ok(1) }),
    /// );
    /// assert_eq!(N.info().form, coldstart_core::lazy::Form::AsyncFallible);
    /// ```
    pub fn info(&self) -> LazyInfo {
        self.meta.info(Form::AsyncFallible)
    }

    async fn force(&self, forced: Option<During>) -> Result<&T, E> {
        self.cell
            .get_or_try_init(|| Timed::start(&self.meta, forced, self.init, result_outcome))
            .await
    }
}

impl<T: fmt::Debug, E> fmt::Debug for AsyncTryLazy<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncTryLazy")
            .field("name", &self.meta.name)
            .field("value", &self.cell.get())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Registration (used by the `#[lazy]` expansion through `__private`).

/// A lazy static as the registry sees it. Implemented by the four forms; not a public API.
#[doc(hidden)]
pub trait Registered: 'static {
    /// Name, module, flags and bookkeeping.
    #[doc(hidden)]
    fn meta(&self) -> &Meta;
    /// The report entry.
    #[doc(hidden)]
    fn info(&self) -> LazyInfo;
    /// Initialized already?
    #[doc(hidden)]
    fn is_ready(&self) -> bool;
    /// Initializes it (attributed to `during`); never panics.
    #[doc(hidden)]
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome>;
}

impl<T: 'static> Registered for Lazy<T> {
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn info(&self) -> LazyInfo {
        Lazy::info(self)
    }
    fn is_ready(&self) -> bool {
        self.cell.get().is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        // Runs right here, so the returned future does not borrow `self` (and needs no bounds).
        outcome_of_sync(|| {
            self.initialize(Some(during));
            Outcome::Ok
        })
    }
}

impl<T: 'static, E: 'static> Registered for TryLazy<T, E> {
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn info(&self) -> LazyInfo {
        TryLazy::info(self)
    }
    fn is_ready(&self) -> bool {
        self.cell.get().is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        outcome_of_sync(|| match self.force(Some(during)) {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error,
        })
    }
}

impl<T: Send + Sync + 'static> Registered for AsyncLazy<T> {
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn info(&self) -> LazyInfo {
        AsyncLazy::info(self)
    }
    fn is_ready(&self) -> bool {
        self.cell.get().is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        let force = Box::pin(self.force(Some(during)));
        Box::pin(async move {
            match CatchUnwind(force).await {
                Ok(_) => Outcome::Ok,
                Err(()) => Outcome::Panic,
            }
        })
    }
}

impl<T: Send + Sync + 'static, E: Send + 'static> Registered for AsyncTryLazy<T, E> {
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn info(&self) -> LazyInfo {
        AsyncTryLazy::info(self)
    }
    fn is_ready(&self) -> bool {
        self.cell.get().is_some()
    }
    fn prewarm(&'static self, during: During) -> BoxFuture<Outcome> {
        let force = Box::pin(self.force(Some(during)));
        Box::pin(async move {
            match CatchUnwind(force).await {
                Ok(Ok(_)) => Outcome::Ok,
                Ok(Err(_)) => Outcome::Error,
                Err(()) => Outcome::Panic,
            }
        })
    }
}

/// One `#[lazy]` static in the link-time registry. Not a public API.
///
/// It holds a function returning the static rather than a reference to it, so that a static
/// whose type is not `Sync` gets exactly one error (rustc's, on the static) and not a second one
/// here.
#[doc(hidden)]
pub struct Registration {
    entry: fn() -> &'static dyn Registered,
}

impl Registration {
    /// Registers the static `entry` returns.
    #[doc(hidden)]
    pub const fn new(entry: fn() -> &'static dyn Registered) -> Registration {
        Registration { entry }
    }
}

inventory::collect!(Registration);

/// Boxes an async initializer's future (the `#[lazy(async)]` expansion calls it). A type that is
/// not a future is reported here, on the user's expression, as one error.
#[doc(hidden)]
pub fn box_future<T, F: InitFuture<T>>(future: F) -> BoxFuture<T> {
    Box::pin(future)
}

/// What a `#[lazy(async)]` initializer must be: a `Send + 'static` future of the static's type.
/// One trait (rather than three bounds) so that a mistake gives one error.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[lazy(async)]` needs a `Send` future of `{T}`; `{Self}` is not one",
    label = "not a `Send` future that resolves to `{T}`",
    note = "write the initializer as `async {{ ... }}`, or drop `async` from `#[lazy(...)]` for a plain value"
)]
pub trait InitFuture<T>: Future<Output = T> + Send + 'static {}

impl<T, F: Future<Output = T> + Send + 'static> InitFuture<T> for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn exclusive_durations_subtract_nested_initializers() {
        static INNER: Lazy<u32> = Lazy::new("inner", module_path!(), false, || {
            std::thread::sleep(Duration::from_millis(30));
            1
        });
        static OUTER: Lazy<u32> = Lazy::new("outer", module_path!(), false, || {
            std::thread::sleep(Duration::from_millis(20));
            *INNER + 1
        });
        assert_eq!(*OUTER, 2);
        let inner = Lazy::info(&INNER);
        let outer = Lazy::info(&OUTER);
        let (inner_self, outer_self) = (inner.duration.unwrap(), outer.duration.unwrap());
        assert!(inner_self >= Duration::from_millis(30));
        assert!(outer_self >= Duration::from_millis(20));
        assert!(outer_self < inner_self, "{outer_self:?} vs {inner_self:?}");
        assert!(outer.inclusive.unwrap() >= inner_self + outer_self);
        assert_eq!(inner.during, Some(During::Init));
    }

    #[test]
    fn a_panic_leaves_the_static_retryable() {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        static FLAKY: Lazy<u32> = Lazy::new("flaky", module_path!(), false, || {
            if RUNS.fetch_add(1, Ordering::Relaxed) == 0 {
                panic!("first run fails");
            }
            5
        });
        let caught = std::panic::catch_unwind(|| *FLAKY);
        assert!(caught.is_err());
        assert_eq!(Lazy::info(&FLAKY).state, State::Failed { failures: 1 });
        assert_eq!(*FLAKY, 5);
        let info = Lazy::info(&FLAKY);
        assert_eq!((info.state, info.failures), (State::Ready, 1));
        // The thread's frame stack was unwound too: nothing left behind.
        assert_eq!(FRAMES.with(|frames| frames.borrow().len()), 0);
    }
}
