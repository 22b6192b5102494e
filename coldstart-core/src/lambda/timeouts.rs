//! Timeouts: an invocation still running [`Coldstart::timeout_margin`] before its deadline is
//! recorded as timed out (`faas.timeouts`, `faas.errors{outcome="timeout"}`) and the flush hook
//! runs with [`Outcome::Timeout`] — from a watchdog thread, since the handler may be blocking its
//! own — so the data leaves before Lambda stops the environment at the deadline. If the handler
//! finishes after all, its invocation records nothing more and no second flush runs: it is
//! counted once, as a timeout.
//!
//! The watchdog sleeps until the earliest time an invocation could need it, so registering an
//! invocation is a lock and a push, with no wake-up of the watchdog in the steady state: when
//! idle it sleeps for the shortest deadline span seen (minus the margin), and every later
//! invocation's deadline is at least that far away.
//!
//! **The first invocation is watched too, without a thread on its path.** Starting a thread
//! before the first `/next` added ~110 µs to exec → first response on a 2-core VM (5 % of a
//! local cold start, in the repository's cold-start benchmark), paid by every cold request; under Lambda's CPU share at
//! 128 MB any CPU time costs ~14× that in wall time. So the thread starts:
//! - during INIT when INIT is not user-facing (provisioned concurrency, SnapStart, managed
//!   instances: no request waits for it);
//! - otherwise when the first invocation first waits (its future returns `Pending`: the thread
//!   starts while the handler waits, typically for I/O), or after the first response, whichever
//!   comes first. A cold invocation that never waits pays one atomic load per poll.
//!
//! Measured with `cargo coldstart compare` (1000 alternating runs): nothing for a handler that never
//! waits; +0.05 ms for one that waits and resumes at once (the thread's start is then on the way
//! to the response); starting it at init end instead cost every cold start +0.06 ms. An
//! on-demand first invocation that blocks its thread from its start to its deadline without ever
//! waiting is the one case not watched.
//!
//! [`Coldstart::timeout_margin`]: super::Coldstart::timeout_margin

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::shared::Shared;
use crate::invocation::{self, Outcome, StartKind};
use crate::names::{self, emit, Emit};

/// Default of [`Coldstart::timeout_margin`](super::Coldstart::timeout_margin): 300 ms, enough for
/// a flush bounded by the default [`flush_timeout`](super::Coldstart::flush_timeout).
pub const DEFAULT_TIMEOUT_MARGIN: Duration = Duration::from_millis(300);

/// Lambda's longest function timeout, 15 minutes: a deadline further away is not a real one.
pub(super) const MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// How long an idle watchdog sleeps before any deadline span has been seen.
const IDLE_SLEEP: Duration = Duration::from_secs(3600);

use crate::invocation::timeouts::Begun;

struct Entry {
    id: u64,
    /// When the handler was called.
    watched_at: Instant,
    fire_at: Instant,
    begun: Option<Begun>,
    fired: bool,
}

struct State {
    entries: Vec<Entry>,
    /// When the watchdog wakes next on its own.
    target: Instant,
    /// The shortest deadline span (deadline minus registration) seen, minus the margin.
    idle_span: Option<Duration>,
}

struct Watchdog {
    state: Mutex<State>,
    changed: Condvar,
    shared: Arc<Shared>,
    margin: Duration,
    next_id: AtomicU64,
}

static WATCHDOG: OnceLock<Arc<Watchdog>> = OnceLock::new();
/// The watchdog's thread has been started (or could not be).
static RUNNING: AtomicBool = AtomicBool::new(false);

