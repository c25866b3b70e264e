//! Models: one [`Predictor`] trait for prediction, one file per family, the
//! model file format in `store.rs`.
//!
//! Why not the named crates for fitting/prediction (measured on this 2-core
//! machine, release builds; see issue notes):
//! - linfa-bayes GaussianNb predicts 1e6x10 rows in 0.25 s vs 0.014 s for a
//!   plain loop, and its fitted means/variances are private;
//! - linfa-logistic fits L2 only (no L1 / elastic net);
//! - linfa-svm builds a dense n x n kernel (29 s, 570 MB at n=8000) and has
//!   neither an L1 penalty nor the squared hinge; smartcore's SVC took 30 min;
//! - smartcore's random forest uses a hard majority vote (scikit-learn
//!   averages probabilities) and predicts 2.6e4 rows/s.
//!
//! So each family here is a small, direct implementation of the method
//! scikit-learn/liblinear use, tested against scikit-learn's fixtures.

pub mod family;
pub mod forest;
pub mod kernel;
pub mod linear;
pub mod linreg;
pub mod logistic;
pub mod nb;
pub mod newton;
pub mod params;
pub mod scale;
pub mod store;
pub mod svc;
pub mod vote;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::Result;
pub use family::{Family, Fitted, Model, ModelKind};
pub use params::{ParamSet, ParamValue};

/// Every model family this build knows. Adding one: its file in `model/`
/// (with `pub static FAMILY`), its `pub mod` line above, its entry here.
pub static FAMILIES: &[&Family] = &[
    &nb::FAMILY,
    &logistic::FAMILY,
    &svc::FAMILY,
    &forest::FAMILY,
    &vote::FAMILY,
    &forest::boosted::FAMILY,
    &linreg::FAMILY,
    &forest::regressor::FAMILY,
];

pub use crate::data::Task;

/// A regressor's value as its output word (the f64's bits).
#[inline(always)]
pub fn value_word(v: f64) -> i64 {
    v.to_bits() as i64
}

/// The value a regressor's output word holds.
#[inline(always)]
pub fn word_value(w: i64) -> f64 {
    f64::from_bits(w as u64)
}

/// What [`Predictor::scores`] returns per class column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreKind {
    /// Class probabilities; rows sum to 1.
    Probability,
    /// Signed distances (one column for binary problems, as scikit-learn).
    Decision,
    /// A hard-voting ensemble's share of members voting for each class.
    Votes,
    /// A regressor's predicted values (one column).
    Value,
}

