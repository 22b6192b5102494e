//! Invocation tracking: which invocation is the first of the process, what kind of start it
//! was, how long each took and how it ended.
//!
//! `#[cold_start_handler]` begins an invocation on every call of the handler and records its
//! metrics when it returns, unwinds or is dropped. Exactly one invocation per process is the
//! first, even when invocations run concurrently: the decision is a single atomic `fetch_add`
//! on a process-wide counter. A warm-up ping answered by `coldstart::lambda` takes a number too,
//! and so does a payload rejected before it reached the handler, so either one, as the first
//! event, consumes the environment's coldness. When init end was
//! marked, an on-demand first invocation whose event arrived more than [`proactive_threshold`]
//! after it is [`StartKind::Proactive`].
//!
//! ```
//! use coldstart::invocation::{first_invocation, invocation_count};
//! use coldstart::StartKind;
//!
//! #[coldstart::cold_start_handler(name = "checkout")]
//! fn checkout(order: u64) -> Result<u64, String> {
//!     Ok(order)
//! }
//!
//! checkout(1).unwrap();
//! checkout(2).unwrap();
//! let first = first_invocation().unwrap();
//! assert_eq!(first.start_kind, StartKind::Cold); // no AWS_LAMBDA_INITIALIZATION_TYPE: on-demand
//! assert_eq!(first.handler, "checkout");
//! assert_eq!(invocation_count(), 2);
//! ```
//!
//! [`StartKind`] and [`Outcome`] are the label vocabulary.

// Inside: the numbering and the first invocation, the settings, the timeline (idle gap, age), the
// metric keys and the recorder identity each have a file; the per-handler `Handler` and
// `Invocation` that generated code uses live in `handler.rs`, what a handler's return value says
// (its outcome; a plain `fn` returning a future refused) in `return_value.rs`, both reached only
// through `coldstart::__private`.

mod first;
pub(crate) mod handler;
mod keys;
mod kinds;
pub(crate) mod pending;
mod recorder;
pub(crate) mod return_value;
pub(crate) mod running;
mod settings;
mod timeline;
pub(crate) mod timeouts;

pub use self::first::{
    first_invocation, invocation_count, FirstInvocation, REJECTED_HANDLER, WARMUP_HANDLER,
};
pub use self::kinds::{Outcome, StartKind};
pub use self::settings::{cold_start_budget, proactive_threshold, DEFAULT_PROACTIVE_THRESHOLD};
pub use self::timeline::{
    current_invocation, environment_age, idle_since_last_invocation, CurrentInvocation,
};

#[cfg(feature = "lambda")]
pub(crate) use self::first::{record_init, rejected, warmup, warmup_finished};
pub(crate) use self::first::{start_kind_of, FirstRealInvocation};
#[cfg(feature = "lambda")]
pub(crate) use self::handler::parking;
#[cfg(feature = "lambda")]
pub(crate) use self::handler::Finished;
pub(crate) use self::running::running;
#[cfg(feature = "lambda")]
pub(crate) use self::settings::{set_cold_start_budget, set_proactive_threshold};
