//! One CART tree as scikit-learn grows it inside a random forest: Gini
//! impurity for classes, or squared error for real targets (variance
//! reduction), weighted samples (bootstrap counts), a random subset of
//! features per split (constant features do not count), thresholds
//! half-way between neighbouring values, grown until leaves are pure.
//!
//! Both criteria are one scan: a split's score is `sum_c L_c^2 / W_L +
//! sum_c R_c^2 / W_R`, where `L_c` is a class's weight on the left (Gini)
//! or, with one slot, the left's weighted sum of targets (squared error:
//! scikit-learn's `proxy_impurity_improvement` of `MSE`).

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Marks a leaf in [`Node::feature`].
pub const LEAF: u32 = u32::MAX;

/// 16 bytes. Internal node: go to `child` if `x[feature] <= threshold`,
/// else `child + 1` (children are stored side by side, after the parent).
/// Leaf: `child` is the offset of its class probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub threshold: f64,
    pub feature: u32,
    pub child: u32,
}

/// A grown tree: nodes (root first) and leaf class probabilities.
pub struct Tree {
    pub nodes: Vec<Node>,
    pub values: Vec<f64>,
}

pub struct TreeParams {
    pub max_features: usize,
    pub max_depth: usize,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
}

/// Training data seen by every tree: features column-major (`d x n`, so a
/// feature's values are contiguous) and class indices, or real targets.
pub struct Columns<'a> {
    pub xt: &'a [f64],
    pub n: usize,
    pub d: usize,
    /// Class indices (empty for a regression tree).
    pub y: &'a [usize],
    /// Classes (1 for a regression tree: its one slot sums targets).
    pub classes: usize,
    /// A regression tree's targets; its leaves hold their weighted mean.
    pub targets: Option<&'a [f64]>,
}

impl Columns<'_> {
    /// Add sample `s` of weight `w` to per-slot sums.
    #[inline(always)]
    fn add(&self, sums: &mut [f64], s: usize, w: f64) {
        match self.targets {
            Some(t) => sums[0] += w * t[s],
            None => sums[self.y[s]] += w,
        }
    }
}

// scikit-learn's FEATURE_THRESHOLD: values closer than this are not split.
const FEATURE_THRESHOLD: f64 = 1e-7;

struct Split {
    feature: usize,
    threshold: f64,
}

/// Grow one tree on the rows with non-zero `weights`.
pub fn grow(data: &Columns, weights: &[f64], params: &TreeParams, rng: &mut SplitMix64) -> Tree {
    let k = data.classes;
    let mut samples: Vec<u32> = (0..data.n as u32)
        .filter(|&i| weights[i as usize] > 0.0)
        .collect();
    let mut nodes = vec![Node {
        threshold: 0.0,
        feature: LEAF,
        child: 0,
    }];
    let mut values = Vec::new();
    let mut stack = vec![(0usize, 0usize, samples.len(), 0usize)];
    let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(samples.len());
    let mut features: Vec<usize> = (0..data.d).collect();
    let mut counts = vec![0.0; k];
    let mut left = vec![0.0; k];

    while let Some((node, start, end, depth)) = stack.pop() {
        counts.iter_mut().for_each(|c| *c = 0.0);
        let mut weight = 0.0;
        for &s in &samples[start..end] {
            data.add(&mut counts, s as usize, weights[s as usize]);
            weight += weights[s as usize];
        }
        let (total, pure) = match data.targets {
            // All targets equal: nothing left to explain.
            Some(t) => {
                let first = t[samples[start] as usize];
                (
                    weight,
                    samples[start..end].iter().all(|&s| t[s as usize] == first),
                )
            }
            None => (
                counts.iter().sum(),
                counts.iter().filter(|&&c| c > 0.0).count() <= 1,
            ),
        };
        let count = end - start;
        let can_split = !pure
            && depth < params.max_depth
            && count >= params.min_samples_split
            && count >= 2 * params.min_samples_leaf;
        let split = if can_split {
            best_split(
                data,
                weights,
                params,
                rng,
                &samples[start..end],
                (&counts, total),
                &mut features,
                &mut pairs,
                &mut left,
            )
        } else {
            None
        };
        match split {
            None => {
                nodes[node].child = values.len() as u32;
                values.extend(counts.iter().map(|c| c / total));
            }
            Some(sp) => {
                let col = &data.xt[sp.feature * data.n..(sp.feature + 1) * data.n];
                let mid = partition(&mut samples[start..end], |s| {
                    col[s as usize] <= sp.threshold
                }) + start;
                let child = nodes.len();
                nodes[node] = Node {
                    threshold: sp.threshold,
                    feature: sp.feature as u32,
                    child: child as u32,
                };
                for _ in 0..2 {
                    nodes.push(Node {
                        threshold: 0.0,
                        feature: LEAF,
                        child: 0,
                    });
                }
                stack.push((child + 1, mid, end, depth + 1));
                stack.push((child, start, mid, depth + 1));
            }
        }
    }
    Tree { nodes, values }
}

#[allow(clippy::too_many_arguments)]
fn best_split(
    data: &Columns,
    weights: &[f64],
    params: &TreeParams,
    rng: &mut SplitMix64,
    samples: &[u32],
    (counts, total): (&[f64], f64),
    features: &mut [usize],
    pairs: &mut Vec<(f64, u32)>,
    left: &mut [f64],
) -> Option<Split> {
    let mut best: Option<(f64, Split)> = None;
    let mut tried = 0;
    // Draw features without replacement until enough non-constant ones.
    for f_i in 0..features.len() {
        if tried >= params.max_features {
            break;
        }
        let pick = f_i + rng.below(features.len() - f_i);
        features.swap(f_i, pick);
        let f = features[f_i];
        let col = &data.xt[f * data.n..(f + 1) * data.n];
        pairs.clear();
        pairs.extend(samples.iter().map(|&s| (col[s as usize], s)));
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        if pairs[pairs.len() - 1].0 <= pairs[0].0 + FEATURE_THRESHOLD {
            continue; // constant here: does not count towards max_features
        }
        tried += 1;
        left.iter_mut().for_each(|c| *c = 0.0);
        let mut w_left = 0.0;
        let m = pairs.len();
        for p in 0..m - 1 {
            let (v, s) = pairs[p];
            let w = weights[s as usize];
            data.add(left, s as usize, w);
            w_left += w;
            let next = pairs[p + 1].0;
            if next <= v + FEATURE_THRESHOLD {
                continue;
            }
            if p + 1 < params.min_samples_leaf || m - p - 1 < params.min_samples_leaf {
                continue;
            }
            let w_right = total - w_left;
            let mut sl = 0.0;
            let mut sr = 0.0;
            for c in 0..counts.len() {
                let r = counts[c] - left[c];
                sl += left[c] * left[c];
                sr += r * r;
            }
            let proxy = sl / w_left + sr / w_right;
            if best.as_ref().is_none_or(|(b, _)| proxy > *b) {
                let mut threshold = v / 2.0 + next / 2.0;
                if threshold == next || !threshold.is_finite() {
                    threshold = v;
                }
                best = Some((
                    proxy,
                    Split {
                        feature: f,
                        threshold,
                    },
                ));
            }
        }
    }
    best.map(|(_, s)| s)
}

/// Move the elements satisfying `keep_left` to the front; returns how many.
fn partition(v: &mut [u32], keep_left: impl Fn(u32) -> bool) -> usize {
    let mut i = 0;
    for j in 0..v.len() {
        if keep_left(v[j]) {
            v.swap(i, j);
            i += 1;
        }
    }
    i
}
