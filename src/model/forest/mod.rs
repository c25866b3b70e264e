//! Random forest as scikit-learn's `RandomForestClassifier` defaults: 100
//! trees, bootstrap samples, sqrt(features) tried per split, Gini, fully
//! grown; prediction averages the trees' class probabilities and takes the
//! first class among ties. Trees are seeded by (seed, tree index), so the
//! forest is the same whatever the thread count.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::quantised::QuantisedForest;
use self::tree::{grow, Columns, Node, TreeParams, LEAF};
use super::family::decode_payload;
use super::params::{Grid, ParamReader, ParamSet};
use super::{encode_labels, Family, Fitted, Model, ModelKind, Predictor, ScoreKind};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::rng::SplitMix64;

pub mod boosted;
mod columns;
pub mod cut_tree;
mod layout;
mod predict;
pub mod quantised;
pub mod regressor;
#[cfg(test)]
mod tests;
pub mod tree;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum MaxFeatures {
    Sqrt,
    Log2,
    All,
    Count(usize),
}

/// Tag 3 in model files.
pub const KIND: ModelKind = ModelKind::tagged(3);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "rf",
    long: "random forest",
    aliases: &["forest", "random-forest"],
    default_grid: Grid::new,
    check_params: |p| ForestConfig::from_params(p).map(|_| ()),
    fit: |p, data, seed| {
        Ok(Model::new(RandomForest::fit(
            &ForestConfig::from_params(p)?,
            data,
            seed,
        )?))
    },
    fold_scaling: None,
    decode: decode_payload::<RandomForest>,
    searched: true,
    task: crate::model::Task::Classification,
    scores: ScoreKind::Probability,
};

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
        Self::read(p, "rf", "sqrt")
    }

    /// The parameters of family `model`, whose `max_features` defaults to
    /// `max_features` (scikit-learn: `sqrt` for classifiers, all features
    /// for regressors).
    fn read(p: &ParamSet, model: &'static str, max_features: &str) -> Result<Self> {
        let r = ParamReader::new(
            model,
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
        let max_features = match r.text("max_features", max_features).as_str() {
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
                    "{model} bootstrap={other} must be true or false"
                )))
            }
        };
        let min_samples_split = r.count("min_samples_split", 2)?;
        if min_samples_split < 2 {
            return Err(Error::usage(format!(
                "{model} min_samples_split must be at least 2"
            )));
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
    /// The same trees on quantised thresholds, three levels per step, for
    /// AVX2 and AVX-512 (`None` on `isa` scalar, or when a feature has more
    /// than 65,535 distinct cuts: rows then walk node by node).
    quantised: Option<QuantisedForest>,
    /// The kernels this forest runs ([`crate::isa::current`] unless set
    /// with [`RandomForest::on_isa`]).
    isa: Isa,
    /// `remaining[t]`: how much trees `t..` can still move any class's sum
    /// against another's (each tree's widest leaf spread, summed), so a
    /// row whose lead exceeds it after `t` trees has its label; infinite
    /// when a leaf value is not finite (no early exit).
    remaining: Vec<f64>,
    /// The first tree count after which some row can be decided.
    decidable_from: usize,
}

