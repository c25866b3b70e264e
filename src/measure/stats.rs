//! Min / median / max of repeated measurements, and the one speedup rule.

use serde::{Deserialize, Serialize};

/// How many times faster a `wall` is than direct's `direct_wall` (median
/// wall times of the same batch): the one definition every report uses.
pub fn speedup(direct_wall: f64, wall: f64) -> f64 {
    direct_wall / wall
}

/// A 95% confidence interval of the median of `values`, by order
/// statistics: the k-th smallest and k-th largest values, with k the
/// largest rank for which P(Binomial(n, 1/2) < k) <= 2.5% (no assumption
/// about the distribution). Below 6 values no such k exists; the interval
/// is then the whole range (min, max), which covers less than 95%.
pub fn median_ci95(values: &[f64]) -> [f64; 2] {
    assert!(!values.is_empty(), "no values to summarise");
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    // P(X = i) for X ~ Binomial(n, 1/2), in logs to stay finite for large n.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut below = 0.0; // P(X < k), k = 0 so far
    let mut k = 0;
    while k < n / 2 {
        let p = (ln_choose + ln_half_n).exp(); // P(X = k)
        if below + p > 0.025 {
            break;
        }
        below += p;
        k += 1;
        ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
    }
    // k values lie below the interval: it starts at the (k+1)-th smallest.
    let k = k.max(1) - 1;
    [v[k], v[n - 1 - k]]
}

/// Samples a statistic needs: fewer, and a 95% CI of the median is the
/// whole range ([`median_ci95`]).
pub const MIN_SAMPLES: usize = 6;

/// A measurement to read with care: fewer than [`MIN_SAMPLES`] samples, or
/// a 95% CI of the median wider than +-10% of it.
pub fn is_shaky(samples: usize, ci95: [f64; 2], median: f64) -> bool {
    samples < MIN_SAMPLES || relative_half_width(ci95, median) > 0.10
}

/// Half-width of a CI relative to its median (the larger side).
pub fn relative_half_width(ci: [f64; 2], median: f64) -> f64 {
    if median > 0.0 {
        (median - ci[0]).max(ci[1] - median) / median
    } else {
        0.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    /// Summary of `values` (must be non-empty). Median of an even count is
    /// the mean of the middle two.
    pub fn of(values: &[f64]) -> Spread {
        assert!(!values.is_empty(), "no values to summarise");
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            min: v[0],
            median,
            max: v[n - 1],
        }
    }

    /// (max - min) / median: how noisy the repeats were.
    pub fn relative_range(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_ci_uses_the_binomial_order_statistics() {
        // Values 1..=n (shuffled): the CI is given by ranks.
        let ranks = |n: usize| {
            let v: Vec<f64> = (1..=n).rev().map(|i| i as f64).collect();
            median_ci95(&v)
        };
        // The textbook ranks: n = 10 -> 2nd and 9th, n = 100 -> 40th and 61st.
        assert_eq!(ranks(10), [2.0, 9.0]);
        assert_eq!(ranks(100), [40.0, 61.0]);
        // Too few values for 95%: the whole range.
        assert_eq!(ranks(5), [1.0, 5.0]);
        assert_eq!(ranks(1), [1.0, 1.0]);
        // Large n stays finite and narrows around the middle.
        let [lo, hi] = ranks(100_000);
        assert!(lo > 49_600.0 && lo < 50_000.0 && hi > 50_000.0 && hi < 50_400.0);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(Spread::of(&[3.0, 1.0, 2.0]).median, 2.0);
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 4.0));
        assert!((s.relative_range() - 1.2).abs() < 1e-12);
    }
}
