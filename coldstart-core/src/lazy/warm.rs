//! Building the lazy statics the first request did not need, after its response and within a
//! limit: [`warm_after_first_response`], driven by `coldstart::lambda` between the first response
//! and the runtime's next `/next`.
//!
//! The sync statics are built one after the other on a thread of their own (inside the caller's
//! tokio runtime, as on a request: an initializer may spawn a task), the async ones
//! concurrently on the calling task, both attributed to [`During::AfterFirstResponse`]. The
//! returned future completes when every one is built, or when the limit passes: then the async
//! initializers still running are dropped (recorded as `cancelled`; their statics stay lazy), no
//! further sync one starts (they stay lazy, built on their next access), and a sync initializer
//! already running finishes on its thread (it cannot be stopped; a request that needs it waits
//! for that run rather than starting its own).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::prewarm::{poll_pending, registered};
use super::registry::Registered;
use super::vocabulary::{BoxFuture, During, Form};
use crate::invocation::Outcome;

/// Which statics to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Select {
    /// The ones marked `#[lazy(after_first_response)]`.
    Marked,
    /// Every lazy static not ready yet.
    All,
}

/// What a warm-up did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Warmed {
    /// Built by the warm-up.
    pub(crate) initialized: Vec<&'static str>,
    /// Failed (an `Err` or a panic): left lazy, retried on the next access.
    pub(crate) failed: Vec<(&'static str, Outcome)>,
    /// Not built when the limit passed: left lazy (async ones dropped, sync ones never started).
    pub(crate) left_lazy: Vec<&'static str>,
    /// A sync static still being built on the warm-up's thread when the limit passed.
    pub(crate) still_building: Option<&'static str>,
    /// Whether the limit passed before the warm-up was done.
    pub(crate) stopped: bool,
    pub(crate) elapsed: Duration,
}

/// What the warm-up's threads and the future share.
#[derive(Default)]
struct Progress {
    waker: Option<Waker>,
    /// The limit passed (set by the timer thread).
    expired: bool,
    /// The future completed: the sync thread starts nothing more, the timer thread exits.
    finished: bool,
    /// The sync thread is done (or there was none).
    sync_done: bool,
    sync_running: Option<&'static str>,
    sync_outcomes: Vec<(&'static str, Outcome)>,
}

#[derive(Default)]
struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(progress: &mut Progress) {
        if let Some(waker) = progress.waker.take() {
            waker.wake();
        }
    }
}

