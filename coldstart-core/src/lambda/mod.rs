//! Lambda integration: a drop-in for `lambda_runtime::run` that marks the end of INIT, classifies
//! start kinds (including proactive initialization), prewarms `prewarm` statics when INIT is not
//! user-facing, answers warm-up pings before they reach a typed handler, records timeouts before
//! the deadline, and runs a flush hook after every response is posted.
//!
//! ```no_run
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     id: u64,
//! }
//!
//! async fn handler(event: LambdaEvent<Order>) -> Result<u64, Error> {
//!     Ok(event.payload.id)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     // INIT: install the metrics recorder, build clients...
//!     coldstart::lambda::run(service_fn(handler)).await
//! }
//! ```
//!
//! # What `run` does
//!
//! 1. **Prewarm policy.** When Lambda initialized the environment ahead of demand
//!    (`AWS_LAMBDA_INITIALIZATION_TYPE` is `provisioned-concurrency`, `snap-start` or
//!    `lambda-managed-instances`), it awaits [`crate::lazy::prewarm`] first, inside INIT — for
//!    SnapStart that is before the snapshot is taken. For on-demand environments the `prewarm`
//!    statics stay lazy (a request is waiting for INIT to end) unless
//!    [`Coldstart::prewarm_on_demand`] says otherwise.
//! 2. **Init end** is marked ([`crate::phases::mark_init_end`]) right before the runtime loop
//!    asks for the first event. The first invocation then records `faas.init_duration` and the
//!    gap from init end to the first event (`coldstart.phase_duration{phase="wait_for_first_event"}`),
//!    and an on-demand first invocation whose event arrived more than
//!    [`Coldstart::proactive_threshold`] after init end is
//!    [`StartKind::Proactive`](crate::invocation::StartKind::Proactive), not `cold`.
//! 3. **Warm-up pings** (see [`detect_ping`]) are recognized on the raw payload, before the
//!    typed deserialization that would reject them, and only in the shape their tool sends:
//!    every key one of that tool's keys, with the tool's type of value (a payload with any
//!    other key, a repeated key or text that is not UTF-8 is an event for your handler). They
//!    get a small JSON [`Ack`](tower::Ack), never reach your handler, build the `prewarm` statics, wait
//!    [`Coldstart::warmup_delay`] when they are part of a fan-out, and count in
//!    `coldstart.warmups{source, start}`, never in `faas.invocations` or
//!    `faas.invoke_duration`. A ping that is the first event of an environment consumes its
//!    coldness: the next real invocation is `warm`.
//! 4. **After every response** is posted (a streamed response: after its last byte, which is
//!    when its invocation is recorded), before the runtime asks for the next event (the
//!    environment is still running): for the first invocation, its own metrics, the phase
//!    durations, the metric descriptions, a memory sample and the cold-start report
//!    ([`crate::report`]) — the request that paid for the cold start does not also wait for the
//!    recorder's first registrations — then the flush hook ([`Coldstart::on_flush`]; or before
//!    the response, with [`FlushAt::BeforeResponse`]), waited for without blocking a runtime
//!    thread and bounded by [`Coldstart::flush_timeout`]. Under `run_concurrent` the flushes of
//!    overlapping invocations are coalesced, never skipped, and no response waits for another
//!    invocation's flush.
//!    After the *first* response, before its flush, the lazy statics the first request did not
//!    need are built ([`Coldstart::warm_after_first_response`]: the ones marked
//!    `#[lazy(after_first_response)]` by default), holding the next event for at most
//!    [`Coldstart::warm_timeout`].
//! 5. **Timeouts**: an invocation still running [`Coldstart::timeout_margin`] before its deadline
//!    is recorded (`faas.timeouts`) and flushed from a watchdog thread before Lambda stops the
//!    environment.
//! 6. **At shutdown** (feature `shutdown`, unix), when a hook is set with
//!    `Coldstart::on_shutdown`: `end_init` registers a no-op internal extension during INIT so that
//!    Lambda sends the process SIGTERM before it kills it, and the hook runs then, bounded by
//!    `SHUTDOWN_HOOK_BOUND`.
//!
//! Every other payload goes exactly where `lambda_runtime::run` would send it: same
//! deserialization (same errors, posted the same way), same panic handling, same tracing span.
//! Invocation metrics (`faas.invocations`, `faas.coldstarts`, ...) still come from
//! `#[cold_start_handler]` on your handler: the wrapper does not replace it.
//!
//! # Pieces, for your own `Runtime`
//!
//! [`Coldstart::service`] wraps the handler, [`Coldstart::layer`] wraps `lambda_runtime`'s raw
//! stack (their types are in [`tower`]), and [`Coldstart::end_init`] applies the prewarm policy
//! and marks init end:
//!
//! ```no_run
//! use coldstart::lambda::Coldstart;
//! use lambda_runtime::{layers::TracingLayer, service_fn, Error, LambdaEvent, Runtime};
//! use serde_json::Value;
//!
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(event.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let coldstart = Coldstart::new();
//!     let runtime = Runtime::new(coldstart.service(service_fn(handler)))
//!         .layer(coldstart.layer()) // first: it must wrap lambda_runtime's own stack
//!         .layer(TracingLayer::new());
//!     coldstart.end_init().await;
//!     runtime.run().await
//! }
//! ```

mod after_response;
mod config;
mod flush;
mod ping;
mod shared;
#[cfg(all(unix, feature = "shutdown"))]
mod shutdown;
mod timeouts;
pub mod tower;
mod warm;
mod warmup;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

use std::fmt;
use std::future::Future;

use futures_core::Stream;
use lambda_runtime::{Diagnostic, Error, IntoFunctionResponse, LambdaEvent, Service};
use serde::{Deserialize, Serialize};

pub use self::config::{Coldstart, DEFAULT_FLUSH_TIMEOUT, DEFAULT_WARMUP_DELAY};
pub use self::flush::FlushAt;
pub use self::ping::{detect_ping, Ping, PingSource, MAX_PING_BYTES};
#[cfg(all(unix, feature = "shutdown"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "shutdown"))))]
pub use self::shutdown::SHUTDOWN_HOOK_BOUND;
pub use self::timeouts::DEFAULT_TIMEOUT_MARGIN;
pub use self::warm::{WarmAfterFirstResponse, DEFAULT_WARM_TIMEOUT};

/// A drop-in for `lambda_runtime::run` with the default [`Coldstart`] configuration: marks init
/// end, prewarms when INIT is not user-facing, answers warm-up pings, then serves `handler`
/// exactly as `lambda_runtime::run` would.
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     coldstart::lambda::run(service_fn(handler)).await
/// }
/// ```
///
/// # Errors
///
/// What `lambda_runtime::run` returns.
pub async fn run<F, A, R, B, S, D, E>(handler: F) -> Result<(), Error>
where
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + fmt::Debug,
    A: for<'de> Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: Serialize,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<Error> + Send + fmt::Debug,
{
    Coldstart::new().run(handler).await
}

/// A drop-in for `lambda_runtime::run_concurrent` (several invocations at once per environment
/// when `AWS_LAMBDA_MAX_CONCURRENCY` > 1) with the default [`Coldstart`] configuration.
/// Exactly one invocation per environment is the first, however many run at once.
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     coldstart::lambda::run_concurrent(service_fn(handler)).await
/// }
/// ```
///
/// # Errors
///
/// What `lambda_runtime::run_concurrent` returns.
#[cfg(feature = "concurrent")]
#[cfg_attr(docsrs, doc(cfg(feature = "concurrent")))]
pub async fn run_concurrent<F, A, R, B, S, D, E>(handler: F) -> Result<(), Error>
where
    F: Service<LambdaEvent<A>, Response = R> + Clone + Send + 'static,
    F::Future: Future<Output = Result<R, F::Error>> + Send + 'static,
    F::Error: Into<Diagnostic> + fmt::Debug,
    A: for<'de> Deserialize<'de> + Send + 'static,
    R: IntoFunctionResponse<B, S> + Send + 'static,
    B: Serialize + Send + 'static,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send + 'static,
    E: Into<Error> + Send + fmt::Debug + 'static,
{
    Coldstart::new().run_concurrent(handler).await
}
