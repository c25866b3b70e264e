//! Tree ensembles made elsewhere whose trees are summed: gradient-boosted
//! trees (XGBoost, LightGBM, scikit-learn's two) and averaged forests whose
//! splits route missing values. They run on the forest engine unchanged:
//!
//! - **Margins are sums.** Each tree's leaf holds one value per class
//!   (a boosted tree's value under its class, zeros elsewhere; binary
//!   models keep their margin in class 1 and 0 in class 0), the base
//!   margins are added to the first tree of each class, and the engine's
//!   sums are the margins in the library's own order. Labels are the
//!   sums' argmax with the engine's early exit (the link below is
//!   monotone); scores apply the link.
//! - **Missing values and categories are columns.** A split's rule for a
//!   missing value (go left, go right, or treat it as 0) and a categorical
//!   split's set become derived columns the trees compare as ordinary
//!   `x <= t` splits: NaN becomes −∞ in a column whose splits send it left
//!   and +∞ in one whose splits send it right; a categorical split reads a
//!   column that is 0 for the categories that go left and 1 otherwise.
//!   The engine never sees a NaN, and every ISA path serves these models.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::columns::plain_trees;
pub use super::columns::{Column, ZERO_THRESHOLD};
use super::RandomForest;
use crate::error::Error;
use crate::model::family::decode_payload;
use crate::model::params::Grid;
use crate::model::{value_word, Family, Fitted, ModelKind, Predictor, ScoreKind, Task};

/// Tag 5 in model files.
pub const KIND: ModelKind = ModelKind::tagged(5);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "trees",
    long: "imported tree ensemble (boosted or averaged)",
    aliases: &["gbdt", "boosted"],
    default_grid: Grid::new,
    check_params: |_| Err(not_fitted()),
    fit: |_, _, _| Err(not_fitted()),
    decode: decode_payload::<Boosted>,
    fold_scaling: None,
    searched: false,
    task: crate::model::Task::Classification,
    scores: ScoreKind::Probability,
};

fn not_fitted() -> Error {
    Error::usage(
        "cpuwall does not fit boosted trees: import one (cpuwall import model.json|model.ubj|model.txt|model.onnx, or cpuwall.from_sklearn in Python)",
    )
}

/// How margins become probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Link {
    /// Binary: p(class 1) = 1 / (1 + exp(-margin)), scaled by `sigmoid`
    /// (LightGBM's `sigmoid:` parameter; 1 elsewhere).
    Sigmoid,
    /// Multiclass: the softmax of the margins.
    Softmax,
    /// An averaged forest: the sums over the tree count (a regressor's
    /// value, or a classifier's probabilities).
    Average,
    /// A boosted regressor: the margin is the value.
    Identity,
}

/// What a model file stores; the forest's traversal is rebuilt on load.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BoostedParts {
    classes: Vec<i64>,
    n_features: usize,
    columns: Vec<Column>,
    trees: RandomForest,
    link: Link,
    sigmoid: f64,
    missing: bool,
    source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BoostedParts", into = "BoostedParts")]
pub struct Boosted {
    classes: Vec<i64>,
    n_features: usize,
    /// The columns the trees' splits read (their `feature` indexes this).
    columns: Vec<Column>,
    /// The trees over `columns`, base margins folded into the first tree
    /// of each class; its classes are 0..k.
    trees: RandomForest,
    link: Link,
    /// LightGBM's sigmoid scale (1 elsewhere).
    sigmoid: f64,
    /// Whether a NaN feature is data for this model (routed by its splits).
    missing: bool,
    /// Where the trees came from ("XGBoost 2.1.4 binary:logistic").
    source: String,
    /// The same trees reading the features themselves, for rows without a
    /// NaN (there every column of `Value` kind is its feature): no derived
    /// copy, and no more columns than features. `None` when a column is a
    /// categorical set or treats near-zero values as missing.
    plain: Option<RandomForest>,
}

impl TryFrom<BoostedParts> for Boosted {
    type Error = String;
    fn try_from(p: BoostedParts) -> Result<Self, String> {
        Boosted::new(
            p.classes,
            p.n_features,
            p.columns,
            p.trees,
            p.link,
            p.sigmoid,
            p.missing,
            p.source,
        )
    }
}

impl From<Boosted> for BoostedParts {
    fn from(b: Boosted) -> Self {
        BoostedParts {
            classes: b.classes,
            n_features: b.n_features,
            columns: b.columns,
            trees: b.trees,
            link: b.link,
            sigmoid: b.sigmoid,
            missing: b.missing,
            source: b.source,
        }
    }
}

