//! The raw-invocation side: [`ColdstartLayer`] wraps `lambda_runtime`'s own stack, sees each
//! payload before it is deserialized, and makes the future that posts the response an
//! [`AfterResponse`].

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;

use super::super::after_response::AfterResponse;
use super::super::shared::Shared;
use super::slots::{self, Armed};
use crate::invocation::Outcome;
use crate::phases;

/// The raw-invocation side of [`Coldstart`](super::super::Coldstart): notes when the first event
/// arrived, recognizes warm-up pings on the raw bytes before `lambda_runtime` deserializes them,
/// notes a payload that never reached the handler (deserialization failed), and runs the work
/// that waits for each response ([`AfterResponse`]). Add it with `Runtime::layer` right after
/// `Runtime::new` (so that it wraps `lambda_runtime`'s own stack directly), together with
/// [`WithColdstart`](super::WithColdstart) as the handler; built by
/// [`Coldstart::layer`](super::super::Coldstart::layer).
#[derive(Clone)]
pub struct ColdstartLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for ColdstartLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ColdstartLayer").finish_non_exhaustive()
    }
}

impl ColdstartLayer {
    pub(in crate::lambda) fn new(shared: Arc<Shared>) -> Self {
        ColdstartLayer { shared }
    }
}

impl<S> Layer<S> for ColdstartLayer {
    type Service = ColdstartService<S>;

    fn layer(&self, inner: S) -> ColdstartService<S> {
        // From now on an `AfterResponse` runs after every response: work can be left to it.
        crate::after_response::enable();
        ColdstartService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`ColdstartLayer`] wraps `lambda_runtime`'s stack in.
#[derive(Clone)]
pub struct ColdstartService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for ColdstartService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ColdstartService").finish_non_exhaustive()
    }
}

impl<S> Service<LambdaInvocation> for ColdstartService<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = AfterResponse<S::Future, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        phases::mark_first_event();
        let custom = invocation
            .context
            .client_context
            .as_ref()
            .map(|context| &context.custom);
        let ping = self.shared.detect(&invocation.body, custom);
        let deadline_ms = invocation.context.deadline;
        let armed = Armed::arm(ping);
        let _ = slots::take_finished();
        // lambda_runtime deserializes (taking the ping from the slot) and calls the handler
        // service synchronously in here; the response is posted by the returned future.
        let future = self.inner.call(invocation);
        let mut outcome = slots::take_finished();
        if !armed.reached() {
            crate::invocation::rejected();
            outcome = Some(Outcome::Rejected);
            if !self.shared.flushes_after_response() {
                self.shared.flush_inline(Outcome::Rejected);
            }
        }
        AfterResponse::new(future, &self.shared, outcome, deadline_ms)
    }
}
