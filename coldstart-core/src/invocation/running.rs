//! Which invocation's handler code this thread is running right now: what a lazy static or a
//! named phase that starts inside a handler is attributed to, exactly, also when invocations
//! overlap (`run_concurrent`) and another one began more recently.
//!
//! The `#[cold_start_handler]` expansion runs a plain `fn`'s body inside [`Invocation::run`] and
//! polls an `async fn`'s body inside [`Invocation::within`]. With the `concurrent` feature (which
//! `coldstart::lambda::run_concurrent` needs) each call or poll sets one thread-local and restores
//! it after (also when it unwinds): about 9 ns per async invocation on the benchmark VM. Without
//! it invocations are served one at a time (`run`), the most recently begun one is the running
//! one, and both are the body itself, at no cost. Work the handler hands to another
//! task or thread (`tokio::spawn`, `spawn_blocking`) runs outside it and falls back to the most
//! recently begun invocation. [`crate::current_invocation`] reads the same.

use std::cell::Cell;
#[cfg(feature = "concurrent")]
use std::future::Future;
#[cfg(feature = "concurrent")]
use std::pin::Pin;
#[cfg(feature = "concurrent")]
use std::task::{Context, Poll};

use super::handler::Invocation;

/// An invocation as its handler's thread knows it: its number (0: none), and its start and the
/// idle gap before it as `timeline` stores them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) number: u64,
    pub(crate) started_raw: u64,
    pub(crate) idle_raw: u64,
}

thread_local! {
    /// The invocation whose handler this thread runs.
    static RUNNING: Cell<Current> = const {
        Cell::new(Current { number: 0, started_raw: 0, idle_raw: 0 })
    };
}

/// The invocation whose handler code this thread is running, if any.
pub(crate) fn running() -> Option<u64> {
    current().map(|current| current.number)
}

/// [`running`], with its start and idle gap.
pub(crate) fn current() -> Option<Current> {
    RUNNING
        .try_with(Cell::get)
        .ok()
        .filter(|current| current.number != 0)
}

/// Marks an invocation as running on this thread until dropped, then restores the previous one
/// (a handler called from inside another's body, or nothing).
#[cfg(any(feature = "concurrent", test))]
struct Running {
    previous: Current,
}

#[cfg(any(feature = "concurrent", test))]
impl Running {
    #[inline]
    fn enter(current: Current) -> Running {
        let previous = RUNNING
            .try_with(|running| running.replace(current))
            .unwrap_or_default();
        Running { previous }
    }
}

#[cfg(any(feature = "concurrent", test))]
impl Drop for Running {
    #[inline]
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|running| running.set(self.previous));
    }
}

#[cfg(feature = "concurrent")]
pin_project_lite::pin_project! {
    /// An `async` handler's body, polled as its invocation's code ([`Invocation::within`]).
    /// Not public API.
    #[doc(hidden)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Within<F> {
        current: Current,
        #[pin]
        body: F,
    }
}

#[cfg(feature = "concurrent")]
impl<F: Future> Future for Within<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _running = Running::enter(*this.current);
        this.body.poll(cx)
    }
}

impl Invocation {
    /// Runs a plain `fn` handler's body as this invocation's code: what the
    /// `#[cold_start_handler]` expansion calls.
    #[inline]
    pub fn run<R>(&self, body: impl FnOnce() -> R) -> R {
        #[cfg(feature = "concurrent")]
        let _running = Running::enter(self.current());
        body()
    }

    /// An `async fn` handler's body, to be polled as this invocation's code: what the
    /// `#[cold_start_handler]` expansion awaits.
    #[cfg(feature = "concurrent")]
    #[inline]
    pub fn within<F: Future>(&self, body: F) -> Within<F> {
        Within {
            current: self.current(),
            body,
        }
    }

    /// An `async fn` handler's body: without the `concurrent` feature, the body itself.
    #[cfg(not(feature = "concurrent"))]
    #[inline]
    pub fn within<F>(&self, body: F) -> F {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(number: u64) -> Current {
        Current {
            number,
            ..Current::default()
        }
    }

    #[test]
    fn nested_handlers_restore_the_outer_one() {
        assert_eq!(running(), None);
        {
            let _outer = Running::enter(number(3));
            assert_eq!(running(), Some(3));
            {
                let _inner = Running::enter(number(5));
                assert_eq!(running(), Some(5));
            }
            assert_eq!(running(), Some(3));
        }
        assert_eq!(running(), None);
    }

    #[test]
    fn an_unwinding_body_restores_it() {
        let caught = std::panic::catch_unwind(|| {
            let _running = Running::enter(number(7));
            panic!("the handler panics");
        });
        assert!(caught.is_err());
        assert_eq!(running(), None);
    }
}
