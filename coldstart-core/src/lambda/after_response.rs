//! Everything that runs between an invocation's response and the runtime's next `/next`, in
//! order. Lambda freezes an environment only when the runtime asks for the next event, so this
//! still runs, and no client waits for it:
//!
//! 1. the response is posted (`lambda_runtime`'s own future); for a streamed response, its
//!    stream ends (the invocation is recorded then, with its real duration and outcome);
//! 2. the record-keeping that waits for a response ([`crate::after_response`]): the first
//!    invocation's metrics and phases, its report;
//! 3. the timeout watchdog's thread starts (once, after the first response);
//! 4. after the first response only, the lazy statics it did not need are built, within
//!    [`Coldstart::warm_timeout`](super::Coldstart::warm_timeout) (see [`super::warm`]);
//! 5. the flush hook ([`FlushAt::AfterResponse`](super::FlushAt::AfterResponse)): asked for, then
//!    waited for without blocking the runtime thread, within
//!    [`Coldstart::flush_timeout`](super::Coldstart::flush_timeout) (see [`super::flush`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::flush::Flushed;
use super::shared::Shared;
use super::timeouts;
use super::tower::slots;
use super::tower::StreamEnd;
use super::warm;
use crate::invocation::Outcome;
use crate::lazy::Warming;

pin_project_lite::pin_project! {
    /// `lambda_runtime`'s future for one invocation (it posts the response), followed by the
    /// work that must not delay that response (see the [`coldstart::lambda::tower`](super::tower)
    /// docs). It completes, and the runtime asks for the next event, when that work is done.
    pub struct AfterResponse<F, O> {
        #[pin]
        future: F,
        // The configuration, when a flush hook runs after the response.
        flush: Option<Arc<Shared>>,
        // The configuration and the invocation's deadline (Unix ms), for the warm-up.
        warm: Option<(Arc<Shared>, u64)>,
        warming: Option<(Warming, std::time::Duration)>,
        // Steps 2 and 3 have run.
        recorded: bool,
        // How the handler (or ping) ended, once it has.
        outcome: Option<Outcome>,
        // The end of a streamed response.
        stream: Option<Arc<StreamEnd>>,
        // lambda_runtime's output, kept while the stream ends and the flush runs.
        output: Option<O>,
        flushed: Option<Flushed>,
    }
}

impl<F: Future> AfterResponse<F, F::Output> {
    pub(super) fn new(
        future: F,
        shared: &Arc<Shared>,
        outcome: Option<Outcome>,
        deadline_ms: u64,
    ) -> Self {
        let flush = (shared.has_hook() && shared.flushes_after_response()).then(|| shared.clone());
        AfterResponse {
            future,
            flush,
            warm: warm::pending().then(|| (shared.clone(), deadline_ms)),
            warming: None,
            recorded: false,
            outcome,
            stream: None,
            output: None,
            flushed: None,
        }
    }
}

impl<F, O> fmt::Debug for AfterResponse<F, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterResponse")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for AfterResponse<F, F::Output> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        if this.output.is_none() {
            // 1. The response is posted.
            let polled = this.future.as_mut().poll(cx);
            // Set while lambda_runtime's future ran the handler and built the response.
            if let Some(outcome) = slots::take_finished() {
                *this.outcome = Some(outcome);
            }
            if let Some(stream) = slots::take_stream() {
                *this.stream = Some(stream);
            }
            *this.output = Some(ready!(polled));
        }
        if this.flushed.is_none() {
            // 1. ... and its stream has ended.
            if let Some(stream) = this.stream {
                let ended = ready!(stream.poll_ended(cx));
                *this.stream = None;
                *this.outcome = Some(ended);
            }
            if !*this.recorded {
                *this.recorded = true;
                // 2. and 3.
                crate::after_response::after_response();
                timeouts::run_after_first_response();
            }
            if let Some((shared, deadline_ms)) = this.warm.take() {
                // 4. (the first response only)
                *this.warming = warm::start_after_first_response(&shared, deadline_ms)
                    .map(|warming| (warming, shared.warm_timeout));
            }
            if let Some((warming, limit)) = this.warming.as_mut() {
                let warmed = ready!(Pin::new(warming).poll(cx));
                warm::log(&warmed, *limit);
                *this.warming = None;
            }
            // 5.
            let ticket = match (this.flush.take(), *this.outcome) {
                // Flushed by the timeout watchdog already.
                (_, Some(Outcome::Timeout)) | (None, _) => None,
                // No outcome: the handler's future was dropped unfinished.
                (Some(shared), outcome) => shared
                    .request_flush(outcome.unwrap_or(Outcome::Cancelled))
                    .map(|ticket| ticket.wait(shared.flush_timeout)),
            };
            match ticket {
                Some(flushed) => *this.flushed = Some(flushed),
                None => return Poll::Ready(this.output.take().expect("kept above")),
            }
        }
        if let Some(flushed) = this.flushed.as_mut() {
            ready!(Pin::new(flushed).poll(cx));
        }
        Poll::Ready(this.output.take().expect("kept above"))
    }
}
