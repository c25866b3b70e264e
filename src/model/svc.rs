//! Linear SVC with the squared hinge loss and scikit-learn's `C`
//! (`penalty(w) + C * sum max(0, 1 - y w.x)^2`), one-vs-rest for 3+ classes.
//! - l2: liblinear's dual coordinate descent (L2R_L2LOSS_SVC_DUAL), the
//!   intercept fit as a weight on a constant feature 1 (as liblinear does);
//! - l1: the primal problem by proximal gradient (`prox.rs`), intercept
//!   unpenalised.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::family::decode_payload;
use super::linear::{linear_classifier, FitInfo, Linear};
use super::params::{nums, texts, Grid, ParamReader, ParamSet};
use super::prox::{minimize, Loss, Problem};
use super::{encode_labels, Family, Model, ModelKind, ScoreKind};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

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
    fit: |p, data, seed| {
        Ok(Model::new(LinearSvc::fit(
            &SvcConfig::from_params(p)?,
            data,
            seed,
        )?))
    },
    decode: decode_payload::<LinearSvc>,
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
    pub fn fit(cfg: &SvcConfig, data: &Dataset, seed: u64) -> Result<Self> {
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
                match cfg.penalty {
                    SvcPenalty::L2 => dual_coordinate_descent(
                        flat,
                        n,
                        d,
                        &y,
                        cfg,
                        SplitMix64::derive(seed, pos as u64),
                    ),
                    SvcPenalty::L1 => {
                        let problem = Problem {
                            x: flat,
                            n,
                            d,
                            loss: Loss::SquaredHinge(&y),
                            l1: 1.0 / (cfg.c * n as f64),
                            l2: 0.0,
                        };
                        minimize(&problem, cfg.max_iter, cfg.tol)
                    }
                }
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

/// Dual coordinate descent for `1/2 ||w||^2 + C sum max(0, 1 - y w.x)^2`
/// (Hsieh et al. 2008), `w` extended by the bias on a constant feature 1.
/// Stops when the projected-gradient spread falls below `tol`.
fn dual_coordinate_descent(
    x: &[f64],
    n: usize,
    d: usize,
    y: &[f64],
    cfg: &SvcConfig,
    mut rng: SplitMix64,
) -> (Vec<f64>, FitInfo) {
    let diag = 0.5 / cfg.c;
    let qd: Vec<f64> = (0..n)
        .map(|i| x[i * d..(i + 1) * d].iter().map(|v| v * v).sum::<f64>() + 1.0 + diag)
        .collect();
    let mut alpha = vec![0.0; n];
    let mut w = vec![0.0; d + 1];
    let mut order: Vec<usize> = (0..n).collect();
    for iter in 1..=cfg.max_iter {
        rng.shuffle(&mut order);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &i in &order {
            let row = &x[i * d..(i + 1) * d];
            let mut wx = w[d];
            for j in 0..d {
                wx += w[j] * row[j];
            }
            let g = y[i] * wx - 1.0 + diag * alpha[i];
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qd[i]).max(0.0);
                let step = (alpha[i] - old) * y[i];
                for j in 0..d {
                    w[j] += step * row[j];
                }
                w[d] += step;
            }
        }
        if pg_max - pg_min <= cfg.tol {
            return (
                w,
                FitInfo {
                    iterations: iter,
                    converged: true,
                },
            );
        }
    }
    (
        w,
        FitInfo {
            iterations: cfg.max_iter,
            converged: false,
        },
    )
}

linear_classifier!(LinearSvc, KIND, ScoreKind::Decision, decision_function);
