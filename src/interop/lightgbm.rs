//! LightGBM models as `save_model` writes them (the text format), read
//! without Python. Objectives `binary` (with its `sigmoid:` scale) and
//! `multiclass` (softmax); numerical splits compare `x <= threshold` in
//! double, with each split's missing type (None: NaN compared as 0; Zero:
//! NaN and ±1e-35 follow `default_left`; NaN: NaN follows `default_left`);
//! categorical splits (bitsets) send a category in the set left, NaN and
//! negative values right. Leaf values already carry the shrinkage.

use std::collections::HashMap;

use super::boosted::{self, Ensemble, Missing, Node, Test, Tree};
use crate::model::forest::boosted::{Boosted, Link};

/// Whether `text` looks like a LightGBM model file.
pub fn is_lightgbm(text: &str) -> bool {
    let head = text.trim_start();
    head.starts_with("tree\n") || head.starts_with("tree\r\n")
}

fn parse_list<T: std::str::FromStr>(v: &str, what: &str) -> Result<Vec<T>, String> {
    v.split_whitespace()
        .map(|p| {
            p.parse::<T>()
                .map_err(|_| format!("{what} holds '{p}', not a number"))
        })
        .collect()
}

/// The model in a LightGBM text file.
pub fn from_text(text: &str) -> Result<(Boosted, Option<Vec<String>>), String> {
    // Sections: the header (key=value lines) up to the first "Tree=",
    // then one block per tree, then "end of trees".
    let body = text
        .split("\nend of trees")
        .next()
        .ok_or("no 'end of trees' line: not a whole LightGBM model")?;
    if !text.contains("\nend of trees") {
        return Err("no 'end of trees' line: the file is cut short".into());
    }
    let mut blocks = body.split("\nTree=");
    let header = kv(blocks.next().unwrap_or_default());
    let get = |k: &str| {
        header
            .get(k)
            .ok_or_else(|| format!("no '{k}=' line in the LightGBM model"))
    };
    let version = header.get("version").cloned().unwrap_or_default();
    let num_class: usize = get("num_class")?
        .parse()
        .map_err(|_| "num_class is not a number")?;
    let per_iteration: usize = get("num_tree_per_iteration")?
        .parse()
        .map_err(|_| "num_tree_per_iteration is not a number")?;
    let n_features = get("max_feature_idx")?
        .parse::<usize>()
        .map_err(|_| "max_feature_idx is not a number")?
        + 1;
    let objective = get("objective")?.clone();
    let mut words = objective.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let opts: HashMap<&str, &str> = words.filter_map(|w| w.split_once(':')).collect();
    let (k, link, sigmoid) = match kind {
        "binary" => {
            let s = opts
                .get("sigmoid")
                .map_or(Ok(1.0), |v| v.parse::<f64>())
                .map_err(|_| "the objective's sigmoid is not a number")?;
            (2, Link::Sigmoid, s)
        }
        "multiclass" | "softmax" => {
            if num_class < 3 || per_iteration != num_class {
                return Err(format!(
                    "multiclass with num_class {num_class} and {per_iteration} trees per iteration"
                ));
            }
            (num_class, Link::Softmax, 1.0)
        }
        // Regressors whose prediction is the sum itself (no classes).
        "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
            if objective.split_whitespace().any(|w| w == "sqrt") {
                return Err(
                    "objective 'regression sqrt' (reg_sqrt): its predictions are the squared sums; cpuwall does not import it".into(),
                );
            }
            (0, Link::Identity, 1.0)
        }
        other => {
            return Err(format!(
                "objective '{other}': cpuwall imports LightGBM classifiers with the binary or multiclass objective and regressors whose prediction is the sum of the trees (regression, regression_l1, huber, fair, quantile, mape); multiclassova, a log link (poisson, gamma, tweedie), cross_entropy and custom objectives are not imported"
            ))
        }
    };
    if k <= 2 && per_iteration != 1 {
        return Err(format!("{kind} with {per_iteration} trees per iteration"));
    }
    let names = header
        .get("feature_names")
        .map(|n| n.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    let mut trees = Vec::new();
    for (t, block) in blocks.enumerate() {
        let nodes = tree(block, n_features).map_err(|e| format!("tree {t}: {e}"))?;
        trees.push(Tree {
            class: t % per_iteration,
            nodes,
        });
    }
    let rounds = trees.len() / per_iteration.max(1);
    let model = boosted::build(Ensemble {
        classes: (0..k as i64).collect(),
        n_features,
        trees,
        base: vec![0.0; if k <= 2 { 1 } else { k }],
        link,
        sigmoid,
        missing: true,
        source: format!("LightGBM {version} {objective}, {rounds} iterations"),
    })?;
    Ok((model, names))
}

