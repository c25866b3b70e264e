//! Trees described node by node (scikit-learn's arrays, ONNX's
//! TreeEnsembleClassifier) turned into cpuwall's forest layout, where an
//! internal node's two children sit side by side after it.

use crate::model::forest::tree::{Node, LEAF};
use crate::model::forest::RandomForest;

/// One node as the source describes it. A split sends a row to `left` when
/// `x[feature] <= threshold`, else to `right` (indices into the same tree).
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    /// Class weights of a leaf, one per class.
    Leaf(Vec<f64>),
}

/// The largest f64 `x` for which `(x as f32) as f64 <= t`: comparing
/// `x <= as_f32_threshold(t)` in f64 decides exactly as scikit-learn and
/// ONNX Runtime do when they compare `float32(x) <= t`.
pub fn as_f32_threshold(t: f64) -> f64 {
    // The largest f32 not above t.
    let mut f = t as f32;
    if f as f64 > t {
        f = f.next_down();
    }
    if f == f32::NEG_INFINITY {
        // Only rows that round to -inf: below -MAX by half an ulp or more.
        return -(f32::MAX as f64 + 2f64.powi(103));
    }
    let up = f.next_up();
    let mid = if up.is_infinite() {
        f as f64 + 2f64.powi(103)
    } else {
        (f as f64 + up as f64) / 2.0
    };
    // A row exactly half-way rounds to the one of f and up with an even
    // last mantissa bit (IEEE round-half-to-even).
    if f.to_bits() & 1 == 0 {
        mid
    } else {
        mid.next_down()
    }
}

