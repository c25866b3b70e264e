//! Random forest as scikit-learn's `RandomForestClassifier` defaults: 100
//! trees, bootstrap samples, sqrt(features) tried per split, Gini, fully
//! grown; prediction averages the trees' class probabilities and takes the
//! first class among ties. Trees are seeded by (seed, tree index), so the
//! forest is the same whatever the thread count.

use std::ops::Range;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::family::decode_payload;
use super::params::{Grid, ParamReader, ParamSet};
use super::quantised::{QuantisedForest, RankedRows, VOTE_CLASSES as MAX_VOTE_CLASSES};
use super::tree::{grow, Columns, Node, TreeParams, LEAF};
use super::{argmax, encode_labels, Classifier, Family, Fitted, Model, ModelKind, ScoreKind};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::rng::SplitMix64;

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

    /// The ISA whose kernels this forest runs.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// How rows cross the layout: `node by node`, or the quantised blocks'
    /// crossing (`shuffle`, `permute`, `split by split`).
    pub fn layout_name(&self) -> String {
        match &self.quantised {
            None => "node by node".into(),
            Some(q) => {
                // Labels and probabilities both count votes on such a
                // layout (`scores`), so one count of rows in flight.
                let lanes = match (q.counts_votes(), q.chains_trees()) {
                    (true, Some(n)) => format!(
                        "{} rows in flight, votes counted, trees chained (up to {n} a group)",
                        q.lanes(true)
                    ),
                    (true, None) => format!("{} rows in flight, votes counted", q.lanes(true)),
                    (false, _) => format!("{} rows in flight", q.lanes(false)),
                };
                format!("quantised 3-level blocks, {}, {lanes}", q.crossing())
            }
        }
    }

    /// Blocks of the quantised layout (0 when the forest has none).
    pub fn n_blocks(&self) -> usize {
        self.quantised.as_ref().map_or(0, QuantisedForest::n_blocks)
    }

    /// Rows per tile of the quantised traversal (the node walk's block when
    /// the forest has no quantised layout).
    pub fn tile_rows(&self) -> usize {
        self.quantised
            .as_ref()
            .map_or(BLOCK_ROWS, |q| q.tile_rows(self.n_features))
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

    /// Add trees `roots` (in order) of the rows of `block` (`d` values
    /// each) to their sums in `acc` (`rows x k`), node by node. Rows descend
    /// each tree in groups of LANES, one level per step and without
    /// branches (leaves loop to themselves), so the CPU overlaps the groups'
    /// memory latencies instead of waiting on one row's chain.
    fn walk_nodes(&self, block: &[f64], d: usize, roots: &[u32], acc: &mut [f64]) {
        const LANES: usize = 8;
        let k = self.classes.len();
        let rows = block.len() / d;
        for &root in roots {
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

    /// `x`'s rows, tile by tile: `f(first row, the tile's values)`.
    fn for_each_tile(&self, x: ArrayView2<'_, f64>, mut f: impl FnMut(usize, &[f64])) {
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
        let tile = self.tile_rows();
        for (b, block) in flat.chunks(tile * d).enumerate() {
            f(b * tile, block);
        }
    }

    /// A tile's rows as this forest's traversal reads them.
    fn tile_of(&self, block: &[f64]) -> TileRows {
        match &self.quantised {
            Some(q) => TileRows::Ranked(q.rank_rows(block, self.n_features)),
            None => TileRows::Values(block.to_vec(), self.n_features),
        }
    }

    /// Add trees `trees` of the first `rows` rows of `tile` to `acc`.
    fn add_trees(&self, tile: &mut TileRows, rows: usize, trees: Range<usize>, acc: &mut [f64]) {
        let k = self.classes.len();
        let d = self.n_features;
        match (tile, &self.quantised) {
            (TileRows::Ranked(r), Some(q)) => {
                q.add_trees(r, rows, trees, k, &self.values, &mut acc[..rows * k])
            }
            (TileRows::Values(v, _), _) => {
                self.walk_nodes(&v[..rows * d], d, &self.roots[trees], &mut acc[..rows * k])
            }
            (TileRows::Ranked(_), None) => unreachable!("ranked rows come from the layout"),
        }
    }

    /// Labels of `x`'s rows into `out`. Rows leave the walk as soon as their
    /// label is decided: once a row's lead over every other class exceeds
    /// what the trees still to walk could move (`remaining`, plus a margin
    /// for rounding far wider than the sums' error), no tree can change its
    /// argmax, so the label is the one the full sum gives, bit for bit.
    /// Undecided rows are gathered to the front every [`EXIT_STEP`] trees.
    fn labels(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        if let Some(q) = self.quantised.as_ref().filter(|q| q.counts_votes()) {
            return self.labels_by_votes(q, x, out);
        }
        let k = self.classes.len();
        let trees = self.n_trees();
        let margin = 1e-9 * trees as f64;
        let mut acc = Vec::new();
        let mut order: Vec<usize> = Vec::new();
        self.for_each_tile(x, |first, block| {
            let rows = block.len() / self.n_features;
            let mut tile = self.tile_of(block);
            acc.clear();
            acc.resize(rows * k, 0.0);
            order.clear();
            order.extend(0..rows);
            let mut n = rows;
            let mut t = 0;
            while t < trees && n > 0 {
                let next = self.next_check(t);
                self.add_trees(&mut tile, n, t..next, &mut acc);
                t = next;
                if t == trees {
                    break;
                }
                let bound = self.remaining[t] + margin;
                // Branch-free (whether a row is decided is a coin flip):
                // every row writes its label (an undecided row's is
                // overwritten later) and moves to slot `kept`, which only a
                // row still undecided keeps.
                let mut kept = 0;
                for i in 0..n {
                    let (best, lead) = lead(&acc[i * k..(i + 1) * k]);
                    out[first + order[i]] = self.classes[best];
                    tile.move_row(i, kept);
                    acc.copy_within(i * k..(i + 1) * k, kept * k);
                    order[kept] = order[i];
                    kept += (lead <= bound) as usize;
                }
                n = kept;
            }
            for i in 0..n {
                out[first + order[i]] = self.classes[argmax(&acc[i * k..(i + 1) * k])];
            }
        });
    }
}

impl RandomForest {
    /// The tree count after `t` trees at which undecided rows are next
    /// checked: from the first count that can decide a row, then every
    /// `EXIT_STEP` trees, and the last tree.
    fn next_check(&self, t: usize) -> usize {
        if t < self.decidable_from {
            self.decidable_from
        } else {
            (t + EXIT_STEP).min(self.n_trees())
        }
    }

    /// [`Self::labels`] on a layout that counts votes (every leaf pure):
    /// the same early exit on exact counts, where a tree moves a lead by
    /// at most one vote, and a lead that only ties is enough where the tie
    /// goes to the leader ([`vote_lead`]). That rule took 1.4% fewer
    /// instructions on the study forest (callgrind, AVX2, 1e5 rows: 936.5
    /// against 949.7 million a call); looking every 4, 6 or 12 trees
    /// instead of 8 saved no more (940.5, 934.3, 946.5).
    fn labels_by_votes(&self, q: &QuantisedForest, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        let k = self.classes.len();
        let d = self.n_features;
        let trees = self.n_trees();
        let mut order: Vec<usize> = Vec::new();
        let mut counts = [0u16; MAX_VOTE_CLASSES];
        self.for_each_tile(x, |first, block| {
            let rows = block.len() / d;
            let mut ranked = q.rank_rows(block, d);
            order.clear();
            order.extend(0..rows);
            let mut n = rows;
            let mut t = 0;
            while t < trees && n > 0 {
                let next = self.next_check(t);
                q.add_votes(&mut ranked, n, t..next, k);
                t = next;
                if t == trees {
                    break;
                }
                let left = (trees - t) as u32;
                // Branch-free, as in `labels`.
                let mut kept = 0;
                for i in 0..n {
                    counts
                        .iter_mut()
                        .zip(ranked.votes(i, k))
                        .for_each(|(c, v)| *c = v);
                    let (best, lead) = vote_lead(&counts[..k]);
                    out[first + order[i]] = self.classes[best];
                    ranked.move_row(i, kept);
                    order[kept] = order[i];
                    kept += (lead <= left * k as u32) as usize;
                }
                n = kept;
            }
            for i in 0..n {
                counts
                    .iter_mut()
                    .zip(ranked.votes(i, k))
                    .for_each(|(c, v)| *c = v);
                out[first + order[i]] = self.classes[vote_lead(&counts[..k]).0];
            }
        });
    }
}

/// The first most voted class of `votes` (`argmax`'s tie rule, as on the
/// sums) and its lead over every other class, in units where a vote is
/// `k` (the class count) and a tie is broken by one: class `c`'s key is
/// `count * k + (k - 1 - c)`, so the keys are distinct and the largest is
/// the label. A row is decided once its lead exceeds `k` times the trees
/// left: no class can then reach the label's key, tie rule included
/// (two classes: class 0 needs a lead of the trees left, class 1 one
/// more).
#[inline(always)]
fn vote_lead(votes: &[u16]) -> (usize, u32) {
    let k = votes.len() as u32;
    let key = |c: usize| votes[c] as u32 * k + (k - 1 - c as u32);
    if let [_, _] = *votes {
        let (a, b) = (key(0), key(1));
        return ((b > a) as usize, a.abs_diff(b));
    }
    let best = argmax(votes);
    let second = (0..votes.len())
        .filter(|&c| c != best)
        .map(key)
        .max()
        .unwrap_or(0);
    (best, key(best) - second)
}

/// The first largest of `sums` and its lead over the largest of the others.
#[inline(always)]
fn lead(sums: &[f64]) -> (usize, f64) {
    if let [a, b] = *sums {
        // `argmax`'s tie rule: the first.
        return ((b > a) as usize, (a - b).abs());
    }
    let best = argmax(sums);
    let second = sums
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != best)
        .fold(f64::NEG_INFINITY, |m, (_, &v)| m.max(v));
    (best, sums[best] - second)
}

/// One tile's rows: ranked for the quantised blocks, or the values
/// themselves for the node walk.
enum TileRows {
    Ranked(RankedRows),
    /// Rows of `d` values.
    Values(Vec<f64>, usize),
}

impl TileRows {
    /// Copy row `from` over row `to`.
    fn move_row(&mut self, from: usize, to: usize) {
        match self {
            TileRows::Ranked(r) => r.move_row(from, to),
            TileRows::Values(v, d) => v.copy_within(from * *d..(from + 1) * *d, to * *d),
        }
    }
}

// Consistency is checked while decoding (`TryFrom<ForestParts>`).
impl Fitted for RandomForest {
    fn fit_notes(&self) -> String {
        format!("{} trees, {} nodes", self.n_trees(), self.n_nodes())
    }
}

impl Classifier for RandomForest {
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
        let k = self.classes.len();
        let (mut leaves, mut pure, mut depth_sum, mut depth_max) = (0usize, 0usize, 0usize, 0usize);
        let mut per_tree = Vec::with_capacity(self.roots.len());
        let mut stack = Vec::new();
        for &root in &self.roots {
            let before = leaves;
            stack.push((root as usize, 0usize));
            while let Some((i, depth)) = stack.pop() {
                let nd = &self.nodes[i];
                if nd.feature == LEAF {
                    leaves += 1;
                    depth_sum += depth;
                    depth_max = depth_max.max(depth);
                    let v = &self.values[nd.child as usize..nd.child as usize + k];
                    let sum: f64 = v.iter().sum();
                    pure += v.iter().any(|&p| p == sum && sum > 0.0) as usize;
                } else {
                    stack.push((nd.child as usize, depth + 1));
                    stack.push((nd.child as usize + 1, depth + 1));
                }
            }
            per_tree.push(leaves - before);
        }
        let trees = self.roots.len().max(1);
        let decided = if self.decidable_from < self.n_trees() {
            format!(
                "labels: a row leaves once its lead beats the trees left (from tree {}, looked at every {EXIT_STEP}); probabilities walk every tree",
                self.decidable_from
            )
        } else {
            "every tree (no row can be decided early)".into()
        };
        vec![
            ("trees", self.n_trees().into()),
            (
                "leaves per tree",
                format!(
                    "{:.0} mean, {}-{}",
                    leaves as f64 / trees as f64,
                    per_tree.iter().min().unwrap_or(&0),
                    per_tree.iter().max().unwrap_or(&0)
                )
                .into(),
            ),
            (
                "leaf depth",
                format!(
                    "{:.1} mean, {depth_max} max",
                    depth_sum as f64 / leaves.max(1) as f64
                )
                .into(),
            ),
            (
                "pure leaves",
                format!(
                    "{pure} of {leaves} ({:.1}%)",
                    100.0 * pure as f64 / leaves.max(1) as f64
                )
                .into(),
            ),
            ("isa", self.isa.name().into()),
            ("traversal", self.layout_name().into()),
            ("blocks", self.n_blocks().into()),
            ("trees walked", decided.into()),
        ]
    }

    fn row_cost_ns(&self) -> f64 {
        // About 3 ns per node visited node by node, ~0.5 ns on quantised
        // blocks three levels at a time; depth ~ log2(nodes per tree) + a bit.
        let per_tree = self.nodes.len() as f64 / self.roots.len().max(1) as f64;
        let per_visit = if self.quantised.is_some() { 0.5 } else { 3.0 };
        self.roots.len() as f64 * (per_tree.max(2.0).log2() * 1.5 + 1.0) * per_visit
    }

    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        let k = self.classes.len();
        let mut out = Array2::zeros((x.nrows(), k));
        let trees = self.n_trees();
        // Sums for one tile (or the whole batch when it is smaller: zeroing
        // a full tile cost a single-row call ~2 us).
        let mut acc = Vec::new();
        self.for_each_tile(x, |first, block| {
            let rows = block.len() / self.n_features;
            if let Some(q) = self.quantised.as_ref().filter(|q| q.counts_votes()) {
                // Pure leaves: a class's sum of 1.0s and 0.0s in tree order
                // is its vote count exactly, so count / trees is the sums'
                // probability bit for bit, without a leaf log or float adds.
                // Study forest, 1e6 rows, Python `predict_proba` on one
                // core of the Zen 4 VM, six alternating processes: 888 ms
                // against the sums' 994 ms (0.89x, every round faster).
                let mut ranked = q.rank_rows(block, self.n_features);
                q.add_votes(&mut ranked, rows, 0..trees, k);
                for r in 0..rows {
                    for (c, v) in ranked.votes(r, k).enumerate() {
                        out[[first + r, c]] = v as f64 / trees as f64;
                    }
                }
                return;
            }
            acc.clear();
            acc.resize(rows * k, 0.0);
            self.add_trees(&mut self.tile_of(block), rows, 0..trees, &mut acc);
            for (r, a) in acc.chunks_exact(k).enumerate() {
                for c in 0..k {
                    out[[first + r, c]] = a[c] / trees as f64;
                }
            }
        });
        (ScoreKind::Probability, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn uniform(rng: &mut SplitMix64) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
    }

    /// Labels from a noisy rule, so trees grow deep and uneven.
    fn dataset(n: usize, d: usize, classes: i64, seed: u64) -> Dataset {
        let mut rng = SplitMix64::new(seed);
        let x = Array2::from_shape_fn((n, d), |_| uniform(&mut rng));
        let y = x
            .rows()
            .into_iter()
            .map(|r| {
                let s = r[0] + 0.5 * r[d - 1] + 0.3 * uniform(&mut rng);
                (s * 2.0).rem_euclid(classes as f64) as i64 * 10
            })
            .collect();
        Dataset::new(x, y)
    }

    fn config(trees: usize, max_depth: Option<usize>) -> ForestConfig {
        ForestConfig {
            n_estimators: trees,
            max_features: MaxFeatures::Sqrt,
            max_depth,
            min_samples_split: 2,
            min_samples_leaf: 1,
            bootstrap: true,
        }
    }

    /// The full node walk's answers: every tree's probabilities summed in
    /// tree order, and their argmax (first class among ties).
    fn reference(forest: &RandomForest, x: &Array2<f64>) -> (Vec<i64>, Array2<f64>) {
        let k = forest.classes.len();
        let d = forest.n_features;
        let flat = x.as_standard_layout().to_owned();
        let mut acc = vec![0.0; x.nrows() * k];
        forest.walk_nodes(flat.as_slice().unwrap(), d, &forest.roots, &mut acc);
        let labels = acc
            .chunks_exact(k)
            .map(|a| forest.classes[argmax(a)])
            .collect();
        let trees = forest.n_trees() as f64;
        let probs = Array2::from_shape_fn((x.nrows(), k), |(r, c)| acc[r * k + c] / trees);
        (labels, probs)
    }

    /// On every ISA this CPU runs, with 12 and 16 rows in flight, each row
    /// must reach the same leaves as the full node walk: probabilities
    /// equal bit for bit, labels equal (rows leaving early included).
    fn assert_traversals_agree(forest: &RandomForest, x: &Array2<f64>) {
        let (labels, probs) = reference(forest, x);
        for isa in crate::isa::available() {
            for lanes in [12, 16] {
                let f = forest.clone().on_isa(isa).with_lanes(lanes);
                assert_eq!(f.n_blocks() > 0, isa >= Isa::Avx2, "{isa}: the layout");
                assert_eq!(f.predict(x.view()), labels, "{isa}, {lanes} lanes: labels");
                let p = f.scores(x.view()).1;
                let differing = p
                    .iter()
                    .zip(&probs)
                    .filter(|(a, b)| a.to_bits() != b.to_bits());
                assert_eq!(differing.count(), 0, "{isa}, {lanes} lanes: probabilities");
            }
        }
    }

    /// Pure leaves (fully grown trees) are counted as votes when the
    /// classes' slots fit in the row's spare room; otherwise, and for leaves
    /// that are not pure, the walk adds the leaves' probabilities. Either
    /// way every ISA agrees with the node walk.
    #[test]
    fn pure_leaves_are_counted_as_votes_where_the_row_has_room() {
        for (d, classes, depth, counted) in [
            (10, 2, None, true),     // 3 slots + 10 ranks in 16
            (13, 2, None, true),     // 16 of 16
            (14, 2, None, false),    // 17: no room left
            (40, 4, None, true),     // 13 slots + 40 ranks in 64
            (10, 9, None, false),    // more classes than the exit's bits
            (10, 2, Some(3), false), // leaves not pure
        ] {
            let train = dataset(600, d, classes, d as u64);
            let forest = RandomForest::fit(&config(9, depth), &train, 3).unwrap();
            for isa in crate::isa::available().into_iter().skip(1) {
                let f = forest.clone().on_isa(isa);
                let q = f.quantised.as_ref().expect("a quantised layout");
                assert_eq!(q.counts_votes(), counted, "d = {d}, k = {classes}, {isa}");
                // Votes are counted in the lanes, trees chained, where a
                // lane holds row and block (not split by split: 40
                // features under AVX2).
                let chained = counted && !q.split_by_split();
                assert_eq!(
                    q.chains_trees().is_some(),
                    chained,
                    "d = {d}, k = {classes}, {isa}"
                );
                // `inspect` names the lanes the walk takes: the votes' for
                // labels and probabilities alike, else the sums'.
                let lanes = q.lanes(counted);
                let named = match (counted, chained) {
                    // Nine trees: rows are looked at after 5 and 9.
                    (true, true) => {
                        assert_eq!(f.checks(), [5, 9]);
                        format!(", {lanes} rows in flight, votes counted, trees chained (up to 5 a group)")
                    }
                    (true, false) => format!(", {lanes} rows in flight, votes counted"),
                    (false, _) => format!(", {lanes} rows in flight"),
                };
                assert!(
                    f.layout_name().ends_with(&named),
                    "{}: {named}",
                    f.layout_name()
                );
            }
            let test = dataset(2000, d, classes, 98);
            assert_traversals_agree(&forest, &test.x);
        }
    }

    /// Stumps on feature 0 of `d`, `k` classes: tree t sends a right-going
    /// row (x0 > 0) to class `right[t]`, a left-going one to `left[t]`.
    fn class_stumps(k: usize, d: usize, right: &[usize], left: &[usize]) -> RandomForest {
        let mut nodes = Vec::new();
        let mut roots = Vec::new();
        for (&r, &l) in right.iter().zip(left) {
            let i = nodes.len() as u32;
            roots.push(i);
            nodes.push(Node {
                threshold: 0.0,
                feature: 0,
                child: i + 1,
            });
            // Class c's leaf values (one 1.0) sit at c * k.
            for class in [l, r] {
                nodes.push(Node {
                    threshold: 0.0,
                    feature: LEAF,
                    child: (class * k) as u32,
                });
            }
        }
        let onehot = (0..k * k).map(|i| (i / k == i % k) as u8 as f64).collect();
        RandomForest::from_checked_parts((0..k as i64).collect(), d, nodes, roots, onehot).unwrap()
    }

    /// Two-leaf stumps on feature 0 (right when x0 > 0): tree t sends a
    /// right-going row to class `right[t]`, a left-going one to the other.
    fn stumps(right: &[usize]) -> RandomForest {
        let left: Vec<usize> = right.iter().map(|&c| 1 - c).collect();
        class_stumps(2, 1, right, &left)
    }

    /// A lead equal to what the trees left could take back does not decide
    /// a row: 4 votes against 1 after five of eight trees (lead 3, three
    /// trees left) ends 4:4, and a tie goes to the first class.
    #[test]
    fn a_lead_no_larger_than_the_trees_left_does_not_decide_a_row() {
        let f = stumps(&[1, 1, 1, 1, 0, 0, 0, 0]);
        assert_eq!(f.decidable_from, 5, "after 5 trees a 5:0 lead beats 3");
        let x = Array2::from_shape_vec((2, 1), vec![1.0, -1.0]).unwrap();
        assert_traversals_agree(&f, &x);
        assert_eq!(f.predict(x.view()), vec![0, 0]);
        // A lead that does beat the trees left: 5:0 after five of eight.
        let f = stumps(&[1, 1, 1, 1, 1, 0, 0, 0]);
        assert_traversals_agree(&f, &x);
        assert_eq!(f.predict(x.view()), vec![1, 0]);
    }

    /// Two classes' votes counted with the trees chained: groups end where
    /// the labels look for decided rows, cut at 127 trees (the most a
    /// group holds), and each row's counts are its trees' votes. 300
    /// stumps, class 1 to the right in every third: 100 votes against 200
    /// whichever way a row goes, decided from tree 151, so the first
    /// group is cut into 127 and 24 trees.
    #[test]
    fn chained_trees_count_every_trees_vote() {
        let right: Vec<usize> = (0..300).map(|t| (t % 3 == 0) as usize).collect();
        let f = stumps(&right);
        assert_eq!(f.decidable_from, 151);
        assert_eq!(f.checks()[..3], [151, 159, 167]);
        assert_eq!(*f.checks().last().unwrap(), 300);
        // Rows on both sides, more than the lanes, not a multiple of them.
        let x0: Vec<f64> = (0..37)
            .map(|i| if i % 4 == 0 { 1.0 } else { -1.0 })
            .collect();
        let x = Array2::from_shape_vec((37, 1), x0.clone()).unwrap();
        for isa in crate::isa::available().into_iter().skip(1) {
            let f = f.clone().on_isa(isa);
            let q = f.quantised.as_ref().expect("a quantised layout");
            assert_eq!(q.chains_trees(), Some(127), "{isa}");
            assert!(f
                .layout_name()
                .ends_with("trees chained (up to 127 a group)"));
            let p = f.scores(x.view()).1;
            for (i, &v) in x0.iter().enumerate() {
                let (ones, label) = if v > 0.0 { (100.0, 0) } else { (200.0, 1) };
                // One row alone walks (row, tree) pairs, unchained.
                assert_eq!(f.predict(x.slice(ndarray::s![i..i + 1, ..])), vec![label]);
                assert_eq!(
                    [p[[i, 0]], p[[i, 1]]],
                    [(300.0 - ones) / 300.0, ones / 300.0],
                    "{isa}, row {i}"
                );
            }
            assert_eq!(
                f.predict(x.view()),
                x0.iter().map(|&v| (v <= 0.0) as i64).collect::<Vec<_>>()
            );
        }
        assert_traversals_agree(&f, &x);
    }

    /// More classes' votes counted with the trees chained: each class but
    /// the first counts in its own bits of the lane, above the block's,
    /// so the more classes the fewer trees a group holds. Five classes of
    /// 80 stumps (5 KB of blocks, 13 bits): 18 bits left make four 4-bit
    /// counts, 15 trees a group, so the first group (to tree 41, where a
    /// row can first be decided) is cut in three; four and three classes
    /// of about 40 stumps: groups up to the looks. Every row's
    /// probabilities are its trees' votes exactly, in a batch and one row
    /// at a time, on every ISA and lane count.
    #[test]
    fn chained_trees_count_every_classes_votes() {
        // Five classes' 21 vote slots and 40 ranks fill 64 of AVX-512's
        // 64: only AVX-512 counts them.
        for (k, d, trees, most) in [(5, 40, 80, 15), (4, 1, 40, 21), (3, 1, 41, 21)] {
            // Trees vote unevenly, so each count differs from the others.
            let right: Vec<usize> = (0..trees).map(|t| (t * t + t / 3) % k).collect();
            let left: Vec<usize> = (0..trees).map(|t| (3 * t + 1) % (k - 1)).collect();
            let f = class_stumps(k, d, &right, &left);
            let counts = |side: &[usize]| -> Vec<f64> {
                (0..k)
                    .map(|c| side.iter().filter(|&&v| v == c).count() as f64)
                    .collect()
            };
            let (on_right, on_left) = (counts(&right), counts(&left));
            assert!(on_left[k - 1] == 0.0 && on_right.iter().filter(|&&n| n > 0.0).count() > 2);
            let x0: Vec<f64> = (0..37)
                .map(|i| if i % 4 == 0 { 1.0 } else { -1.0 })
                .collect();
            let x = Array2::from_shape_fn((37, d), |(i, j)| if j == 0 { x0[i] } else { 0.5 });
            for isa in crate::isa::available().into_iter().skip(1) {
                let f = f.clone().on_isa(isa);
                let q = f.quantised.as_ref().expect("a quantised layout");
                let chained = k <= 4 || isa >= Isa::Avx512;
                assert_eq!(q.chains_trees(), chained.then_some(most), "k = {k}, {isa}");
                let p = f.scores(x.view()).1;
                for (i, &v) in x0.iter().enumerate() {
                    let votes = if v > 0.0 { &on_right } else { &on_left };
                    let want: Vec<f64> = votes.iter().map(|n| n / trees as f64).collect();
                    assert_eq!(p.row(i).to_vec(), want, "k = {k}, {isa}, row {i}");
                    let label = argmax(votes) as i64;
                    assert_eq!(f.predict(x.slice(ndarray::s![i..i + 1, ..])), vec![label]);
                }
            }
            assert_traversals_agree(&f, &x);
        }
    }

    /// A row counted as decided keeps its label whichever classes the
    /// trees left vote for (argmax's first-class tie rule included), and a
    /// row not counted as decided can still change: every count vector of
    /// up to four classes, five votes each, with up to four trees left.
    #[test]
    fn a_row_is_decided_exactly_when_no_votes_left_can_change_its_label() {
        fn spreads(k: usize, left: u16) -> Vec<Vec<u16>> {
            if k == 1 {
                return vec![vec![left]];
            }
            (0..=left)
                .flat_map(|v| {
                    spreads(k - 1, left - v).into_iter().map(move |mut rest| {
                        rest.insert(0, v);
                        rest
                    })
                })
                .collect()
        }
        for k in 2..=4 {
            for counts in spreads(k, 5 * k as u16)
                .into_iter()
                .filter(|c| c.iter().all(|&v| v <= 5))
            {
                for left in 0..=4u16 {
                    let (best, lead) = vote_lead(&counts);
                    assert_eq!(best, argmax(&counts), "{counts:?}");
                    let stays = spreads(k, left).iter().all(|more| {
                        let total: Vec<u16> = counts.iter().zip(more).map(|(a, b)| a + b).collect();
                        argmax(&total) == best
                    });
                    let decided = lead > left as u32 * k as u32;
                    assert_eq!(decided, stays, "{counts:?} with {left} trees left");
                }
            }
        }
    }

    /// Many trees, so most rows leave early, and rows near the boundary
    /// walk to the end: labels equal the full walk's on every ISA.
    #[test]
    fn rows_leaving_early_keep_the_full_walks_labels() {
        for (d, classes) in [(10, 2), (6, 4), (20, 3)] {
            let train = dataset(800, d, classes, 40 + d as u64);
            let forest = RandomForest::fit(&config(64, None), &train, 5).unwrap();
            assert!(forest.decidable_from < 64);
            let test = dataset(3000, d, classes, 41);
            assert_traversals_agree(&forest, &test.x);
        }
    }

    #[test]
    fn quantised_and_node_by_node_traversals_agree() {
        for (d, classes, depth) in [
            (1, 2, None),
            (3, 3, None),
            (8, 2, None),
            (9, 2, None), // ranks from both halves of a row
            (10, 4, Some(2)),
            (16, 2, None),
            (17, 3, None), // more than 16 features: split by split on AVX2
            (32, 2, None), // AVX-512's widest one-register permute
            (64, 3, None), // AVX-512's widest two-register permute
            (65, 2, None), // split by split on every ISA
            (40, 4, None),
            (12, 6, None), // more classes than the unrolled sums
        ] {
            let train = dataset(600, d, classes, d as u64);
            let forest = RandomForest::fit(&config(7, depth), &train, 3).unwrap();
            // Rows of up to 16 features are picked from on AVX2, 64 on AVX-512.
            for isa in crate::isa::available().into_iter().skip(1) {
                let wide = if isa == Isa::Avx512 { 64 } else { 16 };
                let f = forest.clone().on_isa(isa);
                assert_eq!(f.split_by_split(), d > wide, "d = {d}, {isa}");
            }
            // Rows past a whole tile, and a partial last group.
            let test = dataset(forest.tile_rows() + 13, d, classes, 99);
            assert_traversals_agree(&forest, &test.x);
            // Fewer rows than lanes in flight, and one row.
            assert_traversals_agree(&forest, &test.x.slice(ndarray::s![..5, ..]).to_owned());
            assert_traversals_agree(&forest, &test.x.slice(ndarray::s![..1, ..]).to_owned());
        }
    }

    /// Rows on the thresholds themselves, just either side, and the values
    /// f64 orders oddly: every one must fall on the node walk's side.
    #[test]
    fn rows_on_and_around_every_threshold_agree() {
        for d in [10, 20] {
            rows_on_and_around_thresholds(d);
        }
    }

    fn rows_on_and_around_thresholds(d: usize) {
        let train = dataset(400, d, 3, 5);
        let forest = RandomForest::fit(&config(9, None), &train, 4).unwrap();
        let thresholds: Vec<(usize, f64)> = forest
            .nodes
            .iter()
            .filter(|nd| nd.feature != LEAF)
            .map(|nd| (nd.feature as usize, nd.threshold))
            .collect();
        let mut rng = SplitMix64::new(8);
        let specials = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MAX,
            f64::MIN,
        ];
        let mut x = dataset(3 * thresholds.len(), d, 3, 6).x;
        for (r, mut row) in x.rows_mut().into_iter().enumerate() {
            let (f, t) = thresholds[r / 3];
            row[f] = match r % 3 {
                0 => t,
                1 => t.next_down(),
                _ => t.next_up(),
            };
            let g = rng.below(d);
            if rng.below(4) == 0 {
                row[g] = specials[rng.below(specials.len())];
            }
        }
        assert_traversals_agree(&forest, &x);
    }

    #[test]
    fn single_leaf_trees_and_special_values() {
        let train = dataset(300, 5, 2, 1);
        let stumps = RandomForest::fit(&config(3, Some(0)), &train, 1).unwrap();
        assert_eq!(stumps.n_nodes(), 3, "max_depth 0: every tree is one leaf");
        let deep = RandomForest::fit(&config(5, None), &train, 2).unwrap();
        let mut x = dataset(40, 5, 2, 7).x;
        for (i, v) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MAX]
            .into_iter()
            .enumerate()
        {
            x.row_mut(i * 3).fill(v);
            x[[i * 3 + 1, i]] = v;
        }
        for forest in [&stumps, &deep] {
            assert_traversals_agree(forest, &x);
        }
    }

    #[test]
    fn thousands_of_levels_do_not_exhaust_the_stack() {
        // One tree, a chain of 20000 splits: split i (node 2i) tests feature
        // 0 against i; its left child (node 2i+1) is a leaf of class i % 2,
        // its right child the next split, and the last one's a final leaf.
        let depth = 20_000usize;
        let mut nodes = Vec::new();
        let mut values = Vec::new();
        for i in 0..depth {
            nodes.push(Node {
                threshold: i as f64,
                feature: 0,
                child: 2 * i as u32 + 1,
            });
            nodes.push(Node {
                threshold: 0.0,
                feature: LEAF,
                child: values.len() as u32,
            });
            values.extend([(1 - i % 2) as f64, (i % 2) as f64]);
        }
        nodes.push(Node {
            threshold: 0.0,
            feature: LEAF,
            child: values.len() as u32,
        });
        values.extend([1.0, 0.0]);
        let forest = RandomForest::from_parts(vec![0, 1], 2, nodes, vec![0], values);
        forest.validate().unwrap();
        let forest = forest.with_traversal();
        assert!(forest.n_blocks() > depth / 3);
        // Rows that stop at every depth, from the first split to the last.
        let x = Array2::from_shape_fn(
            (60, 2),
            |(r, c)| {
                if c == 0 {
                    r as f64 * 340.5 - 1.0
                } else {
                    0.0
                }
            },
        );
        let labels = forest.predict(x.view());
        assert!(labels.contains(&0) && labels.contains(&1));
        assert_traversals_agree(&forest, &x);
    }
}