/// Trees walked between two looks for decided rows (labels only).
const EXIT_STEP: usize = 8;

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
            targets: None,
        };
        Ok(Self::grow_all(cfg, &columns, classes, seed))
    }

    /// Every tree of the forest grown on `columns` (bootstraps seeded by
    /// (seed, tree index)); `classes`: the forest's (one, `[0]`, for a
    /// regressor's trees, whose leaves hold a mean).
    fn grow_all(cfg: &ForestConfig, columns: &Columns, classes: Vec<i64>, seed: u64) -> Self {
        let (n, d) = (columns.n, columns.d);
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
                grow(columns, &weights, &params, &mut rng)
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
        forest.with_traversal()
    }

    /// A forest from stored or imported parts (every tree's nodes, one
    /// after another, with [`Node`]'s child layout; leaf probabilities),
    /// checked like a loaded model file.
    pub fn from_checked_parts(
        classes: Vec<i64>,
        n_features: usize,
        nodes: Vec<Node>,
        roots: Vec<u32>,
        values: Vec<f64>,
    ) -> std::result::Result<Self, String> {
        RandomForest::try_from(ForestParts {
            classes,
            n_features,
            nodes,
            roots,
            values,
        })
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
            quantised: None,
            isa: Isa::Scalar,
            remaining: Vec::new(),
            decidable_from: 0,
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
        self.remaining = self.remaining_spread();
        let trees = self.roots.len();
        let spent = |t: usize| self.remaining[0] - self.remaining[t];
        self.decidable_from = (1..trees)
            .find(|&t| spent(t) > self.remaining[t])
            .unwrap_or(trees);
        self.on_isa(crate::isa::current())
    }

    /// `remaining[t]` for t in 0..=trees (see the field).
    fn remaining_spread(&self) -> Vec<f64> {
        let k = self.classes.len();
        let trees = self.roots.len();
        let mut spread = vec![0.0f64; trees];
        for (t, s) in spread.iter_mut().enumerate() {
            let end = self
                .roots
                .get(t + 1)
                .map_or(self.nodes.len(), |&r| r as usize);
            for nd in &self.nodes[self.roots[t] as usize..end] {
                if nd.feature == LEAF {
                    let v = &self.values[nd.child as usize..nd.child as usize + k];
                    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                    let w = if v.iter().all(|x| x.is_finite()) {
                        hi - lo
                    } else {
                        f64::INFINITY
                    };
                    *s = s.max(w);
                }
            }
        }
        let mut remaining = vec![0.0; trees + 1];
        for t in (0..trees).rev() {
            remaining[t] = remaining[t + 1] + spread[t];
        }
        remaining
    }

    /// The same forest on the kernels of `isa` (which must run here:
    /// [`Isa::supported`]); for tests and benchmarks of each path.
    /// The same forest with `lanes` rows in flight on its quantised
    /// layout (12 or 16), whatever this CPU's vendor would choose.
    #[cfg(test)]
    fn with_lanes(mut self, lanes: usize) -> Self {
        self.quantised = self.quantised.map(|q| q.with_lanes(lanes));
        self
    }

    /// The same forest with its sums added level by level where its
    /// trees and layout allow (`on`), or through the blocks, whatever this
    /// CPU's vendor would choose.
    #[cfg(test)]
    fn with_levels(mut self, on: bool) -> Self {
        let k = self.classes.len();
        self.quantised = self.quantised.take().map(|q| {
            if on {
                q.with_levels(&self.nodes, &self.roots, &self.values, k)
            } else {
                q.without_levels()
            }
        });
        self
    }

    pub fn on_isa(mut self, isa: Isa) -> Self {
        self.isa = isa;
        self.quantised = QuantisedForest::build(
            &self.nodes,
            &self.roots,
            &self.values,
            self.classes.len(),
            self.n_features,
            isa,
        )
        .map(|q| q.chained(&self.checks()));
        self
    }

    /// The tree counts at which [`Self::labels`] looks for decided rows
    /// ([`Self::next_check`]), the last all trees.
    fn checks(&self) -> Vec<usize> {
        let mut checks = Vec::new();
        let mut t = 0;
        while t < self.n_trees() {
            t = self.next_check(t);
            checks.push(t);
        }
        checks
    }

    /// The same forest walked node by node only (`CPUWALL_ISA=scalar`).
    pub fn node_by_node(self) -> Self {
        self.on_isa(Isa::Scalar)
    }

    /// Whether its sums are added level by level (shallow trees that add
    /// to one class each, on AVX-512: `quantised::levels`).
    pub fn walks_levels(&self) -> bool {
        self.quantised.as_ref().is_some_and(|q| q.walks_levels())
    }

    /// The ISA whose kernels this forest runs.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Blocks of the quantised layout (0 when the forest has none).
    pub fn n_blocks(&self) -> usize {
        self.quantised.as_ref().map_or(0, QuantisedForest::n_blocks)
    }

    /// Whether rows take the quantised blocks' splits one by one (more than
    /// 16 features) rather than seven at once.
    pub fn split_by_split(&self) -> bool {
        self.quantised
            .as_ref()
            .is_some_and(QuantisedForest::split_by_split)
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Every child index points forward (so traversal ends) and in bounds,
    /// every leaf's probabilities exist, every feature exists. One class:
    /// a regressor's trees inside a [`boosted::Boosted`] (one value per leaf).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let k = self.classes.len();
        if k < 1 || self.roots.is_empty() {
            return Err("forest has no classes or no trees".into());
        }
        for (t, &root) in self.roots.iter().enumerate() {
            let end = self
                .roots
                .get(t + 1)
                .map_or(self.nodes.len(), |&r| r as usize);
            if root as usize >= end {
                return Err(format!("tree {t} has no nodes"));
            }
            // A crafted file may point a root past the node array.
            if end > self.nodes.len() {
                return Err(format!(
                    "tree {t}'s nodes run past the {} nodes",
                    self.nodes.len()
                ));
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
}

// Consistency is checked while decoding (`TryFrom<ForestParts>`).
impl Fitted for RandomForest {
    fn fit_notes(&self) -> String {
        format!("{} trees, {} nodes", self.n_trees(), self.n_nodes())
    }
}

impl Predictor for RandomForest {
    fn kind(&self) -> ModelKind {
        KIND
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
        self.labels(x, out);
    }

    fn layout(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.layout_rows()
    }

    fn row_cost_ns(&self) -> f64 {
        // About 3 ns per node visited node by node, ~0.5 ns on quantised
        // blocks three levels at a time; depth ~ log2(nodes per tree) + a bit.
        let per_tree = self.nodes.len() as f64 / self.roots.len().max(1) as f64;
        let per_visit = if self.quantised.is_some() { 0.5 } else { 3.0 };
        self.roots.len() as f64 * (per_tree.max(2.0).log2() * 1.5 + 1.0) * per_visit
    }

    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        (ScoreKind::Probability, self.probabilities(x))
    }
}
