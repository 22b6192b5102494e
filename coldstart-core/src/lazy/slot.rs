//! What every form holds, once: the value's cell, the initializer, and the bookkeeping the report
//! reads ([`Meta`]). The four public forms (`Lazy`, `AsyncLazy`, `TryLazy`, `AsyncTryLazy`) are
//! thin wrappers around [`Slot`]; each run of an initializer is one
//! [`Attempt`](super::attempt::Attempt).

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::attempt::{always_ok, result_outcome, Attempt, End, FrameKind, Start, Subject, Timed};
use super::vocabulary::{BoxFuture, During, Form, LazyInfo, State};
use crate::names;

/// The cell of the sync forms: `get_or_try_init` lets a failed attempt be retried.
pub(super) type SyncCell<T> = once_cell::sync::OnceCell<T>;
/// The cell of the async forms: concurrent callers await the same attempt.
pub(super) type AsyncCell<T> = tokio::sync::OnceCell<T>;

/// The value (once initialized) of either kind of cell.
pub(super) trait ValueCell<T> {
    fn value(&self) -> Option<&T>;
}

impl<T> ValueCell<T> for SyncCell<T> {
    #[inline]
    fn value(&self) -> Option<&T> {
        self.get()
    }
}

impl<T> ValueCell<T> for AsyncCell<T> {
    #[inline]
    fn value(&self) -> Option<&T> {
        self.get()
    }
}

/// A lazy static's cell `C`, initializer `I` and bookkeeping.
pub(super) struct Slot<C, I> {
    cell: C,
    init: I,
    pub(super) meta: Meta,
}

impl<C, I> Slot<C, I> {
    /// The value if it is initialized; never runs the initializer.
    #[inline]
    pub(super) fn get<T>(&self) -> Option<&T>
    where
        C: ValueCell<T>,
    {
        self.cell.value()
    }

    /// The entry in the list of statics, for a static declared as `form`.
    pub(super) fn info(&self, form: Form) -> LazyInfo {
        self.meta.info(form)
    }

