//! Linear regression with scikit-learn's objectives and names, all fitted
//! by the one proximal Newton solver of the linear classifiers
//! (`newton.rs`, squared loss), intercept unpenalised:
//!
//! | `penalty`    | scikit-learn       | objective                                                    |
//! |--------------|--------------------|--------------------------------------------------------------|
//! | `none`       | `LinearRegression` | `1/(2n) ||y - Xw - b||^2`                                    |
//! | `l2`         | `Ridge(alpha)`     | `||y - Xw - b||^2 + alpha ||w||^2` (not divided by `n`)       |
//! | `l1`         | `Lasso(alpha)`     | `1/(2n) ||y - Xw - b||^2 + alpha ||w||_1`                    |
//! | `elasticnet` | `ElasticNet(alpha, l1_ratio)` | `1/(2n) ||...||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio)/2 ||w||^2` |
//!
//! Prediction is the linear classifiers' row kernel with one output, its
//! scores the values themselves (`kernel.rs`): the same additions on
//! every ISA, at memory speed.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::family::decode_payload;
use super::kernel::RowKernel;
use super::linear::FitInfo;
use super::newton::{minimize, split_solution, Loss, Problem};
use super::params::{nums, texts, Grid, ParamReader, ParamSet};
use super::{Family, Fitted, Model, ModelKind, Predictor, ScoreKind, Task};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Tag 6 in model files.
pub const KIND: ModelKind = ModelKind::tagged(6);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "linreg",
    long: "linear regression (least squares, ridge, lasso, elastic net)",
    aliases: &["linear-regression", "ridge", "lasso", "elasticnet"],
    default_grid: || {
        Grid::from([
            ("penalty".into(), texts(&["l2", "l1", "elasticnet"])),
            (
                "alpha".into(),
                nums(&[0.0001, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0]),
            ),
        ])
    },
    check_params: |p| RegConfig::from_params(p).map(|_| ()),
    fit: |p, data, _seed| {
        Ok(Model::new(LinearRegressor::fit(
            &RegConfig::from_params(p)?,
            data,
        )?))
    },
    decode: decode_payload::<LinearRegressor>,
    fold_scaling: Some(LinearRegressor::fold_scaling),
    searched: true,
    task: Task::Regression,
    scores: ScoreKind::Value,
};

/// The penalty, as scikit-learn's estimator names it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum RegPenalty {
    /// Least squares (`LinearRegression`).
    None,
    /// Ridge.
    L2,
    /// Lasso.
    L1,
    ElasticNet,
}

impl RegPenalty {
    pub fn estimator(self) -> &'static str {
        match self {
            RegPenalty::None => "least squares",
            RegPenalty::L2 => "ridge",
            RegPenalty::L1 => "lasso",
            RegPenalty::ElasticNet => "elastic net",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RegConfig {
    pub penalty: RegPenalty,
    pub alpha: f64,
    pub l1_ratio: f64,
    pub max_iter: usize,
    pub tol: f64,
}

impl RegConfig {
    pub fn from_params(p: &ParamSet) -> Result<Self> {
        let r = ParamReader::new(
            "linreg",
            p,
            &["penalty", "alpha", "l1_ratio", "max_iter", "tol"],
        )?;
        let penalty = match r.text("penalty", "l2").as_str() {
            "none" => RegPenalty::None,
            "l2" | "ridge" => RegPenalty::L2,
            "l1" | "lasso" => RegPenalty::L1,
            "elasticnet" => RegPenalty::ElasticNet,
            other => {
                return Err(Error::usage(format!(
                    "linreg penalty '{other}' is not one of none, l2, l1, elasticnet"
                )))
            }
        };
        let l1_ratio = r.num("l1_ratio", 0.5)?;
        if !(0.0..=1.0).contains(&l1_ratio) {
            return Err(Error::usage(format!(
                "linreg l1_ratio={l1_ratio} must be in [0, 1]"
            )));
        }
        Ok(RegConfig {
            penalty,
            alpha: r.positive("alpha", 1.0)?,
            l1_ratio,
            max_iter: r.count("max_iter", 1000)?,
            tol: r.positive("tol", 1e-4)?,
        })
    }

    /// (l1, l2) weights of the penalty once the loss is `1/(2n)` times the
    /// squared error (the solver's `l1 |w| + l2/2 w^2`).
    fn penalty_weights(&self, n: usize) -> (f64, f64) {
        let a = self.alpha;
        match self.penalty {
            RegPenalty::None => (0.0, 0.0),
            // alpha ||w||^2 over n ||...||^2 / (2n): l2/2 = alpha / (2n).
            RegPenalty::L2 => (0.0, 2.0 * a / (2.0 * n as f64)),
            RegPenalty::L1 => (a, 0.0),
            RegPenalty::ElasticNet => (a * self.l1_ratio, a * (1.0 - self.l1_ratio)),
        }
    }
}

/// A fitted (or imported) linear regressor: `x . coef + intercept`, one
/// value per output (a multi-output model: `coef` is `outputs x d`,
/// row-major, with one intercept per output, as scikit-learn's `coef_`).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearRegressor {
    pub n_features: usize,
    pub coef: Vec<f64>,
    pub intercept: Vec<f64>,
    /// What it is ("ridge", or an imported estimator's name).
    pub form: String,
    pub fit_info: FitInfo,
}

/// The payload as model files hold it: the single-output layout first
/// (output 0's intercept), then the other outputs' intercepts, which
/// files written before multi-output regressors do not have.
#[derive(Serialize)]
struct Stored<'a> {
    n_features: usize,
    coef: &'a [f64],
    intercept: f64,
    form: &'a str,
    fit_info: &'a FitInfo,
    more_intercepts: &'a [f64],
}

