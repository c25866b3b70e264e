//! Parameter grids: the study's defaults, user overrides from the command
//! line (`lr.C=0.1,1,10`) or a JSON file, expanded in scikit-learn's
//! `ParameterGrid` order (keys sorted, last key varying fastest) so that
//! "first wins ties" picks what scikit-learn would.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::params::{ParamSet, ParamValue};
use crate::model::{check_params, ModelKind};

pub type Grid = BTreeMap<String, Vec<ParamValue>>;

/// The scikit-learn study's grids.
pub fn default_grid(kind: ModelKind) -> Grid {
    let text = |v: &[&str]| {
        v.iter()
            .map(|s| ParamValue::Text(s.to_string()))
            .collect::<Vec<_>>()
    };
    let nums = |v: &[f64]| v.iter().map(|x| ParamValue::Num(*x)).collect::<Vec<_>>();
    let mut g = Grid::new();
    match kind {
        ModelKind::Logistic => {
            g.insert("penalty".into(), text(&["l1", "l2", "elasticnet"]));
            g.insert(
                "C".into(),
                nums(&[0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]),
            );
        }
        ModelKind::LinearSvc => {
            g.insert("penalty".into(), text(&["l1", "l2"]));
            g.insert("C".into(), nums(&[0.01, 0.1, 1.0, 10.0, 100.0]));
        }
        ModelKind::NaiveBayes | ModelKind::Forest => {}
    }
    g
}

/// All candidates of a grid, in `ParameterGrid` order.
pub fn expand(grid: &Grid) -> Vec<ParamSet> {
    let mut out = vec![ParamSet::new()];
    for (key, values) in grid {
        let mut next = Vec::with_capacity(out.len() * values.len());
        for partial in &out {
            for v in values {
                let mut p = partial.clone();
                p.insert(key.clone(), v.clone());
                next.push(p);
            }
        }
        out = next;
    }
    out
}

/// Apply `model.param=v1,v2` overrides onto per-model grids.
pub fn apply_overrides(grids: &mut BTreeMap<ModelKind, Grid>, specs: &[String]) -> Result<()> {
    for spec in specs {
        let bad = || {
            Error::usage(format!(
                "--grid '{spec}': write MODEL.PARAM=V1,V2 (for example lr.C=0.1,1,10)"
            ))
        };
        let (lhs, rhs) = spec.split_once('=').ok_or_else(bad)?;
        let (model, param) = lhs.split_once('.').ok_or_else(bad)?;
        let kind: ModelKind = model.parse()?;
        let values: Vec<ParamValue> = rhs
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(ParamValue::parse)
            .collect();
        if values.is_empty() {
            return Err(bad());
        }
        grids
            .entry(kind)
            .or_default()
            .insert(param.trim().to_string(), values);
    }
    Ok(())
}

/// Read grids from JSON: `{"lr": {"C": [0.1, 1], "penalty": ["l2"]}, ...}`.
/// Each model named in the file gets exactly the file's grid.
pub fn read_grid_file(path: &Path, grids: &mut BTreeMap<ModelKind, Grid>) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::data(path, format!("cannot read grid file: {e}")))?;
    let parsed: BTreeMap<String, BTreeMap<String, Vec<ParamValue>>> = serde_json::from_str(&text)
        .map_err(|e| {
        Error::data(
            path,
            format!("not a grid file ({e}); expected {{\"lr\": {{\"C\": [0.1, 1]}}}}"),
        )
    })?;
    for (model, grid) in parsed {
        let kind: ModelKind = model.parse()?;
        grids.insert(kind, grid);
    }
    Ok(())
}

/// Check every candidate's parameters before any fitting starts.
pub fn validate(kind: ModelKind, grid: &Grid) -> Result<Vec<ParamSet>> {
    for (k, v) in grid {
        if v.is_empty() {
            return Err(Error::usage(format!(
                "grid for {kind}: parameter {k} has no values"
            )));
        }
    }
    let candidates = expand(grid);
    for c in &candidates {
        check_params(kind, c)?;
    }
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_parameter_grid_order() {
        let c = expand(&default_grid(ModelKind::Logistic));
        assert_eq!(c.len(), 21);
        // Keys sorted ("C" < "penalty"), last key fastest.
        assert_eq!(crate::model::params::describe(&c[0]), "C=0.001, penalty=l1");
        assert_eq!(crate::model::params::describe(&c[1]), "C=0.001, penalty=l2");
        assert_eq!(crate::model::params::describe(&c[3]), "C=0.01, penalty=l1");
        assert_eq!(expand(&default_grid(ModelKind::Forest)).len(), 1);
    }

    #[test]
    fn overrides_replace_one_parameter_and_unknown_ones_fail_validation() {
        let mut grids = BTreeMap::new();
        grids.insert(ModelKind::Logistic, default_grid(ModelKind::Logistic));
        apply_overrides(&mut grids, &["lr.C=0.5,2".to_string()]).unwrap();
        assert_eq!(expand(&grids[&ModelKind::Logistic]).len(), 6);
        apply_overrides(&mut grids, &["lr.gamma=1".to_string()]).unwrap();
        let err = validate(ModelKind::Logistic, &grids[&ModelKind::Logistic]).unwrap_err();
        assert!(
            err.to_string().contains("unknown parameter 'gamma' for lr"),
            "{err}"
        );
    }
}
