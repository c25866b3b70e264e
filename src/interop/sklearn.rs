//! scikit-learn models through the JSON exchange format written by
//! `tools/export_sklearn.py` ("cpuwall-sklearn", version 1; see
//! python/cpuwall/sklearn_export.py's docstring). Parameters are float64, exactly as fitted.

use std::path::Path;

use serde::Deserialize;

use super::trees::{self, Raw};
use super::Imported;
use crate::error::{Error, Result};
use crate::model::forest::boosted::Link;
use crate::model::linear::{FitInfo, Linear};
use crate::model::logistic::LogisticRegression;
use crate::model::nb::GaussianNb;
use crate::model::svc::LinearSvc;
use crate::model::{Model, Predictor};

pub const FORMAT: &str = "cpuwall-sklearn";
pub const VERSION: u32 = 1;
/// Bounds on what an exchange file may declare (its arrays must hold that
/// much anyway; the bounds keep `k x d` from overflowing).
pub const MAX_FEATURES: usize = 1 << 24;
pub const MAX_CLASSES: usize = 1 << 16;
pub const SUPPORTED: &str =
    "GaussianNB, LogisticRegression, LinearSVC, RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier, HistGradientBoostingClassifier, GradientBoostingClassifier, VotingClassifier; LinearRegression, Ridge, Lasso, ElasticNet, RandomForestRegressor, ExtraTreesRegressor, DecisionTreeRegressor, HistGradientBoostingRegressor, GradientBoostingRegressor, VotingRegressor";

