//! What the layer and the handler service tell each other within one synchronous call or poll,
//! on one thread: no other invocation runs in between.
//!
//! `lambda_runtime` deserializes the payload and calls the handler service synchronously inside
//! the `call` of its own stack, which [`ColdstartService::call`](super::ColdstartService) invokes;
//! the handler's future completes, and a streamed response is set up, inside a poll of
//! `lambda_runtime`'s future, which [`AfterResponse`](super::AfterResponse) makes and reads right
//! after.

use std::cell::Cell;
use std::sync::Arc;

use super::super::ping::Ping;
use super::stream::StreamEnd;
use crate::invocation::Outcome;

thread_local! {
    /// The ping the layer recognized, for the deserialization running inside its `call`.
    static PENDING: Cell<Option<Ping>> = const { Cell::new(None) };
    /// Whether the handler service's `call` ran inside the layer's `call` (else the payload was
    /// rejected before the handler: deserialization failed).
    static REACHED: Cell<bool> = const { Cell::new(false) };
    /// How the invocation whose handler (or ping) just completed ended.
    static FINISHED: Cell<Option<Outcome>> = const { Cell::new(None) };
    /// The end of the streamed response just set up.
    static STREAM: Cell<Option<Arc<StreamEnd>>> = const { Cell::new(None) };
}

/// Sets the ping slot for one synchronous `call`, and clears it however it ends.
pub(super) struct Armed;

impl Armed {
    pub(super) fn arm(ping: Option<Ping>) -> Armed {
        let _ = PENDING.try_with(|pending| pending.set(ping));
        let _ = REACHED.try_with(|reached| reached.set(false));
        Armed
    }

    /// Whether the handler service was called.
    pub(super) fn reached(&self) -> bool {
        REACHED.try_with(Cell::get).unwrap_or(true)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        let _ = PENDING.try_with(|pending| pending.set(None));
    }
}

/// The ping the layer recognized, taken once.
pub(in crate::lambda) fn take_ping() -> Option<Ping> {
    PENDING.try_with(Cell::take).ok().flatten()
}

/// The handler service was called.
pub(in crate::lambda) fn reached() {
    let _ = REACHED.try_with(|reached| reached.set(true));
}

pub(in crate::lambda) fn set_finished(outcome: Outcome) {
    let _ = FINISHED.try_with(|finished| finished.set(Some(outcome)));
}

pub(in crate::lambda) fn take_finished() -> Option<Outcome> {
    FINISHED.try_with(Cell::take).ok().flatten()
}

pub(in crate::lambda) fn set_stream(end: Arc<StreamEnd>) {
    let _ = STREAM.try_with(|stream| stream.set(Some(end)));
}

pub(in crate::lambda) fn take_stream() -> Option<Arc<StreamEnd>> {
    STREAM.try_with(Cell::take).ok().flatten()
}
