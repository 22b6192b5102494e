//! Work that can wait until the first response has been posted.
//!
//! `coldstart::lambda`'s layer switches this on when it wraps a runtime's stack: from then on
//! something runs after every response ([`after_response`]), so what the first invocation does
//! only for the record — its metrics, the phase durations, the metric descriptions, the
//! cold-start report — waits until its response is posted, and the request that paid for the
//! cold start does not also wait for a recorder's first registrations. A flush hook exports
//! metrics *before* the response, so the first invocation's metrics and the descriptions are
//! recorded right before a hook runs ([`before_flush`]), whichever comes first. Without the layer
//! nothing runs after a response, and the first invocation does all of it when it ends.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Called by the layer that runs [`after_response`] after every response.
#[cfg(feature = "lambda")]
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether the first invocation's record-keeping waits for its response.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Right before a flush hook runs: what it exports must be recorded and described.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn before_flush() {
    crate::tracker::record_deferred();
}

/// After every response has been posted: a few atomic loads once the work is done.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn after_response() {
    crate::tracker::record_deferred();
    crate::report::after_response();
}
