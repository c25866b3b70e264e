//! Random forest as scikit-learn's `RandomForestClassifier` defaults: 100
//! trees, bootstrap samples, sqrt(features) tried per split, Gini, fully
//! grown; prediction averages the trees' class probabilities and takes the
//! first class among ties. Trees are seeded by (seed, tree index), so the
//! forest is the same whatever the thread count.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::{ParamReader, ParamSet};
use super::tree::{grow, Columns, Node, TreeParams, LEAF};
use super::{argmax, encode_labels, Classifier, ModelKind, ScoreKind};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum MaxFeatures {
    Sqrt,
    Log2,
    All,
    Count(usize),
}

#[derive(Debug, Clone)]
pub struct ForestConfig {
    pub n_estimators: usize,
    pub max_features: MaxFeatures,
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    pub bootstrap: bool,
}

impl ForestConfig {
    pub fn from_params(p: &ParamSet) -> Result<Self> {
        let r = ParamReader::new(
            "rf",
            p,
            &[
                "n_estimators",
                "max_features",
                "max_depth",
                "min_samples_split",
                "min_samples_leaf",
                "bootstrap",
            ],
        )?;
        let max_features = match r.text("max_features", "sqrt").as_str() {
            "sqrt" => MaxFeatures::Sqrt,
            "log2" => MaxFeatures::Log2,
            "all" | "none" | "None" => MaxFeatures::All,
            _ => MaxFeatures::Count(r.count("max_features", 1)?),
        };
        let max_depth = match r.text("max_depth", "none").as_str() {
            "none" | "None" => None,
            _ => Some(r.count("max_depth", 1)?),
        };
        let bootstrap = match r.text("bootstrap", "true").to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(Error::usage(format!(
                    "rf bootstrap={other} must be true or false"
                )))
            }
        };
        let min_samples_split = r.count("min_samples_split", 2)?;
        if min_samples_split < 2 {
            return Err(Error::usage("rf min_samples_split must be at least 2"));
        }
        Ok(ForestConfig {
            n_estimators: r.count("n_estimators", 100)?,
            max_features,
            max_depth,
            min_samples_split,
            min_samples_leaf: r.count("min_samples_leaf", 1)?,
            bootstrap,
        })
    }

    fn features_per_split(&self, d: usize) -> usize {
        let n = match self.max_features {
            MaxFeatures::Sqrt => (d as f64).sqrt() as usize,
            MaxFeatures::Log2 => (d as f64).log2() as usize,
            MaxFeatures::All => d,
            MaxFeatures::Count(c) => c,
        };
        n.clamp(1, d.max(1))
    }
}

/// What a model file stores; the traversal layout is rebuilt on load.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ForestParts {
    classes: Vec<i64>,
    n_features: usize,
    nodes: Vec<Node>,
    roots: Vec<u32>,
    values: Vec<f64>,
}

impl TryFrom<ForestParts> for RandomForest {
    type Error = String;
    fn try_from(p: ForestParts) -> std::result::Result<Self, String> {
        let f = RandomForest::from_parts(p.classes, p.n_features, p.nodes, p.roots, p.values);
        f.validate()?;
        Ok(f.with_traversal())
    }
}

