//! Timing one attempt to initialize a static, with nested attempts subtracted, and recording it.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::slot::{Last, Meta};
use super::vocabulary::{BoxFuture, During};
use crate::invocation::Outcome;
use crate::names;

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
pub(super) struct Attempt<'a> {
    meta: &'a Meta,
    started: Instant,
    during: During,
    nested: Duration,
    done: bool,
}

impl<'a> Attempt<'a> {
    pub(super) fn start(meta: &'a Meta, forced: Option<During>) -> Attempt<'a> {
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
    pub(super) fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
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

    pub(super) fn finish(&mut self, outcome: Outcome) {
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
pub(super) struct Timed<'a, T> {
    attempt: Attempt<'a>,
    future: BoxFuture<T>,
    outcome: fn(&T) -> Outcome,
}

impl<'a, T> Timed<'a, T> {
    pub(super) fn start(
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

pub(super) fn always_ok<T>(_: &T) -> Outcome {
    Outcome::Ok
}

pub(super) fn result_outcome<T, E>(result: &Result<T, E>) -> Outcome {
    if result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Error
    }
}

/// Polls a future, turning a panic into `Err(())` (for [`prewarm`]).
pub(super) struct CatchUnwind<F>(pub(super) F);

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

pub(super) fn outcome_of_sync(run: impl FnOnce() -> Outcome) -> BoxFuture<Outcome> {
    let outcome = catch_unwind(AssertUnwindSafe(run)).unwrap_or(Outcome::Panic);
    Box::pin(std::future::ready(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lazy::{Lazy, State};
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