impl Boosted {
    /// A model from its parts, checked as a loaded file is: every column
    /// reads a feature that exists, the trees read columns that exist and
    /// have one value per class, the link fits the class count.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        classes: Vec<i64>,
        n_features: usize,
        columns: Vec<Column>,
        trees: RandomForest,
        link: Link,
        sigmoid: f64,
        missing: bool,
        source: String,
    ) -> Result<Self, String> {
        // No classes: a regressor, whose leaves hold one value per output.
        let k = classes.len();
        if k == 1 {
            return Err("a classifier needs at least two classes".into());
        }
        if k == 0 && trees.classes.is_empty() {
            return Err("a regressor's trees hold no values".into());
        }
        if k > 0 && trees.classes.len() != k {
            return Err(format!(
                "the trees hold {} values per leaf for {}",
                trees.classes.len(),
                if k == 0 {
                    "a regressor".to_string()
                } else {
                    format!("{k} classes")
                }
            ));
        }
        if trees.n_features != columns.len() {
            return Err(format!(
                "the trees read {} columns, {} are derived",
                trees.n_features,
                columns.len()
            ));
        }
        if let Some(c) = columns.iter().find(|c| c.feature() as usize >= n_features) {
            return Err(format!(
                "a column reads feature {} of {n_features}",
                c.feature()
            ));
        }
        for c in &columns {
            if let Column::Category { left, known, .. } = c {
                if left.len().max(known.len()) > 1 << 16 {
                    return Err("a categorical split's set is too large".into());
                }
            }
        }
        match link {
            Link::Sigmoid if k != 2 => {
                return Err(format!("a sigmoid link gives two classes, not {k}"))
            }
            Link::Softmax if k < 3 => {
                return Err("a softmax link needs three classes or more".into())
            }
            Link::Identity if k != 0 => {
                return Err("an identity link gives values, not classes".into())
            }
            _ => {}
        }
        if !(sigmoid.is_finite() && sigmoid > 0.0) {
            return Err(format!("sigmoid scale {sigmoid} must be a positive number"));
        }
        let plain = plain_trees(&trees, &columns, n_features)?;
        Ok(Boosted {
            classes,
            n_features,
            columns,
            trees,
            link,
            sigmoid,
            missing,
            source,
            plain,
        })
    }

    /// Rows per derived chunk: a few of the engine's tiles, so a chunk's
    /// derived columns stay in cache while its trees are walked.
    fn chunk_rows(&self) -> usize {
        (self.trees.tile_rows() * 4).max(256)
    }

    /// `f(first row, the trees, the chunk's rows as those trees read
    /// them)`, chunk by chunk: the plain trees on the batch itself where
    /// the chunk has no NaN, else the trees on derived columns.
    fn for_each_chunk(
        &self,
        x: ArrayView2<'_, f64>,
        mut f: impl FnMut(usize, &RandomForest, ArrayView2<'_, f64>),
    ) {
        let n = x.nrows();
        // A batch without NaN in one piece: the engine's own tiles, with
        // nothing in between (one pass over the values to know).
        if let (Some(plain), Some(all)) = (&self.plain, x.as_slice()) {
            if crate::data::all_finite(all) {
                f(0, plain, x);
                return;
            }
        }
        let step = self.chunk_rows();
        let cols = self.columns.len();
        let mut buf: Vec<f64> = Vec::new();
        let mut first = 0;
        while first < n {
            let end = (first + step).min(n);
            let rows = x.slice(ndarray::s![first..end, ..]);
            let plain = self.plain.as_ref().filter(|_| match rows.as_slice() {
                Some(s) => crate::data::all_finite(s) || !s.iter().any(|v| v.is_nan()),
                None => !rows.iter().any(|v| v.is_nan()),
            });
            if let Some(trees) = plain {
                f(first, trees, rows);
            } else {
                buf.clear();
                buf.reserve((end - first) * cols);
                let mut copy = Vec::new();
                for row in rows.rows() {
                    let r = crate::model::row_slice(&row, &mut copy);
                    buf.extend(self.columns.iter().map(|c| c.value(r)));
                }
                let view = ArrayView2::from_shape((end - first, cols), &buf).expect("shape");
                f(first, &self.trees, view);
            }
            first = end;
        }
    }

    /// Values per row: the classes' margins, or a regressor's outputs.
    fn width(&self) -> usize {
        self.trees.classes.len()
    }

    /// Margins of `x`'s rows (base included), one column per class (a
    /// regressor: per output).
    pub fn margins(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let k = self.width();
        let mut out = Array2::zeros((x.nrows(), k));
        self.for_each_chunk(x, |first, trees, rows| {
            let sums = trees.sums(rows);
            out.slice_mut(ndarray::s![first..first + rows.nrows(), ..])
                .assign(&sums);
        });
        out
    }

    /// Whether the model predicts values (no classes).
    fn is_regressor(&self) -> bool {
        self.classes.is_empty()
    }

    /// Probabilities (a regressor: values) from margins, as each library
    /// computes them.
    fn link(&self, mut m: Array2<f64>) -> Array2<f64> {
        match self.link {
            Link::Identity => {}
            Link::Average => {
                let t = self.trees.n_trees() as f64;
                m.mapv_inplace(|v| v / t);
            }
            Link::Sigmoid => {
                for mut row in m.rows_mut() {
                    let margin = row[1] - row[0];
                    let p = 1.0 / (1.0 + (-self.sigmoid * margin).exp());
                    row[0] = 1.0 - p;
                    row[1] = p;
                }
            }
            Link::Softmax => {
                for mut row in m.rows_mut() {
                    let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    row.mapv_inplace(|v| (v - top).exp());
                    let s: f64 = row.sum();
                    row.mapv_inplace(|v| v / s);
                }
            }
        }
        m
    }

    pub fn n_trees(&self) -> usize {
        self.trees.n_trees()
    }

    /// Whether NaN features are routed by the splits (accepted as data).
    pub fn routes_missing(&self) -> bool {
        self.missing
    }

    /// An averaged forest reading its features directly, with each node's
    /// missing-value direction (true: NaN goes to the `x <= t` side): what
    /// ONNX's `TreeEnsembleClassifier` can say, with
    /// `nodes_missing_value_tracks_true`. `None` for boosted models and
    /// for columns ONNX cannot express (categorical sets, zero as missing).
    pub fn averaged_forest(&self) -> Option<(&RandomForest, Vec<bool>)> {
        if !matches!(self.link, Link::Average) {
            return None;
        }
        self.plain_with_tracks()
    }

    /// The trees on the features themselves, and per node whether a NaN
    /// takes its `<=` branch: what an ONNX tree ensemble can state. `None`
    /// where a column is a categorical set or reads near-zero as missing.
    pub fn plain_with_tracks(&self) -> Option<(&RandomForest, Vec<bool>)> {
        let plain = self.plain.as_ref()?;
        let left = self
            .trees
            .nodes
            .iter()
            .map(|nd| {
                // A NaN reads as the column's `nan` value (±∞, or LightGBM's
                // zero), compared with the split's threshold like any other.
                nd.feature != super::tree::LEAF
                    && matches!(
                        self.columns[nd.feature as usize],
                        Column::Value { nan, .. } if nan <= nd.threshold
                    )
            })
            .collect();
        Some((plain, left))
    }

    /// How the trees' sums become the prediction.
    pub fn link_kind(&self) -> Link {
        self.link
    }

    /// The trees over derived columns (benches, inspect).
    pub fn trees(&self) -> &RandomForest {
        &self.trees
    }

    /// The same model on the kernels of `isa` (tests of each path).
    pub fn on_isa(mut self, isa: crate::isa::Isa) -> Self {
        self.trees = self.trees.on_isa(isa);
        self.plain = self.plain.map(|p| p.on_isa(isa));
        self
    }
}