impl Serialize for LinearRegressor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        Stored {
            n_features: self.n_features,
            coef: &self.coef,
            intercept: self.intercept.first().copied().unwrap_or(0.0),
            form: &self.form,
            fit_info: &self.fit_info,
            more_intercepts: self.intercept.get(1..).unwrap_or(&[]),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LinearRegressor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{Error as _, SeqAccess, Visitor};
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = LinearRegressor;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a linear regressor")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let missing =
                    |what| A::Error::custom(format!("the linear regressor ends before its {what}"));
                let n_features = seq
                    .next_element()?
                    .ok_or_else(|| missing("feature count"))?;
                let coef = seq.next_element()?.ok_or_else(|| missing("coefficients"))?;
                let first: f64 = seq.next_element()?.ok_or_else(|| missing("intercept"))?;
                let form = seq.next_element()?.ok_or_else(|| missing("form"))?;
                let fit_info = seq.next_element()?.ok_or_else(|| missing("fit record"))?;
                // A file from before multi-output regressors ends here: the
                // payload's reader reports its end as an error, which here
                // means one output (the file's checksum has already vouched
                // for every byte).
                let more: Vec<f64> = seq.next_element().ok().flatten().unwrap_or_default();
                let mut intercept = vec![first];
                intercept.extend(more);
                Ok(LinearRegressor {
                    n_features,
                    coef,
                    intercept,
                    form,
                    fit_info,
                })
            }
        }
        d.deserialize_struct(
            "Stored",
            &[
                "n_features",
                "coef",
                "intercept",
                "form",
                "fit_info",
                "more_intercepts",
            ],
            Fields,
        )
    }
}

impl LinearRegressor {
    pub fn fit(cfg: &RegConfig, data: &Dataset) -> Result<Self> {
        let targets = data.targets.as_deref().ok_or_else(|| {
            Error::usage("linreg is a regressor: train it with --task regression on real targets")
        })?;
        let x = data.x.as_standard_layout();
        let flat = x.as_slice().expect("standard layout");
        let (n, d) = (data.n_rows(), data.n_features());
        let problem = Problem::new(
            flat,
            n,
            d,
            Loss::Squared(targets),
            cfg.penalty_weights(n),
            false,
        );
        let (w, fit_info) = minimize(&problem, cfg.max_iter, cfg.tol);
        let (coef, intercept) = split_solution(&w, 1, d);
        Ok(LinearRegressor {
            n_features: d,
            coef,
            intercept,
            form: cfg.penalty.estimator().to_string(),
            fit_info,
        })
    }

    /// An imported model (`form`: the estimator's name): `coef` holds
    /// `intercept.len()` rows (outputs) of the features' coefficients.
    pub fn from_parts(coef: Vec<f64>, intercept: Vec<f64>, form: &str) -> Self {
        assert!(
            !intercept.is_empty() && coef.len().is_multiple_of(intercept.len()),
            "one row of coefficients per intercept"
        );
        LinearRegressor {
            n_features: coef.len() / intercept.len(),
            coef,
            intercept,
            form: form.to_string(),
            fit_info: FitInfo {
                iterations: 0,
                converged: true,
            },
        }
    }

    fn kernel(&self) -> RowKernel {
        RowKernel::linear(&self.coef, &self.intercept, self.n_features)
    }

