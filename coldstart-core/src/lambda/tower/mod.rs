//! The tower pieces [`Coldstart::run`](super::Coldstart::run) assembles, for building your own
//! `lambda_runtime::Runtime` (see the [`lambda`](super) docs, "Pieces, for your own `Runtime`").
//! You name them only in type annotations, if at all:
//!
//! - [`ColdstartLayer`] ([`Coldstart::layer`](super::Coldstart::layer)) wraps `lambda_runtime`'s
//!   own stack: it sees each raw payload, and its [`ColdstartService`] makes each response's
//!   future an [`AfterResponse`], which runs what waits for the response before the runtime asks
//!   for the next event;
//! - [`WithColdstart`] ([`Coldstart::service`](super::Coldstart::service)) wraps the handler: it
//!   receives [`PingOr`] events, answers pings with an [`Ack`], and returns an [`Answer`] whose
//!   buffered [`Body`] serializes as the handler's, or whose stream ([`Streamed`]) is the
//!   handler's, timed to its last byte.
//!
//! ```
//! use coldstart::lambda::tower::{ColdstartLayer, WithColdstart};
//! use coldstart::lambda::Coldstart;
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde_json::Value;
//!
//! let coldstart = Coldstart::new();
//! let layer: ColdstartLayer = coldstart.layer();
//! let service = coldstart.service(service_fn(|event: LambdaEvent<Value>| async move {
//!     Ok::<_, Error>(event.payload)
//! }));
//! # let _ = (layer, service);
//! ```

mod handler;
mod layer;
pub(super) mod slots;
mod stream;

pub use self::handler::{Ack, Answer, Body, PingOr, WithColdstart, WithColdstartFuture};
pub use self::layer::{ColdstartLayer, ColdstartService};
pub use self::stream::Streamed;
pub use super::after_response::AfterResponse;

pub(super) use self::handler::finished;
pub(super) use self::stream::StreamEnd;
