//! The CPU time the process used, read at two instants of a cold start: INIT end and the end of
//! the first real invocation.
//!
//! Lambda gives a function a share of a vCPU proportional to its memory size (1,769 MB: one
//! vCPU), but whether INIT gets that share or more (an on-demand INIT is reported to run with a
//! boost) is not documented. CPU time divided by wall time over a phase says what share the
//! phase actually got: the cold-start report carries both ([`CpuUse`](crate::report::CpuUse)),
//! and `cargo coldstart profile --calibrate` fits its CPU model from report lines.
//!
//! Each read is one `getrusage(RUSAGE_SELF)` (user + system time of every thread, exited ones
//! included; well under a microsecond), taken once per instant: at the process start of
//! [`crate::phases`] (the same instant the wall-clock phases count from), at INIT end, when the
//! first event arrives through `coldstart::lambda`'s layer, and at the end of the first real
//! invocation. The first invocation's CPU time counts from the first event's arrival (else from
//! INIT's read), as its wall time does, so that a process doing other work while it waits for
//! the event (a Runtime API served in-process, a background task) has that work counted in
//! neither.
//!
//! "At INIT end" is when [`crate::phases::mark_init_end`] marks it where INIT is not
//! user-facing (provisioned concurrency, SnapStart). For an on-demand INIT it is when the runtime
//! loop of [`Coldstart::run`](crate::lambda::Coldstart::run) has asked for the first event and
//! waits for it (a few microseconds of CPU after INIT end: building that request), else when the
//! first event arrives, else at the start of the first invocation. The reason: read at INIT end
//! itself, right before the runtime asks for the first event, the same call delayed that
//! event's response by ~50 µs (median of 1000 paired cold starts on a 2-core VM); read once the
//! request is on its way it cost nothing measurable.
//!
//! The times this module returns count from the first
//! read: a process's CPU counters survive `exec`, so whatever ran in the process before it (a
//! wrapper script that `exec`s the binary, `cargo run`) is left out, as it is from the wall
//! clock. Not available outside Unix.
//!
//! ```
//! let before = coldstart::cpu::process_cpu_time();
//! # #[cfg(unix)]
//! assert!(before.is_some());
//! ```

use std::sync::OnceLock;
use std::time::Duration;

/// CPU time (user + system, since `exec`) at the process start of [`crate::phases`].
static AT_PROCESS_START: OnceLock<Duration> = OnceLock::new();
/// CPU time since the process start at INIT end, read as the module docs say.
static AT_INIT_END: OnceLock<Duration> = OnceLock::new();
/// CPU time since the process start when the first event arrived through the layer.
static AT_FIRST_EVENT: OnceLock<Duration> = OnceLock::new();
/// CPU time since the process start at the end of the first real invocation.
static AT_FIRST_INVOCATION_END: OnceLock<Duration> = OnceLock::new();

/// The CPU time (user + system) every thread of this process has used since `exec`, exited
/// threads included; `None` where it cannot be read (not Unix, or the call failed).
///
/// ```
/// let a = coldstart::cpu::process_cpu_time();
/// let b = coldstart::cpu::process_cpu_time();
/// assert!(a <= b);
/// ```
pub fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `getrusage` writes a `rusage` into the pointer it is given, which points to
        // memory of that type and size owned by this frame; `RUSAGE_SELF` is a valid `who`. The
        // value is only read when the call reports success.
        #[allow(unsafe_code)]
        let usage = unsafe {
            if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
                return None;
            }
            usage.assume_init()
        };
        let time = |t: libc::timeval| {
            let secs = u64::try_from(t.tv_sec).unwrap_or(0);
            let micros = u32::try_from(t.tv_usec).unwrap_or(0);
            Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
        };
        Some(time(usage.ru_utime) + time(usage.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Notes the CPU time at the process start; called once, where [`crate::phases`] takes its
/// process start instant (its constructor, or the first use of this crate).
pub(crate) fn note_process_start() {
    if let Some(cpu) = process_cpu_time() {
        let _ = AT_PROCESS_START.set(cpu);
    }
}

/// The CPU time since the process start, if both reads work.
fn since_process_start() -> Option<Duration> {
    // Takes the process start (and its CPU read) if nothing has yet.
    crate::phases::process_start();
    let start = AT_PROCESS_START.get()?;
    Some(process_cpu_time()?.saturating_sub(*start))
}

/// Notes the CPU time at INIT end; only the first call counts (where it is called from: see the
/// module docs).
pub(crate) fn note_init_end() {
    if AT_INIT_END.get().is_none() {
        if let Some(cpu) = since_process_start() {
            let _ = AT_INIT_END.set(cpu);
        }
    }
}

/// Notes the CPU time when the first event arrives (the layer); also INIT's, if not read yet.
#[cfg(feature = "lambda")]
pub(crate) fn note_first_event() {
    if let Some(cpu) = since_process_start() {
        let _ = AT_INIT_END.set(cpu);
        let _ = AT_FIRST_EVENT.set(cpu);
    }
}

/// The CPU time since the process start when the first event arrived through the layer.
pub(crate) fn at_first_event() -> Option<Duration> {
    AT_FIRST_EVENT.get().copied()
}

/// Notes the CPU time at the end of the first real invocation; only the first call counts.
pub(crate) fn note_first_invocation_end() {
    if AT_FIRST_INVOCATION_END.get().is_none() {
        if let Some(cpu) = since_process_start() {
            let _ = AT_FIRST_INVOCATION_END.set(cpu);
        }
    }
}

/// The CPU time from the process start to INIT end (see the [module docs](self)), if it was read.
///
/// ```
/// assert!(coldstart::cpu::at_init_end().is_none()); // INIT has not ended in this process
/// ```
pub fn at_init_end() -> Option<Duration> {
    AT_INIT_END.get().copied()
}

/// The CPU time from the process start to the end of the first real invocation, if it has
/// ended.
///
/// ```
/// assert!(coldstart::cpu::at_first_invocation_end().is_none()); // no invocation yet
/// ```
pub fn at_first_invocation_end() -> Option<Duration> {
    AT_FIRST_INVOCATION_END.get().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn cpu_time_grows_with_work_and_is_read_once() {
        let before = process_cpu_time().unwrap();
        let mut x = 0u64;
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = process_cpu_time().unwrap();
        assert!(after > before, "{before:?} -> {after:?}");
        note_init_end();
        let first = at_init_end().unwrap();
        note_init_end();
        assert_eq!(at_init_end(), Some(first), "only the first read counts");
    }
}
