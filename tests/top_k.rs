//! `cpuwall train --top-k`: an ensemble of the grid search's best models,
//! saved as one model file that every command takes like any other.

mod common;

use std::path::Path;

use common::*;
use cpuwall::model::store;
use cpuwall::model::Predictor;

/// `train` on 1,500 rows with small grids, `--format json` unless `extra`
/// names a format.
fn train_top_k(dir: &Path, extra: &[&str]) -> std::process::Output {
    let out = dir.to_str().unwrap();
    let mut args = vec![
        "train",
        "--rows",
        "1_500",
        "--grid",
        "lr.C=0.01,0.1,1,10",
        "--grid",
        "rf.n_estimators=5,10",
        "--grid",
        "svc.C=0.1,1",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--format") {
        args.extend_from_slice(&["--format", "json"]);
    }
    cpuwall(&args)
}

#[test]
fn top_k_saves_an_ensemble_of_the_k_best_candidates_with_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = train_top_k(dir.path(), &["--models", "lr", "--top-k", "3"]);
    assert_succeeds(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_valid_results(&v, "train --top-k");
    let e = &v["ensemble"];
    assert_eq!(e["vote"], "soft");
    let members = e["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    // The best CV accuracy first, and the first is the family's best model.
    let cv: Vec<f64> = members
        .iter()
        .map(|m| m["cv_accuracy"].as_f64().unwrap())
        .collect();
    assert!(cv.windows(2).all(|w| w[0] >= w[1]), "{cv:?}");
    assert_eq!(members[0]["params"], v["models"]["lr"]["best_params"]);
    assert_eq!(cv[0], v["models"]["lr"]["cv_accuracy"].as_f64().unwrap());
    // Every candidate not chosen scored no better than the last member.
    let rest: Vec<f64> = v["models"]["lr"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["mean_accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(rest.len(), 4 * 3, "lr's grid: 4 C x 3 penalties");
    assert_eq!(rest.iter().filter(|&&a| a > cv[2]).count(), 2);
    let folds: Vec<f64> = e["fold_accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_f64().unwrap())
        .collect();
    assert_eq!(folds.len(), 5);
    let mean = folds.iter().sum::<f64>() / 5.0;
    assert!((e["cv_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    let test_acc = e["test_accuracy"].as_f64().unwrap();
    let best = members[0]["test_accuracy"].as_f64().unwrap();
    assert_eq!(e["beats_best_single"], test_acc > best);

    // The file: an ensemble of the three refit members, its CV estimate in the header.
    let stored = store::load(&dir.path().join("ensemble.cpuwall")).unwrap();
    assert_eq!(stored.header.kind.short(), "ensemble");
    assert_eq!(stored.header.cv_accuracy, e["cv_accuracy"].as_f64());
    let lr = store::load(&dir.path().join("lr.cpuwall")).unwrap();
    let x = cpuwall::data::synth::study_data(500, 10, 9).unwrap().x;
    assert_ne!(stored.model.predict(x.view()), vec![0; 500]);
    let report = std::fs::read_to_string(dir.path().join("training-report.md")).unwrap();
    assert!(
        report.contains("## ensemble (top 3, soft vote)"),
        "{report}"
    );
    assert!(report.contains("| **ensemble** | soft vote |"), "{report}");
    assert!(report.contains("CV estimate"), "{report}");
    // The best single model is saved unchanged beside it.
    assert_eq!(lr.header.kind.short(), "lr");

    // inspect lists the members.
    let ensemble = dir.path().join("ensemble.cpuwall");
    let inspect = cpuwall(&["inspect", ensemble.to_str().unwrap()]);
    assert_succeeds(&inspect);
    let text = stdout(&inspect);
    assert!(
        text.contains("voting ensemble") && text.contains("lr (C="),
        "{text}"
    );
}

#[test]
fn the_ensemble_predicts_the_same_labels_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let out = train_top_k(
        dir.path(),
        &[
            "--models",
            "nb,lr,rf",
            "--top-k",
            "4",
            "--across-families",
            "--format",
            "table",
        ],
    );
    assert_succeeds(&out);
    assert!(
        stdout(&out).contains("ensemble: soft vote of 4 members"),
        "{}",
        stdout(&out)
    );
    let model = dir.path().join("ensemble.cpuwall");
    let predict = cpuwall(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--rows",
        "20_000",
        "--backend",
        "direct,threads,processes",
        "--min-time",
        "0.05s",
    ]);
    assert_succeeds(&predict);
    assert!(
        stdout(&predict).contains("predictions identical across backends: yes"),
        "{}",
        stdout(&predict)
    );
}

#[test]
fn hard_voting_is_the_default_with_svc_and_soft_voting_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = train_top_k(dir.path(), &["--models", "svc", "--top-k", "2"]);
    assert_succeeds(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ensemble"]["vote"], "hard");
    let soft = train_top_k(
        dir.path(),
        &[
            "--models",
            "lr,svc",
            "--top-k",
            "3",
            "--across-families",
            "--vote",
            "soft",
        ],
    );
    assert_fails(
        &soft,
        2,
        "--vote soft averages probabilities, and svc gives none",
    );
}

#[test]
fn bad_top_k_requests_are_one_line_and_exit_2_before_any_fit() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, needle) in [
        (
            &["--models", "lr", "--top-k", "1"][..],
            "--top-k 1: an ensemble needs at least 2 members",
        ),
        (&["--models", "lr", "--top-k", "0"][..], "--top-k"),
        (
            &["--models", "lr,rf", "--top-k", "3"][..],
            "add --across-families",
        ),
        (&["--models", "lr", "--vote", "soft"][..], "add --top-k K"),
        (
            &["--models", "lr", "--top-k", "3", "--vote", "majority"][..],
            "--vote majority: choose soft",
        ),
        (
            &["--models", "ensemble"][..],
            "an ensemble is not fit from a grid",
        ),
    ] {
        let out = train_top_k(dir.path(), extra);
        assert_fails(&out, 2, needle);
    }
    assert!(!dir.path().join("ensemble.cpuwall").exists());
    // Fewer candidates than K: all of them, said on stderr.
    let out = train_top_k(dir.path(), &["--models", "rf", "--top-k", "5"]);
    assert_succeeds(&out);
    assert!(
        stderr(&out).contains("only 2 candidates fit; the ensemble has all of them"),
        "{}",
        stderr(&out)
    );
    // A model directory without an ensemble says how to make one.
    let empty = tempfile::tempdir().unwrap();
    let missing = cpuwall(&[
        "predict",
        "--model",
        "ensemble",
        "--models-dir",
        empty.path().to_str().unwrap(),
        "--rows",
        "100",
    ]);
    assert_fails(
        &missing,
        2,
        "an ensemble is made of trained models (cpuwall train --models lr --top-k 5",
    );
}

#[test]
fn serve_answers_with_the_ensembles_labels_and_only_soft_voting_offers_probabilities() {
    use common::serving::{http, post, rows, Server};
    let dir = tempfile::tempdir().unwrap();
    let (soft_dir, hard_dir) = (dir.path().join("soft"), dir.path().join("hard"));
    assert_succeeds(&train_top_k(&soft_dir, &["--models", "lr", "--top-k", "3"]));
    assert_succeeds(&train_top_k(
        &hard_dir,
        &["--models", "nb,svc", "--top-k", "3", "--across-families"],
    ));
    let (soft, hard) = (
        soft_dir.join("ensemble.cpuwall"),
        hard_dir.join("ensemble.cpuwall"),
    );
    let spec = format!("soft={},hard={}", soft.display(), hard.display());
    let server = Server::start(&["--model", &spec]);
    let x = rows(300);
    let flat: Vec<f64> = x.iter().flatten().copied().collect();
    let x2 = ndarray::Array2::from_shape_vec((300, 10), flat).unwrap();
    for (name, path) in [("soft", &soft), ("hard", &hard)] {
        let want = store::load(path).unwrap().model.predict(x2.view());
        let (status, body) = post(server.addr, name, &serde_json::json!({ "rows": x }));
        assert_eq!(status, 200, "{body}");
        let got: Vec<i64> = serde_json::from_value(body["labels"].clone()).unwrap();
        assert_eq!(got, want, "{name}");
        let (status, _, meta) = http(server.addr, "GET", &format!("/v2/models/{name}"), b"");
        assert_eq!(status, 200);
        let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
        let outputs: Vec<&str> = meta["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        let want_outputs = if name == "soft" {
            vec!["label", "probabilities"]
        } else {
            vec!["label"]
        };
        assert_eq!(outputs, want_outputs, "{name}");
    }
}