/// A forest of `trees` (root = node 0 of each) over `n_features` features
/// and `classes`; with `f32_input` thresholds decide as a comparison of the
/// row's value rounded to f32. Every index is checked: a child out of range
/// or a node reached twice (a cycle) is an error naming it.
pub fn forest(
    classes: Vec<i64>,
    n_features: usize,
    trees: &[Vec<Raw>],
    f32_input: bool,
) -> Result<RandomForest, String> {
    let k = classes.len();
    let mut nodes: Vec<Node> = Vec::new();
    let mut roots = Vec::with_capacity(trees.len());
    let mut values: Vec<f64> = Vec::new();
    if trees.is_empty() {
        return Err("the forest has no trees".into());
    }
    for (t, tree) in trees.iter().enumerate() {
        if tree.is_empty() {
            return Err(format!("tree {t} has no nodes"));
        }
        let base = nodes.len();
        roots.push(u32::try_from(base).map_err(|_| "the forest has too many nodes")?);
        let mut seen = vec![false; tree.len()];
        nodes.push(Node {
            threshold: 0.0,
            feature: LEAF,
            child: 0,
        });
        // (source node, its slot in `nodes`)
        let mut todo = vec![(0usize, base)];
        while let Some((i, slot)) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!(
                    "tree {t}: node {i} is reached twice (a cycle or a shared child)"
                ));
            }
            nodes[slot] = match &tree[i] {
                Raw::Leaf(w) => {
                    if w.len() != k || w.iter().any(|v| !v.is_finite()) {
                        return Err(format!(
                            "tree {t}: leaf {i} has {} finite class values for {k} classes",
                            w.iter().filter(|v| v.is_finite()).count()
                        ));
                    }
                    let at = u32::try_from(values.len()).map_err(|_| "too many leaves")?;
                    values.extend_from_slice(w);
                    Node {
                        threshold: 0.0,
                        feature: LEAF,
                        child: at,
                    }
                }
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
                    if !threshold.is_finite() {
                        return Err(format!("tree {t}: node {i} has threshold {threshold}"));
                    }
                    for c in [left, right] {
                        if *c >= tree.len() {
                            return Err(format!(
                                "tree {t}: node {i} points to node {c}, past its {} nodes",
                                tree.len()
                            ));
                        }
                    }
                    let first = nodes.len();
                    let child =
                        u32::try_from(first).map_err(|_| "the forest has too many nodes")?;
                    nodes.extend([nodes[slot], nodes[slot]]);
                    todo.push((*right, first + 1));
                    todo.push((*left, first));
                    Node {
                        threshold: if f32_input {
                            as_f32_threshold(*threshold)
                        } else {
                            *threshold
                        },
                        feature: *feature as u32,
                        child,
                    }
                }
            };
        }
    }
    RandomForest::from_checked_parts(classes, n_features, nodes, roots, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Predictor;
    use proptest::prelude::*;

    fn split(feature: usize, threshold: f64, left: usize, right: usize) -> Raw {
        Raw::Split {
            feature,
            threshold,
            left,
            right,
        }
    }

    #[test]
    fn a_tree_in_scikit_learn_order_predicts_by_its_splits() {
        // Depth-first like scikit-learn: 0 splits, 1 is the left subtree.
        let tree = vec![
            split(0, 0.5, 1, 4),
            split(1, -1.0, 2, 3),
            Raw::Leaf(vec![1.0, 0.0, 0.0]),
            Raw::Leaf(vec![0.0, 1.0, 0.0]),
            Raw::Leaf(vec![0.0, 0.0, 1.0]),
        ];
        let f = forest(vec![7, 8, 9], 2, &[tree], false).unwrap();
        let x = ndarray::array![[0.5, -1.0], [0.0, 3.0], [0.6, -5.0]];
        assert_eq!(f.predict(x.view()), [7, 8, 9]);
    }

    #[test]
    fn cycles_and_stray_children_are_refused() {
        let cycle = vec![
            split(0, 0.0, 1, 2),
            split(0, 0.0, 0, 2),
            Raw::Leaf(vec![1.0, 0.0]),
        ];
        let e = forest(vec![0, 1], 1, &[cycle], false).unwrap_err();
        assert!(e.contains("node 0 is reached twice"), "{e}");
        let stray = vec![split(0, 0.0, 1, 9), Raw::Leaf(vec![1.0, 0.0])];
        let e = forest(vec![0, 1], 1, &[stray], false).unwrap_err();
        assert!(e.contains("points to node 9, past its 2 nodes"), "{e}");
        let nan = vec![
            split(0, f64::NAN, 1, 2),
            Raw::Leaf(vec![1.0, 0.0]),
            Raw::Leaf(vec![0.0, 1.0]),
        ];
        let e = forest(vec![0, 1], 1, &[nan], false).unwrap_err();
        assert!(e.contains("threshold NaN"), "{e}");
    }

    #[test]
    fn f32_thresholds_at_the_edges_of_the_range() {
        for t in [
            0.0,
            -0.0,
            f32::MAX as f64,
            f32::MIN as f64,
            1e300,
            -1e300,
            1e-45,
            f64::MIN_POSITIVE,
        ] {
            let c = as_f32_threshold(t);
            assert!(((c as f32) as f64) <= t || (t < f32::MIN as f64), "{t}");
            assert!(((c.next_up() as f32) as f64) > t, "{t}: {c}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]

        /// `x <= as_f32_threshold(t)` decides exactly as `f32(x) <= t`,
        /// near the threshold (where rounding matters) and anywhere.
        #[test]
        fn the_f32_comparison_is_reproduced_exactly(
            t in -1e6f64..1e6,
            ulps in -4i64..4,
            far in any::<f64>().prop_filter("finite", |v| v.is_finite()),
        ) {
            let c = as_f32_threshold(t);
            let near = f64::from_bits((c.to_bits() as i64 + ulps) as u64);
            let mid = ((t as f32) as f64 + (t as f32).next_up() as f64) / 2.0;
            for x in [near, far, mid, mid.next_up(), mid.next_down(), t] {
                prop_assert_eq!(x <= c, ((x as f32) as f64) <= t, "x {} t {}", x, t);
            }
        }
    }
}