impl Watchdog {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets the watchdog up (once per process; `Coldstart::end_init` calls it) unless the margin is
/// zero. Its thread starts now when INIT is not user-facing (`user_facing_init` false), else
/// when the first invocation first waits ([`Watched::waits`]) or with
/// [`run_after_first_response`].
pub(super) fn set_up(shared: Arc<Shared>, margin: Duration, user_facing_init: bool) {
    if margin.is_zero() {
        return;
    }
    let watchdog = Arc::new(Watchdog {
        state: Mutex::new(State {
            entries: Vec::with_capacity(4),
            target: Instant::now() + IDLE_SLEEP,
            idle_span: None,
        }),
        changed: Condvar::new(),
        shared,
        margin,
        next_id: AtomicU64::new(0),
    });
    if WATCHDOG.set(watchdog).is_ok() {
        invocation::timeouts::on_begin(began);
        if !user_facing_init {
            start_thread();
        }
    }
}

/// After every response (the layer's `AfterResponse`): starts the watchdog's thread the first
/// time, one atomic load after that.
#[inline]
pub(super) fn run_after_first_response() {
    if !RUNNING.load(Ordering::Relaxed) {
        start_thread();
    }
}

#[cold]
#[inline(never)]
fn start_thread() {
    if RUNNING.swap(true, Ordering::Relaxed) {
        return;
    }
    let Some(watchdog) = WATCHDOG.get() else {
        return;
    };
    let served = watchdog.clone();
    if !crate::spawn_detached("coldstart-timeout", Box::new(move || serve(&served))) {
        eprintln!(
            "coldstart: no thread could be started to watch for timeouts; they are not recorded"
        );
    }
}

fn watchdog() -> Option<&'static Watchdog> {
    WATCHDOG.get().map(|watchdog| &**watchdog)
}