#[derive(Deserialize)]
struct Exchange {
    format: String,
    version: u32,
    sklearn_version: String,
    estimator: String,
    /// "regression" for a regressor (then `classes` is empty); absent or
    /// "classification" otherwise.
    #[serde(default)]
    task: Option<String>,
    n_features_in: usize,
    feature_names_in: Option<Vec<String>>,
    classes: Vec<i64>,
    class_names: Option<Vec<String>>,
    model: serde_json::Value,
    /// A `StandardScaler` in front of the classifier (a two-step Pipeline),
    /// folded into the model as `--scale standard` is.
    #[serde(default)]
    scaler: Option<ScalerJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScalerJson {
    mean: Vec<f64>,
    scale: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NbJson {
    theta: Vec<f64>,
    var: Vec<f64>,
    class_prior: Vec<f64>,
    epsilon: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinearJson {
    coef: Vec<f64>,
    intercept: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeJson {
    children_left: Vec<i64>,
    children_right: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    value: Vec<f64>,
    /// Where each split sends NaN (scikit-learn >= 1.3); absent: the
    /// forest refuses NaN.
    #[serde(default)]
    missing_go_to_left: Option<Vec<u8>>,
}

/// A boosted model's trees (HistGradientBoosting, GradientBoosting): one
/// value per node, each tree adding to one class's margin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoostedJson {
    link: String,
    base: Vec<f64>,
    input_dtype: String,
    missing: bool,
    trees: Vec<BoostedTreeJson>,
    /// Categorical splits' sets over raw category values (32-bit words).
    #[serde(default)]
    bitsets: Vec<Vec<u32>>,
    /// Per feature, its known categories (empty: not categorical).
    #[serde(default)]
    known: Vec<Vec<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoostedTreeJson {
    class: usize,
    children_left: Vec<i64>,
    children_right: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    value: Vec<f64>,
    missing_go_to_left: Vec<u8>,
    /// Per node: the index of its set in `bitsets`, or -1 (numerical).
    #[serde(default)]
    bitset: Option<Vec<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VotingJson {
    voting: String,
    members: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestJson {
    trees: Vec<TreeJson>,
    input_dtype: String,
    /// A regressor's values per node (scikit-learn's `n_outputs_`); absent
    /// in documents from before multi-output regressors: one.
    #[serde(default = "one_output")]
    outputs: usize,
}

fn one_output() -> usize {
    1
}

/// The model in an exchange file's text (`path` names it in errors).
pub fn from_json(path: &Path, text: &str) -> Result<Imported> {
    let bad = |m: String| Error::data(path, m);
    let ex: Exchange = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not a scikit-learn exchange file ({e}); write one with tools/export_sklearn.py"
        ))
    })?;
    if ex.format != FORMAT {
        return Err(bad(format!(
            "format '{}', expected '{FORMAT}' (tools/export_sklearn.py)",
            ex.format
        )));
    }
    if ex.version != VERSION {
        return Err(bad(format!(
            "exchange format version {}, this cpuwall reads {VERSION}; re-export with this repository's tools/export_sklearn.py",
            ex.version
        )));
    }
    let regression = match ex.task.as_deref() {
        None | Some("classification") => false,
        Some("regression") => true,
        Some(other) => {
            return Err(bad(format!(
                "task '{other}', expected classification or regression"
            )))
        }
    };
    if regression {
        if !ex.classes.is_empty() {
            return Err(bad("a regressor's document lists classes".into()));
        }
        return regressor(path, ex);
    }
    let (d, k) = (ex.n_features_in, ex.classes.len());
    if d > MAX_FEATURES || k > MAX_CLASSES {
        return Err(bad(format!(
            "{d} features and {k} classes; cpuwall imports at most {MAX_FEATURES} features and {MAX_CLASSES} classes"
        )));
    }
    if d == 0 || k < 2 {
        return Err(bad(format!(
            "{d} features and {k} classes; a classifier needs features and at least two classes"
        )));
    }
    let mut sorted = ex.classes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted != ex.classes {
        return Err(bad(
            "classes must be distinct and in increasing order, as scikit-learn's classes_".into(),
        ));
    }
    let class_names = ex.class_names.unwrap_or_default();
    if !class_names.is_empty() && class_names.len() != k {
        return Err(bad(format!(
            "{} class names for {k} classes",
            class_names.len()
        )));
    }
    let classes = ex.classes.clone();
    let shape = |what: &str, len: usize, want: usize| -> Result<()> {
        if len == want {
            Ok(())
        } else {
            Err(bad(format!(
                "{} holds {len} values, but {d} features and {k} classes need {want}",
                what
            )))
        }
    };
    let finite = |what: &str, v: &[f64]| -> Result<()> {
        match v.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(bad(format!(
                "{what}[{i}] is {}; parameters must be finite",
                v[i]
            ))),
            None => Ok(()),
        }
    };
    let outputs = if k == 2 { 1 } else { k };
    let model = match ex.estimator.as_str() {
        "GaussianNB" => {
            let m: NbJson = typed(path, ex.model.clone(), "GaussianNB")?;
            shape("theta", m.theta.len(), k * d)?;
            shape("var", m.var.len(), k * d)?;
            shape("class_prior", m.class_prior.len(), k)?;
            finite("theta", &m.theta)?;
            finite("var", &m.var)?;
            finite("class_prior", &m.class_prior)?;
            if let Some(i) = m.var.iter().position(|v| *v <= 0.0) {
                return Err(bad(format!(
                    "var[{i}] is {}; variances must be positive",
                    m.var[i]
                )));
            }
            Model::new(GaussianNb::from_parts(
                classes,
                d,
                m.theta,
                m.var,
                m.class_prior,
                m.epsilon,
            ))
        }
        "LogisticRegression" | "LinearSVC" => {
            let m: LinearJson = typed(path, ex.model.clone(), &ex.estimator)?;
            shape("coef", m.coef.len(), outputs * d)?;
            shape("intercept", m.intercept.len(), outputs)?;
            finite("coef", &m.coef)?;
            finite("intercept", &m.intercept)?;
            let linear = Linear {
                classes,
                n_features: d,
                coef: m.coef,
                intercept: m.intercept,
                fit_info: FitInfo {
                    iterations: 0,
                    converged: true,
                },
            };
            if ex.estimator == "LinearSVC" {
                Model::new(LinearSvc { linear })
            } else {
                Model::new(LogisticRegression { linear })
            }
        }
        "RandomForestClassifier" | "ExtraTreesClassifier" | "DecisionTreeClassifier" => {
            let m: ForestJson = typed(path, ex.model.clone(), &ex.estimator)?;
            let f32_input = f32_input(&m.input_dtype).map_err(bad)?;
            let raw = m
                .trees
                .iter()
                .enumerate()
                .map(|(t, tree)| tree_nodes(t, tree, k))
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(bad)?;
            if m.trees.iter().all(|t| t.missing_go_to_left.is_some()) && f32_input {
                // The splits route NaN: the trees on the boosted engine's
                // derived columns (the same walk for rows without NaN).
                let routed: Vec<_> = raw
                    .into_iter()
                    .zip(&m.trees)
                    .map(|(nodes, t)| {
                        let left = t.missing_go_to_left.as_deref().unwrap_or(&[]);
                        (nodes, left.iter().map(|&b| b != 0).collect::<Vec<_>>())
                    })
                    .collect();
                Model::new(
                    super::boosted::forest_of(
                        classes,
                        d,
                        &routed,
                        (true, true),
                        Link::Average,
                        format!(
                            "scikit-learn {} {}, {} trees",
                            ex.sklearn_version,
                            ex.estimator,
                            m.trees.len()
                        ),
                    )
                    .map_err(bad)?,
                )
            } else {
                Model::new(trees::forest(classes, d, &raw, f32_input).map_err(bad)?)
            }
        }
        "HistGradientBoostingClassifier" | "GradientBoostingClassifier" => {
            let m: BoostedJson = typed(path, ex.model.clone(), &ex.estimator)?;
            let origin = format!("scikit-learn {} {}", ex.sklearn_version, ex.estimator);
            Model::new(boosted_model(m, classes, d, &origin).map_err(bad)?)
        }
        "VotingClassifier" => voting(path, ex.model.clone(), classes, d)?,
        other => {
            return Err(bad(format!(
                "estimator '{other}' is not supported; cpuwall imports {SUPPORTED}"
            )))
        }
    };
    let model = fold_scaler(path, model, ex.scaler, d, &ex.estimator)?;
    Ok(Imported {
        model,
        feature_names: ex.feature_names_in,
        class_names,
        origin: format!("scikit-learn {} {}", ex.sklearn_version, ex.estimator),
    })
}

/// A regressor's document (`task: "regression"`): linear models, forests
/// and single trees (averaged, one value per node), boosted trees (the
/// identity link); a StandardScaler folds into linear ones.
fn regressor(path: &Path, ex: Exchange) -> Result<Imported> {
    use crate::model::forest::regressor::ForestRegressor;
    use crate::model::linreg::LinearRegressor;
    let bad = |m: String| Error::data(path, m);
    let d = ex.n_features_in;
    if d == 0 || d > MAX_FEATURES {
        return Err(bad(format!(
            "{d} features; cpuwall imports 1 to {MAX_FEATURES}"
        )));
    }
    let finite = |what: &str, v: &[f64]| -> Result<()> {
        match v.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(bad(format!(
                "{what}[{i}] is {}; parameters must be finite",
                v[i]
            ))),
            None => Ok(()),
        }
    };
    let origin = format!("scikit-learn {} {}", ex.sklearn_version, ex.estimator);
    let model = match ex.estimator.as_str() {
        "LinearRegression" | "Ridge" | "Lasso" | "ElasticNet" => {
            let m: LinearJson = typed(path, ex.model.clone(), &ex.estimator)?;
            // One intercept per output, a row of coefficients each.
            let outputs = m.intercept.len();
            if !(1..=super::MAX_OUTPUTS).contains(&outputs) || m.coef.len() != outputs * d {
                return Err(bad(format!(
                    "coef holds {} values and intercept {}; {d} features need {d} per intercept (1 to {} outputs)",
                    m.coef.len(),
                    m.intercept.len(),
                    super::MAX_OUTPUTS
                )));
            }
            finite("coef", &m.coef)?;
            finite("intercept", &m.intercept)?;
            Model::new(LinearRegressor::from_parts(
                m.coef,
                m.intercept,
                &ex.estimator,
            ))
        }
        "RandomForestRegressor" | "ExtraTreesRegressor" | "DecisionTreeRegressor" => {
            let m: ForestJson = typed(path, ex.model.clone(), &ex.estimator)?;
            let f32_input = f32_input(&m.input_dtype).map_err(bad)?;
            if !(1..=super::MAX_OUTPUTS).contains(&m.outputs) {
                return Err(bad(format!(
                    "{} outputs; cpuwall imports 1 to {}",
                    m.outputs,
                    super::MAX_OUTPUTS
                )));
            }
            let missing = m.trees.iter().all(|t| t.missing_go_to_left.is_some());
            let routed = m
                .trees
                .iter()
                .enumerate()
                .map(|(t, tree)| {
                    let left = tree.missing_go_to_left.as_deref().unwrap_or(&[]);
                    tree_nodes(t, tree, m.outputs)
                        .map(|n| (n, left.iter().map(|&b| b != 0).collect()))
                })
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(bad)?;
            let source = format!("{origin}, {} trees", m.trees.len());
            let trees = super::boosted::forest_of(
                Vec::new(),
                d,
                &routed,
                (f32_input, missing),
                Link::Average,
                source,
            )
            .map_err(bad)?;
            if ex.estimator == "RandomForestRegressor" {
                // The family cpuwall trains itself (`rfr`), so a sweep or a
                // server names it as it names a forest trained here.
                Model::new(ForestRegressor::from_trees(trees).map_err(bad)?)
            } else {
                Model::new(trees)
            }
        }
        "HistGradientBoostingRegressor" | "GradientBoostingRegressor" => {
            let m: BoostedJson = typed(path, ex.model.clone(), &ex.estimator)?;
            Model::new(boosted_model(m, Vec::new(), d, &origin).map_err(bad)?)
        }
        "VotingRegressor" => voting(path, ex.model.clone(), Vec::new(), d)?,
        other => {
            return Err(bad(format!(
            "estimator '{other}' is not a regressor cpuwall imports; cpuwall imports {SUPPORTED}"
        )))
        }
    };
    let model = fold_scaler(path, model, ex.scaler, d, &ex.estimator)?;
    Ok(Imported {
        model,
        feature_names: ex.feature_names_in,
        class_names: Vec::new(),
        origin,
    })
}