/// Prediction over a borrowed batch into a caller's buffer, so that any
/// backend can hand any row range of any input to any model without copying.
pub trait Predictor: Send + Sync {
    fn kind(&self) -> ModelKind;
    /// Labels or values ([`Task`]); classification unless the model says.
    fn task(&self) -> Task {
        Task::Classification
    }
    fn n_features(&self) -> usize;
    /// Sorted class labels; predictions are drawn from these (empty for a
    /// regressor).
    fn classes(&self) -> &[i64];
    /// Output words a row: 1 (a class label, or one value), or a
    /// multi-output regressor's value count.
    fn n_outputs(&self) -> usize {
        1
    }
    /// Predict [`Predictor::n_outputs`] words per row of `x` into `out`,
    /// row by row: a classifier's label, a regressor's values as
    /// [`value_word`] (`out.len() == x.nrows() * n_outputs()`,
    /// `x.ncols() == n_features()`; callers check, the hot loop does not).
    /// Writes every element of `out` and reads none: the Python package
    /// hands in a buffer it did not zero.
    fn predict_into(&self, x: ArrayView2<'_, f64>, out: &mut [i64]);

    /// [`Predictor::predict_into`], and whether every score the labels
    /// came from was finite, where the model can tell. `Some(true)` vouches
    /// that every value of `x` was finite: each score of these models sums
    /// a term of every feature, and a NaN or infinite feature leaves that sum
    /// NaN or infinite ([`kernel::RowKernel::predict`]). `Some(false)`: some
    /// score was not finite (a bad value, or a finite row whose score
    /// overflowed; check `x`). `None` (the default): the model cannot tell —
    /// a forest's comparisons let a NaN through without a trace.
    fn predict_vouching(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Option<bool> {
        self.predict_into(x, out);
        None
    }
    /// Whether a NaN feature is data for this model: its splits route
    /// missing values as the library that made it does (boosted trees,
    /// forests fitted with missing values). Every other model refuses NaN.
    fn routes_missing(&self) -> bool {
        false
    }
    /// Probabilities or decision values, one row per input row (a
    /// regressor: its values, one column).
    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>);

    /// What [`Predictor::scores`] gives, without predicting: the one
    /// answer to "does this model give probabilities?" (its family's,
    /// unless the model says otherwise, as a hard-voting ensemble does).
    fn score_kind(&self) -> ScoreKind {
        self.kind().family().scores
    }

    /// Rough single-thread cost of predicting one row, in nanoseconds; backends
    /// use it to size chunks so that each carries enough work to pay for
    /// handing it to another thread.
    fn row_cost_ns(&self) -> f64 {
        // The row kernel: ~2-4 ns for 2 classes x 10 features on AVX-512.
        1.0 + 0.1 * (self.classes().len() * self.n_features()) as f64
    }

    /// How the model is laid out for prediction, for `inspect` (name,
    /// value): the forest's shape and traversal; nothing by default.
    fn layout(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }

    fn predict(&self, x: ArrayView2<'_, f64>) -> Vec<i64> {
        let mut out = vec![0; x.nrows() * self.n_outputs()];
        self.predict_into(x, &mut out);
        out
    }
}

/// Rows [`predict_finite`] predicts first, to learn whether the model
/// vouches (bytes: 409 rows of 10 features).
const CHECKED_BLOCK_BYTES: usize = 32 << 10;

/// Predict `x` into `out` on this thread, refusing NaN and infinite
/// features (the error names the row and column, as [`check_finite`]'s).
/// The rows come from memory once: a separate checking pass over a batch
/// that does not fit in cache costs as much as the prediction itself.
/// Models that vouch for their input ([`Predictor::predict_vouching`])
/// check nothing more unless a score was not finite, in blocks of rows
/// checked right after their prediction, while in L1. The others (the
/// forest, ensembles) are checked in one pass and predicted in one call,
/// so the forest's row tiles are not cut short (docs/kernels.md).
///
/// [`check_finite`]: crate::data::check_finite
pub fn predict_finite(
    model: &dyn Predictor,
    x: ArrayView2<'_, f64>,
    out: &mut [i64],
    origin: &std::path::Path,
) -> Result<()> {
    if model.routes_missing() {
        // NaN is data here; only infinities are refused.
        crate::data::check_features(x, origin, 0, true)?;
        model.predict_into(x, out);
        return Ok(());
    }
    let block = (CHECKED_BLOCK_BYTES / (8 * x.ncols().max(1))).max(1);
    // The first block says whether the model vouches.
    let head = block.min(x.nrows());
    let (first, rest) = x.split_at(ndarray::Axis(0), head);
    let (first_out, rest_out) = out.split_at_mut(head * model.n_outputs());
    if let Some(vouched) = model.predict_vouching(first, first_out) {
        let vouched = vouched && model.predict_vouching(rest, rest_out) == Some(true);
        // A score that overflowed on finite rows leaves its label standing.
        return if vouched {
            Ok(())
        } else {
            crate::data::check_finite(x, origin)
        };
    }
    crate::data::check_finite(first, origin)?;
    // The others (the forest, ensembles): one checking pass, then the rest in
    // one call (see above).
    crate::data::check_finite_from(rest, origin, head)?;
    model.predict_into(rest, rest_out);
    Ok(())
}

/// A row as a slice: read in place when contiguous (rows of a
/// standard-layout batch), else copied into `copy`.
#[inline]
pub fn row_slice<'r>(row: &'r ndarray::ArrayView1<'_, f64>, copy: &'r mut Vec<f64>) -> &'r [f64] {
    match row.to_slice() {
        Some(r) => r,
        None => {
            copy.clear();
            copy.extend(row.iter());
            &copy[..]
        }
    }
}

