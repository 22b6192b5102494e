//! A Lambda memory size and the CPU share and memory limit it stands for.

/// The smallest memory size Lambda allows, in MB.
pub(super) const MIN_MEMORY_MB: u32 = 128;
/// The largest memory size Lambda allows, in MB.
pub(super) const MAX_MEMORY_MB: u32 = 10_240;
/// The memory size that gets one full vCPU.
const ONE_VCPU_MB: f64 = 1769.0;
/// The most vCPUs Lambda gives a function.
const MAX_VCPUS: f64 = 6.0;
/// The CFS period the quota is a share of.
pub(super) const PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts is 1 ms.
const MIN_QUOTA_US: u64 = 1_000;

/// A Lambda memory size, in MB (Lambda's MB are MiB): 128 to 10,240.
///
/// ```
/// use cargo_coldstart::limits::LambdaSize;
///
/// let size = LambdaSize { memory_mb: 1769 };
/// assert_eq!(size.cpu_share(), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaSize {
    /// The function's memory size in MB (MiB), 128..=10240.
    pub memory_mb: u32,
}

impl LambdaSize {
    /// The vCPUs Lambda gives this size: `memory_mb / 1769`, capped at 6.
    ///
    /// This is the proportional rule Lambda documents (1,769 MB is one vCPU); at the top of the
    /// range it gives 5.79 vCPUs for 10,240 MB, where Lambda advertises "up to 6".
    ///
    /// ```
    /// use cargo_coldstart::limits::LambdaSize;
    ///
    /// let share = LambdaSize { memory_mb: 128 }.cpu_share();
    /// assert!((share - 0.0724).abs() < 0.0001);
    /// ```
    pub fn cpu_share(&self) -> f64 {
        (f64::from(self.memory_mb) / ONE_VCPU_MB).min(MAX_VCPUS)
    }

    /// The CFS quota per 100 ms period, in microseconds (at least 1 ms).
    pub(super) fn quota_us(&self) -> u64 {
        // In range: memory_mb ≤ u32::MAX, so the product is far below u64::MAX.
        LambdaSize::quota_for(self.cpu_share())
    }

    /// The CFS quota per 100 ms period for `vcpus`, in microseconds (at least 1 ms; a share that
    /// is not a finite positive number gets the minimum).
    pub(super) fn quota_for(vcpus: f64) -> u64 {
        let quota = (PERIOD_US as f64 * vcpus).round();
        if quota.is_finite() && quota > 0.0 {
            (quota as u64).max(MIN_QUOTA_US)
        } else {
            MIN_QUOTA_US
        }
    }

    /// The memory limit in bytes.
    pub(super) fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_mb) * 1024 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::test_support::SIZE_128;

    #[test]
    fn cpu_share_and_quota_follow_lambdas_rule() {
        assert_eq!(LambdaSize { memory_mb: 1769 }.cpu_share(), 1.0);
        assert_eq!(SIZE_128.quota_us(), 7_236);
        assert_eq!(LambdaSize { memory_mb: 512 }.quota_us(), 28_943);
        assert_eq!(LambdaSize { memory_mb: 1769 }.quota_us(), 100_000);
        assert_eq!(LambdaSize { memory_mb: 10_240 }.quota_us(), 578_858);
        assert_eq!(LambdaSize { memory_mb: 20_000 }.cpu_share(), 6.0);
        assert_eq!(LambdaSize { memory_mb: 1 }.quota_us(), MIN_QUOTA_US);
        assert_eq!(SIZE_128.memory_bytes(), 134_217_728);
    }
}