/// A Pipeline's StandardScaler folded into its linear model, as `--scale
/// standard` is; refused before trees, whose thresholds live in the scaled
/// space.
fn fold_scaler(
    path: &Path,
    model: Model,
    scaler: Option<ScalerJson>,
    d: usize,
    estimator: &str,
) -> Result<Model> {
    let bad = |m: String| Error::data(path, m);
    let Some(sc) = scaler else {
        return Ok(model);
    };
    if sc.mean.len() != d || sc.scale.len() != d {
        return Err(bad(format!(
            "the scaler's mean and scale hold {} and {} values; {d} features need {d} each",
            sc.mean.len(),
            sc.scale.len()
        )));
    }
    for (what, v) in [("scaler mean", &sc.mean), ("scaler scale", &sc.scale)] {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!(
                "{what}[{i}] is {}; parameters must be finite",
                v[i]
            )));
        }
    }
    if let Some(i) = sc.scale.iter().position(|v| *v <= 0.0) {
        return Err(bad(format!(
            "scaler scale[{i}] is {}; scales must be positive",
            sc.scale[i]
        )));
    }
    let fold = model.kind().family().fold_scaling.ok_or_else(|| {
        bad(format!(
            "a StandardScaler before a {estimator}: its thresholds live in the scaled space and scikit-learn compares float32 values there, which no threshold on raw values reproduces exactly; trees need no scaling, so fit the trees without the scaler"
        ))
    })?;
    let scaler = crate::model::scale::Standardizer {
        mean: sc.mean,
        sd: sc.scale,
    };
    Ok(fold(&model, &scaler))
}

