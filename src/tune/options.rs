//! The solver and cross-validation options of `cpuwall train` (clap),
//! flattened into the CLI's arguments and applied to the job's grids.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};

use super::grid::Grid;
use crate::data::count::{count_arg, positive_arg};
use crate::model::params::{ParamSet, ParamValue};
use crate::model::scale;
use crate::model::{check_params, ModelKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// Raw features.
    None,
    /// Standardise each feature with the training fold's mean and deviation (folded into the
    /// model: prediction reads raw features).
    Standard,
}

#[derive(Debug, Clone, Args)]
pub struct SolverOptions {
    /// Optimality tolerance of the lr/svc solvers: a fit has converged when the largest entry
    /// of the objective's minimum-norm subgradient is at most TOL times its value at the zero
    /// start [default: 1e-4; a grid's own lr.tol/svc.tol wins].
    #[arg(long, value_parser = positive_arg)]
    pub tol: Option<f64>,
    /// Most Newton iterations of the lr/svc solvers [default: 1000; a grid's own
    /// lr.max_iter/svc.max_iter wins].
    #[arg(long, value_parser = iterations_arg)]
    pub max_iter: Option<u64>,
    /// Feature scaling fit inside each training fold (no leakage) and stored in the model.
    #[arg(long, value_enum, default_value = "none")]
    pub scale: Scale,
    /// Shuffle rows into CV folds (seeded by --seed); false gives scikit-learn's
    /// GridSearchCV(cv=N) folds exactly, for parity runs.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub cv_shuffle: bool,
}

/// clap value parser for `--max-iter`: a count of at least 1.
fn iterations_arg(s: &str) -> std::result::Result<u64, String> {
    match count_arg(s)? {
        0 => Err("a fit needs at least 1 iteration".into()),
        n => Ok(n),
    }
}

impl SolverOptions {
    /// Add the options to every grid whose family takes them and does not
    /// set them itself.
    pub fn apply(&self, grids: &mut BTreeMap<ModelKind, Grid>) {
        let mut given: Vec<(&str, ParamValue)> = Vec::new();
        if let Some(t) = self.tol {
            given.push(("tol", ParamValue::Num(t)));
        }
        if let Some(m) = self.max_iter {
            given.push(("max_iter", ParamValue::Num(m as f64)));
        }
        if self.scale == Scale::Standard {
            given.push((scale::PARAM, ParamValue::Text("standard".into())));
        }
        for (kind, grid) in grids.iter_mut() {
            for (name, value) in &given {
                let alone = ParamSet::from([(name.to_string(), value.clone())]);
                if !grid.contains_key(*name) && check_params(*kind, &alone).is_ok() {
                    grid.insert(name.to_string(), vec![value.clone()]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::grid::default_grid;

    #[test]
    fn solver_options_reach_the_families_that_take_them() {
        let opts = SolverOptions {
            tol: Some(1e-6),
            max_iter: Some(50),
            scale: Scale::Standard,
            cv_shuffle: true,
        };
        let mut grids: BTreeMap<ModelKind, Grid> = ModelKind::all()
            .into_iter()
            .map(|k| (k, default_grid(k)))
            .collect();
        let lr: ModelKind = "lr".parse().unwrap();
        grids
            .get_mut(&lr)
            .unwrap()
            .insert("tol".into(), vec![ParamValue::Num(1e-3)]);
        opts.apply(&mut grids);
        let value = |k: &str, p: &str| {
            grids[&k.parse::<ModelKind>().unwrap()]
                .get(p)
                .map(|v| v[0].to_string())
        };
        assert_eq!(
            value("lr", "tol").as_deref(),
            Some("0.001"),
            "the grid's own wins"
        );
        assert_eq!(value("svc", "tol").as_deref(), Some("0.000001"));
        assert_eq!(value("svc", "max_iter").as_deref(), Some("50"));
        assert_eq!(value("nb", "tol"), None, "nb has no solver");
        assert_eq!(value("rf", "max_iter"), None);
        for k in ["nb", "lr", "svc", "rf"] {
            assert_eq!(value(k, "scale").as_deref(), Some("standard"), "{k}");
        }
    }
}
