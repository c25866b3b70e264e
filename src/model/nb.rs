//! Gaussian naive Bayes, as scikit-learn's `GaussianNB`: per-class means and
//! (population) variances, `var_smoothing` x the largest feature variance
//! added to every variance, empirical class priors.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::family::decode_payload;
use super::kernel::RowKernel;
use super::params::{Grid, ParamReader, ParamSet};
use super::{
    argmax, encode_labels, map_rows, Family, Fitted, Model, ModelKind, Predictor, ScoreKind,
};
use crate::data::Dataset;
use crate::error::Result;

/// Tag 0 in model files.
pub const KIND: ModelKind = ModelKind::tagged(0);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "nb",
    long: "Gaussian naive Bayes",
    aliases: &["gnb", "naive-bayes"],
    default_grid: Grid::new,
    check_params: |p| NbConfig::from_params(p).map(|_| ()),
    fit: |p, data, _seed| {
        Ok(Model::new(GaussianNb::fit(
            &NbConfig::from_params(p)?,
            data,
        )?))
    },
    decode: decode_payload::<GaussianNb>,
    fold_scaling: Some(|m, s| {
        let nb = m.downcast_ref::<GaussianNb>().expect("an nb model");
        Model::new(nb.unscaled(s))
    }),
    searched: true,
    task: crate::model::Task::Classification,
    scores: ScoreKind::Probability,
};

#[derive(Debug, Clone)]
pub struct NbConfig {
    pub var_smoothing: f64,
}

impl NbConfig {
    pub fn from_params(p: &ParamSet) -> Result<Self> {
        let r = ParamReader::new("nb", p, &["var_smoothing"])?;
        Ok(NbConfig {
            var_smoothing: r.num("var_smoothing", 1e-9)?.max(0.0),
        })
    }
}

/// What a model file stores; the cached prediction terms are rebuilt on load.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NbParts {
    classes: Vec<i64>,
    n_features: usize,
    theta: Vec<f64>,
    var: Vec<f64>,
    class_prior: Vec<f64>,
    epsilon: f64,
}

impl TryFrom<NbParts> for GaussianNb {
    type Error = String;
    fn try_from(p: NbParts) -> std::result::Result<Self, String> {
        let k = p.classes.len();
        let kd = k * p.n_features;
        if k < 2 || p.theta.len() != kd || p.var.len() != kd || p.class_prior.len() != k {
            return Err("naive Bayes parameter sizes disagree".into());
        }
        if p.var.iter().any(|v| v.is_nan() || *v <= 0.0) {
            return Err("naive Bayes variance is not positive".into());
        }
        Ok(GaussianNb::from_parts(
            p.classes,
            p.n_features,
            p.theta,
            p.var,
            p.class_prior,
            p.epsilon,
        ))
    }
}

