//! Parameter grids: the study's defaults, user overrides from the command
//! line (`lr.C=0.1,1,10`) or a JSON file, expanded in scikit-learn's
//! `ParameterGrid` order (keys sorted, last key varying fastest) so that
//! "first wins ties" picks what scikit-learn would.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::params::{ParamSet, ParamValue};
use crate::model::{check_params, ModelKind};

pub use crate::model::params::Grid;

/// The scikit-learn study's grid for `kind` (its family's default).
pub fn default_grid(kind: ModelKind) -> Grid {
    (kind.family().default_grid)()
}

/// The grids of a training job: each family's default, then a JSON grid
/// file, then `model.param=v1,v2` overrides; the grids of `models` checked.
pub fn grids_for(
    models: &[ModelKind],
    grid_file: Option<&Path>,
    overrides: &[String],
) -> Result<BTreeMap<ModelKind, Grid>> {
    let mut grids: BTreeMap<ModelKind, Grid> = crate::model::FAMILIES
        .iter()
        .filter(|f| f.searched)
        .map(|f| (f.kind, default_grid(f.kind)))
        .collect();
    if let Some(f) = grid_file {
        read_grid_file(f, &mut grids)?;
    }
    apply_overrides(&mut grids, overrides)?;
    for &k in models {
        // A family no grid search fits (the ensemble) has no grid: its
        // check says what to do instead.
        validate(k, &grids.get(&k).cloned().unwrap_or_default())?;
    }
    Ok(grids)
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
    let text = crate::data::bounded::read_json_text(
        path,
        &crate::data::bounded::Limit {
            what: "grid file",
            max: 1 << 20,
            not_found: "grid file not found; check the path",
        },
    )?;
    parse_grid_text(path, &text, grids)
}

/// [`read_grid_file`] from the file's text (`path` names it in errors).
pub fn parse_grid_text(
    path: &Path,
    text: &str,
    grids: &mut BTreeMap<ModelKind, Grid>,
) -> Result<()> {
    let parsed: BTreeMap<String, BTreeMap<String, Vec<ParamValue>>> = serde_json::from_str(text)
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
    use crate::model::{forest, logistic};

    #[test]
    fn expansion_follows_parameter_grid_order() {
        let c = expand(&default_grid(logistic::KIND));
        assert_eq!(c.len(), 21);
        // Keys sorted ("C" < "penalty"), last key fastest.
        assert_eq!(crate::model::params::describe(&c[0]), "C=0.001, penalty=l1");
        assert_eq!(crate::model::params::describe(&c[1]), "C=0.001, penalty=l2");
        assert_eq!(crate::model::params::describe(&c[3]), "C=0.01, penalty=l1");
        assert_eq!(expand(&default_grid(forest::KIND)).len(), 1);
    }

    #[test]
    fn overrides_replace_one_parameter_and_unknown_ones_fail_validation() {
        let mut grids = BTreeMap::new();
        grids.insert(logistic::KIND, default_grid(logistic::KIND));
        apply_overrides(&mut grids, &["lr.C=0.5,2".to_string()]).unwrap();
        assert_eq!(expand(&grids[&logistic::KIND]).len(), 6);
        apply_overrides(&mut grids, &["lr.gamma=1".to_string()]).unwrap();
        let err = validate(logistic::KIND, &grids[&logistic::KIND]).unwrap_err();
        assert!(
            err.to_string().contains("unknown parameter 'gamma' for lr"),
            "{err}"
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("0".to_string()),
                Just("-1".to_string()),
                Just("1e308".to_string()),
                Just("-0.0".to_string()),
                Just("18446744073709551616".to_string()),
                Just("2.5".to_string()),
                Just("\"l1\"".to_string()),
                Just("\"elasticnet\"".to_string()),
                Just("\"\"".to_string()),
                Just("null".to_string()),
                Just("true".to_string()),
                Just("[]".to_string()),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| format!("{f:?}")),
            ]
        }

        fn grid_text() -> impl Strategy<Value = String> {
            let param = prop::sample::select(vec![
                "C",
                "penalty",
                "l1_ratio",
                "max_iter",
                "n_estimators",
                "max_depth",
                "min_samples_split",
                "min_samples_leaf",
                "max_features",
                "bootstrap",
                "var_smoothing",
                "tol",
                "loss",
                "dual",
                "",
            ]);
            let model = prop::sample::select(vec!["nb", "lr", "svc", "rf", "xgb", ""]);
            proptest::collection::vec(
                (
                    model,
                    proptest::collection::vec(
                        (param, proptest::collection::vec(value(), 0..4)),
                        0..4,
                    ),
                ),
                0..3,
            )
            .prop_map(|models| {
                let body: Vec<String> = models
                    .iter()
                    .map(|(m, ps)| {
                        let ps: Vec<String> = ps
                            .iter()
                            .map(|(p, vs)| format!("\"{p}\": [{}]", vs.join(",")))
                            .collect();
                        format!("\"{m}\": {{{}}}", ps.join(","))
                    })
                    .collect();
                format!("{{{}}}", body.join(","))
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]

            /// Any grid file: a typed error, or candidates that every check
            /// accepted; never a panic.
            #[test]
            fn hostile_grid_files_never_panic(text in grid_text()) {
                let mut grids = BTreeMap::new();
                if parse_grid_text(Path::new("g.json"), &text, &mut grids).is_ok() {
                    for (kind, grid) in &grids {
                        let _ = validate(*kind, grid);
                    }
                }
            }

            #[test]
            fn arbitrary_text_never_panics(text in ".{0,200}") {
                let _ = parse_grid_text(Path::new("g.json"), &text, &mut BTreeMap::new());
            }
        }
    }
}
