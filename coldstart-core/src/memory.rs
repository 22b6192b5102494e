//! Resident and peak memory of the process, read from Linux `/proc`.
//!
//! On Lambda, memory size also sets the CPU share, so the numbers here are best read next to the
//! function's configured size ([`Environment::memory_size_mb`](crate::environment::Environment::memory_size_mb)):
//! [`MemoryUsage::sizing_hint`] puts them side by side in plain language.
//!
//! Reading `/proc/self/status` costs a few microseconds (an `open`, a `read` of ~1.5 KiB and a
//! scan for two lines: about 6 µs on a 2-core cloud VM, in the repository's `memory/current`
//! benchmark), so it is never done on every
//! warm invocation. The crate samples it after the first real invocation (for the cold-start
//! report) and then at most once per [`SAMPLE_EVERY`] (one second), recording the peak in
//! `faas.mem_usage`: a function
//! serving 1000 requests a second pays for one read, a rarely called one samples on every
//! invocation, where a few microseconds are lost in the noise of a thawed environment.
//!
//! ```
//! if let Some(usage) = coldstart::memory::current() {
//!     assert!(usage.peak_resident_bytes >= usage.resident_bytes);
//!     println!("{}", usage.sizing_hint(Some(512)));
//! }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Memory of this process at one moment.
///
/// ```
/// use coldstart::memory::MemoryUsage;
/// let usage = MemoryUsage::parse_proc_status("VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n").unwrap();
/// assert_eq!(usage.resident_bytes, 1024 * 1024);
/// assert_eq!(usage.peak_resident_bytes, 2048 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryUsage {
    /// Resident set size now (`VmRSS`), in bytes.
    pub resident_bytes: u64,
    /// The largest resident set size the process has had, in bytes: the kernel's `VmHWM`, or the
    /// largest `VmRSS` [`current`] has read, whichever is larger (`VmHWM` can lag).
    pub peak_resident_bytes: u64,
}

impl MemoryUsage {
    /// Parses the text of `/proc/<pid>/status`. `None` if `VmRSS` or `VmHWM` is missing or
    /// malformed.
    ///
    /// ```
    /// use coldstart::memory::MemoryUsage;
    /// assert!(MemoryUsage::parse_proc_status("Name: x\n").is_none());
    /// ```
    pub fn parse_proc_status(status: &str) -> Option<MemoryUsage> {
        let kib = |field: &str| -> Option<u64> {
            let line = status.lines().find(|line| line.starts_with(field))?;
            let value = line[field.len()..].trim().strip_suffix("kB")?.trim();
            value.parse::<u64>().ok()?.checked_mul(1024)
        };
        let resident_bytes = kib("VmRSS:")?;
        let peak_resident_bytes = kib("VmHWM:")?.max(resident_bytes);
        Some(MemoryUsage {
            resident_bytes,
            peak_resident_bytes,
        })
    }

    /// A one-line, plain-language comparison of the peak with the configured memory size.
    ///
    /// ```
    /// use coldstart::memory::MemoryUsage;
    /// let usage = MemoryUsage::parse_proc_status("VmRSS: 480000 kB\nVmHWM: 500000 kB\n").unwrap();
    /// assert!(usage.sizing_hint(Some(512)).contains("raise"));
    /// ```
    pub fn sizing_hint(&self, configured_mb: Option<u32>) -> String {
        let peak_mib = self.peak_resident_bytes as f64 / (1024.0 * 1024.0);
        let Some(configured_mb) = configured_mb.filter(|mb| *mb > 0) else {
            return format!("peak {peak_mib:.0} MiB (configured memory size unknown)");
        };
        let share = peak_mib / f64::from(configured_mb);
        let percent = share * 100.0;
        let advice = if share >= 0.9 {
            "close to the limit: raise the memory size before the function runs out"
        } else if share >= 0.5 {
            "comfortable headroom"
        } else if configured_mb > 128 {
            "well below the size: a smaller size would fit, but Lambda scales CPU with memory, \
             so measure INIT and latency before lowering it"
        } else {
            "well below the size, which is already the minimum"
        };
        format!("peak {peak_mib:.0} MiB of {configured_mb} MiB ({percent:.0}%): {advice}")
    }
}

impl fmt::Display for MemoryUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "resident {:.1} MiB, peak {:.1} MiB",
            mib(self.resident_bytes),
            mib(self.peak_resident_bytes)
        )
    }
}