impl From<GaussianNb> for NbParts {
    fn from(m: GaussianNb) -> Self {
        NbParts {
            classes: m.classes,
            n_features: m.n_features,
            theta: m.theta,
            var: m.var,
            class_prior: m.class_prior,
            epsilon: m.epsilon,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NbParts", into = "NbParts")]
pub struct GaussianNb {
    pub classes: Vec<i64>,
    pub n_features: usize,
    /// Means, class-major (`n_classes x n_features`).
    pub theta: Vec<f64>,
    /// Smoothed variances, class-major.
    pub var: Vec<f64>,
    pub class_prior: Vec<f64>,
    pub epsilon: f64,
    /// Precomputed for prediction: `0.5 / var`, class-major.
    half_inv_var: Vec<f64>,
    /// Precomputed: `ln prior - 0.5 * sum ln(2 pi var)` per class.
    log_norm: Vec<f64>,
    /// Binary problems: jll(1) - jll(0) = sum_j (a_j x_j + b_j) x_j + c,
    /// the two quadratics folded into one (half the arithmetic per row).
    binary: Option<RowKernel>,
}

impl GaussianNb {
    pub fn fit(cfg: &NbConfig, data: &Dataset) -> Result<Self> {
        let (classes, idx) = encode_labels(&data.y);
        let (n, d, k) = (data.n_rows(), data.n_features(), classes.len());
        let mut counts = vec![0usize; k];
        let mut theta = vec![0.0; k * d];
        for (row, &c) in data.x.rows().into_iter().zip(&idx) {
            counts[c] += 1;
            for (t, v) in theta[c * d..(c + 1) * d].iter_mut().zip(row) {
                *t += v;
            }
        }
        for c in 0..k {
            for t in &mut theta[c * d..(c + 1) * d] {
                *t /= counts[c] as f64;
            }
        }
        let mut var = vec![0.0; k * d];
        for (row, &c) in data.x.rows().into_iter().zip(&idx) {
            for j in 0..d {
                let diff = row[j] - theta[c * d + j];
                var[c * d + j] += diff * diff;
            }
        }
        for c in 0..k {
            for v in &mut var[c * d..(c + 1) * d] {
                *v /= counts[c] as f64;
            }
        }
        // epsilon = var_smoothing * max over features of the variance of X.
        let mut max_var: f64 = 0.0;
        for col in data.x.columns() {
            let mean = col.sum() / n as f64;
            let v = col.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
            max_var = max_var.max(v);
        }
        let epsilon = cfg.var_smoothing * max_var;
        for v in &mut var {
            *v += epsilon;
        }
        let class_prior = counts.iter().map(|&c| c as f64 / n as f64).collect();
        Ok(GaussianNb::from_parts(
            classes,
            d,
            theta,
            var,
            class_prior,
            epsilon,
        ))
    }

    /// The model fit on standardised features, on the raw ones: each
    /// class's Gaussian mapped back (`mean sd + mu`, `var sd^2`). The
    /// per-feature `ln sd` this adds to every class's log-likelihood is
    /// the same for all classes, so labels and probabilities are the
    /// standardised model's.
    pub fn unscaled(&self, s: &super::scale::Standardizer) -> Self {
        let d = self.n_features;
        let theta = self
            .theta
            .iter()
            .enumerate()
            .map(|(i, t)| t * s.sd[i % d] + s.mean[i % d])
            .collect();
        let var = self
            .var
            .iter()
            .enumerate()
            .map(|(i, v)| v * s.sd[i % d] * s.sd[i % d])
            .collect();
        GaussianNb::from_parts(
            self.classes.clone(),
            d,
            theta,
            var,
            self.class_prior.clone(),
            self.epsilon,
        )
    }

    pub fn from_parts(
        classes: Vec<i64>,
        n_features: usize,
        theta: Vec<f64>,
        var: Vec<f64>,
        class_prior: Vec<f64>,
        epsilon: f64,
    ) -> Self {
        let k = classes.len();
        let d = n_features;
        let half_inv_var = var.iter().map(|v| 0.5 / v).collect();
        let log_norm = (0..k)
            .map(|c| {
                let s: f64 = var[c * d..(c + 1) * d]
                    .iter()
                    .map(|v| (2.0 * std::f64::consts::PI * v).ln())
                    .sum();
                class_prior[c].ln() - 0.5 * s
            })
            .collect();
        let binary = (k == 2).then(|| {
            let h: &Vec<f64> = &half_inv_var;
            let ln: &Vec<f64> = &log_norm;
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), ln[1] - ln[0]);
            for j in 0..d {
                let (h0, h1, t0, t1) = (h[j], h[d + j], theta[j], theta[d + j]);
                a.push(h0 - h1);
                b.push(2.0 * (h1 * t1 - h0 * t0));
                c += h0 * t0 * t0 - h1 * t1 * t1;
            }
            RowKernel::quadratic(&a, &b, c)
        });
        GaussianNb {
            classes,
            n_features,
            theta,
            var,
            class_prior,
            epsilon,
            half_inv_var,
            log_norm,
            binary,
        }
    }

    /// Joint log-likelihood of one row for class `c`.
    #[inline(always)]
    fn jll(&self, row: &[f64], c: usize) -> f64 {
        let d = self.n_features;
        let theta = &self.theta[c * d..(c + 1) * d];
        let h = &self.half_inv_var[c * d..(c + 1) * d];
        let mut s = 0.0;
        for ((x, t), hh) in row.iter().zip(theta).zip(h) {
            let diff = x - t;
            s += diff * diff * hh;
        }
        self.log_norm[c] - s
    }
}

impl Predictor for GaussianNb {
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
        self.predict_vouching(x, out);
    }

    /// Every joint log-likelihood sums `(x_j - θ_j)² h_j` over all features
    /// (`h_j > 0`), the binary kernel's score `(a_j x_j + b_j) x_j`: a NaN
    /// or infinite feature leaves either non-finite.
    fn predict_vouching(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Option<bool> {
        let k = self.classes.len();
        if let Some(binary) = &self.binary {
            // Positive → the second class wins (ties go to the first, as argmax).
            return Some(binary.predict(x, &self.classes, out));
        }
        let mut finite = true;
        map_rows(x, out, |row| {
            let mut best = 0;
            let mut best_v = self.jll(row, 0);
            finite &= best_v.is_finite();
            for c in 1..k {
                let v = self.jll(row, c);
                finite &= v.is_finite();
                if v > best_v {
                    best = c;
                    best_v = v;
                }
            }
            self.classes[best]
        });
        Some(finite)
    }

    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        let k = self.classes.len();
        let mut out = Array2::zeros((x.nrows(), k));
        let mut jll = vec![0.0; k];
        let mut copy = Vec::new();
        for (i, row) in x.rows().into_iter().enumerate() {
            let row = super::row_slice(&row, &mut copy);
            for (c, j) in jll.iter_mut().enumerate() {
                *j = self.jll(row, c);
            }
            let m = jll[argmax(&jll)];
            let z: f64 = jll.iter().map(|v| (v - m).exp()).sum();
            for c in 0..k {
                out[[i, c]] = (jll[c] - m).exp() / z;
            }
        }
        (ScoreKind::Probability, out)
    }
}

impl Fitted for GaussianNb {} // consistency is checked while decoding
