//! Linear SVC with the squared hinge loss and scikit-learn's `C`
//! (`penalty(w) + C * sum max(0, 1 - y w.x)^2`), one-vs-rest for 3+ classes.
//! Both penalties are fit in the primal by the proximal Newton solver
//! (`newton.rs`; what scikit-learn's `LinearSVC` does with its default
//! `dual="auto"` when rows outnumber features), the intercept penalised like
//! the coefficients (liblinear's bias feature, `intercept_scaling=1`).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::family::decode_payload;
use super::linear::{linear_classifier, FitInfo, Linear};
use super::newton::{minimize, Loss, Problem};
use super::params::{nums, texts, Grid, ParamReader, ParamSet};
use super::{encode_labels, Family, Model, ModelKind, ScoreKind};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Tag 2 in model files.
pub const KIND: ModelKind = ModelKind::tagged(2);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "svc",
    long: "linear SVC",
    aliases: &["svm", "linear-svc"],
    default_grid: || {
        Grid::from([
            ("penalty".into(), texts(&["l1", "l2"])),
            ("C".into(), nums(&[0.01, 0.1, 1.0, 10.0, 100.0])),
        ])
    },
    check_params: |p| SvcConfig::from_params(p).map(|_| ()),
    fit: |p, data, _seed| {
        Ok(Model::new(LinearSvc::fit(
            &SvcConfig::from_params(p)?,
            data,
        )?))
    },
    decode: decode_payload::<LinearSvc>,
    fold_scaling: Some(LinearSvc::fold_scaling),
    searched: true,
    task: crate::model::Task::Classification,
    scores: ScoreKind::Decision,
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SvcPenalty {
    L1,
    L2,
}

#[derive(Debug, Clone)]
pub struct SvcConfig {
    pub penalty: SvcPenalty,
    pub c: f64,
    pub max_iter: usize,
    pub tol: f64,
}

impl SvcConfig {
    pub fn from_params(p: &ParamSet) -> Result<Self> {
        let r = ParamReader::new("svc", p, &["penalty", "C", "max_iter", "tol"])?;
        let penalty = match r.text("penalty", "l2").as_str() {
            "l1" => SvcPenalty::L1,
            "l2" => SvcPenalty::L2,
            other => {
                return Err(Error::usage(format!(
                    "svc penalty '{other}' is not one of l1, l2"
                )))
            }
        };
        Ok(SvcConfig {
            penalty,
            c: r.positive("C", 1.0)?,
            max_iter: r.count("max_iter", 1000)?,
            tol: r.positive("tol", 1e-4)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSvc {
    pub linear: Linear,
}

impl LinearSvc {
    pub fn fit(cfg: &SvcConfig, data: &Dataset) -> Result<Self> {
        let (classes, idx) = encode_labels(&data.y);
        let x = data.x.as_standard_layout();
        let flat = x.as_slice().expect("standard layout");
        let (n, d) = (data.n_rows(), data.n_features());
        // Binary: one problem, positive = second class. Else one per class.
        let positives: Vec<usize> = if classes.len() == 2 {
            vec![1]
        } else {
            (0..classes.len()).collect()
        };
        let fits: Vec<(Vec<f64>, FitInfo)> = positives
            .par_iter()
            .map(|&pos| {
                let y: Vec<f64> = idx
                    .iter()
                    .map(|&c| if c == pos { 1.0 } else { -1.0 })
                    .collect();
                let (l1, l2) = match cfg.penalty {
                    SvcPenalty::L1 => (1.0 / (cfg.c * n as f64), 0.0),
                    SvcPenalty::L2 => (0.0, 1.0 / (cfg.c * n as f64)),
                };
                let problem = Problem::new(flat, n, d, Loss::SquaredHinge(&y), (l1, l2), true);
                minimize(&problem, cfg.max_iter, cfg.tol)
            })
            .collect();
        let mut coef = Vec::with_capacity(fits.len() * d);
        let mut intercept = Vec::with_capacity(fits.len());
        let mut fit_info = FitInfo {
            iterations: 0,
            converged: true,
        };
        for (w, info) in &fits {
            coef.extend_from_slice(&w[..d]);
            intercept.push(w[d]);
            fit_info.iterations = fit_info.iterations.max(info.iterations);
            fit_info.converged &= info.converged;
        }
        Ok(LinearSvc {
            linear: Linear {
                classes,
                n_features: d,
                coef,
                intercept,
                fit_info,
            },
        })
    }
}

linear_classifier!(LinearSvc, KIND, ScoreKind::Decision, decision_function);
