//! Random forest regressor, as scikit-learn's `RandomForestRegressor`
//! defaults: 100 trees, bootstrap samples, every feature tried per split
//! (`max_features` defaults to all for regressors), squared error
//! (variance reduction), grown until leaves are pure; a prediction is the
//! mean of the trees' leaf means. The trees are grown by the classifier's
//! CART (`tree.rs`, one slot that sums targets) and predicted by the
//! boosted-tree engine's averaged regressor (`boosted.rs`, link `Average`:
//! the trees' sum in order, divided once), so they walk the same
//! quantised, ISA-dispatched blocks as every other tree model.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::boosted::{Boosted, Column, Link};
use super::tree::Columns;
use super::{ForestConfig, RandomForest};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::family::decode_payload;
use crate::model::params::{Grid, ParamSet};
use crate::model::{Family, Fitted, Model, ModelKind, Predictor, ScoreKind, Task};

/// Tag 7 in model files.
pub const KIND: ModelKind = ModelKind::tagged(7);

pub static FAMILY: Family = Family {
    kind: KIND,
    short: "rfr",
    long: "random forest regressor",
    aliases: &["random-forest-regressor", "forest-regressor"],
    default_grid: Grid::new,
    check_params: |p| config(p).map(|_| ()),
    fit: |p, data, seed| Ok(Model::new(ForestRegressor::fit(&config(p)?, data, seed)?)),
    decode: decode_payload::<ForestRegressor>,
    fold_scaling: None,
    searched: true,
    task: Task::Regression,
    scores: ScoreKind::Value,
};

fn config(p: &ParamSet) -> Result<ForestConfig> {
    ForestConfig::read(p, "rfr", "all")
}

/// A fitted forest regressor: its trees on the boosted engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestRegressor {
    trees: Boosted,
}

impl ForestRegressor {
    pub fn fit(cfg: &ForestConfig, data: &Dataset, seed: u64) -> Result<Self> {
        let targets = data.targets.as_deref().ok_or_else(|| {
            Error::usage("rfr is a regressor: train it with --task regression on real targets")
        })?;
        let (n, d) = (data.n_rows(), data.n_features());
        let xt: Vec<f64> = data.x.t().iter().cloned().collect();
        let columns = Columns {
            xt: &xt,
            n,
            d,
            y: &[],
            classes: 1,
            targets: Some(targets),
        };
        let forest = RandomForest::grow_all(cfg, &columns, vec![0], seed);
        // The trees read the features themselves; NaN is refused before
        // prediction (the columns' rule for it is never used).
        let identity = (0..d as u32)
            .map(|feature| Column::Value {
                feature,
                nan: f64::INFINITY,
                zero_is_missing: false,
            })
            .collect();
        let trees = Boosted::new(
            Vec::new(),
            d,
            identity,
            forest,
            Link::Average,
            1.0,
            false,
            format!(
                "cpuwall random forest regressor, {} trees",
                cfg.n_estimators
            ),
        )
        .map_err(Error::Runtime)?;
        Ok(ForestRegressor { trees })
    }

    /// An imported random forest regressor (scikit-learn's
    /// `RandomForestRegressor`, with its own NaN routes): the same family
    /// as a forest trained here, so `--models rfr` sweeps and serves it.
    pub fn from_trees(trees: Boosted) -> std::result::Result<Self, String> {
        if !trees.classes().is_empty() || trees.link_kind() != Link::Average {
            return Err("a forest regressor averages its trees' values".into());
        }
        Ok(ForestRegressor { trees })
    }

    /// The trees, on the boosted engine as an averaged regressor.
    pub fn trees(&self) -> &Boosted {
        &self.trees
    }

    /// The trees on the kernels of `isa` (tests of each path).
    pub fn on_isa(self, isa: crate::isa::Isa) -> Self {
        ForestRegressor {
            trees: self.trees.on_isa(isa),
        }
    }
}

impl Predictor for ForestRegressor {
    fn kind(&self) -> ModelKind {
        KIND
    }
    fn task(&self) -> Task {
        Task::Regression
    }
    fn n_features(&self) -> usize {
        self.trees.n_features()
    }
    fn classes(&self) -> &[i64] {
        &[]
    }
    fn n_outputs(&self) -> usize {
        self.trees.n_outputs()
    }
    fn predict_into(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        self.trees.predict_into(x, out)
    }
    fn scores(&self, x: ArrayView2<'_, f64>) -> (ScoreKind, Array2<f64>) {
        self.trees.scores(x)
    }
    fn score_kind(&self) -> ScoreKind {
        ScoreKind::Value
    }
    fn row_cost_ns(&self) -> f64 {
        self.trees.row_cost_ns()
    }
    /// A forest trained here refuses NaN; an imported one routes it as
    /// scikit-learn's splits do.
    fn routes_missing(&self) -> bool {
        self.trees.routes_missing()
    }
    fn layout(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.trees.layout()
    }
}

impl Fitted for ForestRegressor {
    fn fit_notes(&self) -> String {
        format!(
            "{} trees, {} nodes",
            self.trees.n_trees(),
            self.trees.trees().n_nodes()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> ParamSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), crate::model::ParamValue::parse(v)))
            .collect()
    }

    #[test]
    fn a_forest_learns_friedman1_and_predicts_the_mean_of_its_trees() {
        let data = crate::data::synth::friedman1(3000, 8, 0.5, 3).unwrap();
        let (train, test) = crate::data::split::train_test_split(&data, 0.2, 1, false).unwrap();
        let cfg = config(&params(&[("n_estimators", "30")])).unwrap();
        let m = ForestRegressor::fit(&cfg, &train, 7).unwrap();
        let r2 = crate::model::score(&m, &test);
        // scikit-learn's RandomForestRegressor scores ~0.87-0.90 here.
        assert!(r2 > 0.8, "R² {r2}");
        // One tree grown to pure leaves reproduces its bootstrap's targets.
        let one = ForestRegressor::fit(
            &config(&params(&[("n_estimators", "1"), ("bootstrap", "false")])).unwrap(),
            &train,
            7,
        )
        .unwrap();
        let fit = crate::model::score(&one, &train);
        assert!((fit - 1.0).abs() < 1e-12, "R² on its own rows {fit}");
        // Every ISA path gives the same values, bit for bit.
        let want = m.predict(test.x.view());
        for isa in crate::isa::available() {
            assert_eq!(
                m.clone().on_isa(isa).predict(test.x.view()),
                want,
                "{isa:?}"
            );
        }
    }

    #[test]
    fn max_features_defaults_to_every_feature_and_labels_are_refused() {
        assert_eq!(config(&ParamSet::new()).unwrap().features_per_split(13), 13);
        let c = crate::data::synth::study_data(100, 4, 1).unwrap();
        let e = ForestRegressor::fit(&config(&ParamSet::new()).unwrap(), &c, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--task regression"), "{e}");
    }
}
