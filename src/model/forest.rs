//! Random forest as scikit-learn's `RandomForestClassifier` defaults: 100
//! trees, bootstrap samples, sqrt(features) tried per split, Gini, fully
//! grown; prediction averages the trees' class probabilities and takes the
//! first class among ties. Trees are seeded by (seed, tree index), so the
//! forest is the same whatever the thread count.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::family::decode_payload;
use super::params::{Grid, ParamReader, ParamSet};
use super::quantised::QuantisedForest;
use super::tree::{grow, Columns, Node, TreeParams, LEAF};
use super::{argmax, encode_labels, Classifier, Family, Fitted, Model, ModelKind, ScoreKind};
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
    /// AVX2 CPUs (`None` when a feature has more than 65,535 distinct cuts).
    quantised: Option<QuantisedForest>,
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
        self.quantised = QuantisedForest::build(&self.nodes, &self.roots, self.n_features);
        self
    }

    /// The same forest walked node by node only (what CPUs without AVX2
    /// run); for tests and benchmarks of the two traversals.
    pub fn node_by_node(mut self) -> Self {
        self.quantised = None;
        self
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
        let quantised = self
            .quantised
            .as_ref()
            .filter(|_| QuantisedForest::usable());
        let tile = quantised.map_or(BLOCK_ROWS, |q| q.tile_rows(d));
        // Sums for one tile (or the whole batch when it is smaller: zeroing
        // a full tile cost a single-row call ~2 us).
        let mut acc = vec![0.0; tile.min(flat.len() / d) * k];
        for (b, block) in flat.chunks(tile * d).enumerate() {
            let rows = block.len() / d;
            let acc = &mut acc[..rows * k];
            if quantised
                .and_then(|f| f.accumulate(block, d, k, &self.values, acc))
                .is_none()
            {
                self.accumulate(block, d, acc);
            }
            f(b * tile, acc);
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
        let k = self.classes.len();
        self.for_each_block(x, |first, acc| {
            for (r, a) in acc.chunks_exact(k).enumerate() {
                out[first + r] = self.classes[argmax(a)];
            }
        });
    }

    fn row_cost_ns(&self) -> f64 {
        // About 3 ns per node visited node by node, ~0.5 ns on quantised
        // blocks three levels at a time; depth ~ log2(nodes per tree) + a bit.
        let per_tree = self.nodes.len() as f64 / self.roots.len().max(1) as f64;
        let per_visit = if self.quantised.is_some() && QuantisedForest::usable() {
            0.5
        } else {
            3.0
        };
        self.roots.len() as f64 * (per_tree.max(2.0).log2() * 1.5 + 1.0) * per_visit
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

    /// The quantised layout must take every row to the same leaves as the
    /// node-by-node walk: labels equal, probabilities equal bit for bit.
    fn assert_traversals_agree(forest: &RandomForest, x: &Array2<f64>) {
        assert!(forest.n_blocks() > 0, "the forest has a quantised layout");
        let nodes = forest.clone().node_by_node();
        assert_eq!(forest.predict(x.view()), nodes.predict(x.view()));
        let (a, b) = (forest.scores(x.view()).1, nodes.scores(x.view()).1);
        let differing = a.iter().zip(&b).filter(|(p, q)| p.to_bits() != q.to_bits());
        assert_eq!(differing.count(), 0);
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
            (17, 3, None), // more than 16 features: split by split
            (40, 4, None),
            (12, 6, None), // more classes than the unrolled sums
        ] {
            let train = dataset(600, d, classes, d as u64);
            let forest = RandomForest::fit(&config(7, depth), &train, 3).unwrap();
            assert_eq!(forest.split_by_split(), d > 16, "d = {d}");
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
