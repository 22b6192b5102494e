//! Re-inits: Lambda restarted the runtime inside the same execution environment.
//!
//! After a timeout, a crash or running out of memory, Lambda starts the runtime process again
//! in the environment it already had ("suppressed init", documented by AWS since October 2024).
//! That INIT runs during the next invocation and counts against its timeout; with a short
//! timeout it can time out again, forever (the "doom loop"). To the new process it looks like
//! any cold start, but the environment's `/tmp` outlives the process: coldstart leaves a marker
//! there, so the next process can tell that it is a re-init, and, when known, what ended the one
//! before ([`ReinitCause`]).
//!
//! The marker (`coldstart-runtime-<log stream>` in [`std::env::temp_dir`], a few bytes: a state
//! and the process id) is read once, off the cold path (after the first response, or at init end
//! when INIT is not user-facing), then written after the environment's first response (`running`)
//! and by the timeout watchdog when it records a timeout (`timeout`). A marker with this
//! process's own id is its own, not a predecessor's. Nothing is read or written without
//! `AWS_LAMBDA_LOG_STREAM_NAME` (outside Lambda) or when the directory is not writable. A
//! runtime that crashes during its environment's very first invocation, before any response,
//! leaves no marker: its successor looks like a first start.
//!
//! ```
//! // Outside Lambda there is no marker, so no re-init.
//! assert_eq!(coldstart::reinit::reinit(), None);
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::environment::Environment;

/// What ended the runtime process before this one, in the same environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReinitCause {
    /// coldstart recorded a timeout of one of its invocations (the watchdog, shortly before the
    /// deadline): Lambda then stopped it.
    Timeout,
    /// It ended while serving, without a timeout coldstart saw: a crash (a panic outside the
    /// handler, an abort), running out of memory, or a timeout with detection turned off.
    Unknown,
}

impl ReinitCause {
    /// `timeout` or `unknown`, as the report and the `after` label write it.
    ///
    /// ```
    /// assert_eq!(coldstart::reinit::ReinitCause::Timeout.as_str(), "timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ReinitCause::Timeout => "timeout",
            ReinitCause::Unknown => "unknown",
        }
    }
}

/// Whether this process is a re-init, and after what. Read once, on first use (after the
/// environment's first response, or when INIT ends ahead of demand); `None` for a first start.
pub fn reinit() -> Option<ReinitCause> {
    *READ.get_or_init(|| {
        let text = std::fs::read_to_string(marker()?).ok()?;
        let (state, pid) = text.trim().split_once(' ')?;
        // This process's own marker (written before the first read) is no re-init.
        if pid.parse() == Ok(std::process::id()) {
            return None;
        }
        Some(match state {
            "timeout" => ReinitCause::Timeout,
            _ => ReinitCause::Unknown,
        })
    })
}

/// What the marker said at the first [`reinit`].
static READ: OnceLock<Option<ReinitCause>> = OnceLock::new();

/// The marker's path in this environment, if there is one (on Lambda: a log stream name).
fn marker() -> Option<PathBuf> {
    let stream = Environment::current().log_stream_name()?;
    let name: String = stream
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Some(std::env::temp_dir().join(format!("coldstart-runtime-{name}")))
}

/// The environment has served its first response: a process that ends from now on leaves a
/// re-init behind (said `running`, unless it is known to have timed out).
pub(crate) fn mark_running() {
    write("running");
}

/// The watchdog recorded a timeout: Lambda is about to stop this process.
#[cfg(feature = "lambda")]
pub(crate) fn mark_timed_out() {
    write("timeout");
}

fn write(state: &str) {
    // The previous process's marker is read before this one's replaces it.
    let _ = reinit();
    if let Some(path) = marker() {
        // Best effort: a marker that cannot be written only means the next process cannot tell.
        let _ = std::fs::write(path, format!("{state} {}", std::process::id()));
    }
}
