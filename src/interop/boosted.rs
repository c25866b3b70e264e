//! Summed tree ensembles described split by split (XGBoost, LightGBM,
//! scikit-learn's boosted trees and forests with missing-value routing)
//! turned into [`Boosted`]: each split's rule for missing values and each
//! categorical set becomes a derived column, and leaves become one value
//! per class (see `model/forest/boosted.rs`).

use std::collections::HashMap;

use super::trees::{self, Raw};
use crate::model::forest::boosted::{Boosted, Column, Link};

/// What a split does with a missing (NaN) value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Missing {
    Left,
    Right,
    /// Compared as 0.0 (LightGBM's missing type None).
    AsZero,
    /// NaN and values within ±1e-35 go left / right (LightGBM's Zero).
    ZeroLeft,
    ZeroRight,
}

/// How a split compares a row's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Left when `x <= threshold` in f64.
    LessEqual(f64),
    /// Left when `f32(x) <= threshold` (scikit-learn's trees).
    LessEqualF32(f64),
    /// Left when `f32(x) < threshold` (XGBoost).
    LessF32(f32),
    /// Left when the value's integer category is in `left` (bit `c` of
    /// word `c / 32`). `strict` (scikit-learn): a negative, fractional or
    /// unknown (not in `known`) category is missing; else (LightGBM) the
    /// value is truncated and every category outside `left` goes right.
    InSet {
        left: Vec<u32>,
        known: Vec<u32>,
        strict: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Split {
        feature: usize,
        test: Test,
        missing: Missing,
        left: usize,
        right: usize,
    },
    Leaf(f64),
}

/// One tree: its nodes (root first) and the class its leaves add to
/// (0 for a binary model's margin).
pub struct Tree {
    pub class: usize,
    pub nodes: Vec<Node>,
}

/// What a source says about the whole ensemble.
pub struct Ensemble {
    pub classes: Vec<i64>,
    pub n_features: usize,
    pub trees: Vec<Tree>,
    /// Per class (one value for a binary model's margin); empty for an
    /// averaged forest.
    pub base: Vec<f64>,
    pub link: Link,
    pub sigmoid: f64,
    /// Whether NaN is accepted as a missing value.
    pub missing: bool,
    pub source: String,
}

/// The ensemble as a model: derived columns made once each, leaves one
/// value per class, base margins folded into each class's first tree.
pub fn build(e: Ensemble) -> Result<Boosted, String> {
    // No classes: a regressor (one margin, its value).
    let k = e.classes.len();
    if k == 1 {
        return Err(format!("{k} class; a classifier needs two or more"));
    }
    if e.trees.is_empty() {
        return Err("the model has no trees".into());
    }
    // Binary models keep their margin in class 1 (class 0's sum stays 0);
    // a regressor has a margin per target, as many as its base values.
    let slot = |class: usize| if k == 2 { 1 } else { class };
    let per_class = match k {
        0 => e.base.len().max(1),
        2 => 1,
        k => k,
    };
    let width = if k == 0 { per_class } else { k };
    if e.base.len() != per_class {
        return Err(format!(
            "{} base margins for {per_class} margin(s)",
            e.base.len()
        ));
    }
    let mut columns = Columns::default();
    let mut raw: Vec<Vec<Raw>> = Vec::with_capacity(e.trees.len() + per_class);
    let mut based = vec![false; per_class];
    for (t, tree) in e.trees.iter().enumerate() {
        if tree.class >= per_class {
            return Err(format!(
                "tree {t} adds to class {} of {per_class}",
                tree.class
            ));
        }
        let base = if std::mem::replace(&mut based[tree.class], true) {
            0.0
        } else {
            e.base[tree.class]
        };
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for (i, n) in tree.nodes.iter().enumerate() {
            nodes.push(match n {
                Node::Leaf(v) => {
                    if !v.is_finite() {
                        return Err(format!("tree {t}: leaf {i} has value {v}"));
                    }
                    let mut w = vec![0.0; width];
                    w[slot(tree.class)] = base + v;
                    Raw::Leaf(w)
                }
                Node::Split {
                    feature,
                    test,
                    missing,
                    left,
                    right,
                } => {
                    if *feature >= e.n_features {
                        return Err(format!(
                            "tree {t}: node {i} splits on feature {feature} of {}",
                            e.n_features
                        ));
                    }
                    let (column, threshold) = columns.split(*feature, test, *missing)?;
                    Raw::Split {
                        feature: column,
                        threshold,
                        left: *left,
                        right: *right,
                    }
                }
            });
        }
        raw.push(nodes);
    }
    // A class no tree adds to still starts at its base margin.
    for (c, done) in based.iter().enumerate() {
        if !done {
            let mut w = vec![0.0; width];
            w[slot(c)] = e.base[c];
            raw.push(vec![Raw::Leaf(w)]);
        }
    }
    finish(
        e.classes,
        e.n_features,
        columns,
        &raw,
        (e.link, e.sigmoid, e.missing),
        e.source,
    )
}