/// Call `f` on every row of `x` as a contiguous slice, writing its result to
/// `out`. Standard-layout input goes straight from memory (the hot path); any
/// other layout is copied row by row into one scratch buffer.
#[inline]
pub fn map_rows<T>(x: ArrayView2<'_, f64>, out: &mut [T], mut f: impl FnMut(&[f64]) -> T) {
    assert_eq!(
        x.nrows(),
        out.len(),
        "output length must equal the row count"
    );
    let d = x.ncols();
    match x.as_slice() {
        Some(flat) if d > 0 => {
            for (o, row) in out.iter_mut().zip(flat.chunks_exact(d)) {
                *o = f(row);
            }
        }
        _ => {
            let mut buf = vec![0.0; d];
            for (o, row) in out.iter_mut().zip(x.rows()) {
                for (b, v) in buf.iter_mut().zip(row.iter()) {
                    *b = *v;
                }
                *o = f(&buf);
            }
        }
    }
}

/// Index of the largest value; the first wins ties (numpy's argmax).
#[inline]
pub fn argmax<T: PartialOrd>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate().skip(1) {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Fit one model of `kind` with `params` on `data`. `seed` drives every
/// random choice (forest bootstraps, SVC coordinate order).
/// `scale=standard` in `params` standardises the features first (see
/// `scale.rs`).
pub fn fit(kind: ModelKind, params: &ParamSet, data: &Dataset, seed: u64) -> Result<Model> {
    let family = kind.family();
    let (standard, params) = scale::take(params)?;
    match family.fold_scaling {
        Some(fold) if standard => {
            let scaler = scale::Standardizer::fit(data);
            let model = (family.fit)(&params, &scaler.apply(data), seed)?;
            Ok(fold(&model, &scaler))
        }
        _ => (family.fit)(&params, data, seed),
    }
}

/// Check a parameter set without fitting (grids are validated up front).
pub fn check_params(kind: ModelKind, params: &ParamSet) -> Result<()> {
    (kind.family().check_params)(&scale::take(params)?.1)
}

/// Sorted classes and each row's class index.
pub fn encode_labels(y: &[i64]) -> (Vec<i64>, Vec<usize>) {
    let mut classes = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let idx = y
        .iter()
        .map(|v| classes.binary_search(v).expect("label is among classes"))
        .collect();
    (classes, idx)
}

/// scikit-learn's default score of `model` on `data`: accuracy for a
/// classifier, R² for a regressor ([`r2`]).
pub fn score(model: &dyn Predictor, data: &Dataset) -> f64 {
    let words = model.predict(data.x.view());
    match &data.targets {
        Some(t) => {
            let values: Vec<f64> = words.into_iter().map(word_value).collect();
            r2(&values, t)
        }
        None => accuracy(&words, &data.y),
    }
}

/// The coefficient of determination, `1 - SS_res / SS_tot`, as
/// scikit-learn's `r2_score`: for a constant truth (SS_tot = 0), 1.0 when
/// predicted exactly, else 0.0 (never NaN).
pub fn r2(pred: &[f64], truth: &[f64]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let ss_res: f64 = pred.iter().zip(truth).map(|(p, t)| (t - p) * (t - p)).sum();
    let ss_tot: f64 = truth.iter().map(|t| (t - mean) * (t - mean)).sum();
    if ss_tot == 0.0 {
        return if ss_res == 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - ss_res / ss_tot
}

/// Mean absolute error and root mean squared error.
pub fn errors(pred: &[f64], truth: &[f64]) -> (f64, f64) {
    let n = truth.len().max(1) as f64;
    let mae = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (t - p).abs())
        .sum::<f64>()
        / n;
    let mse = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (t - p) * (t - p))
        .sum::<f64>()
        / n;
    (mae, mse.sqrt())
}

