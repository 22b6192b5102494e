//! Process start and the phase boundaries of an execution environment.
//!
//! The boundaries, in the order they happen on a cold start:
//!
//! | boundary | what it is | how it is taken |
//! |---|---|---|
//! | **process start** | the earliest instant this crate can observe in the process | a constructor in `.init_array`, run by the dynamic loader before `main` (Linux); elsewhere, or if the linker dropped it, the first time this crate is used ([`StartSource`] says which) |
//! | **init end** | the function's own INIT work is done and the runtime is about to ask Lambda for the first event | [`mark_init_end`], called right before the runtime loop starts |
//! | **first event** | the runtime received the first event from Lambda | `coldstart::lambda`'s layer, before the payload is deserialized; without it, approximated by the first invocation start |
//! | **first invocation start** | the first handler call of the process begins | the `#[cold_start_handler]` expansion, on entry |
//! | **first invocation end** | that call returns (or unwinds) | the same expansion, on exit |
//!
//! What comes *before* process start (Lambda creating the sandbox, downloading the code, `exec`,
//! the dynamic loader) is outside the process and not measured: Lambda's own `REPORT` line
//! (`Init Duration`) includes it. For a Rust binary the part between `exec` and the constructor is
//! the loader's work, well under a millisecond.
//!
//! All boundaries are [`Instant`]s (monotonic). After a SnapStart restore they still refer to the
//! process that was snapshotted; durations that span the restore are not meaningful.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where [`process_start`] came from.
///
/// ```
/// use coldstart::phases::{process_start, StartSource};
/// let (_, source) = process_start();
/// # #[cfg(target_os = "linux")]
/// assert_eq!(source, StartSource::Constructor);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartSource {
    /// Taken by a constructor the dynamic loader ran before `main`.
    Constructor,
    /// Taken the first time this crate was used (no constructor support on this target).
    FirstUse,
}

static PROCESS_START: OnceLock<(Instant, StartSource)> = OnceLock::new();
static INIT_END: OnceLock<Instant> = OnceLock::new();
static FIRST_EVENT: OnceLock<Instant> = OnceLock::new();

#[cfg(any(target_os = "linux", target_os = "android"))]
mod constructor {
    use super::{StartSource, PROCESS_START};
    use std::time::Instant;

    extern "C" fn capture_process_start() {
        // A clock read, a `getrusage` and atomic stores: nothing here depends on `main` having
        // run.
        if PROCESS_START
            .set((Instant::now(), StartSource::Constructor))
            .is_ok()
        {
            crate::cpu::note_process_start();
        }
    }

    // SAFETY: `.init_array` entries are called once by the loader, before `main`, with the C ABI.
    // The function takes no arguments (extra C arguments are ignored by the C ABI), never unwinds
    // (no panicking operation), and touches only `OnceLock`s that are valid from program start
    // and libc's `getrusage`, which the C runtime has set up before any `.init_array` entry.
    #[allow(unsafe_code)]
    #[used]
    #[unsafe(link_section = ".init_array")]
    static CAPTURE_PROCESS_START: extern "C" fn() = capture_process_start;
}

/// The process start instant and where it came from (see the [module docs](self)).
///
/// ```
/// let (start, _) = coldstart::phases::process_start();
/// assert!(start <= std::time::Instant::now());
/// ```
pub fn process_start() -> (Instant, StartSource) {
    *PROCESS_START.get_or_init(|| {
        crate::cpu::note_process_start();
        (Instant::now(), StartSource::FirstUse)
    })
}

/// `at` as whole nanoseconds since [`process_start`], plus one, so that 0 can stand for "never"
/// in an atomic. The invocation timeline and the memory sampler store instants this way.
pub(crate) fn start_offset(at: Instant) -> u64 {
    let since = since_process_start(at);
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

/// `at` as time since [`process_start`] (zero for an earlier instant): a place on the start-up
/// timeline.
pub(crate) fn since_process_start(at: Instant) -> Duration {
    at.saturating_duration_since(process_start().0)
}

/// Marks the end of INIT: call it right before the runtime loop starts (after building clients,
/// reading configuration and so on). Only the first call counts; it returns `false` afterwards.
///
/// ```
/// use coldstart::phases::{init_end, mark_init_end};
///
/// assert!(mark_init_end());
/// assert!(!mark_init_end());
/// assert!(init_end().is_some());
/// ```
pub fn mark_init_end() -> bool {
    let now = Instant::now();
    process_start();
    let first = INIT_END.set(now).is_ok();
    // INIT's CPU time is read here only when no request waits for INIT (why: `crate::cpu`).
    if first && !crate::environment::Environment::current_init_type().is_user_facing() {
        crate::cpu::note_init_end();
    }
    first
}

/// The instant recorded by [`mark_init_end`], if it was called.
///
/// ```
/// // Not marked yet in this process:
/// assert!(coldstart::phases::init_end().is_none());
/// ```
pub fn init_end() -> Option<Instant> {
    INIT_END.get().copied()
}

/// Marks the arrival of the first event of the process: called by `coldstart::lambda`'s layer for
/// every event, before the payload is deserialized; only the first call counts (it returns
/// `false` afterwards, at the cost of one atomic load).
///
/// The gap from [`init_end`] to this instant (`coldstart.phase_duration{phase="wait_for_first_event"}`)
/// tells a request that waited for INIT from one that arrived at an environment initialized
/// ahead of it ([`crate::invocation::StartKind::Proactive`]).
#[cfg(feature = "lambda")]
pub(crate) fn mark_first_event() -> bool {
    if FIRST_EVENT.get().is_some() {
        return false;
    }
    let first = FIRST_EVENT.set(Instant::now()).is_ok();
    if first {
        // Where the first invocation's CPU time counts from (and INIT's, if not read yet).
        crate::cpu::note_first_event();
    }
    first
}

/// When the first event of the process arrived, if it arrived through `coldstart::lambda`'s layer
/// (which notes it before the payload is deserialized).
///
/// ```
/// assert!(coldstart::phases::first_event().is_none()); // no event yet
/// ```
pub fn first_event() -> Option<Instant> {
    FIRST_EVENT.get().copied()
}

/// How long INIT took: process start to [`mark_init_end`], if INIT end was marked.
///
/// ```
/// coldstart::phases::mark_init_end();
/// let init = coldstart::phases::init_duration().unwrap();
/// assert!(init < std::time::Duration::from_secs(10));
/// ```
pub fn init_duration() -> Option<Duration> {
    let (start, _) = process_start();
    init_end().map(|end| end.saturating_duration_since(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn the_constructor_ran_before_main() {
        // If the linker dropped the `.init_array` entry this would say `FirstUse`.
        assert_eq!(process_start().1, StartSource::Constructor);
    }

    #[test]
    fn process_start_is_stable_and_in_the_past() {
        let (a, _) = process_start();
        let (b, _) = process_start();
        assert_eq!(a, b);
        assert!(a <= Instant::now());
    }
}