/// The model from its derived columns and trees over them (leaves one
/// value per class; the trees' classes are 0..k).
fn finish(
    classes: Vec<i64>,
    n_features: usize,
    columns: Columns,
    raw: &[Vec<Raw>],
    (link, sigmoid, missing): (Link, f64, bool),
    source: String,
) -> Result<Boosted, String> {
    // A regressor's leaves hold one value per output: as many as its first
    // leaf's (every leaf is checked against it).
    let k = if classes.is_empty() {
        raw.iter()
            .flatten()
            .find_map(|n| match n {
                Raw::Leaf(w) => Some(w.len()),
                Raw::Split { .. } => None,
            })
            .unwrap_or(1)
    } else {
        classes.len()
    };
    let cols = columns.list;
    let forest = trees::forest((0..k as i64).collect(), cols.len().max(1), raw, false)?;
    let cols = if cols.is_empty() {
        // Only leaves: one column so the engine has rows to read.
        vec![Column::Value {
            feature: 0,
            nan: 0.0,
            zero_is_missing: false,
        }]
    } else {
        cols
    };
    Boosted::new(
        classes, n_features, cols, forest, link, sigmoid, missing, source,
    )
}

/// A forest whose leaves hold their values whole (scikit-learn's forests
/// and single trees, or an ONNX forest that tracks missing values), `link`
/// `Average`, or hold each tree's share of a regressor's value (`Identity`:
/// summed, as skl2onnx divides a forest's leaves by the tree count), and
/// whose splits route missing values: `trees` in [`trees::Raw`] form over
/// the features, `missing_left[t][i]` for each split; `f32_input`: a
/// threshold decides as `f32(x) <= t` (scikit-learn), else as `x <= t` in
/// f64. No `classes`: a regressor (leaves of a value per output), whose
/// `missing` may be false (its trees were fitted without NaN, which is then
/// refused).
pub fn forest_of(
    classes: Vec<i64>,
    n_features: usize,
    trees_in: &[(Vec<Raw>, Vec<bool>)],
    (f32_input, missing): (bool, bool),
    link: Link,
    source: String,
) -> Result<Boosted, String> {
    let mut columns = Columns::default();
    let mut raw = Vec::with_capacity(trees_in.len());
    for (t, (nodes, missing_left)) in trees_in.iter().enumerate() {
        let mut out = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            out.push(match n {
                Raw::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    if *feature >= n_features {
                        return Err(format!(
                            "tree {t}: node {i} splits on feature {feature} of {n_features}"
                        ));
                    }
                    let missing = if missing_left.get(i).copied().unwrap_or(false) {
                        Missing::Left
                    } else {
                        Missing::Right
                    };
                    let test = if f32_input {
                        Test::LessEqualF32(*threshold)
                    } else {
                        Test::LessEqual(*threshold)
                    };
                    let (column, threshold) = columns.split(*feature, &test, missing)?;
                    Raw::Split {
                        feature: column,
                        threshold,
                        left: *left,
                        right: *right,
                    }
                }
                leaf => leaf.clone(),
            });
        }
        raw.push(out);
    }
    finish(
        classes,
        n_features,
        columns,
        &raw,
        (link, 1.0, missing),
        source,
    )
}

/// The derived columns of one model, each made once.
#[derive(Default)]
struct Columns {
    list: Vec<Column>,
    index: HashMap<String, usize>,
}

impl Columns {
    /// The column a split reads and its f64 threshold (`column <= t` goes
    /// left).
    fn split(
        &mut self,
        feature: usize,
        test: &Test,
        missing: Missing,
    ) -> Result<(usize, f64), String> {
        let feature32 = feature as u32;
        let (nan, zero_is_missing) = match missing {
            Missing::Left => (f64::NEG_INFINITY, false),
            Missing::Right => (f64::INFINITY, false),
            Missing::AsZero => (0.0, false),
            Missing::ZeroLeft => (f64::NEG_INFINITY, true),
            Missing::ZeroRight => (f64::INFINITY, true),
        };
        let (column, threshold) = match test {
            Test::LessEqual(t) => (
                Column::Value {
                    feature: feature32,
                    nan,
                    zero_is_missing,
                },
                *t,
            ),
            Test::LessEqualF32(t) => (
                Column::Value {
                    feature: feature32,
                    nan,
                    zero_is_missing,
                },
                trees::as_f32_threshold(*t),
            ),
            Test::LessF32(t) => {
                // f32(x) < t  <=>  f32(x) <= the f32 just below t.
                let below = if t.is_nan() { *t } else { t.next_down() };
                (
                    Column::Value {
                        feature: feature32,
                        nan,
                        zero_is_missing,
                    },
                    trees::as_f32_threshold(below as f64),
                )
            }
            Test::InSet {
                left,
                known,
                strict,
            } => {
                if zero_is_missing {
                    return Err("a categorical split with missing type Zero".into());
                }
                // The column is 0 for categories that go left; a missing
                // value gives 0 where it goes left, 1 where it goes right.
                let nan = match missing {
                    Missing::Left => 0.0,
                    _ => 1.0,
                };
                (
                    Column::Category {
                        feature: feature32,
                        left: left.clone(),
                        known: known.clone(),
                        nan,
                        strict: *strict,
                    },
                    0.5,
                )
            }
        };
        // Every value a column holds is finite but a missing value's ±∞:
        // `x <= +∞` sends all finite values left and +∞ right exactly as
        // `x <= f64::MAX` does (LightGBM writes such splits when it splits
        // missing values from the rest).
        let threshold = if threshold.is_nan() {
            return Err(format!("a split on feature {feature} has threshold NaN"));
        } else {
            threshold.clamp(f64::MIN, f64::MAX)
        };
        let key = format!("{column:?}");
        let next = self.list.len();
        let at = *self.index.entry(key).or_insert(next);
        if at == next {
            self.list.push(column);
        }
        Ok((at, threshold))
    }
}
