//! Make AWS Lambda cold starts visible from inside a Rust function.
//!
//! Put [`#[cold_start_handler]`](cold_start_handler) on a `lambda_runtime` handler and every
//! invocation is tracked: the first invocation of the process is detected (exactly once, even
//! under concurrency), classified by [`StartKind`] (a user-facing `cold` start, or an environment
//! Lambda initialized ahead of demand), timed, and counted by outcome. Everything is recorded
//! through the [`metrics`](https://docs.rs/metrics) facade, so whichever exporter you install
//! (Prometheus, CloudWatch EMF, OpenTelemetry, a test recorder) receives it. The metric names are
//! listed in [`names`].
//!
//! ```no_run
//! use coldstart::cold_start_handler;
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde_json::{json, Value};
//!
//! #[cold_start_handler]
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(json!({ "echo": event.payload }))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     lambda_runtime::run(service_fn(handler)).await
//! }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `local` | no | [`local`]: a Lambda Runtime API on loopback, to run handlers through the real runtime loop without AWS (examples, tests) |
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use coldstart_core::{environment, names, phases, tracker};

#[cfg(feature = "local")]
#[cfg_attr(docsrs, doc(cfg(feature = "local")))]
pub use coldstart_core::local;

pub use coldstart_core::environment::{Environment, InitType};
pub use coldstart_core::names::describe_metrics;
pub use coldstart_core::phases::mark_init_end;
pub use coldstart_core::tracker::{Outcome, StartKind};

/// Instruments a Lambda handler.
///
/// On every call the expansion begins an invocation, runs the body in place, and records, through
/// the `metrics` facade:
///
/// - `faas.coldstarts{handler}` on the first invocation of an on-demand environment;
/// - `faas.invocations{handler, start}` when the handler succeeds, or
///   `faas.errors{handler, start, outcome}` when it returns `Err`, panics or is dropped unfinished;
/// - `faas.invoke_duration{handler, start}`, the time spent in the handler;
/// - once per process, the start-up phases (`coldstart.phase_duration{phase}`, see [`phases`]).
///
/// `Result` return values are classified with `is_ok()` (aliases such as `anyhow::Result` too);
/// any other return value counts as success. A panic is recorded and keeps unwinding, so
/// `lambda_runtime` still reports it as an error.
///
/// The signature is kept exactly as written and nothing is boxed: `async fn`, plain `fn`,
/// generics, `where` clauses, reference and extra arguments, methods with `self` and `impl Trait`
/// return types all work, and the future is `Send` whenever the body is.
///
/// # Arguments
///
/// - `name = "..."`: the `handler` label (default: the function's name).
/// - `crate = "..."`: the path to this crate, if it is re-exported under another name.
///
/// # Example
///
/// ```
/// use coldstart::cold_start_handler;
/// use lambda_runtime::{Error, LambdaEvent};
/// use serde_json::Value;
///
/// struct Client;
///
/// #[cold_start_handler(name = "orders")]
/// async fn handler(client: &Client, event: LambdaEvent<Value>) -> Result<Value, Error> {
///     let _ = client;
///     Ok(event.payload)
/// }
///
/// // With extra arguments, wire it up with a closure:
/// // lambda_runtime::run(service_fn(|e| handler(&client, e))).await
/// ```
pub use coldstart_macros::cold_start_handler;

#[doc(hidden)]
pub mod __private {
    pub use coldstart_core::__private::*;
}

/// The README's examples, compiled as doc tests so they never rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