fn kv(block: &str) -> HashMap<String, String> {
    block
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn tree(block: &str, n_features: usize) -> Result<Vec<Node>, String> {
    let f = kv(block);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("is_linear") == "1" {
        return Err("a linear tree (linear_tree=true): cpuwall does not import linear trees; train without linear_tree".into());
    }
    let leaves: usize = get("num_leaves")
        .parse()
        .map_err(|_| "num_leaves is missing or not a number")?;
    let leaf_value: Vec<f64> = parse_list(get("leaf_value"), "leaf_value")?;
    if leaf_value.len() != leaves || leaves == 0 {
        return Err(format!(
            "{} leaf values for {leaves} leaves",
            leaf_value.len()
        ));
    }
    if leaves == 1 {
        return Ok(vec![Node::Leaf(leaf_value[0])]);
    }
    let splits = leaves - 1;
    let feature: Vec<usize> = parse_list(get("split_feature"), "split_feature")?;
    let threshold: Vec<f64> = parse_list(get("threshold"), "threshold")?;
    let decision: Vec<u32> = parse_list(get("decision_type"), "decision_type")?;
    let left: Vec<i64> = parse_list(get("left_child"), "left_child")?;
    let right: Vec<i64> = parse_list(get("right_child"), "right_child")?;
    if [
        feature.len(),
        threshold.len(),
        decision.len(),
        left.len(),
        right.len(),
    ]
    .iter()
    .any(|&n| n != splits)
    {
        return Err(format!("its split arrays do not all hold {splits} splits"));
    }
    let cat_bounds: Vec<usize> = parse_list(get("cat_boundaries"), "cat_boundaries")?;
    let cat_words: Vec<u32> = parse_list(get("cat_threshold"), "cat_threshold")?;
    // Splits first (0..splits), then leaves (splits..splits + leaves); a
    // negative child `c` is leaf `!c`.
    let child = |c: i64| -> Result<usize, String> {
        if c >= 0 {
            (c as usize) < splits
        } else {
            ((!c) as usize) < leaves
        }
        .then_some(if c >= 0 {
            c as usize
        } else {
            splits + (!c) as usize
        })
        .ok_or_else(|| format!("a child {c} outside the tree"))
    };
    let mut nodes = Vec::with_capacity(splits + leaves);
    for i in 0..splits {
        if feature[i] >= n_features {
            return Err(format!(
                "split {i} on feature {} of {n_features}",
                feature[i]
            ));
        }
        let d = decision[i];
        let categorical = d & 1 == 1;
        let default_left = d & 2 == 2;
        let missing_type = (d >> 2) & 3;
        let (test, missing) = if categorical {
            let c = threshold[i] as usize;
            let (lo, hi) = match (cat_bounds.get(c), cat_bounds.get(c + 1)) {
                (Some(&lo), Some(&hi)) if lo <= hi && hi <= cat_words.len() => (lo, hi),
                _ => return Err(format!("split {i}: categorical set {c} is not in the file")),
            };
            (
                Test::InSet {
                    left: cat_words[lo..hi].to_vec(),
                    known: Vec::new(),
                    strict: false,
                },
                Missing::Right,
            )
        } else {
            let missing = match (missing_type, default_left) {
                (0, _) => Missing::AsZero,
                (1, true) => Missing::ZeroLeft,
                (1, false) => Missing::ZeroRight,
                (2, true) => Missing::Left,
                (2, false) => Missing::Right,
                (m, _) => return Err(format!("split {i}: missing type {m}")),
            };
            (Test::LessEqual(threshold[i]), missing)
        };
        nodes.push(Node::Split {
            feature: feature[i],
            test,
            missing,
            left: child(left[i])?,
            right: child(right[i])?,
        });
    }
    nodes.extend(leaf_value.into_iter().map(Node::Leaf));
    Ok(nodes)
}