/// HistGradientBoosting's or GradientBoosting's trees as a boosted model.
fn boosted_model(
    m: BoostedJson,
    classes: Vec<i64>,
    d: usize,
    origin: &str,
) -> std::result::Result<crate::model::forest::boosted::Boosted, String> {
    use super::boosted::{Ensemble, Missing, Node, Test, Tree};
    let link = match m.link.as_str() {
        "sigmoid" => Link::Sigmoid,
        "softmax" => Link::Softmax,
        "identity" => Link::Identity,
        other => {
            return Err(format!(
                "link '{other}', expected sigmoid, softmax or identity"
            ))
        }
    };
    let f32_input = f32_input(&m.input_dtype)?;
    let mut trees = Vec::with_capacity(m.trees.len());
    for (t, tj) in m.trees.iter().enumerate() {
        let n = tj.children_left.len();
        let bitset = tj.bitset.clone().unwrap_or_else(|| vec![-1; n]);
        if [
            tj.children_right.len(),
            tj.feature.len(),
            tj.threshold.len(),
            tj.value.len(),
            tj.missing_go_to_left.len(),
            bitset.len(),
        ]
        .iter()
        .any(|&l| l != n)
        {
            return Err(format!("tree {t}: its arrays disagree in length"));
        }
        let child = |i: usize, c: i64| {
            usize::try_from(c)
                .ok()
                .filter(|&c| c < n && c != i)
                .ok_or_else(|| format!("tree {t}: node {i} points to node {c}"))
        };
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let (l, r) = (tj.children_left[i], tj.children_right[i]);
            if l == -1 && r == -1 {
                nodes.push(Node::Leaf(tj.value[i]));
                continue;
            }
            let feature = usize::try_from(tj.feature[i])
                .map_err(|_| format!("tree {t}: node {i} splits on feature {}", tj.feature[i]))?;
            let test = if bitset[i] >= 0 {
                let b = bitset[i] as usize;
                let left = m.bitsets.get(b).ok_or_else(|| {
                    format!("tree {t}: node {i} names set {b} of {}", m.bitsets.len())
                })?;
                let known = m.known.get(feature).cloned().unwrap_or_default();
                Test::InSet {
                    left: left.clone(),
                    known,
                    strict: true,
                }
            } else if f32_input {
                Test::LessEqualF32(tj.threshold[i])
            } else {
                Test::LessEqual(tj.threshold[i])
            };
            nodes.push(Node::Split {
                feature,
                test,
                missing: if tj.missing_go_to_left[i] != 0 {
                    Missing::Left
                } else {
                    Missing::Right
                },
                left: child(i, l)?,
                right: child(i, r)?,
            });
        }
        trees.push(Tree {
            class: tj.class,
            nodes,
        });
    }
    let rounds = trees.len() / m.base.len().max(1);
    super::boosted::build(Ensemble {
        classes,
        n_features: d,
        trees,
        base: m.base,
        link,
        sigmoid: 1.0,
        missing: m.missing,
        source: format!("{origin}, {rounds} iterations"),
    })
}