impl Fitted for Boosted {
    fn fit_notes(&self) -> String {
        format!("{} ({} trees)", self.source, self.n_trees())
    }
}

impl Predictor for Boosted {
    fn kind(&self) -> ModelKind {
        KIND
    }
    fn task(&self) -> Task {
        if self.is_regressor() {
            Task::Regression
        } else {
            Task::Classification
        }
    }
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn classes(&self) -> &[i64] {
        &self.classes
    }
    fn routes_missing(&self) -> bool {
        self.missing
    }

    fn n_outputs(&self) -> usize {
        if self.is_regressor() {
            self.width()
        } else {
            1
        }
    }

    fn predict_into(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        assert_eq!(
            x.nrows() * self.n_outputs(),
            out.len(),
            "output length must equal the row count times the outputs"
        );
        if self.is_regressor() {
            // The sums in the library's order; an average divides once at
            // the end, as scikit-learn's forests do. Sums come row by row,
            // a row's outputs side by side: the output's own order.
            let trees = self.trees.n_trees() as f64;
            let average = matches!(self.link, Link::Average);
            let k = self.width();
            self.for_each_chunk(x, |first, forest, rows| {
                let sums = forest.sums(rows);
                let dst = &mut out[first * k..(first + rows.nrows()) * k];
                for (o, s) in dst.iter_mut().zip(sums.iter()) {
                    *o = value_word(if average { s / trees } else { *s });
                }
            });
            return;
        }
        // With k classes every round moves k margins, so the early exit
        // rarely lets a row go and its bookkeeping costs more than it
        // saves: the sums' argmax (the exit's own tie rule). Measured,
        // 300 rounds x 4 classes, 1e5 rows, one core, AVX-512: 0.62 s
        // against 0.77 s (XGBoost), 0.62 against 0.72-0.76 s (LightGBM).
        // Binary models keep the exit on the blocks (XGBoost 0.26 s
        // against 0.33-0.35 s by sums; LightGBM the same either way), not
        // on levels, whose pass over the rows is paid again at each look
        // (docs/boosted.md).
        let same = self.classes.iter().enumerate().all(|(i, &c)| c == i as i64);
        let by_sums = matches!(self.link, Link::Softmax);
        self.for_each_chunk(x, |first, trees, rows| {
            let dst = &mut out[first..first + rows.nrows()];
            if by_sums || trees.walks_levels() {
                let sums = trees.sums(rows);
                for (row, o) in sums.rows().into_iter().zip(dst.iter_mut()) {
                    *o = crate::model::argmax(row.as_slice().expect("standard layout")) as i64;
                }
            } else {
                trees.labels(rows, dst);
            }
            // The trees' classes are 0..k: map them to this model's.
            if !same {
                for l in dst.iter_mut() {
                    *l = self.classes[*l as usize];
                }
            }
        });
    }

    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        (self.score_kind(), self.link(self.margins(x)))
    }

    fn score_kind(&self) -> ScoreKind {
        if self.is_regressor() {
            ScoreKind::Value
        } else {
            ScoreKind::Probability
        }
    }

    fn row_cost_ns(&self) -> f64 {
        self.trees.row_cost_ns() + self.columns.len() as f64 * 0.5
    }

    fn layout(&self) -> Vec<(&'static str, serde_json::Value)> {
        let k = self.width();
        let categorical = self
            .columns
            .iter()
            .filter(|c| matches!(c, Column::Category { .. }))
            .count();
        let per_round = if matches!(self.link, Link::Softmax) {
            k
        } else {
            1
        };
        let mut rows = vec![
            ("source", serde_json::json!(self.source)),
            (
                "link",
                serde_json::json!(match self.link {
                    Link::Sigmoid => "sigmoid (binary)",
                    Link::Softmax => "softmax",
                    Link::Average => "average of the trees",
                    Link::Identity => "identity (the margin is the value)",
                }),
            ),
            (
                "rounds",
                serde_json::json!(if matches!(self.link, Link::Average) {
                    self.n_trees()
                } else {
                    self.n_trees() / per_round
                }),
            ),
            ("trees per round", serde_json::json!(per_round)),
            (
                "missing values",
                serde_json::json!(if self.missing {
                    "routed by each split (NaN accepted)"
                } else {
                    "refused"
                }),
            ),
            (
                "columns",
                serde_json::json!(format!(
                    "{} read by the trees ({} features, {categorical} categorical sets)",
                    self.columns.len(),
                    self.n_features
                )),
            ),
        ];
        if matches!(self.link, Link::Softmax) {
            rows.push((
                "labels",
                serde_json::json!("the argmax of the margins, every tree walked (the early exit below is not used: it costs more than it saves with k margins)"),
            ));
        } else if self.trees.walks_levels() {
            rows.push((
                "labels",
                serde_json::json!("the argmax of the margins, every tree walked (the early exit below is not used: level by level, each look would pay the pass over the rows again)"),
            ));
        }
        rows.extend(self.trees.layout_rows());
        if self.is_regressor() {
            // No labels to decide early: every value sums every tree.
            for (name, value) in rows.iter_mut() {
                if *name == "trees walked" {
                    *value = serde_json::json!("every tree (a regressor's values sum them all)");
                }
            }
        }
        rows
    }
}
