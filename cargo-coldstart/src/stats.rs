//! Order statistics over run samples: quantiles, and the distribution-free 95 % interval for a
//! median, which `cargo coldstart compare` gives for paired differences.

/// The `q`-quantile (0 ≤ q ≤ 1) of ascending `sorted`, by linear interpolation between the
/// closest ranks; `None` for no samples.
///
/// ```
/// use cargo_coldstart::stats::quantile;
/// assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
/// assert_eq!(quantile(&[], 0.5), None);
/// ```
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// A distribution-free 95 % confidence interval for the median of ascending `sorted`: the
/// order statistics n/2 ∓ 1.96·√n/2 (the normal approximation to the binomial). It says how
/// precisely the runs pin down the median, for example of paired differences; `None` for no
/// samples.
///
/// ```
/// use cargo_coldstart::stats::median_interval;
/// let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
/// assert_eq!(median_interval(&sorted), Some((40.0, 60.0)));
/// ```
pub fn median_interval(sorted: &[f64]) -> Option<(f64, f64)> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as f64;
    let half_width = 0.98 * n.sqrt();
    let low = ((n / 2.0 - half_width).floor().max(1.0) as usize).min(sorted.len()) - 1;
    let high = ((n / 2.0 + half_width).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some((sorted[low], sorted[high]))
}

/// Median, 95th percentile (or any other chosen one) and maximum of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The median.
    pub median: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarizes `values` (any order); `None` when there are none, so a measurement that was
    /// never made is never shown as zero.
    ///
    /// ```
    /// use cargo_coldstart::stats::Summary;
    /// let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
    /// assert_eq!((s.n, s.median, s.max), (3, 2.0, 3.0));
    /// assert!(Summary::of(&[]).is_none());
    /// ```
    pub fn of(values: &[f64]) -> Option<Summary> {
        let sorted = sorted(values);
        Some(Summary {
            n: sorted.len(),
            median: quantile(&sorted, 0.5)?,
            p95: quantile(&sorted, 0.95)?,
            max: *sorted.last()?,
        })
    }
}

/// `values` in ascending order (total order: NaN last).
///
/// ```
/// assert_eq!(cargo_coldstart::stats::sorted(&[2.0, 1.0]), vec![1.0, 2.0]);
/// ```
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_widens_with_fewer_samples_and_stays_in_range() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(median_interval(&ten), Some((1.0, 9.0)));
        assert_eq!(median_interval(&[5.0]), Some((5.0, 5.0)));
    }

    #[test]
    fn p95_interpolates() {
        let values: Vec<f64> = (0..=100).map(f64::from).collect();
        let s = Summary::of(&values).unwrap();
        assert_eq!((s.median, s.p95, s.max), (50.0, 95.0, 100.0));
    }
}
