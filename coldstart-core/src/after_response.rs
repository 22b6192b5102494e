//! Everything that waits for a response, and the order it runs in.
//!
//! Lambda freezes an environment when the runtime asks for the next event, not when it posts a
//! response; `coldstart::lambda`'s layer runs [`after_response`] in between, after every
//! response. So what the first invocation does only for the record waits until its response is
//! posted, and the request that paid for the cold start does not also wait for a recorder's
//! first registrations:
//!
//! | when | what runs, in this order |
//! |---|---|
//! | the first invocation (or ping) begins | only its number and start kind; the rest is left in [`crate::invocation::pending`] |
//! | right before a flush hook (`Coldstart::on_flush`) | 1. the metric descriptions and start-up phases, 2. the first invocation's own metrics — what the hook exports must be recorded |
//! | after every response is posted | 1 and 2 if still waiting; then, once, 3. the remaining metric keys of the first real invocation's handler (so later invocations allocate nothing), 4. a memory sample (`faas.mem_usage`), 5. the cold-start report line, 6. a thread that builds the Prometheus exporter of `coldstart::prometheus::install` (its clock calibration), unless a render built it already |
//! | without the layer (handler attribute alone) | 1–5 at the end of the first invocation: nothing runs after a response (and the Prometheus exporter is built by its first render) |
//!
//! Every later invocation pays two atomic loads here.

use crate::{invocation, memory, report};

/// Step 6: set by `coldstart::prometheus`'s recorder. A function pointer, so that a binary that
/// never builds that recorder does not link the exporter through this call.
#[cfg(any(feature = "lambda", feature = "prometheus"))]
static AFTER_FIRST_RESPONSE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Runs `work` once after the first real invocation's response, when a layer runs
/// [`after_response`] (step 6). The first registration wins.
#[cfg(feature = "prometheus")]
pub(crate) fn after_first_response(work: fn()) {
    let _ = AFTER_FIRST_RESPONSE.set(work);
}

#[cfg(all(test, feature = "prometheus"))]
pub(crate) fn has_after_first_response() -> bool {
    AFTER_FIRST_RESPONSE.get().is_some()
}

/// Called by the layer that runs [`after_response`] after every response: from now on the first
/// invocation leaves its record-keeping for it.
#[cfg(feature = "lambda")]
pub(crate) fn enable() {
    invocation::pending::defer_to_after_response();
}

/// Whether a layer runs [`after_response`] after every response.
#[cfg(feature = "lambda")]
pub(crate) fn enabled() -> bool {
    invocation::pending::deferring()
}

/// Right before a flush hook runs: what it exports must be recorded and described.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn before_flush() {
    invocation::pending::record_first_invocation();
}

/// After every response has been posted: two atomic loads once the work is done.
#[cfg(feature = "lambda")]
#[inline]
pub(crate) fn after_response() {
    invocation::pending::record_first_invocation();
    if invocation::pending::take_report() {
        first_real_invocation_done();
        // 6. What a recorder left for after the first response (the Prometheus exporter's
        // clock calibration, on a thread of its own).
        if let Some(work) = AFTER_FIRST_RESPONSE.get() {
            work();
        }
    }
}

/// The first real invocation finished and no layer will run [`after_response`]: its
/// record-keeping happens now. The one call from [`crate::invocation`] up the dependency order.
pub(crate) fn first_real_invocation_finished_without_layer() {
    first_real_invocation_done();
}

/// Steps 3–5 of the table above. Never panics into the invocation.
#[cold]
#[inline(never)]
fn first_real_invocation_done() {
    invocation::handler::build_first_handler_keys();
    // From now on a process that ends leaves a re-init behind.
    crate::reinit::mark_running();
    let memory = memory::sample_now();
    report::print_line(memory);
}