    /// `Form { name, value }`, the `Debug` of every form.
    pub(super) fn debug<T: fmt::Debug>(&self, form: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        C: ValueCell<T>,
    {
        f.debug_struct(form)
            .field("name", &self.meta.name)
            .field("value", &self.get())
            .finish()
    }
}

impl<T, I> Slot<SyncCell<T>, I> {
    pub(super) const fn new_sync(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        after_first_response: bool,
        init: I,
    ) -> Self {
        Slot {
            cell: SyncCell::new(),
            init,
            meta: Meta::new(name, module_path, prewarm, after_first_response),
        }
    }
}

impl<T> Slot<SyncCell<T>, fn() -> T> {
    /// Runs the initializer unless the value is ready: one timed attempt, `forced` by prewarm.
    #[cold]
    #[inline(never)]
    pub(super) fn initialize(&self, forced: Option<During>) -> &T {
        self.cell.get_or_init(|| {
            let mut attempt = Attempt::start(&self.meta, forced, FrameKind::Lazy);
            let value = attempt.run(self.init);
            attempt.finish(always_ok(&value));
            value
        })
    }
}

impl<T, E> Slot<SyncCell<T>, fn() -> Result<T, E>> {
    /// Runs the initializer unless an attempt succeeded: its `Err` goes to this caller.
    #[cold]
    #[inline(never)]
    pub(super) fn try_initialize(&self, forced: Option<During>) -> Result<&T, E> {
        self.cell.get_or_try_init(|| {
            let mut attempt = Attempt::start(&self.meta, forced, FrameKind::Lazy);
            let result = attempt.run(self.init);
            attempt.finish(result_outcome(&result));
            result
        })
    }
}

impl<T, I> Slot<AsyncCell<T>, I> {
    pub(super) const fn new_async(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        after_first_response: bool,
        init: I,
    ) -> Self {
        Slot {
            cell: AsyncCell::const_new(),
            init,
            meta: Meta::new(name, module_path, prewarm, after_first_response),
        }
    }
}

impl<T> Slot<AsyncCell<T>, fn() -> BoxFuture<T>> {
    /// Awaits the initializer unless the value is ready; concurrent callers await the same run.
    pub(super) async fn initialize(&self, forced: Option<During>) -> &T {
        self.cell
            .get_or_init(|| Timed::start(&self.meta, forced, self.init, always_ok))
            .await
    }
}

impl<T, E> Slot<AsyncCell<T>, fn() -> BoxFuture<Result<T, E>>> {
    /// Awaits the initializer unless an attempt succeeded: its `Err` goes to this caller.
    pub(super) async fn try_initialize(&self, forced: Option<During>) -> Result<&T, E> {
        self.cell
            .get_or_try_init(|| Timed::start(&self.meta, forced, self.init, result_outcome))
            .await
    }
}

/// The last finished attempt.
pub(super) struct Last {
    pub(super) duration: Duration,
    pub(super) inclusive: Duration,
    pub(super) during: During,
    /// Its start, since process start.
    pub(super) started: Duration,
    /// How many attempts (lazy statics, phases) enclosed it on its thread.
    pub(super) depth: u32,
}

/// A static's attempts so far.
pub(super) struct Stats {
    pub(super) running: u32,
    pub(super) ready: bool,
    pub(super) failures: u32,
    pub(super) spent: Duration,
    pub(super) last: Option<Last>,
}

/// The name and bookkeeping every lazy static carries. Only touched off the fast path. Not
/// public API.
#[doc(hidden)]
pub struct Meta {
    pub(super) name: &'static str,
    module_path: &'static str,
    pub(super) prewarm: bool,
    pub(super) after_first_response: bool,
    stats: Mutex<Stats>,
}

impl Meta {
    const fn new(
        name: &'static str,
        module_path: &'static str,
        prewarm: bool,
        after_first_response: bool,
    ) -> Meta {
        Meta {
            name,
            module_path,
            prewarm,
            after_first_response,
            stats: Mutex::new(Stats {
                running: 0,
                ready: false,
                failures: 0,
                spent: Duration::ZERO,
                last: None,
            }),
        }
    }

    pub(super) fn stats(&self) -> MutexGuard<'_, Stats> {
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
            after_first_response: self.after_first_response,
            state,
            failures: stats.failures,
            duration: stats.last.as_ref().map(|last| last.duration),
            inclusive: stats.last.as_ref().map(|last| last.inclusive),
            during: stats.last.as_ref().map(|last| last.during),
            spent: stats.spent,
            started: stats.last.as_ref().map(|last| last.started),
            depth: stats.last.as_ref().map_or(0, |last| last.depth),
        }
    }
}

/// A lazy static's attempt updates its bookkeeping and records `coldstart.lazy_init_duration`.
impl Subject for &Meta {
    fn started(&mut self, _: &Start) {
        self.stats().running += 1;
    }

    fn ended(&mut self, start: &Start, end: &End) {
        {
            let mut stats = self.stats();
            stats.running = stats.running.saturating_sub(1);
            if end.outcome.is_ok() {
                stats.ready = true;
            } else {
                stats.failures += 1;
            }
            stats.spent += end.duration;
            stats.last = Some(Last {
                duration: end.duration,
                inclusive: end.inclusive,
                during: start.during,
                started: start.offset,
                depth: start.depth,
            });
        }
        crate::render_gate::recording(|| {
            let labels = [
                (names::LABEL_LAZY, self.name),
                (names::LABEL_DURING, start.during.as_str()),
                (names::LABEL_OUTCOME, end.outcome.as_str()),
            ];
            let seconds = names::Emit::Record(end.duration.as_secs_f64());
            names::emit(names::LAZY_INIT_DURATION, &labels, seconds);
        });
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
