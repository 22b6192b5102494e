//! A Lambda Runtime API emulator on loopback.
//!
//! [`LocalRuntimeApi`] serves the subset of the
//! [Lambda Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
//! that a function's runtime client uses (`/runtime/invocation/next`, `/response`,
//! `/error`, and the SnapStart `/restore/next`, `/init/error` and `/restore/error`
//! endpoints), and of the Extensions API that an internal extension uses (register, wait for
//! the next event), on `127.0.0.1`. Point the real `lambda_runtime` client loop at it
//! through [`LocalRuntimeApi::set_env`], queue events with
//! [`LocalRuntimeApi::push`], and inspect what the handler answered with
//! [`LocalRuntimeApi::wait_for_all`] (or [`LocalRuntimeApi::wait_for_results`]). No AWS account, container or network
//! access is involved.
//!
//! The server runs on its own thread with its own single-threaded tokio runtime,
//! so it can be started from a synchronous `main` before the function's runtime
//! exists, and it keeps working no matter which executor the caller uses.
//!
//! # Endpoints
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /2018-06-01/runtime/invocation/next` | `200` with the next event; held open while none is queued |
//! | `POST .../invocation/{id}/response` | `202`, recorded as [`Reply::Response`] |
//! | `POST .../invocation/{id}/error` | `202`, recorded as [`Reply::Error`] |
//! | either of the above with an unknown or completed `{id}` | `400`, recorded nowhere |
//! | `GET .../restore/next` | `200`, counted by [`LocalRuntimeApi::restore_next_calls`] |
//! | `POST .../init/error`, `POST .../restore/error` | `202`, recorded in [`LocalRuntimeApi::init_errors`] |
//! | `POST /2020-01-01/extension/register` | `200` with a `Lambda-Extension-Identifier` header and `{"functionName", "functionVersion", "handler": "bootstrap"}` (plus `"accountId"` when the client accepts it); `400` without a `Lambda-Extension-Name`; recorded in [`LocalRuntimeApi::extensions`] |
//! | `GET /2020-01-01/extension/event/next` | held open, never answered (no INVOKE or SHUTDOWN events are sent); counted by [`LocalRuntimeApi::pending_extension_next_requests`] |
//! | `POST /2020-01-01/extension/init/error`, `.../exit/error` | `202` |
//! | an extension request whose `Lambda-Extension-Identifier` was never given out | `403` |
//! | a known path with another method | `405` |
//! | anything else | `404` |
//!
//! Depend on `coldstart` with its `local` feature and use this crate as `coldstart::local`.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::time::Duration;

mod api;
mod builder;
mod event;
mod extension;
mod headers;
mod ids;
mod result;
mod server;
mod state;
mod wait;

pub use self::api::LocalRuntimeApi;
pub use self::builder::LocalRuntimeApiBuilder;
pub use self::event::LocalEvent;
pub use self::extension::Extension;
pub use self::result::{InitError, InitPhase, InvocationResult, Reply, WaitTimeout};

/// Function name used by [`LocalRuntimeApi::start`].
pub const DEFAULT_FUNCTION_NAME: &str = "coldstart-local";
/// Memory size (in MB) reported by default.
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// Function version reported by default.
pub const DEFAULT_VERSION: &str = "$LATEST";
/// AWS region reported by default (in `AWS_REGION` and in the function ARN).
pub const DEFAULT_REGION: &str = "us-east-1";
/// Time an invocation is given before its deadline unless the event says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
