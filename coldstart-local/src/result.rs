//! What the function reported: [`InvocationResult`] and its [`Reply`], [`InitError`], and the
//! [`WaitTimeout`] of a wait that ran out.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

/// What the function's runtime client posted for an invocation: a response or an error.
///
/// (Not to be confused with coldstart's own `Outcome`, how a handler ended: a handler that
/// panicked or whose event failed to deserialize still gets a [`Reply::Error`] posted.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// The runtime posted to `/runtime/invocation/{id}/response`.
    Response,
    /// The runtime posted to `/runtime/invocation/{id}/error`, or a streamed
    /// response ended with a `Lambda-Runtime-Function-Error-Type` trailer.
    Error {
        /// `errorType` of the error document (falls back to the
        /// `Lambda-Runtime-Function-Error-Type` header, then to `"Unknown"`).
        error_type: String,
        /// `errorMessage` of the error document (falls back to the raw body).
        error_message: String,
    },
}

/// One completed invocation, in the order the runtime reported them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvocationResult {
    /// The request id of the invocation.
    pub request_id: String,
    /// What the runtime posted: a response or an error.
    pub reply: Reply,
    /// The full body the runtime posted (the response, or the JSON error document).
    ///
    /// For a streamed response this is exactly what was sent: the JSON metadata
    /// prelude, eight NUL bytes, then the streamed chunks.
    pub body: Bytes,
    /// Whether the response was sent in streaming mode
    /// (`Lambda-Runtime-Function-Response-Mode: streaming`).
    pub streaming: bool,
    /// When the `/next` request that received this event arrived at the server.
    pub next_requested_at: Instant,
    /// When the server wrote the event out as the answer to that `/next` request.
    pub delivered_at: Instant,
    /// When the server had received the whole `/response` or `/error` request
    /// (taken before answering it).
    pub completed_at: Instant,
}

/// Which SnapStart lifecycle endpoint reported an [`InitError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitPhase {
    /// `POST /runtime/init/error`.
    Init,
    /// `POST /runtime/restore/error`.
    Restore,
}

/// An error reported through `/runtime/init/error` or `/runtime/restore/error`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InitError {
    /// The endpoint the error was posted to.
    pub phase: InitPhase,
    /// `errorType` of the error document (falls back to the
    /// `Lambda-Runtime-Function-Error-Type` header, then to `"Unknown"`).
    pub error_type: String,
    /// `errorMessage` of the error document (falls back to the raw body).
    pub error_message: String,
    /// The raw body of the request.
    pub body: Bytes,
    /// When the server had received the whole request.
    pub received_at: Instant,
}

/// Error returned by [`LocalRuntimeApi::wait_for_results`](crate::LocalRuntimeApi::wait_for_results) when fewer results than
/// requested arrived in time, and by
/// [`LocalRuntimeApi::wait_for_all`](crate::LocalRuntimeApi::wait_for_all) when, in addition,
/// every result arrived but the function did not ask for its next event in time.
#[derive(Debug, Clone)]
pub struct WaitTimeout {
    pub(crate) expected: usize,
    pub(crate) timeout: Duration,
    pub(crate) results: Vec<InvocationResult>,
}

impl InvocationResult {
    /// Parses [`body`](Self::body) as JSON.
    ///
    /// # Errors
    ///
    /// Fails if the body is not valid JSON (for example a streamed response).
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Whether the invocation ended with an error.
    pub fn is_error(&self) -> bool {
        matches!(self.reply, Reply::Error { .. })
    }

    /// The error type, if the invocation ended with an error.
    pub fn error_type(&self) -> Option<&str> {
        match &self.reply {
            Reply::Error { error_type, .. } => Some(error_type),
            Reply::Response => None,
        }
    }
}

impl WaitTimeout {
    /// How many results were asked for.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many results had arrived when the wait timed out.
    pub fn received(&self) -> usize {
        self.results.len()
    }

    /// The results that had arrived when the wait timed out.
    pub fn results(&self) -> &[InvocationResult] {
        &self.results
    }

    /// Consumes the error, returning the results that had arrived.
    pub fn into_results(self) -> Vec<InvocationResult> {
        self.results
    }
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.results.len() >= self.expected {
            // Only `wait_for_all` gives up with every result in hand.
            return write!(
                f,
                "timed out after {:?}: all {} invocation result(s) arrived, but the function did not ask for its next event",
                self.timeout, self.expected
            );
        }
        write!(
            f,
            "timed out after {:?} waiting for {} invocation result(s): {} arrived",
            self.timeout,
            self.expected,
            self.results.len()
        )
    }
}

impl std::error::Error for WaitTimeout {}
