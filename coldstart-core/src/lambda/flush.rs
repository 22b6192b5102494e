//! Running the flush hook: when (before or after the response), on which thread, within what
//! bound, and how the flushes of overlapping invocations share one run of the hook.
//!
//! **After the response** (the default) an invocation asks for a flush ([`request`]) once its
//! response is posted, then waits for it without blocking its runtime thread ([`Flushed`], a
//! future): it is done when a run of the hook that *started after the request* has returned.
//! The hook runs on a thread of its own, inside the tokio runtime of the latest request made
//! from one (so `tokio::spawn` and `Handle::current` work in it as in a handler). Requests that come while it runs are coalesced: the next
//! run starts as soon as the current one returns and covers every one of them. So under
//! `run_concurrent` no invocation waits for another's flush to *respond*, every invocation's
//! metrics are exported by a run that started after its response, and none is skipped.
//!
//! **The bound.** An invocation waits for its flush at most [`Coldstart::flush_timeout`] from its
//! request, then lets the runtime ask for the next event anyway (said on stderr once). While a
//! run has been going on for longer than that bound, new requests do not wait at all: they are
//! queued for the run after it. A hook that hangs therefore delays no invocation by more than
//! the bound, and the invocations that did not wait are covered once it returns. A panicking hook
//! is not a hanging one: its run ends (the panic is caught and logged) and the next run starts.
//!
//! A second thread wakes the invocations whose bound has passed (the hook's own thread may be
//! stuck in the hook); neither thread needs tokio's time driver. Both start with the first
//! flush, after the first response.
//!
//! **Before the response** ([`FlushAt::BeforeResponse`]) the hook runs inline, as the client
//! waits, once per invocation.
//!
//! [`Coldstart::flush_timeout`]: super::Coldstart::flush_timeout

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::invocation::Outcome;

/// When the flush hook ([`Coldstart::on_flush`](super::Coldstart::on_flush)) runs.
///
/// ```
/// use coldstart::lambda::{Coldstart, FlushAt};
///
/// let coldstart = Coldstart::new().flush_at(FlushAt::BeforeResponse);
/// # let _ = coldstart;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlushAt {
    /// After the response is posted (for a streamed response, after its last byte) and before
    /// the runtime asks for the next event: Lambda freezes an environment only when it asks
    /// (`/next`), so the hook still runs, and the client does not wait for it. The default.
    #[default]
    AfterResponse,
    /// Before the response is posted, while the client waits: for a hook whose output must be
    /// part of the invocation's own logs before its response, or a runtime that asks for the
    /// next event before the previous response is done (see "When metrics leave the
    /// environment" in `coldstart::guide::lifecycle`). A streamed invocation is recorded when its stream ends, after this flush:
    /// the next flush exports it.
    BeforeResponse,
}

/// The user's hook.
pub(super) type FlushHook = dyn Fn(Outcome) + Send + Sync;

/// A hook slower than this before the response gets one warning on stderr (per process).
const SLOW_FLUSH: Duration = Duration::from_millis(5);

/// Runs `hook` right here; a panic in it is caught and logged, never propagated.
pub(super) fn run_inline(hook: &FlushHook, outcome: Outcome, when: FlushAt) {
    let started = Instant::now();
    if catch_unwind(AssertUnwindSafe(|| hook(outcome))).is_err() {
        eprintln!("coldstart: the flush hook panicked after a `{outcome}` invocation; nothing else is affected");
    }
    let took = started.elapsed();
    static WARNED: AtomicBool = AtomicBool::new(false);
    if when == FlushAt::BeforeResponse && took > SLOW_FLUSH && !WARNED.swap(true, Ordering::Relaxed)
    {
        eprintln!(
            "coldstart: the flush hook took {:.1} ms before the response; every client waits for it: keep it well under {} ms, or flush after the response (the default)",
            took.as_secs_f64() * 1e3,
            SLOW_FLUSH.as_millis()
        );
    }
}

/// Which outcome a run that covers several invocations reports: the most telling one.
fn severity(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Panic => 6,
        Outcome::Timeout => 5,
        Outcome::Error => 4,
        Outcome::Rejected => 3,
        Outcome::Cancelled => 2,
        Outcome::Ok => 1,
        _ => 0,
    }
}

/// An invocation waiting for its flush, woken when a run covers it or its bound passes.
struct Waiter {
    key: u64,
    ticket: u64,
    deadline: Instant,
    waker: Waker,
}

