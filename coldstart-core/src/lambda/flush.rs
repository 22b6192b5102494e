//! Running the flush hook: when (before or after the response is posted), and within what bound.
//!
//! After the response (the default) the hook runs on a thread of its own, started with the first
//! flush, while the invocation's task waits for it at most [`Coldstart::flush_timeout`]: a hook
//! that hangs delays the runtime's next `/next` by that bound and no more, and a later flush is
//! skipped (and said on stderr) until the stuck one returns. Before the response the hook runs
//! inline, as the client waits.
//!
//! [`Coldstart::flush_timeout`]: super::Coldstart::flush_timeout

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
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
    /// After the response is posted and before the runtime asks for the next event: Lambda
    /// freezes an environment only when it asks (`/next`), so the hook still runs, and the client
    /// does not wait for it. The default.
    #[default]
    AfterResponse,
    /// Before the response is posted, while the client waits: for a hook whose output must be
    /// part of the invocation's own logs before its response, or a runtime that asks for the
    /// next event before the previous response is done (see the README's "When metrics leave the
    /// environment").
    BeforeResponse,
}

/// The user's hook.
pub(super) type FlushHook = dyn Fn(Outcome) + Send + Sync;

/// A hook slower than this gets one warning on stderr (per process).
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

/// One flush handed to the flush thread.
struct Job {
    hook: Arc<FlushHook>,
    outcome: Outcome,
}

#[derive(Default)]
struct State {
    job: Option<Job>,
    /// The thread is running a hook (possibly one that outlived its bound).
    busy: bool,
    /// Flushes handed over, and flushes finished.
    given: u64,
    done: u64,
}

struct Flusher {
    state: Mutex<State>,
    changed: Condvar,
}

impl Flusher {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

static FLUSHER: OnceLock<Option<Arc<Flusher>>> = OnceLock::new();

fn flusher() -> Option<&'static Arc<Flusher>> {
    FLUSHER
        .get_or_init(|| {
            let flusher = Arc::new(Flusher {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
            });
            let worker = flusher.clone();
            crate::spawn_detached("coldstart-flush", Box::new(move || serve(&worker)))
                .then_some(flusher)
        })
        .as_ref()
}

fn serve(flusher: &Flusher) {
    loop {
        let job = {
            let mut state = flusher.lock();
            loop {
                if let Some(job) = state.job.take() {
                    state.busy = true;
                    break job;
                }
                state = flusher
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        run_inline(&*job.hook, job.outcome, FlushAt::AfterResponse);
        let mut state = flusher.lock();
        state.busy = false;
        state.done += 1;
        flusher.changed.notify_all();
    }
}

/// Runs `hook` on the flush thread and waits for it at most `bound`. Returns `false` when the
/// hook did not finish in time or could not run (a previous one is still stuck), after saying
/// so on stderr once per process.
pub(super) fn run_bounded(hook: &Arc<FlushHook>, outcome: Outcome, bound: Duration) -> bool {
    let Some(flusher) = flusher() else {
        // No thread could be started: run it here rather than not at all.
        run_inline(&**hook, outcome, FlushAt::AfterResponse);
        return true;
    };
    let deadline = Instant::now() + bound;
    let mut state = flusher.lock();
    if state.busy || state.job.is_some() {
        drop(state);
        warn_once(&format!(
            "the flush hook is still running past its {} ms bound; the flush after a `{outcome}` invocation is skipped",
            bound.as_millis()
        ));
        return false;
    }
    state.job = Some(Job {
        hook: hook.clone(),
        outcome,
    });
    state.given += 1;
    let mine = state.given;
    flusher.changed.notify_all();
    while state.done < mine {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            drop(state);
            warn_once(&format!(
                "the flush hook did not return within {} ms after a `{outcome}` invocation; the runtime goes on without it",
                bound.as_millis()
            ));
            return false;
        }
        state = flusher
            .changed
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    true
}

fn warn_once(message: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("coldstart: {message} (said once per process)");
    }
}
