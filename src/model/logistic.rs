//! Logistic regression with scikit-learn's objective and `C`:
//! `C * sum(log-loss) + (1 - l1_ratio)/2 ||w||^2 + l1_ratio ||w||_1`
//! (l2: l1_ratio = 0, l1: l1_ratio = 1), intercept unpenalised, binary with
//! one coefficient vector, multinomial (softmax) for 3+ classes. All
//! penalties are fit by one proximal Newton solver (`newton.rs`).

use serde::{Deserialize, Serialize};

use super::family::decode_payload;
use super::linear::{linear_classifier, Linear};
use super::newton::{minimize, split_solution, Loss, Problem};
use super::params::{nums, texts, Grid, ParamReader, ParamSet};
use super::{encode_labels, Family, Model, ModelKind, ScoreKind};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Tag 1 in model files.
pub const KIND: ModelKind = ModelKind::tagged(1);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "lr",
    long: "logistic regression",
    aliases: &["logistic"],
    default_grid: || {
        Grid::from([
            ("penalty".into(), texts(&["l1", "l2", "elasticnet"])),
            (
                "C".into(),
                nums(&[0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]),
            ),
        ])
    },
    check_params: |p| LrConfig::from_params(p).map(|_| ()),
    fit: |p, data, _seed| {
        Ok(Model::new(LogisticRegression::fit(
            &LrConfig::from_params(p)?,
            data,
        )?))
    },
    decode: decode_payload::<LogisticRegression>,
    fold_scaling: Some(LogisticRegression::fold_scaling),
    searched: true,
    task: crate::model::Task::Classification,
    scores: ScoreKind::Probability,
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LrPenalty {
    L1,
    L2,
    ElasticNet,
    None,
}

#[derive(Debug, Clone)]
pub struct LrConfig {
    pub penalty: LrPenalty,
    pub c: f64,
    pub l1_ratio: f64,
    pub max_iter: usize,
    pub tol: f64,
}

impl LrConfig {
    pub fn from_params(p: &ParamSet) -> Result<Self> {
        let r = ParamReader::new("lr", p, &["penalty", "C", "l1_ratio", "max_iter", "tol"])?;
        let penalty = match r.text("penalty", "l2").as_str() {
            "l1" => LrPenalty::L1,
            "l2" => LrPenalty::L2,
            "elasticnet" => LrPenalty::ElasticNet,
            "none" => LrPenalty::None,
            other => {
                return Err(Error::usage(format!(
                    "lr penalty '{other}' is not one of l1, l2, elasticnet, none"
                )))
            }
        };
        let l1_ratio = r.num("l1_ratio", 0.5)?;
        if !(0.0..=1.0).contains(&l1_ratio) {
            return Err(Error::usage(format!(
                "lr l1_ratio={l1_ratio} must be in [0, 1]"
            )));
        }
        Ok(LrConfig {
            penalty,
            c: r.positive("C", 1.0)?,
            l1_ratio,
            max_iter: r.count("max_iter", 1000)?,
            tol: r.positive("tol", 1e-4)?,
        })
    }

    /// (l1, l2) weights of the penalty once the loss is a mean over `n` rows.
    fn penalty_weights(&self, n: usize) -> (f64, f64) {
        let alpha = 1.0 / (self.c * n as f64);
        let rho = match self.penalty {
            LrPenalty::L1 => 1.0,
            LrPenalty::L2 => 0.0,
            LrPenalty::ElasticNet => self.l1_ratio,
            LrPenalty::None => return (0.0, 0.0),
        };
        (alpha * rho, alpha * (1.0 - rho))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    pub linear: Linear,
}

impl LogisticRegression {
    pub fn fit(cfg: &LrConfig, data: &Dataset) -> Result<Self> {
        let (classes, idx) = encode_labels(&data.y);
        let x = data.x.as_standard_layout();
        let flat = x.as_slice().expect("standard layout");
        let (n, d) = (data.n_rows(), data.n_features());
        let (l1, l2) = cfg.penalty_weights(n);
        let binary: Vec<f64>;
        let loss = if classes.len() == 2 {
            binary = idx.iter().map(|&c| c as f64).collect();
            Loss::Logistic(&binary)
        } else {
            Loss::Multinomial {
                y: &idx,
                classes: classes.len(),
            }
        };
        let problem = Problem::new(flat, n, d, loss, (l1, l2), false);
        let (w, fit_info) = minimize(&problem, cfg.max_iter, cfg.tol);
        let (coef, intercept) = split_solution(&w, problem.outputs(), d);
        Ok(LogisticRegression {
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

linear_classifier!(
    LogisticRegression,
    KIND,
    ScoreKind::Probability,
    probabilities
);
