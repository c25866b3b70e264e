//! Every model family handles more than two classes.

use cpuwall::data::split::train_test_split;
use cpuwall::data::synth::MakeClassification;
use cpuwall::model::params::{ParamSet, ParamValue};
use cpuwall::model::{accuracy, fit, forest, ModelKind, Predictor, ScoreKind};

#[test]
fn all_four_models_learn_a_four_class_problem() {
    let mut spec = MakeClassification::new(2_000, 8, 3);
    spec.n_classes = 4;
    spec.n_informative = 4;
    spec.n_clusters_per_class = 1;
    spec.class_sep = 2.0;
    let data = spec.generate().unwrap();
    assert_eq!(data.classes(), vec![0, 1, 2, 3]);
    let (train, test) = train_test_split(&data, 0.25, 1, true).unwrap();
    for kind in ModelKind::all() {
        let mut params = ParamSet::new();
        if kind == forest::KIND {
            params.insert("n_estimators".into(), ParamValue::Num(30.0));
        }
        let m = fit(kind, &params, &train, 0).unwrap();
        assert_eq!(m.classes(), &[0, 1, 2, 3]);
        let pred = m.predict(test.x.view());
        let acc = accuracy(&pred, &test.y);
        // Chance is 0.25; these clusters are well separated.
        assert!(acc > 0.6, "{kind}: accuracy {acc}");
        for c in 0..4 {
            assert!(pred.contains(&c), "{kind} never predicts class {c}");
        }
        let (score_kind, scores) = m.scores(test.x.view());
        assert_eq!(scores.ncols(), 4);
        if score_kind == ScoreKind::Probability {
            for row in scores.rows() {
                assert!((row.sum() - 1.0).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn labels_need_not_be_zero_based() {
    let mut data = MakeClassification::new(600, 5, 1).generate().unwrap();
    data.y.iter_mut().for_each(|v| *v = *v * 10 - 7);
    for kind in ModelKind::all() {
        let m = fit(kind, &ParamSet::new(), &data, 0).unwrap();
        assert_eq!(m.classes(), &[-7, 3]);
        assert!(m.predict(data.x.view()).iter().all(|v| *v == -7 || *v == 3));
    }
}