fn serve(watchdog: &Watchdog) {
    let mut state = watchdog.lock();
    loop {
        let now = Instant::now();
        let mut due: Vec<(Option<Begun>, Instant)> = Vec::new();
        for entry in &mut state.entries {
            if !entry.fired && entry.fire_at <= now {
                entry.fired = true;
                due.push((entry.begun, entry.watched_at));
            }
        }
        if !due.is_empty() {
            drop(state);
            for (begun, watched_at) in due {
                timed_out(watchdog, begun, watched_at);
            }
            state = watchdog.lock();
            continue;
        }
        let next = state
            .entries
            .iter()
            .filter(|entry| !entry.fired)
            .map(|entry| entry.fire_at)
            .min();
        state.target = next.unwrap_or_else(|| now + state.idle_span.unwrap_or(IDLE_SLEEP));
        let sleep = state.target.saturating_duration_since(now);
        state = watchdog
            .changed
            .wait_timeout(state, sleep)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Records a timeout and flushes. Runs on the watchdog thread.
///
/// A timed-out invocation of an instrumented handler is also in `faas.invoke_duration` (with its
/// handler and start kind), with its duration up to now, the timeout mark: the slowest
/// invocations are part of every latency percentile, and a later end of the handler records
/// nothing more.
fn timed_out(watchdog: &Watchdog, begun: Option<Begun>, watched_at: Instant) {
    if let Some((number, _, _)) = begun {
        invocation::timeouts::mark_timed_out(number);
    }
    // Lambda is about to stop this process: the next one in this environment is a re-init.
    crate::reinit::mark_timed_out();
    // The first invocation's own record-keeping may still be waiting for its response.
    crate::after_response::before_flush();
    let start = begun
        .map_or(StartKind::Warm, |(_, _, start)| start)
        .as_str();
    let timeout = Outcome::Timeout.as_str();
    match begun {
        Some((_, handler, kind)) => {
            if kind == StartKind::Cold {
                // A cold start that timed out is still a cold start (its handler's own record,
                // which would count it, is skipped).
                emit(
                    names::COLDSTARTS,
                    &[(names::LABEL_HANDLER, handler)],
                    Emit::Count(1),
                );
            }
            let labels = [(names::LABEL_HANDLER, handler), (names::LABEL_START, start)];
            emit(names::TIMEOUTS, &labels, Emit::Count(1));
            crate::render_gate::recording(|| {
                let seconds = watched_at.elapsed().as_secs_f64();
                emit(names::INVOKE_DURATION, &labels, Emit::Record(seconds));
            });
            let labels = [
                (names::LABEL_HANDLER, handler),
                (names::LABEL_START, start),
                (names::LABEL_OUTCOME, timeout),
            ];
            emit(names::ERRORS, &labels, Emit::Count(1));
        }
        None => {
            emit(
                names::TIMEOUTS,
                &[(names::LABEL_START, start)],
                Emit::Count(1),
            );
            let labels = [(names::LABEL_START, start), (names::LABEL_OUTCOME, timeout)];
            emit(names::ERRORS, &labels, Emit::Count(1));
        }
    }
    watchdog.shared.flush_from_watchdog(Outcome::Timeout);
}

/// One invocation under watch, from the handler's call to its end (or its drop).
#[derive(Debug)]
pub(super) struct Watched {
    id: Option<u64>,
}

/// Names the invocation watch `id`'s handler began (called from `Handler::begin`).
fn began(id: u64, begun: Begun) {
    let Some(watchdog) = watchdog() else { return };
    let mut state = watchdog.lock();
    if let Some(entry) = state.entries.iter_mut().find(|entry| entry.id == id) {
        entry.begun = Some(begun);
    }
}

/// Watches an invocation whose deadline is `deadline_ms` (milliseconds since the Unix epoch, as
/// `lambda_runtime::Context::deadline`); `None` when there is no watchdog.
///
/// A deadline further away than Lambda's longest timeout ([`MAX_TIMEOUT`]) is no deadline (AWS's
/// emulator in managed-instances mode sends one 300,000,000,000 ms ahead): the invocation is not
/// watched, and stderr says so once.
pub(super) fn watch(deadline_ms: u64) -> Option<Watched> {
    let watchdog = watchdog()?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let span = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    if span > MAX_TIMEOUT {
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            eprintln!(
                "coldstart: an invocation's deadline is {} s away, beyond Lambda's 900 s maximum: taken as no deadline, so invocations with such a deadline are not watched for timeouts (said once per process)",
                span.as_secs()
            );
        }
        return None;
    }
    let now = Instant::now();
    let fire_at = now + span.saturating_sub(watchdog.margin);
    let id = watchdog.next_id.fetch_add(1, Ordering::Relaxed);
    let mut state = watchdog.lock();
    state.entries.push(Entry {
        id,
        watched_at: now,
        fire_at,
        begun: None,
        fired: false,
    });
    let idle = span.saturating_sub(watchdog.margin);
    state.idle_span = Some(state.idle_span.map_or(idle, |seen| seen.min(idle)));
    // Before the watchdog's thread runs (an on-demand environment's first invocation) there is
    // nobody to wake, and a notification is a system call on the cold request's path. A thread
    // started after this check takes the lock after it, and so sees this entry.
    if fire_at < state.target && RUNNING.load(Ordering::Relaxed) {
        watchdog.changed.notify_one();
    }
    Some(Watched { id: Some(id) })
}

impl Watched {
    /// While the returned guard lives, a handler that begins an invocation on this thread is
    /// this watch's: the watchdog learns its number, handler and start kind at once.
    pub(super) fn polling(&self) -> Option<invocation::timeouts::Polling> {
        self.id.map(invocation::timeouts::polling)
    }

    /// The handler returned `Pending`: starts the watchdog's thread if it is not running yet (an
    /// on-demand environment's first invocation), while the handler waits. One atomic load once
    /// it runs.
    #[inline]
    pub(super) fn waits(&self) {
        if !RUNNING.load(Ordering::Relaxed) {
            start_thread();
        }
    }

    /// Whether the watchdog has already recorded this invocation as timed out.
    pub(super) fn fired(&self) -> bool {
        let (Some(id), Some(watchdog)) = (self.id, watchdog()) else {
            return false;
        };
        let state = watchdog.lock();
        state
            .entries
            .iter()
            .any(|entry| entry.id == id && entry.fired)
    }

    /// The invocation ended; `true` if it had already been recorded as timed out.
    pub(super) fn finish(mut self) -> bool {
        self.remove()
    }

    fn remove(&mut self) -> bool {
        let (Some(id), Some(watchdog)) = (self.id.take(), watchdog()) else {
            return false;
        };
        let mut state = watchdog.lock();
        let Some(at) = state.entries.iter().position(|entry| entry.id == id) else {
            return false;
        };
        let entry = state.entries.swap_remove(at);
        drop(state);
        if entry.fired {
            // Clear the mark even if the invocation recorded itself in the instant before it.
            if let Some((number, _, _)) = entry.begun {
                invocation::timeouts::take_timed_out(number);
            }
        }
        if entry.fired {
            // It finished after all: this process goes on serving.
            crate::reinit::mark_running();
        }
        entry.fired
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.remove();
    }
}