impl From<RandomForest> for ForestParts {
    fn from(f: RandomForest) -> Self {
        ForestParts {
            classes: f.classes,
            n_features: f.n_features,
            nodes: f.nodes,
            roots: f.roots,
            values: f.values,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestParts", into = "ForestParts")]
pub struct RandomForest {
    pub classes: Vec<i64>,
    pub n_features: usize,
    /// Every tree's nodes, one after another.
    pub nodes: Vec<Node>,
    /// Index of each tree's root in `nodes`.
    pub roots: Vec<u32>,
    /// Leaf class probabilities (`n_classes` per leaf).
    pub values: Vec<f64>,
    /// Prediction layout: leaves turned into self-loops (feature 0,
    /// threshold +inf, child = itself) so rows descend branch-free in lockstep.
    walk: Vec<Node>,
    /// Per node: offset of its leaf probabilities (leaves only).
    leaf_value: Vec<u32>,
}

// Rows predicted together, tree by tree, so one tree stays in cache for the
// whole block instead of cycling all trees through cache for every row.
const BLOCK_ROWS: usize = 64;

impl RandomForest {
    pub fn fit(cfg: &ForestConfig, data: &Dataset, seed: u64) -> Result<Self> {
        let (classes, idx) = encode_labels(&data.y);
        let (n, d) = (data.n_rows(), data.n_features());
        let xt: Vec<f64> = data.x.t().iter().cloned().collect();
        let columns = Columns {
            xt: &xt,
            n,
            d,
            y: &idx,
            classes: classes.len(),
        };
        let params = TreeParams {
            max_features: cfg.features_per_split(d),
            max_depth: cfg.max_depth.unwrap_or(usize::MAX),
            min_samples_split: cfg.min_samples_split,
            min_samples_leaf: cfg.min_samples_leaf,
        };
        let trees: Vec<_> = (0..cfg.n_estimators)
            .into_par_iter()
            .map(|t| {
                let mut rng = SplitMix64::derive(seed, t as u64);
                let mut weights = vec![0.0; n];
                if cfg.bootstrap {
                    for _ in 0..n {
                        weights[rng.below(n)] += 1.0;
                    }
                } else {
                    weights.iter_mut().for_each(|w| *w = 1.0);
                }
                grow(&columns, &weights, &params, &mut rng)
            })
            .collect();
        let mut forest = RandomForest::from_parts(classes, d, Vec::new(), Vec::new(), Vec::new());
        for tree in trees {
            let node_base = forest.nodes.len() as u32;
            let value_base = forest.values.len() as u32;
            forest.roots.push(node_base);
            forest.nodes.extend(tree.nodes.iter().map(|nd| Node {
                child: nd.child
                    + if nd.feature == LEAF {
                        value_base
                    } else {
                        node_base
                    },
                ..*nd
            }));
            forest.values.extend_from_slice(&tree.values);
        }
        Ok(forest.with_traversal())
    }

    fn from_parts(
        classes: Vec<i64>,
        n_features: usize,
        nodes: Vec<Node>,
        roots: Vec<u32>,
        values: Vec<f64>,
    ) -> Self {
        RandomForest {
            classes,
            n_features,
            nodes,
            roots,
            values,
            walk: Vec::new(),
            leaf_value: Vec::new(),
        }
    }

    fn with_traversal(mut self) -> Self {
        self.walk = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, nd)| {
                if nd.feature == LEAF {
                    Node {
                        threshold: f64::INFINITY,
                        feature: 0,
                        child: i as u32,
                    }
                } else {
                    *nd
                }
            })
            .collect();
        self.leaf_value = self
            .nodes
            .iter()
            .map(|nd| if nd.feature == LEAF { nd.child } else { 0 })
            .collect();
        self
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Every child index points forward (so traversal ends) and in bounds,
    /// every leaf's probabilities exist, every feature exists.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let k = self.classes.len();
        if k < 2 || self.roots.is_empty() {
            return Err("forest has fewer than two classes or no trees".into());
        }
        for (t, &root) in self.roots.iter().enumerate() {
            let end = self
                .roots
                .get(t + 1)
                .map_or(self.nodes.len(), |&r| r as usize);
            if root as usize >= end {
                return Err(format!("tree {t} has no nodes"));
            }
            for i in root as usize..end {
                let nd = &self.nodes[i];
                if nd.feature == LEAF {
                    if nd.child as usize + k > self.values.len() {
                        return Err(format!("leaf {i} points past the leaf values"));
                    }
                } else if nd.feature as usize >= self.n_features
                    || nd.child as usize <= i
                    || nd.child as usize + 1 >= end
                    || nd.threshold.is_nan()
                {
                    return Err(format!("node {i} has a bad feature or child index"));
                }
            }
        }
        Ok(())
    }

    /// Summed tree probabilities for a block of rows into `acc` (`rows x k`).
    /// Rows descend each tree in groups of LANES, one level per step and
    /// without branches (leaves loop to themselves), so the CPU overlaps the
    /// groups' memory latencies instead of waiting on one row's chain.
    fn accumulate(&self, block: &[f64], d: usize, acc: &mut [f64]) {
        const LANES: usize = 8;
        let k = self.classes.len();
        acc.iter_mut().for_each(|a| *a = 0.0);
        let rows = block.len() / d;
        for &root in &self.roots {
            let mut first = 0;
            while first < rows {
                let lanes = LANES.min(rows - first);
                let mut idx = [root as usize; LANES];
                loop {
                    let mut moved = 0usize;
                    for (r, slot) in idx.iter_mut().enumerate().take(lanes) {
                        let nd = &self.walk[*slot];
                        let x = block[(first + r) * d + nd.feature as usize];
                        let next = nd.child as usize + (x > nd.threshold) as usize;
                        moved |= next ^ *slot;
                        *slot = next;
                    }
                    if moved == 0 {
                        break;
                    }
                }
                for (r, slot) in idx.iter().enumerate().take(lanes) {
                    let leaf = self.leaf_value[*slot] as usize;
                    let probs = &self.values[leaf..leaf + k];
                    for (a, p) in acc[(first + r) * k..(first + r + 1) * k]
                        .iter_mut()
                        .zip(probs)
                    {
                        *a += p;
                    }
                }
                first += lanes;
            }
        }
    }

    fn for_each_block(&self, x: ArrayView2<'_, f64>, mut f: impl FnMut(usize, &[f64])) {
        let d = self.n_features;
        let owned;
        let flat = match x.as_slice() {
            Some(s) => s,
            None => {
                owned = x.as_standard_layout().to_owned();
                owned.as_slice().expect("standard layout")
            }
        };
        if d == 0 {
            return;
        }
        let k = self.classes.len();
        let mut acc = vec![0.0; BLOCK_ROWS * k];
        for (b, block) in flat.chunks(BLOCK_ROWS * d).enumerate() {
            let rows = block.len() / d;
            self.accumulate(block, d, &mut acc[..rows * k]);
            f(b * BLOCK_ROWS, &acc[..rows * k]);
        }
    }
}

impl Classifier for RandomForest {
    fn kind(&self) -> ModelKind {
        ModelKind::Forest
    }
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn classes(&self) -> &[i64] {
        &self.classes
    }

    fn predict_into(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        assert_eq!(
            x.nrows(),
            out.len(),
            "output length must equal the row count"
        );
        let k = self.classes.len();
        self.for_each_block(x, |first, acc| {
            for (r, a) in acc.chunks_exact(k).enumerate() {
                out[first + r] = self.classes[argmax(a)];
            }
        });
    }

    fn row_cost_ns(&self) -> f64 {
        // About 3 ns per node visited; depth ~ log2(nodes per tree) + a bit.
        let per_tree = self.nodes.len() as f64 / self.roots.len().max(1) as f64;
        self.roots.len() as f64 * (per_tree.max(2.0).log2() * 1.5 + 1.0) * 3.0
    }

    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        let k = self.classes.len();
        let mut out = Array2::zeros((x.nrows(), k));
        let trees = self.n_trees() as f64;
        self.for_each_block(x, |first, acc| {
            for (r, a) in acc.chunks_exact(k).enumerate() {
                for c in 0..k {
                    out[[first + r, c]] = a[c] / trees;
                }
            }
        });
        (ScoreKind::Probability, out)
    }
}