    pub fn fold_scaling(m: &Model, s: &super::scale::Standardizer) -> Model {
        let mut fitted = m
            .downcast_ref::<LinearRegressor>()
            .expect("a model of this family")
            .clone();
        s.fold_linear(&mut fitted.coef, &mut fitted.intercept);
        Model::new(fitted)
    }
}

impl Predictor for LinearRegressor {
    fn kind(&self) -> ModelKind {
        KIND
    }
    fn task(&self) -> Task {
        Task::Regression
    }
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn classes(&self) -> &[i64] {
        &[]
    }
    fn n_outputs(&self) -> usize {
        self.intercept.len()
    }
    fn predict_into(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        self.kernel().values(x, out);
    }
    fn predict_vouching(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Option<bool> {
        Some(self.kernel().values(x, out))
    }
    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        let words = self.predict(x);
        let values = words.into_iter().map(super::word_value).collect();
        (
            ScoreKind::Value,
            Array2::from_shape_vec((x.nrows(), self.n_outputs()), values)
                .expect("a column per output"),
        )
    }
    fn row_cost_ns(&self) -> f64 {
        1.0 + 0.1 * (self.n_features * self.intercept.len()) as f64
    }
}

impl Fitted for LinearRegressor {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.n_features == 0
            || self.intercept.is_empty()
            || self.coef.len() != self.n_features * self.intercept.len()
        {
            return Err("linear regressor parameter sizes disagree".into());
        }
        if self
            .coef
            .iter()
            .chain(&self.intercept)
            .any(|v| !v.is_finite())
        {
            return Err("linear regressor has non-finite coefficients".into());
        }
        Ok(())
    }
    fn fit_notes(&self) -> String {
        format!("{}, {}", self.form, self.fit_info)
    }
    fn converged(&self) -> Option<bool> {
        Some(self.fit_info.converged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// y = 3 x0 - 2 x1 + 0.5 + small noise, and a useless x2.
    fn data(n: usize) -> Dataset {
        let mut rng = crate::rng::SplitMix64::new(7);
        let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let x = Array2::from_shape_fn((n, 3), |_| u() * 4.0);
        let y = x
            .rows()
            .into_iter()
            .map(|r| 3.0 * r[0] - 2.0 * r[1] + 0.5)
            .collect::<Vec<_>>();
        let noisy = y.iter().map(|v| v + 0.01 * u()).collect();
        Dataset::regression(x, noisy)
    }

    fn params(pairs: &[(&str, &str)]) -> ParamSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), super::super::ParamValue::parse(v)))
            .collect()
    }

    #[test]
    fn least_squares_recovers_the_generating_plane() {
        let d = data(2000);
        let m = LinearRegressor::fit(
            &RegConfig::from_params(&params(&[("penalty", "none")])).unwrap(),
            &d,
        )
        .unwrap();
        assert!(m.fit_info.converged);
        for (got, want) in m.coef.iter().zip([3.0, -2.0, 0.0]) {
            assert!((got - want).abs() < 1e-3, "{:?}", m.coef);
        }
        assert!((m.intercept[0] - 0.5).abs() < 1e-3, "{:?}", m.intercept);
    }

    #[test]
    fn lasso_zeroes_the_useless_feature_and_ridge_shrinks() {
        let d = data(2000);
        let fit = |p: &[(&str, &str)]| {
            LinearRegressor::fit(&RegConfig::from_params(&params(p)).unwrap(), &d).unwrap()
        };
        let lasso = fit(&[("penalty", "l1"), ("alpha", "0.1")]);
        assert_eq!(lasso.coef[2], 0.0, "{:?}", lasso.coef);
        // Lasso's soft threshold on an orthogonal-ish design: |w| shrinks
        // by about alpha / var(x) = 0.1 / (16/12).
        assert!(
            (lasso.coef[0] - (3.0 - 0.075)).abs() < 0.02,
            "{:?}",
            lasso.coef
        );
        // Ridge with alpha = n: the l2 weight is 1 per row, against a
        // curvature of var(x) = 4/3: w = 3 (4/3) / (4/3 + 1).
        let ridge = fit(&[("penalty", "l2"), ("alpha", "2000")]);
        let want = 3.0 * (4.0 / 3.0) / (4.0 / 3.0 + 1.0);
        assert!((ridge.coef[0] - want).abs() < 0.05, "{:?}", ridge.coef);
    }

    #[test]
    fn predictions_are_the_plane_on_every_isa_bit_for_bit() {
        let m = LinearRegressor::from_parts(
            vec![1.5, -2.0, 0.25, 3.0, 0.0, 1.0, -1.0, 2.0, 0.5],
            vec![0.75],
            "test",
        );
        let d = data(1003);
        let x = Array2::from_shape_fn((1003, 9), |(i, j)| d.x[[i, j % 3]] * (j + 1) as f64);
        let kernel = m.kernel();
        let want: Vec<i64> = x
            .rows()
            .into_iter()
            .map(|r| super::super::value_word(kernel.score(r.as_slice().unwrap(), 0)))
            .collect();
        for isa in crate::isa::available() {
            let mut out = vec![0; x.nrows()];
            assert!(kernel.values_on(isa, x.view(), &mut out), "{isa:?}");
            assert_eq!(out, want, "{isa:?}");
        }
        // The plane itself, to rounding.
        let mut out = vec![0; x.nrows()];
        m.predict_into(x.view(), &mut out);
        for (r, w) in x.rows().into_iter().zip(&out) {
            let plain: f64 = 0.75 + r.iter().zip(&m.coef).map(|(a, b)| a * b).sum::<f64>();
            let got = super::super::word_value(*w);
            assert!((got - plain).abs() <= 1e-12 * plain.abs().max(1.0));
        }
    }

    #[test]
    fn a_multi_output_model_gives_each_outputs_plane_side_by_side_on_every_isa() {
        // Two outputs over 9 features: rows of coefficients, an intercept each.
        let coef: Vec<f64> = (0..18).map(|i| (i as f64 - 8.5) * 0.37).collect();
        let m = LinearRegressor::from_parts(coef.clone(), vec![0.75, -3.0], "test");
        assert_eq!((m.n_features, m.n_outputs()), (9, 2));
        let d = data(257);
        let x = Array2::from_shape_fn((257, 9), |(i, j)| d.x[[i, j % 3]] * (j + 1) as f64);
        let kernel = m.kernel();
        let want: Vec<i64> = x
            .rows()
            .into_iter()
            .flat_map(|r| {
                let r = r.to_vec();
                [kernel.score(&r, 0), kernel.score(&r, 1)]
            })
            .map(super::super::value_word)
            .collect();
        for isa in crate::isa::available() {
            let mut out = vec![0; 2 * x.nrows()];
            assert!(kernel.values_on(isa, x.view(), &mut out), "{isa:?}");
            assert_eq!(out, want, "{isa:?}");
        }
        // Each value is its own output's plane, to rounding.
        let out = m.predict(x.view());
        for (i, r) in x.rows().into_iter().enumerate() {
            for o in 0..2 {
                let plain: f64 = m.intercept[o]
                    + r.iter()
                        .zip(&coef[9 * o..9 * (o + 1)])
                        .map(|(a, b)| a * b)
                        .sum::<f64>();
                let got = super::super::word_value(out[2 * i + o]);
                assert!(
                    (got - plain).abs() <= 1e-12 * plain.abs().max(1.0),
                    "row {i} output {o}"
                );
            }
        }
        // A model file keeps both intercepts.
        let bytes = postcard::to_allocvec(&m).unwrap();
        assert_eq!(postcard::from_bytes::<LinearRegressor>(&bytes).unwrap(), m);
    }

    #[test]
    fn a_payload_written_before_multi_output_regressors_reads_as_one_output() {
        // The payload's layout until then: one intercept, nothing after it.
        #[derive(Serialize)]
        struct Before {
            n_features: usize,
            coef: Vec<f64>,
            intercept: f64,
            form: String,
            fit_info: FitInfo,
        }
        let bytes = postcard::to_allocvec(&Before {
            n_features: 2,
            coef: vec![1.5, -2.0],
            intercept: 0.25,
            form: "ridge".into(),
            fit_info: FitInfo {
                iterations: 3,
                converged: true,
            },
        })
        .unwrap();
        let m: LinearRegressor = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(m.intercept, vec![0.25]);
        assert_eq!((m.coef.clone(), m.n_outputs()), (vec![1.5, -2.0], 1));
        assert_eq!(m.form, "ridge");
        // Written back: those bytes, then an empty list of further intercepts.
        assert_eq!(
            postcard::to_allocvec(&m).unwrap(),
            [bytes, vec![0]].concat()
        );
    }

    #[test]
    fn a_classification_data_set_is_refused_with_the_flag_to_use() {
        let c = crate::data::synth::study_data(100, 4, 1).unwrap();
        let e = LinearRegressor::fit(&RegConfig::from_params(&ParamSet::new()).unwrap(), &c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--task regression"), "{e}");
    }
}
