//! The derived columns a summed tree ensemble's splits read (see
//! `boosted.rs`): a feature's value with its missing-value rule, or a
//! categorical split's set as 0/1; and the same trees over the features
//! themselves, for rows without a missing value.

use serde::{Deserialize, Serialize};

use super::RandomForest;

/// What a derived column holds for a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Column {
    /// `x[feature]`; NaN becomes `nan` (−∞: NaN goes left at every split
    /// on this column; +∞: right; 0.0: LightGBM's "no missing type", which
    /// compares a NaN as zero). With `zero_is_missing` (LightGBM's missing
    /// type Zero) values within ±1e-35 are missing too.
    Value {
        feature: u32,
        nan: f64,
        zero_is_missing: bool,
    },
    /// 0.0 when `x[feature]` is a category whose bit is set in `left`
    /// (bit `c` of word `c / 32`), else 1.0; a missing category gives
    /// `nan`. Missing: NaN; with `strict` (scikit-learn's rule) also a
    /// negative or fractional value and a category not in `known`. Without
    /// it (LightGBM) the value is truncated to an integer and any category
    /// outside `left` (negative ones included) gives 1.0.
    Category {
        feature: u32,
        left: Vec<u32>,
        known: Vec<u32>,
        nan: f64,
        strict: bool,
    },
}

/// LightGBM's kZeroThreshold.
pub const ZERO_THRESHOLD: f64 = 1e-35;

impl Column {
    #[inline(always)]
    pub(super) fn value(&self, row: &[f64]) -> f64 {
        match self {
            Column::Value {
                feature,
                nan,
                zero_is_missing,
            } => {
                let x = row[*feature as usize];
                if x.is_nan() || (*zero_is_missing && x.abs() <= ZERO_THRESHOLD) {
                    *nan
                } else {
                    x
                }
            }
            Column::Category {
                feature,
                left,
                known,
                nan,
                strict,
            } => {
                let x = row[*feature as usize];
                let bit = |set: &[u32], c: i64| {
                    let word = (c >> 5) as usize;
                    c >= 0 && word < set.len() && set[word] >> (c & 31) & 1 == 1
                };
                if x.is_nan() {
                    return *nan;
                }
                if *strict && (x < 0.0 || x.fract() != 0.0 || !bit(known, x as i64)) {
                    return *nan;
                }
                // LightGBM truncates the value to an integer category.
                if bit(left, x as i64) {
                    0.0
                } else {
                    1.0
                }
            }
        }
    }

    pub(super) fn feature(&self) -> u32 {
        match self {
            Column::Value { feature, .. } | Column::Category { feature, .. } => *feature,
        }
    }
}

/// [`Boosted::plain`]: the trees with each split's column replaced by its
/// feature, when every column is a feature's value with a NaN rule only.
pub(super) fn plain_trees(
    trees: &RandomForest,
    columns: &[Column],
    n_features: usize,
) -> Result<Option<RandomForest>, String> {
    let mut source = Vec::with_capacity(columns.len());
    for c in columns {
        match c {
            Column::Value {
                feature,
                zero_is_missing: false,
                ..
            } => source.push(*feature),
            _ => return Ok(None),
        }
    }
    let nodes = trees
        .nodes
        .iter()
        .map(|nd| {
            if nd.feature == super::tree::LEAF {
                *nd
            } else {
                super::tree::Node {
                    feature: source[nd.feature as usize],
                    ..*nd
                }
            }
        })
        .collect();
    RandomForest::from_checked_parts(
        trees.classes.clone(),
        n_features,
        nodes,
        trees.roots.clone(),
        trees.values.clone(),
    )
    .map(|f| Some(f.on_isa(trees.isa())))
}
