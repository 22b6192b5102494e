//! The state every piece of `coldstart::lambda` shares: the settings of the [`Coldstart`] that
//! built them, and what they mean for one invocation (is this payload a ping, when does the flush
//! hook run).
//!
//! [`Coldstart`]: super::Coldstart

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use super::flush::{self, FlushAt, FlushHook, Ticket};
use super::ping::{detect_ping, Ping, PingSource};
use crate::invocation::Outcome;

pub(super) type PingPredicate = dyn Fn(&[u8]) -> bool + Send + Sync;

/// The settings, set by the builder and read by the layer, the handler service, the watchdog and
/// `end_init`.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(super) proactive_threshold: Duration,
    pub(super) prewarm_on_demand: bool,
    pub(super) warmup_delay: Duration,
    pub(super) builtin_pings: bool,
    pub(super) is_ping: Option<Arc<PingPredicate>>,
    pub(super) on_flush: Option<Arc<FlushHook>>,
    pub(super) flush_at: FlushAt,
    pub(super) flush_timeout: Duration,
    pub(super) warm_after_first_response: super::warm::WarmAfterFirstResponse,
    pub(super) warm_timeout: Duration,
    pub(super) timeout_margin: Duration,
    pub(super) cold_start_budget: Option<Duration>,
    pub(super) print_report: Option<bool>,
    pub(super) price_per_gb_second: Option<f64>,
    #[cfg(all(unix, feature = "shutdown"))]
    pub(super) on_shutdown: Option<super::shutdown::ShutdownHook>,
}

impl Shared {
    /// The ping this payload is, if any: a built-in shape, serverless-plugin-warmup's client
    /// context, or the user's predicate.
    pub(super) fn detect(
        &self,
        body: &[u8],
        client_context: Option<&HashMap<String, String>>,
    ) -> Option<Ping> {
        if self.builtin_pings {
            if let Some(ping) = detect_ping(body) {
                return Some(ping);
            }
            if client_context
                .and_then(|custom| custom.get("source"))
                .is_some_and(|source| source == "serverless-plugin-warmup")
            {
                return Some(Ping::new(PingSource::ServerlessPluginWarmup, None));
            }
        }
        let predicate = self.is_ping.as_ref()?;
        match catch_unwind(AssertUnwindSafe(|| predicate(body))) {
            Ok(true) => Some(Ping::new(PingSource::Custom, None)),
            Ok(false) => None,
            Err(_) => {
                eprintln!(
                    "coldstart: the is_ping predicate panicked; the payload is treated as an event"
                );
                None
            }
        }
    }

    /// Whether a flush hook is set.
    pub(super) fn has_hook(&self) -> bool {
        self.on_flush.is_some()
    }

    /// Whether the flush hook runs after the response: asked for, and a layer is there to run
    /// it (without [`Coldstart::layer`](super::Coldstart::layer) nothing runs after a response,
    /// so the hook runs before).
    pub(super) fn flushes_after_response(&self) -> bool {
        self.flush_at == FlushAt::AfterResponse && crate::after_response::enabled()
    }

    /// Runs the flush hook inline, now (before the response); a panic in it is caught and logged.
    pub(super) fn flush_inline(&self, outcome: Outcome) {
        let Some(hook) = &self.on_flush else { return };
        // What the hook exports must be recorded and described.
        crate::after_response::before_flush();
        flush::run_inline(&**hook, outcome, FlushAt::BeforeResponse);
    }

    /// Asks for a run of the flush hook on its thread (see [`flush`]); `None` without a hook, or
    /// when the hook ran inline because no thread could be started.
    pub(super) fn request_flush(&self, outcome: Outcome) -> Option<Ticket> {
        let hook = self.on_flush.as_ref()?;
        crate::after_response::before_flush();
        flush::request(hook, outcome)
    }

    /// Runs the flush hook from outside an invocation (the timeout watchdog's thread, which may
    /// block), on the flush thread within [`Coldstart::flush_timeout`](super::Coldstart::flush_timeout),
    /// whatever [`FlushAt`] says.
    pub(super) fn flush_from_watchdog(&self, outcome: Outcome) {
        if let Some(ticket) = self.request_flush(outcome) {
            ticket.wait_blocking(self.flush_timeout);
        }
    }
}
