//! cpuwall against scikit-learn 1.9.1 on the study's data (fixtures).

mod common;

use common::*;
use cpuwall::data::split::train_test_split;
use cpuwall::data::synth::MakeClassification;
use cpuwall::model::nb::{GaussianNb, NbConfig};
use cpuwall::model::params::ParamSet;
use cpuwall::model::{accuracy, logistic, svc, ModelKind, Predictor};
use cpuwall::tune::grid::{default_grid, expand};
use cpuwall::tune::search::{grid_search, SearchSpec};

#[test]
fn make_classification_reproduces_scikit_learns_data_and_split() {
    let data = MakeClassification::new(10_000, 10, 0).generate().unwrap();
    let (train, test) = train_test_split(&data, 0.2, 2020, false).unwrap();
    let (ref_train, ref_test) = study_split();
    assert_eq!(train.y, ref_train.y);
    assert_eq!(test.y, ref_test.y);
    // Only BLAS's summation order in two matrix products may differ.
    let max_diff = train
        .x
        .iter()
        .zip(ref_train.x.iter())
        .chain(test.x.iter().zip(ref_test.x.iter()))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(max_diff < 1e-12, "max |difference| {max_diff}");
}

#[test]
fn gaussian_nb_matches_scikit_learns_parameters_and_predictions() {
    let (train, test) = study_split();
    let nb = GaussianNb::fit(&NbConfig::from_params(&ParamSet::new()).unwrap(), &train).unwrap();
    let p = &model_params()["NB"];
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-300);
    for c in 0..2 {
        for j in 0..10 {
            let theta = p["theta"][c][j].as_f64().unwrap();
            let var = p["var"][c][j].as_f64().unwrap();
            assert!(rel(nb.theta[c * 10 + j], theta) < 1e-9, "theta[{c}][{j}]");
            assert!(rel(nb.var[c * 10 + j], var) < 1e-9, "var[{c}][{j}]");
        }
        let prior = p["class_prior"][c].as_f64().unwrap();
        assert!(rel(nb.class_prior[c], prior) < 1e-12);
    }
    assert!(rel(nb.epsilon, p["epsilon"].as_f64().unwrap()) < 1e-9);

    let text = std::fs::read_to_string(fixture("test_predictions.csv")).unwrap();
    let sklearn_nb: Vec<i64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(nb.predict(test.x.view()), sklearn_nb);
}

#[test]
fn every_model_scores_within_one_point_of_scikit_learn_and_every_candidate_fits() {
    let (train, test) = study_split();
    let reference = reference();
    for kind in ModelKind::all() {
        let candidates = expand(&default_grid(kind));
        let spec = SearchSpec {
            kind,
            candidates: &candidates,
            folds: 5,
            shuffle: true,
            seed: 0,
            votes: None,
        };
        let result = grid_search(&spec, &train, &|| {}).unwrap();
        assert_eq!(result.n_failed(), 0, "{kind}: failed candidates");
        assert_eq!(result.n_unconverged(), 0, "{kind}: unconverged candidates");
        let expected = match kind {
            logistic::KIND => 21,
            svc::KIND => 10,
            _ => 1,
        };
        assert_eq!(result.candidates.len(), expected);
        let acc = accuracy(&result.model.predict(test.x.view()), &test.y);
        let sk = reference["models"][kind.short()]["test_accuracy"]
            .as_f64()
            .unwrap();
        assert!(
            (acc - sk).abs() <= 0.01,
            "{kind}: test accuracy {acc:.4} vs scikit-learn {sk:.4}"
        );
    }
}
