//! A fitted linear decision function, shared by logistic regression and the
//! linear SVC: `coef` (`n_outputs x n_features`) and `intercept`. Binary
//! problems have one output (positive → second class), multiclass one per
//! class (largest wins, first on ties).

use std::fmt;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::argmax;
use super::kernel::RowKernel;

/// How the solver ended, recorded so users can see a non-converged fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    pub iterations: usize,
    pub converged: bool,
}

impl fmt::Display for FitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.converged {
            write!(f, "converged in {} iterations", self.iterations)
        } else {
            write!(
                f,
                "NOT converged after {} iterations (raise max_iter, or scale=standard)",
                self.iterations
            )
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub classes: Vec<i64>,
    pub n_features: usize,
    pub coef: Vec<f64>,
    pub intercept: Vec<f64>,
    pub fit_info: FitInfo,
}

impl Linear {
    pub fn n_outputs(&self) -> usize {
        self.intercept.len()
    }

    pub fn validate(&self) -> Result<(), String> {
        let k = self.classes.len();
        let outputs = if k == 2 { 1 } else { k };
        if k < 2 || self.intercept.len() != outputs || self.coef.len() != outputs * self.n_features
        {
            return Err("linear model parameter sizes disagree".into());
        }
        if self
            .coef
            .iter()
            .chain(&self.intercept)
            .any(|v| !v.is_finite())
        {
            return Err("linear model has non-finite coefficients".into());
        }
        Ok(())
    }

    /// The decision function laid out for the row kernel (a few dozen
    /// bytes; built per call so the stored fields stay the file format).
    fn kernel(&self) -> RowKernel {
        RowKernel::linear(&self.coef, &self.intercept, self.n_features)
    }

    /// Labels into `out`; whether every score was finite
    /// ([`RowKernel::predict`]).
    pub fn predict_into(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> bool {
        self.kernel().predict(x, &self.classes, out)
    }

    /// Decision values, one column per output.
    pub fn decision_function(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let k = self.n_outputs();
        let kernel = self.kernel();
        let mut out = Array2::zeros((x.nrows(), k));
        let mut copy = Vec::new();
        for (row, scores) in x.rows().into_iter().zip(out.rows_mut()) {
            let row = super::row_slice(&row, &mut copy);
            for (c, s) in scores.into_iter().enumerate() {
                *s = kernel.score(row, c);
            }
        }
        out
    }

    /// Logistic probabilities: sigmoid for one output, softmax for several.
    pub fn probabilities(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let dec = self.decision_function(x);
        let k = self.classes.len();
        let mut out = Array2::zeros((x.nrows(), k));
        for (i, d) in dec.rows().into_iter().enumerate() {
            if k == 2 {
                let p = 1.0 / (1.0 + (-d[0]).exp());
                out[[i, 0]] = 1.0 - p;
                out[[i, 1]] = p;
            } else {
                let v = d.to_vec();
                let m = v[argmax(&v)];
                let z: f64 = v.iter().map(|t| (t - m).exp()).sum();
                for c in 0..k {
                    out[[i, c]] = (v[c] - m).exp() / z;
                }
            }
        }
        out
    }
}

/// `Predictor` for a model holding a [`Linear`] in its field `linear`;
/// only the kind and what `scores` returns differ between LR and SVC.
macro_rules! linear_classifier {
    ($ty:ty, $kind:expr, $score_kind:expr, $scores:ident) => {
        impl $crate::model::Predictor for $ty {
            fn kind(&self) -> $crate::model::ModelKind {
                $kind
            }
            fn n_features(&self) -> usize {
                self.linear.n_features
            }
            fn classes(&self) -> &[i64] {
                &self.linear.classes
            }
            fn predict_into(&self, x: ndarray::ArrayView2<'_, f64>, out: &mut [i64]) {
                self.linear.predict_into(x, out);
            }
            fn predict_vouching(
                &self,
                x: ndarray::ArrayView2<'_, f64>,
                out: &mut [i64],
            ) -> Option<bool> {
                Some(self.linear.predict_into(x, out))
            }
            fn scores(
                &self,
                x: ndarray::ArrayView2<'_, f64>,
            ) -> ($crate::model::ScoreKind, ndarray::Array2<f64>) {
                ($score_kind, self.linear.$scores(x))
            }
        }
        impl $ty {
            /// `Family::fold_scaling`: the model fit on standardised
            /// features, with the scaling folded into its coefficients.
            pub fn fold_scaling(
                m: &$crate::model::Model,
                s: &$crate::model::scale::Standardizer,
            ) -> $crate::model::Model {
                let mut fitted = m
                    .downcast_ref::<$ty>()
                    .expect("a model of this family")
                    .clone();
                let linear = &mut fitted.linear;
                s.fold_linear(&mut linear.coef, &mut linear.intercept);
                $crate::model::Model::new(fitted)
            }
        }
        impl $crate::model::Fitted for $ty {
            fn validate(&self) -> std::result::Result<(), String> {
                self.linear.validate()
            }
            fn fit_notes(&self) -> String {
                self.linear.fit_info.to_string()
            }
            fn converged(&self) -> Option<bool> {
                Some(self.linear.fit_info.converged)
            }
        }
    };
}
pub(crate) use linear_classifier;
