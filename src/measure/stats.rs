//! Min / median / max of repeated measurements, and the one speedup rule.

use serde::{Deserialize, Serialize};

/// How many times faster a `wall` is than direct's `direct_wall` (median
/// wall times of the same batch): the one definition every report uses.
pub fn speedup(direct_wall: f64, wall: f64) -> f64 {
    direct_wall / wall
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
    fn median_of_odd_and_even_counts() {
        assert_eq!(Spread::of(&[3.0, 1.0, 2.0]).median, 2.0);
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 4.0));
        assert!((s.relative_range() - 1.2).abs() < 1e-12);
    }
}
