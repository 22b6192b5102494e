//! A streamed response, timed to its last byte: the invocation is recorded (`faas.invoke_duration`,
//! its outcome) when the stream ends, and the after-response work waits for that end.
//!
//! `lambda_runtime` polls a streamed body on a task of its own, while the request that carries
//! it to the Runtime API is sent: the handler's future returned long before. [`Streamed`] wraps
//! the handler's stream and holds what its invocation left (the parked record and the timeout
//! watch); [`StreamEnd`] tells [`AfterResponse`](super::AfterResponse) how, and that, it ended.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::super::timeouts::Watched;
use crate::invocation::{Finished, Outcome};

/// How a streamed response ended, once it has; and who waits for it.
#[derive(Debug, Default)]
pub(crate) struct StreamEnd {
    state: Mutex<(Option<Outcome>, Option<Waker>)>,
}

impl StreamEnd {
    fn end(&self, outcome: Outcome) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.0.is_some() {
                return;
            }
            state.0 = Some(outcome);
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The outcome once the stream has ended; registers `cx`'s waker until then.
    pub(crate) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.0 {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The handler's response stream, with its invocation's record held until the stream ends.
///
/// An `Err` item is a mid-stream error (`lambda_runtime` sends it as the error trailers): the
/// invocation's outcome is `error`. A stream dropped before its end (the connection closed) is
/// `cancelled`.
pub struct Streamed<S> {
    inner: S,
    end: Arc<StreamEnd>,
    invocation: Option<Finished>,
    watched: Option<Watched>,
    failed: bool,
}

impl<S> fmt::Debug for Streamed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streamed")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<S> Streamed<S> {
    /// Wraps `inner`; from now on `end` is what the after-response work waits for.
    pub(super) fn new(
        inner: S,
        end: Arc<StreamEnd>,
        invocation: Option<Finished>,
        watched: Option<Watched>,
    ) -> Self {
        Streamed {
            inner,
            end,
            invocation,
            watched,
            failed: false,
        }
    }

    /// Records the invocation (unless the watchdog already recorded it as a timeout) and says
    /// that the stream ended.
    fn ended(&mut self, outcome: Outcome) {
        if let Some(invocation) = self.invocation.take() {
            invocation.complete(outcome);
        }
        let timed_out = self.watched.take().is_some_and(Watched::finish);
        self.end
            .end(if timed_out { Outcome::Timeout } else { outcome });
    }
}

impl<S, D, E> Stream for Streamed<S>
where
    S: Stream<Item = Result<D, E>> + Unpin,
{
    type Item = Result<D, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = std::task::ready!(Pin::new(&mut this.inner).poll_next(cx));
        match &item {
            Some(Ok(_)) => {}
            Some(Err(_)) => this.failed = true,
            None => {
                let outcome = if this.failed {
                    Outcome::Error
                } else {
                    Outcome::Ok
                };
                this.ended(outcome);
            }
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S> Drop for Streamed<S> {
    fn drop(&mut self) {
        // Dropped before its end: the response was cut off.
        let outcome = if self.failed {
            Outcome::Error
        } else {
            Outcome::Cancelled
        };
        self.ended(outcome);
    }
}
