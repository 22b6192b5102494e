//! Answering a warm-up ping: count it, build the `prewarm` statics, wait when it is part of a
//! fan-out, flush.

use std::sync::Arc;
use std::time::Duration;

use super::ping::Ping;
use super::shared::Shared;
use super::tower::Ack;
use crate::invocation::{self, Outcome};
use crate::lazy::{self, BoxFuture, During, Prewarmed};

/// Answers a warm-up ping: counts it, builds the `prewarm` statics, waits when it is part of a
/// fan-out, flushes.
pub(super) fn answer_ping(ping: Ping, shared: Arc<Shared>) -> BoxFuture<Ack> {
    Box::pin(async move {
        let start = invocation::warmup(ping.source.as_str());
        let prewarmed = lazy::prewarm_as(During::Warmup).await;
        log_prewarm_failures("a warm-up ping", &prewarmed);
        if ping.fans_out() {
            delay(shared.warmup_delay).await;
        }
        invocation::warmup_finished();
        super::tower::finished(&shared, Outcome::Warmup);
        Ack {
            source: ping.source.as_str(),
            start: start.as_str(),
        }
    })
}

/// Prewarming never fails an invocation; a failed initializer is said on stderr.
pub(super) fn log_prewarm_failures(when: &str, prewarmed: &Prewarmed) {
    for (name, outcome) in &prewarmed.failed {
        eprintln!("coldstart: prewarming `{name}` during {when} failed ({outcome}); it is retried on its next access");
    }
}

/// Waits `duration` without needing tokio's time driver (a runtime built without
/// `enable_time` would make `tokio::time::sleep` panic): a short-lived thread wakes the task.
async fn delay(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    let (done, wait) = tokio::sync::oneshot::channel::<()>();
    let timer = Box::new(move || {
        std::thread::sleep(duration);
        let _ = done.send(());
    });
    if crate::spawn_detached("coldstart-warmup-delay", timer) {
        let _ = wait.await;
    }
}
