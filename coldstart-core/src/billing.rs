//! Lambda's duration billing: memory in GB (MB / 1024) × duration rounded up to the next
//! millisecond, in GB-seconds; and which INITs are billed that way.

use std::time::Duration;

use crate::environment::InitType;

/// A duration as Lambda bills it, at the environment's memory size.
///
/// ```
/// use coldstart::report::Billed;
/// use std::time::Duration;
///
/// let billed = Billed::new(Duration::from_micros(140_208), 512);
/// assert_eq!(billed.billed, Duration::from_millis(141)); // rounded up to the next millisecond
/// assert_eq!(billed.gb_seconds, 0.5 * 0.141);            // 512 MB = 0.5 GB
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Billed {
    /// What the process measured.
    pub measured: Duration,
    /// `measured` rounded up to the next whole millisecond (at least 1 ms), as Lambda rounds.
    pub billed: Duration,
    /// Memory in GB (MB / 1024) × `billed` in seconds: MB × billed ms / 1,024,000.
    pub gb_seconds: f64,
}

impl Billed {
    /// `measured` billed at `memory_mb`.
    pub fn new(measured: Duration, memory_mb: u32) -> Billed {
        let whole_ms = measured.as_nanos().div_ceil(1_000_000).max(1);
        let whole_ms = u64::try_from(whole_ms).unwrap_or(u64::MAX);
        Billed {
            measured,
            billed: Duration::from_millis(whole_ms),
            // MB × ms is exact; one division by 1024 MB/GB × 1000 ms/s rounds once.
            gb_seconds: (u128::from(memory_mb) * u128::from(whole_ms)) as f64 / 1_024_000.0,
        }
    }
}

/// Whether an INIT of this type is billed as duration: on-demand ones are (always for custom
/// runtimes such as Rust's, for every on-demand function since 1 August 2025; unknown types are
/// taken as on-demand); provisioned concurrency, SnapStart and Lambda Managed Instances pay for
/// INIT otherwise.
pub(crate) fn init_billed_as_duration(init_type: &InitType) -> bool {
    init_type.is_user_facing()
}

/// The GB-seconds of an INIT of `init_type` that took `init` at `memory_mb`, when INIT is billed as duration there
/// and the memory size is known: what `coldstart.init_gigabyte_seconds` records.
pub(crate) fn init_gigabyte_seconds(
    init_type: &InitType,
    memory_mb: Option<u32>,
    init: Duration,
) -> Option<f64> {
    let memory_mb = memory_mb?;
    init_billed_as_duration(init_type).then(|| Billed::new(init, memory_mb).gb_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_to_the_next_millisecond() {
        let at = |micros| Billed::new(Duration::from_micros(micros), 1024).billed;
        assert_eq!(at(14_000), Duration::from_millis(14));
        assert_eq!(at(14_001), Duration::from_millis(15));
        assert_eq!(at(14_999), Duration::from_millis(15));
        assert_eq!(at(0), Duration::from_millis(1));
        assert_eq!(
            Billed::new(Duration::from_nanos(1), 1024).billed,
            Duration::from_millis(1)
        );
    }

    #[test]
    fn gigabytes_are_1024_megabytes() {
        let billed = Billed::new(Duration::from_millis(1000), 1769);
        assert_eq!(billed.gb_seconds, 1769.0 / 1024.0);
        assert_eq!(
            Billed::new(Duration::from_millis(2), 128).gb_seconds,
            0.25 / 1000.0
        );
    }

    #[test]
    fn init_is_billed_only_on_demand_and_with_a_memory_size() {
        let init = Duration::from_micros(10_200);
        assert_eq!(
            init_gigabyte_seconds(&InitType::OnDemand, Some(2048), init),
            Some(2.0 * 0.011)
        );
        assert_eq!(init_gigabyte_seconds(&InitType::OnDemand, None, init), None);
        assert_eq!(
            init_gigabyte_seconds(&InitType::SnapStart, Some(2048), init),
            None
        );
    }
}