#[derive(Default)]
struct State {
    /// The hook of the latest request.
    hook: Option<Arc<FlushHook>>,
    /// The tokio runtime of the latest request made inside one: the hook runs inside it.
    runtime: Option<tokio::runtime::Handle>,
    /// Requests made (each gets the next ticket, from 1).
    requested: u64,
    /// The highest ticket covered by the run in progress or finished.
    started: u64,
    /// The highest ticket covered by a finished run.
    completed: u64,
    /// The most telling outcome among the requests no run has started for yet.
    outcome: Option<Outcome>,
    /// When the run in progress started.
    running_since: Option<Instant>,
    waiters: Vec<Waiter>,
}

struct Flusher {
    state: Mutex<State>,
    /// Wakes the hook's thread: a request came.
    work: Condvar,
    /// Wakes the timer thread (an earlier deadline) and blocking waiters (a run finished).
    changed: Condvar,
    next_key: AtomicU64,
}

impl Flusher {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

static FLUSHER: OnceLock<Option<&'static Flusher>> = OnceLock::new();

/// The flusher, its two threads started on first use; `None` if they could not be.
fn flusher() -> Option<&'static Flusher> {
    *FLUSHER.get_or_init(|| {
        let flusher: &'static Flusher = Box::leak(Box::new(Flusher {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            changed: Condvar::new(),
            next_key: AtomicU64::new(0),
        }));
        let runs = crate::spawn_detached("coldstart-flush", Box::new(move || run_hooks(flusher)));
        let times =
            runs && crate::spawn_detached("coldstart-flush-timer", Box::new(move || time(flusher)));
        // Without the timer a waiter would wait for the hook however long it takes; without the
        // hook's thread nothing would run. Either way, flush inline instead.
        times.then_some(flusher)
    })
}