/// A `VotingClassifier`: each member a document of its own (members are
/// fitted on the codes 0..k-1 of the ensemble's classes).
fn voting(path: &Path, v: serde_json::Value, classes: Vec<i64>, d: usize) -> Result<Model> {
    use crate::model::vote::{Member, Vote, Voting};
    let bad = |m: String| Error::data(path, m);
    let m: VotingJson = typed(path, v, "VotingClassifier")?;
    let vote: Vote = m.voting.parse().map_err(|_| {
        bad(format!(
            "voting '{}', expected soft, hard or mean",
            m.voting
        ))
    })?;
    if (vote == Vote::Mean) != classes.is_empty() {
        return Err(bad(format!(
            "voting '{}' for {} classes",
            m.voting,
            classes.len()
        )));
    }
    let mut members = Vec::with_capacity(m.members.len());
    for (i, doc) in m.members.iter().enumerate() {
        // One level only: a member may not be an ensemble itself.
        if let Some(e @ ("VotingClassifier" | "VotingRegressor")) =
            doc.get("estimator").and_then(|e| e.as_str())
        {
            return Err(bad(format!("member {i} is itself a {e}")));
        }
        let member = from_json(path, &doc.to_string()).map_err(|e| match e {
            Error::Data { message, .. } => bad(format!("member {i}: {message}")),
            other => other,
        })?;
        if member.model.n_features() != d {
            return Err(bad(format!(
                "member {i} takes {} features, the ensemble {d}",
                member.model.n_features()
            )));
        }
        members.push(Member {
            model: member.model,
            params: Default::default(),
            cv_accuracy: None,
        });
    }
    Ok(Model::new(
        Voting::new(vote, classes, members).map_err(|e| bad(e.to_string()))?,
    ))
}

/// Whether a document's trees compare `float32(x)` (scikit-learn's forests
/// and GradientBoosting) rather than `x` in float64.
fn f32_input(input_dtype: &str) -> std::result::Result<bool, String> {
    match input_dtype {
        "float32" => Ok(true),
        "float64" => Ok(false),
        other => Err(format!(
            "input_dtype '{other}', expected float32 or float64"
        )),
    }
}

fn typed<T: serde::de::DeserializeOwned>(
    path: &Path,
    v: serde_json::Value,
    what: &str,
) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| Error::data(path, format!("the {what} parameters do not read: {e}")))
}

/// One scikit-learn tree (`tree_` arrays) as nodes: -1 children mark a leaf.
fn tree_nodes(t: usize, tree: &TreeJson, k: usize) -> std::result::Result<Vec<Raw>, String> {
    let n = tree.children_left.len();
    if [
        tree.children_right.len(),
        tree.feature.len(),
        tree.threshold.len(),
    ] != [n, n, n]
        || tree.value.len() != n * k
    {
        return Err(format!(
            "tree {t}: its arrays disagree in length ({n} nodes, {} values for {k} classes or outputs)",
            tree.value.len()
        ));
    }
    let index = |i: usize, c: i64| -> std::result::Result<usize, String> {
        usize::try_from(c)
            .ok()
            .filter(|&c| c < n && c > i)
            .ok_or_else(|| {
                format!("tree {t}: node {i} points to node {c}, not a later node of its {n}")
            })
    };
    (0..n)
        .map(|i| {
            let (l, r) = (tree.children_left[i], tree.children_right[i]);
            if l == -1 && r == -1 {
                Ok(Raw::Leaf(tree.value[i * k..(i + 1) * k].to_vec()))
            } else {
                let feature = usize::try_from(tree.feature[i]).map_err(|_| {
                    format!("tree {t}: node {i} splits on feature {}", tree.feature[i])
                })?;
                Ok(Raw::Split {
                    feature,
                    threshold: tree.threshold[i],
                    left: index(i, l)?,
                    right: index(i, r)?,
                })
            }
        })
        .collect()
}
