//! Warming after the first response: which lazy statics [`Coldstart`](super::Coldstart) builds
//! between the first response and the next `/next`, and for how long it may hold that `/next`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::shared::Shared;
use crate::lazy::{self, Select, Warmed, Warming};

/// Default of [`Coldstart::warm_timeout`](super::Coldstart::warm_timeout): 1 s, the longest the
/// warm-up after the first response holds the runtime's request for the next event.
///
/// ```
/// use coldstart::lambda::{Coldstart, DEFAULT_WARM_TIMEOUT};
///
/// let coldstart = Coldstart::new().warm_timeout(DEFAULT_WARM_TIMEOUT * 5);
/// # let _ = coldstart;
/// ```
pub const DEFAULT_WARM_TIMEOUT: Duration = Duration::from_secs(1);

/// Which lazy statics `coldstart::lambda` builds after the first response
/// ([`Coldstart::warm_after_first_response`](super::Coldstart::warm_after_first_response)).
///
/// ```
/// use coldstart::lambda::{Coldstart, WarmAfterFirstResponse};
///
/// let coldstart = Coldstart::new().warm_after_first_response(WarmAfterFirstResponse::All);
/// # let _ = coldstart;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarmAfterFirstResponse {
    /// The statics marked `#[lazy(after_first_response)]` (the default; none are, unless you
    /// mark them).
    #[default]
    Marked,
    /// Every `#[lazy]` static not built yet, marked or not.
    All,
    /// None, even the marked ones.
    Off,
}

/// Set once the warm-up has been started (after the first response of the process).
static STARTED: AtomicBool = AtomicBool::new(false);

/// Whether the warm-up is still to start (one atomic load per invocation).
pub(super) fn pending() -> bool {
    !STARTED.load(Ordering::Relaxed)
}

/// After the first response only: starts the warm-up, held to the configured limit and to the
/// invocation's deadline (`deadline_ms`, Unix ms; the timeout margin kept free).
pub(super) fn start_after_first_response(shared: &Shared, deadline_ms: u64) -> Option<Warming> {
    if STARTED.swap(true, Ordering::AcqRel) {
        return None;
    }
    let select = match shared.warm_after_first_response {
        WarmAfterFirstResponse::Marked => Select::Marked,
        WarmAfterFirstResponse::All => Select::All,
        WarmAfterFirstResponse::Off => return None,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let to_deadline = Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        .saturating_sub(shared.timeout_margin);
    // A deadline of 0 (none given) leaves the configured limit alone.
    let limit = if deadline_ms == 0 {
        shared.warm_timeout
    } else {
        shared.warm_timeout.min(to_deadline)
    };
    if limit.is_zero() {
        return None;
    }
    Some(lazy::warm_after_first_response(select, limit))
}

/// Says on stderr what a warm-up that hit its limit left lazy (said once: it runs once).
pub(super) fn log(warmed: &Warmed, limit: Duration) {
    for (name, outcome) in &warmed.failed {
        eprintln!(
            "coldstart: building `{name}` after the first response failed ({outcome}); it stays lazy and is built on its next access"
        );
    }
    if warmed.stopped {
        eprintln!(
            "coldstart: warming after the first response stopped at its {} ms limit; left lazy (built on their next access): {}",
            limit.as_millis(),
            LeftLazy(warmed),
        );
    }
}

/// The statics a stopped warm-up left lazy, `, `-separated (`none`), then the one still building
/// on its thread, if any: written straight into the line, so that no `join` or `format!` is
/// compiled into every function binary for a message printed at most once.
struct LeftLazy<'a>(&'a Warmed);

impl std::fmt::Display for LeftLazy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.left_lazy.is_empty() {
            f.write_str("none")?;
        }
        for (i, name) in self.0.left_lazy.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        if let Some(name) = self.0.still_building {
            write!(f, "; `{name}` goes on building on its thread")?;
        }
        Ok(())
    }
}