/// The hook's thread: one run per batch of requests, forever.
fn run_hooks(flusher: &Flusher) {
    let mut state = flusher.lock();
    loop {
        while state.requested == state.started {
            state = flusher
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let covers = state.requested;
        state.started = covers;
        let outcome = state.outcome.take().unwrap_or(Outcome::Ok);
        let hook = state.hook.clone();
        let runtime = state.runtime.clone();
        state.running_since = Some(Instant::now());
        drop(state);
        if let Some(hook) = hook {
            let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
            run_inline(&*hook, outcome, FlushAt::AfterResponse);
        }
        state = flusher.lock();
        state.running_since = None;
        state.completed = covers;
        state.waiters.retain(|waiter| {
            let covered = waiter.ticket <= covers;
            if covered {
                waiter.waker.wake_by_ref();
            }
            !covered
        });
        flusher.changed.notify_all();
    }
}

/// The timer thread: wakes each waiter whose bound has passed.
fn time(flusher: &Flusher) {
    let mut state = flusher.lock();
    loop {
        let now = Instant::now();
        state.waiters.retain(|waiter| {
            let due = waiter.deadline <= now;
            if due {
                waiter.waker.wake_by_ref();
            }
            !due
        });
        let next = state.waiters.iter().map(|waiter| waiter.deadline).min();
        state = match next {
            Some(at) => {
                flusher
                    .changed
                    .wait_timeout(state, at.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => flusher
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// A flush asked for: wait for it with [`Ticket::wait`] or [`Ticket::wait_blocking`].
#[derive(Debug)]
pub(super) struct Ticket {
    number: u64,
    outcome: Outcome,
    requested_at: Instant,
}

/// Asks for a run of `hook` that starts after now, on the flush thread. `None` when no flush
/// thread could be started: then the hook has run inline, here.
pub(super) fn request(hook: &Arc<FlushHook>, outcome: Outcome) -> Option<Ticket> {
    let Some(flusher) = flusher() else {
        run_inline(&**hook, outcome, FlushAt::AfterResponse);
        return None;
    };
    let mut state = flusher.lock();
    if !state
        .hook
        .as_ref()
        .is_some_and(|current| Arc::ptr_eq(current, hook))
    {
        state.hook = Some(hook.clone());
    }
    // The timeout watchdog's requests come from a thread outside it: keep the last one known.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        state.runtime = Some(runtime);
    }
    state.requested += 1;
    let number = state.requested;
    state.outcome = Some(match state.outcome {
        Some(queued) if severity(queued) >= severity(outcome) => queued,
        _ => outcome,
    });
    drop(state);
    flusher.work.notify_one();
    Some(Ticket {
        number,
        outcome,
        requested_at: Instant::now(),
    })
}

/// What waiting for a flush found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waited {
    /// A run that started after the request returned.
    Flushed,
    /// The bound passed first; the next run covers the request.
    TimedOut,
    /// A run had been going on for longer than the bound when the request came: not waited for;
    /// the run after it covers the request.
    HookStuck,
}

impl Ticket {
    /// Waits, without blocking the thread, until a run covers this request or `bound` has
    /// passed since it was made.
    pub(super) fn wait(self, bound: Duration) -> Flushed {
        Flushed {
            ticket: self,
            bound,
            key: None,
        }
    }

    /// [`wait`](Self::wait) for a thread that may block (the timeout watchdog's).
    pub(super) fn wait_blocking(self, bound: Duration) -> Waited {
        let Some(flusher) = FLUSHER.get().copied().flatten() else {
            return Waited::Flushed;
        };
        let mut state = flusher.lock();
        loop {
            match self.check(&state, bound) {
                Some(waited) => return self.said(waited, bound),
                None => {
                    let left =
                        (self.requested_at + bound).saturating_duration_since(Instant::now());
                    state = flusher
                        .changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// The verdict, if there is one yet.
    fn check(&self, state: &State, bound: Duration) -> Option<Waited> {
        if state.completed >= self.number {
            return Some(Waited::Flushed);
        }
        if state.started < self.number
            && state
                .running_since
                .is_some_and(|since| since.elapsed() >= bound)
        {
            return Some(Waited::HookStuck);
        }
        (self.requested_at.elapsed() >= bound).then_some(Waited::TimedOut)
    }

    /// Says on stderr (once per process) what a wait that was cut short means.
    fn said(&self, waited: Waited, bound: Duration) -> Waited {
        let bound = bound.as_millis();
        let outcome = self.outcome;
        match waited {
            Waited::Flushed => {}
            Waited::TimedOut => warn_once(&format!(
                "the flush hook did not return within {bound} ms after a `{outcome}` invocation; the runtime goes on without waiting, and the hook's next run exports that invocation"
            )),
            Waited::HookStuck => warn_once(&format!(
                "the flush hook has been running for more than {bound} ms; invocations go on without waiting for it, and its next run, once it returns, exports them"
            )),
        }
        waited
    }
}

/// The future of [`Ticket::wait`].
#[derive(Debug)]
pub(super) struct Flushed {
    ticket: Ticket,
    bound: Duration,
    /// The key of this wait's [`Waiter`], once registered.
    key: Option<u64>,
}

impl Future for Flushed {
    type Output = Waited;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited> {
        let Some(flusher) = FLUSHER.get().copied().flatten() else {
            return Poll::Ready(Waited::Flushed);
        };
        let this = &mut *self;
        let mut state = flusher.lock();
        if let Some(waited) = this.ticket.check(&state, this.bound) {
            if let Some(key) = this.key.take() {
                state.waiters.retain(|waiter| waiter.key != key);
            }
            drop(state);
            return Poll::Ready(this.ticket.said(waited, this.bound));
        }
        let deadline = this.ticket.requested_at + this.bound;
        match this.key {
            Some(key) => {
                if let Some(waiter) = state.waiters.iter_mut().find(|waiter| waiter.key == key) {
                    waiter.waker.clone_from(cx.waker());
                } else {
                    // The timer woke it early (a spurious wake-up): register again.
                    state.waiters.push(Waiter {
                        key,
                        ticket: this.ticket.number,
                        deadline,
                        waker: cx.waker().clone(),
                    });
                    flusher.changed.notify_all();
                }
            }
            None => {
                let key = flusher.next_key.fetch_add(1, Ordering::Relaxed);
                this.key = Some(key);
                let earliest = state
                    .waiters
                    .iter()
                    .all(|waiter| waiter.deadline > deadline);
                state.waiters.push(Waiter {
                    key,
                    ticket: this.ticket.number,
                    deadline,
                    waker: cx.waker().clone(),
                });
                if earliest {
                    // The timer sleeps until the earliest deadline it knew.
                    flusher.changed.notify_all();
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Flushed {
    fn drop(&mut self) {
        if let (Some(key), Some(flusher)) = (self.key, FLUSHER.get().copied().flatten()) {
            flusher.lock().waiters.retain(|waiter| waiter.key != key);
        }
    }
}

fn warn_once(message: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("coldstart: {message} (said once per process)");
    }
}

#[cfg(test)]
mod tests {
    use super::severity;
    use crate::invocation::Outcome;

    #[test]
    fn a_run_covering_several_invocations_reports_the_most_telling_outcome() {
        let mut ranked = [
            Outcome::Warmup,
            Outcome::Ok,
            Outcome::Cancelled,
            Outcome::Rejected,
            Outcome::Error,
            Outcome::Timeout,
            Outcome::Panic,
        ];
        let before = ranked;
        ranked.sort_by_key(|outcome| severity(*outcome));
        assert_eq!(ranked, before);
    }
}