/// Reads this process's memory from `/proc/self/status`. `None` where `/proc` is unavailable
/// (not Linux) or unreadable; never panics.
///
/// ```
/// let usage = coldstart::memory::current();
/// # #[cfg(target_os = "linux")]
/// assert!(usage.unwrap().resident_bytes > 0);
/// ```
pub fn current() -> Option<MemoryUsage> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mut usage = MemoryUsage::parse_proc_status(&status)?;
    // The kernel updates `VmHWM` lazily (it can lag behind a `VmRSS` read earlier, e.g. after a
    // large block was freed), so the peak is also the largest resident size this crate has seen.
    let seen = OBSERVED_PEAK.fetch_max(usage.resident_bytes, Ordering::Relaxed);
    usage.peak_resident_bytes = usage.peak_resident_bytes.max(seen);
    Some(usage)
}

static OBSERVED_PEAK: AtomicU64 = AtomicU64::new(0);

/// When the last sample for `faas.mem_usage` was taken, in nanoseconds since process start plus
/// one (0: never).
static LAST_SAMPLE: AtomicU64 = AtomicU64::new(0);

/// How often, at most, an invocation samples memory for `faas.mem_usage`.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Reads memory now and records its peak in `faas.mem_usage` (bytes). Called once, with the
/// cold-start report, after the first real invocation (after its response with
/// `coldstart::lambda`); later samples come from [`sample_at_most_every_second`].
pub(crate) fn sample_now() -> Option<MemoryUsage> {
    let now = Instant::now();
    LAST_SAMPLE.store(crate::phases::start_offset(now), Ordering::Relaxed);
    record(current()?)
}

/// Called after every invocation with its end as nanoseconds since process start plus one (the
/// value the invocation timeline just stored, so it is not converted twice): samples at most once
/// per [`SAMPLE_EVERY`], so a warm invocation costs one atomic load and a comparison, and one in
/// a second or more pays the read (about 6 µs, see the module's documentation).
#[inline]
pub(crate) fn sample_at_most_every_second(now_ns: u64) {
    let last = LAST_SAMPLE.load(Ordering::Relaxed);
    // Never sampled yet: the first sample belongs to the cold-start report, which takes it after
    // the first invocation's response when it can (see `crate::report`).
    if last == 0 || now_ns.saturating_sub(last) < SAMPLE_EVERY.as_nanos() as u64 {
        return;
    }
    // One invocation wins the sample when several finish at once.
    if LAST_SAMPLE
        .compare_exchange(last, now_ns, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        sample_slow();
    }
}

#[cold]
#[inline(never)]
fn sample_slow() {
    if let Some(usage) = current() {
        record(usage);
    }
}

fn record(usage: MemoryUsage) -> Option<MemoryUsage> {
    crate::render_gate::recording(|| {
        let bytes = crate::names::Emit::Record(usage.peak_resident_bytes as f64);
        crate::names::emit(crate::names::MEM_USAGE, &[], bytes);
    });
    Some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_status_file() {
        let status = "Name:\tbootstrap\nVmPeak:\t  100000 kB\nVmHWM:\t   30000 kB\nVmRSS:\t   25000 kB\nThreads:\t3\n";
        let usage = MemoryUsage::parse_proc_status(status).unwrap();
        assert_eq!(usage.resident_bytes, 25_000 * 1024);
        assert_eq!(usage.peak_resident_bytes, 30_000 * 1024);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for status in [
            "",
            "VmRSS:",
            "VmRSS: lots kB\nVmHWM: 1 kB",
            "VmRSS: 1 MB\nVmHWM: 1 kB",
            "VmRSS: 99999999999999999999 kB\nVmHWM: 1 kB",
        ] {
            assert_eq!(MemoryUsage::parse_proc_status(status), None, "{status:?}");
        }
    }

    #[test]
    fn growing_the_heap_shows_in_resident_memory() {
        let before = current().unwrap();
        let block = vec![1u8; 64 << 20];
        let after = current().unwrap();
        assert!(
            after.resident_bytes >= before.resident_bytes + (48 << 20),
            "{before} -> {after}"
        );
        drop(std::hint::black_box(block));
        assert!(current().unwrap().peak_resident_bytes >= after.resident_bytes);
    }

    #[test]
    fn sizing_hints_cover_every_band() {
        let usage = |mib: u64| MemoryUsage {
            resident_bytes: mib << 20,
            peak_resident_bytes: mib << 20,
        };
        assert!(usage(120).sizing_hint(Some(128)).contains("raise"));
        assert!(usage(300).sizing_hint(Some(512)).contains("headroom"));
        assert!(usage(60).sizing_hint(Some(1024)).contains("measure INIT"));
        assert!(usage(30).sizing_hint(Some(128)).contains("minimum"));
        assert!(usage(30).sizing_hint(None).contains("unknown"));
    }
}
