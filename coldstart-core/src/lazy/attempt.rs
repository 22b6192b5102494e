//! Timing one attempt at some work, with nested attempts subtracted, and handing the result to
//! what was timed: a lazy static's initializer (its [`Meta`]) or a named phase of user code
//! ([`crate::named_phases`]). Both share one thread-local stack of frames, so a phase
//! excludes the lazy statics and phases nested in it, and a lazy static the phases nested in it.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::slot::Meta;
use super::vocabulary::{BoxFuture, During};
use crate::invocation::Outcome;
use crate::phases;

/// One attempt running on this thread: time spent in attempts nested inside it, and the `during`
/// the nested ones inherit (`None`: they decide for themselves, from the invocation count).
struct Frame {
    nested: Duration,
    during: Option<During>,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

fn current_frame_during() -> Option<During> {
    FRAMES
        .try_with(|frames| frames.borrow().last().and_then(|frame| frame.during))
        .ok()
        .flatten()
}

fn frame_depth() -> usize {
    FRAMES.try_with(|frames| frames.borrow().len()).unwrap_or(0)
}

/// Pops this thread's frames down to `index` (included), adding the time nested in them to
/// `nested`. Frames above `index` belong to attempts that never ended (a leaked phase guard):
/// what was nested in them is nested in this one too.
fn leave(index: usize, nested: &mut Duration) {
    let _ = FRAMES.try_with(|frames| {
        let mut frames = frames.borrow_mut();
        while frames.len() > index {
            if let Some(frame) = frames.pop() {
                *nested += frame.nested;
            }
        }
    });
}

/// What kind of work an attempt times, which decides what the work nested in it inherits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// A lazy static's initializer: everything nested inherits its `during` (so a static built
    /// by `prewarm` builds its dependencies as `prewarm` too).
    Lazy,
    /// A named phase: it passes on only a `during` it inherited itself, so a phase guard leaked
    /// during INIT does not make later work on its thread look like INIT.
    Phase,
}

/// How an attempt started: when, where it is attributed, and how many attempts enclosed it on its
/// thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Start {
    /// Since process start.
    pub(crate) offset: Duration,
    pub(crate) during: During,
    pub(crate) depth: u32,
}

/// How an attempt ended: its exclusive and inclusive durations and its outcome.
#[derive(Clone, Copy, Debug)]
pub(crate) struct End {
    pub(crate) duration: Duration,
    pub(crate) inclusive: Duration,
    pub(crate) outcome: Outcome,
}

/// What an attempt times, told when the attempt starts and (exactly once) when it ends.
pub(crate) trait Subject {
    fn started(&mut self, start: &Start);
    fn ended(&mut self, start: &Start, end: &End);
}

/// One timed run. Records itself exactly once: on [`Attempt::finish`], or when dropped
/// unfinished (a panic unwinding through it, or an async attempt dropped). One that is leaked
/// (`mem::forget`) never records.
pub(crate) struct Attempt<S: Subject> {
    subject: S,
    started: Instant,
    start: Start,
    /// What nested attempts inherit.
    passes_on: Option<During>,
    nested: Duration,
    done: bool,
}

impl<S: Subject> Attempt<S> {
    /// Starts timing `subject`: `forced` says where it runs (prewarm, a ping); otherwise the
    /// enclosing attempt on this thread decides, or else [`During::now`].
    pub(crate) fn start(mut subject: S, forced: Option<During>, kind: FrameKind) -> Attempt<S> {
        let inherited = forced.or_else(current_frame_during);
        let during = inherited.unwrap_or_else(During::now);
        let passes_on = match kind {
            FrameKind::Lazy => Some(during),
            FrameKind::Phase => inherited,
        };
        let started = Instant::now();
        let start = Start {
            offset: phases::since_process_start(started),
            during,
            depth: u32::try_from(frame_depth()).unwrap_or(u32::MAX),
        };
        subject.started(&start);
        Attempt {
            subject,
            started,
            start,
            passes_on,
            nested: Duration::ZERO,
            done: false,
        }
    }

    /// Where this attempt is attributed.
    pub(crate) fn during(&self) -> During {
        self.start.during
    }

    /// Makes this attempt the innermost frame of the thread until [`Attempt::exit`] with the
    /// returned index.
    pub(crate) fn enter(&self) -> usize {
        FRAMES
            .try_with(|frames| {
                let mut frames = frames.borrow_mut();
                frames.push(Frame {
                    nested: Duration::ZERO,
                    during: self.passes_on,
                });
                frames.len() - 1
            })
            .unwrap_or(usize::MAX)
    }

    /// Leaves the frame [`Attempt::enter`] returned `index` for.
    pub(crate) fn exit(&mut self, index: usize) {
        leave(index, &mut self.nested);
    }

    /// Runs `f` with this attempt as the innermost frame of the thread.
    pub(crate) fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        struct Exit<'n> {
            index: usize,
            nested: &'n mut Duration,
        }
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                leave(self.index, self.nested);
            }
        }
        let index = self.enter();
        let _exit = Exit {
            index,
            nested: &mut self.nested,
        };
        f()
    }

    /// Ends the attempt (its frame must have been left) and records it.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let inclusive = self.started.elapsed();
        let duration = inclusive.saturating_sub(self.nested);
        // Whoever runs on this thread around us (an outer attempt) did not spend this time.
        let _ = FRAMES.try_with(|frames| {
            if let Some(outer) = frames.borrow_mut().last_mut() {
                outer.nested += inclusive;
            }
        });
        let end = End {
            duration,
            inclusive,
            outcome,
        };
        self.subject.ended(&self.start, &end);
    }
}

impl<S: Subject> Drop for Attempt<S> {
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
    attempt: Attempt<&'a Meta>,
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
        let mut attempt = Attempt::start(meta, forced, FrameKind::Lazy);
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
        static INNER: Lazy<u32> = Lazy::new("inner", module_path!(), false, false, || {
            std::thread::sleep(Duration::from_millis(30));
            1
        });
        static OUTER: Lazy<u32> = Lazy::new("outer", module_path!(), false, false, || {
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
        static FLAKY: Lazy<u32> = Lazy::new("flaky", module_path!(), false, false, || {
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