/// The warm-up in progress: a future that completes when it is done or its limit passes.
pub(crate) struct Warming {
    shared: Arc<Shared>,
    futures: Vec<(&'static str, BoxFuture<Outcome>)>,
    outcomes: Vec<Option<Outcome>>,
    sync_names: Vec<&'static str>,
    started: Instant,
}

/// Starts building the statics `select` picks that are not ready yet, attributed to
/// [`During::AfterFirstResponse`], for at most `limit`.
pub(crate) fn warm_after_first_response(select: Select, limit: Duration) -> Warming {
    let started = Instant::now();
    let during = During::AfterFirstResponse;
    let shared = Arc::new(Shared::default());
    let mut futures: Vec<(&'static str, BoxFuture<Outcome>)> = Vec::new();
    // `fn` pointers cross to the sync thread (a `&dyn Registered` is not `Send`).
    let mut sync: Vec<fn() -> &'static dyn Registered> = Vec::new();
    let mut sync_names: Vec<&'static str> = Vec::new();
    for get in registered() {
        let entry = get();
        let meta = entry.meta();
        let picked = match select {
            Select::Marked => meta.after_first_response,
            Select::All => true,
        };
        if !picked || entry.is_ready() {
            continue;
        }
        match entry.info().form {
            Form::Async | Form::AsyncFallible => futures.push((meta.name, entry.prewarm(during))),
            _ => {
                sync.push(get);
                sync_names.push(meta.name);
            }
        }
    }
    let outcomes = vec![None; futures.len()];
    let nothing_to_do = sync.is_empty() && futures.is_empty();
    let sync_thread = !sync.is_empty() && {
        let shared = shared.clone();
        crate::spawn_in_runtime(
            "coldstart-warm",
            Box::new(move || build_sync(&shared, sync, during)),
        )
    };
    if !sync_thread {
        shared.lock().sync_done = true;
    }
    if !nothing_to_do {
        let timer = shared.clone();
        let deadline = started + limit;
        let timed = crate::spawn_detached(
            "coldstart-warm-timer",
            Box::new(move || expire_at(&timer, deadline)),
        );
        if !timed {
            // Without a timer the limit could not be kept: warm nothing.
            let mut progress = shared.lock();
            progress.expired = true;
        }
    }
    Warming {
        shared,
        futures,
        outcomes,
        sync_names,
        started,
    }
}

/// The sync statics, one after the other, until done or told to stop.
fn build_sync(shared: &Shared, entries: Vec<fn() -> &'static dyn Registered>, during: During) {
    for get in entries {
        let entry = get();
        let name = entry.meta().name;
        {
            let mut progress = shared.lock();
            if progress.expired || progress.finished {
                break;
            }
            progress.sync_running = Some(name);
        }
        // A sync static's force runs right in `prewarm` and returns a ready future.
        let mut forced = entry.prewarm(during);
        let outcome = match forced
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => Outcome::Cancelled,
        };
        let mut progress = shared.lock();
        progress.sync_running = None;
        progress.sync_outcomes.push((name, outcome));
        Shared::wake(&mut progress);
    }
    let mut progress = shared.lock();
    progress.sync_done = true;
    Shared::wake(&mut progress);
}

/// The timer: marks the warm-up expired at `deadline` unless it finished before.
fn expire_at(shared: &Shared, deadline: Instant) {
    let mut progress = shared.lock();
    loop {
        if progress.finished {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        progress = shared
            .changed
            .wait_timeout(progress, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    progress.expired = true;
    Shared::wake(&mut progress);
}

impl Future for Warming {
    type Output = Warmed;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Warmed> {
        let this = self.get_mut();
        if !this.shared.lock().expired {
            poll_pending(&mut this.futures, &mut this.outcomes, cx);
        }
        let mut progress = this.shared.lock();
        let async_done = this.outcomes.iter().all(Option::is_some);
        let done = async_done && progress.sync_done;
        if !done && !progress.expired {
            progress.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        progress.finished = true;
        this.shared.changed.notify_all();
        let mut warmed = Warmed {
            stopped: !done,
            still_building: progress.sync_running,
            ..Warmed::default()
        };
        // The async statics, then the sync ones: two plain loops rather than a chained
        // iterator, the same order in less code.
        for ((name, _), outcome) in this.futures.iter().zip(&this.outcomes) {
            warmed.add(name, *outcome);
        }
        for (name, outcome) in &progress.sync_outcomes {
            warmed.add(name, Some(*outcome));
        }
        for name in &this.sync_names {
            let built = progress.sync_outcomes.iter().any(|(done, _)| done == name);
            if !built && progress.sync_running != Some(*name) {
                warmed.left_lazy.push(name);
            }
        }
        drop(progress);
        // Dropping the unfinished initializers records them as `cancelled`; their statics stay
        // lazy.
        this.futures.clear();
        warmed.elapsed = this.started.elapsed();
        Poll::Ready(warmed)
    }
}

impl Warmed {
    /// Files the static `name` under its outcome (`None`: not built).
    #[inline(never)]
    fn add(&mut self, name: &'static str, outcome: Option<Outcome>) {
        match outcome {
            Some(Outcome::Ok) => self.initialized.push(name),
            Some(failed) => self.failed.push((name, failed)),
            None => self.left_lazy.push(name),
        }
    }
}

impl std::fmt::Debug for Warming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warming").finish_non_exhaustive()
    }
}