/// Fraction of predictions equal to the truth.
pub fn accuracy(pred: &[i64], truth: &[i64]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    pred.iter().zip(truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn fitted() -> (Model, Array2<f64>) {
        let data = crate::data::synth::study_data(3000, 4, 3).unwrap();
        let model = fit(nb::KIND, &ParamSet::new(), &data, 0).unwrap();
        (model, data.x)
    }

    #[test]
    fn a_checked_prediction_equals_the_plain_one_across_blocks() {
        let (model, x) = fitted();
        let mut plain = vec![0i64; x.nrows()];
        model.predict_into(x.view(), &mut plain);
        let mut checked = vec![0i64; x.nrows()];
        predict_finite(&model, x.view(), &mut checked, std::path::Path::new("X")).unwrap();
        assert_eq!(checked, plain);
        // The rows span several blocks, so every block was predicted.
        assert!(x.nrows() * x.ncols() * 8 > 2 * CHECKED_BLOCK_BYTES);
    }

    #[test]
    fn a_non_finite_value_in_a_later_block_is_named_by_its_row_in_the_batch() {
        let (model, mut x) = fitted();
        x[[2500, 2]] = f64::NEG_INFINITY;
        let mut out = vec![0i64; x.nrows()];
        let e = predict_finite(&model, x.view(), &mut out, std::path::Path::new("X"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("X: row 2501 column 3 is -inf"), "{e}");
    }

    /// Every family, binary and 3-class (naive Bayes' 3-class path is its own
    /// loop, not the row kernel), trained on 4 features.
    fn every_family() -> Vec<(String, Model, Array2<f64>)> {
        let mut out = Vec::new();
        for classes in [2, 3] {
            let mut gen = crate::data::synth::MakeClassification::new(3000, 4, 11);
            gen.n_classes = classes;
            gen.n_informative = 3;
            gen.n_redundant = 1;
            let data = gen.generate().unwrap();
            let mut voters = Vec::new();
            for kind in ModelKind::all() {
                let model = fit(kind, &ParamSet::new(), &data, 0).unwrap();
                if kind != svc::KIND {
                    voters.push(vote::Member {
                        model: model.clone(),
                        params: ParamSet::new(),
                        cv_accuracy: None,
                    });
                }
                out.push((format!("{kind} {classes}"), model, data.x.clone()));
            }
            // An ensemble of the others: it cannot vouch (its forest member
            // lets a NaN through), so it is checked block by block.
            let classes_of = out.last().unwrap().1.classes().to_vec();
            let ensemble = vote::Voting::new(vote::Vote::Soft, classes_of, voters).unwrap();
            out.push((
                format!("ensemble {classes}"),
                Model::new(ensemble),
                data.x.clone(),
            ));
        }
        out
    }

    #[test]
    fn every_family_names_the_first_bad_value_wherever_it_is() {
        for (name, model, x) in every_family() {
            // First block, a later block, the last row; each column.
            for (r, c, v) in [
                (0, 0, f64::NAN),
                (7, 3, f64::INFINITY),
                (1234, 1, f64::NEG_INFINITY),
                (2999, 3, f64::NAN),
            ] {
                let mut bad = x.clone();
                bad[[r, c]] = v;
                let mut out = vec![0i64; bad.nrows()];
                let e = predict_finite(&model, bad.view(), &mut out, std::path::Path::new("X"))
                    .unwrap_err()
                    .to_string();
                let want = format!("X: row {} column {} is {v}", r + 1, c + 1);
                assert!(e.contains(&want), "{name}: {e}");
            }
            let mut out = vec![0i64; x.nrows()];
            predict_finite(&model, x.view(), &mut out, std::path::Path::new("X")).unwrap();
            assert_eq!(out, model.predict(x.view()), "{name}");
        }
    }

    /// Finite rows whose scores overflow to ±inf (or inf - inf = NaN) are
    /// not refused: the models that vouch only vouch for finite scores, and
    /// the check behind them finds nothing. The labels are the plain ones.
    #[test]
    fn finite_rows_whose_scores_overflow_are_predicted() {
        for (name, model, x) in every_family() {
            let huge = x.mapv(|v| v * 1e306);
            let mut plain = vec![0i64; x.nrows()];
            model.predict_into(huge.view(), &mut plain);
            let mut checked = vec![0i64; x.nrows()];
            predict_finite(&model, huge.view(), &mut checked, std::path::Path::new("X"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(checked, plain, "{name}");
            // The overflow is real: (x - θ)² of 1e306-sized values is
            // beyond f64 (a linear model's may not be, with small weights).
            if model.kind() == nb::KIND {
                let mut out = vec![0i64; x.nrows()];
                assert_eq!(
                    model.predict_vouching(huge.view(), &mut out),
                    Some(false),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn the_score_summing_families_vouch_and_the_forest_does_not() {
        for (name, model, x) in every_family() {
            let mut out = vec![0i64; x.nrows()];
            let vouched = model.predict_vouching(x.view(), &mut out);
            assert_eq!(out, model.predict(x.view()), "{name}");
            let want = if [forest::KIND, vote::KIND].contains(&model.kind()) {
                None
            } else {
                Some(true)
            };
            assert_eq!(vouched, want, "{name}");
        }
    }
}
