//! `cpuwall train` / `cpuwall inspect` as a user runs them: outputs, model
//! files that round-trip, and one clear line + exit code 2 for bad input.

mod common;

use std::path::Path;

use common::*;
use cpuwall::model::store;
use cpuwall::model::Predictor;

fn train_small(dir: &Path, models: &str) -> std::process::Output {
    cpuwall(&[
        "train",
        "--rows",
        "1_500",
        "--models",
        models,
        "--grid",
        "lr.C=0.1,1",
        "--grid",
        "svc.C=1",
        "--grid",
        "rf.n_estimators=10",
        "--out",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ])
}

#[test]
fn train_writes_models_report_and_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = train_small(dir.path(), "nb,lr,svc,rf");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for m in ["nb", "lr", "svc", "rf"] {
        let e = &v["models"][m];
        for key in [
            "best_params",
            "n_candidates",
            "n_failed",
            "fit_seconds",
            "train_accuracy",
            "test_accuracy",
            "cv_accuracy",
            "path",
        ] {
            assert!(!e[key].is_null(), "{m}.{key} missing in {e}");
        }
        assert!(e["test_accuracy"].as_f64().unwrap() > 0.7, "{m}: {e}");
        let path = e["path"].as_str().unwrap();
        let stored = store::load(Path::new(path)).unwrap();
        assert_eq!(stored.header.kind.short(), m);
        assert_eq!(stored.header.n_features, 10);
    }
    assert_eq!(v["models"]["lr"]["n_candidates"], 6);
    let report = std::fs::read_to_string(dir.path().join("training-report.md")).unwrap();
    assert!(report.contains("| lr | C="), "{report}");
}

#[test]
fn model_file_round_trips_with_identical_predictions_and_inspect_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(train_small(dir.path(), "rf,lr").status.success());
    let (_, test) = study_split();
    for m in ["rf", "lr"] {
        let path = dir.path().join(format!("{m}.cpuwall"));
        let first = store::load(&path).unwrap();
        let bytes = store::encode(&first.header, &first.model);
        assert!(
            bytes == std::fs::read(&path).unwrap(),
            "re-encoding changes the file"
        );
        let again = store::decode(&bytes).unwrap();
        assert_eq!(
            first.model.predict(test.x.view()),
            again.model.predict(test.x.view())
        );
    }
    let out = cpuwall(&["inspect", dir.path().join("rf.cpuwall").to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("random forest") && text.contains("10 trees"),
        "{text}"
    );
}

#[test]
fn damaged_model_files_each_get_their_own_error_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    assert!(train_small(dir.path(), "nb").status.success());
    let good = std::fs::read(dir.path().join("nb.cpuwall")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };

    let mut flipped = good.clone();
    let mid = flipped.len() - 60;
    flipped[mid] ^= 0x40;
    let out = cpuwall(&["inspect", &write("flipped.cpuwall", &flipped)]);
    assert_fails(&out, 2, "corrupted (checksum mismatch)");

    let out = cpuwall(&["inspect", &write("short.cpuwall", &good[..good.len() / 2])]);
    assert_fails(&out, 2, "truncated");

    let out = cpuwall(&[
        "inspect",
        &write("notes.txt", b"just some text, not a model\n"),
    ]);
    assert_fails(&out, 2, "not a cpuwall model file");

    let mut future = good.clone();
    future[8..12].copy_from_slice(&(store::FORMAT_VERSION + 1).to_le_bytes());
    let out = cpuwall(&["inspect", &write("future.cpuwall", &future)]);
    assert_fails(&out, 2, "newer than this cpuwall supports");

    let out = cpuwall(&[
        "inspect",
        dir.path().join("missing.cpuwall").to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "not found");
}

fn write_csv(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn train_on(path: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "train",
        "--data",
        path,
        "--models",
        "nb",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cpuwall(&args)
}

#[test]
fn bad_training_data_gets_one_clear_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good_rows: String = (0..40)
        .map(|i| format!("{},{},{}\n", i, i * 2, i % 2))
        .collect();

    let out = train_on(d.join("nope.csv").to_str().unwrap(), &[]);
    assert_fails(&out, 2, "file not found");

    let ragged = write_csv(d, "ragged.csv", &format!("a,b,y\n{good_rows}1,2\n"));
    assert_fails(
        &train_on(&ragged, &[]),
        2,
        "line 42: 2 fields, but the header has 3",
    );

    let word = write_csv(d, "word.csv", &format!("a,b,y\n{good_rows}1,abc,0\n"));
    assert_fails(
        &train_on(&word, &[]),
        2,
        "line 42, column 'b': 'abc' is not a number",
    );

    let nan = write_csv(d, "nan.csv", &format!("a,b,y\n1,NaN,0\n{good_rows}"));
    assert_fails(
        &train_on(&nan, &["--test", &nan]),
        2,
        "is NaN; features must be finite",
    );

    let inf = write_csv(d, "inf.csv", &format!("a,b,y\n{good_rows}1,inf,1\n"));
    assert_fails(
        &train_on(&inf, &["--test", &inf]),
        2,
        "is inf; features must be finite",
    );

    let nolabel = write_csv(d, "nolabel.csv", "a,b,c\n1,2,3\n");
    assert_fails(&train_on(&nolabel, &[]), 2, "no label column 'y'");

    let one: String = (0..40).map(|i| format!("{i},{i},1\n")).collect();
    let one = write_csv(d, "one.csv", &format!("a,b,y\n{one}"));
    assert_fails(&train_on(&one, &["--test", &one]), 2, "only one class (1)");

    let few = write_csv(d, "few.csv", "a,b,y\n1,2,0\n2,3,1\n3,4,0\n");
    assert_fails(
        &train_on(&few, &["--test", &few]),
        2,
        "fewer than --cv 5 folds",
    );

    let out = cpuwall(&["train", "--models", "nb,xgb", "--rows", "100"]);
    assert_fails(&out, 2, "unknown model 'xgb'");
}

#[test]
fn csv_and_npy_training_data_are_both_read() {
    let dir = tempfile::tempdir().unwrap();
    let test_csv = fixture("test.csv");
    let out = train_on(test_csv.to_str().unwrap(), &["--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let x = fixture("X_test.npy");
    let y = fixture("y_test.npy");
    let out = cpuwall(&[
        "train",
        "--data",
        x.to_str().unwrap(),
        "--labels",
        y.to_str().unwrap(),
        "--models",
        "nb",
        "--out",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The same rows, split the same way, give the same NB model.
    let a: serde_json::Value = serde_json::from_str(&stdout(&train_on(
        test_csv.to_str().unwrap(),
        &["--format", "json"],
    )))
    .unwrap();
    let b: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        a["models"]["nb"]["test_accuracy"],
        b["models"]["nb"]["test_accuracy"]
    );
    assert_eq!(
        a["models"]["nb"]["cv_accuracy"],
        b["models"]["nb"]["cv_accuracy"]
    );
}

#[test]
fn a_grid_file_replaces_the_default_grid_and_bad_grids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let grid = d.join("grid.json");
    std::fs::write(
        &grid,
        r#"{"lr": {"C": [0.5, 2.0], "penalty": ["l2", "elasticnet"], "l1_ratio": [0.3]}}"#,
    )
    .unwrap();
    let out = cpuwall(&[
        "train",
        "--rows",
        "1000",
        "--models",
        "lr",
        "--grid-file",
        grid.to_str().unwrap(),
        "--out",
        d.join("m").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["models"]["lr"]["n_candidates"], 4);
    assert_eq!(v["models"]["lr"]["best_params"]["l1_ratio"], 0.3);

    std::fs::write(&grid, r#"{"lr": {"C": "lots"}}"#).unwrap();
    let out = cpuwall(&[
        "train",
        "--rows",
        "1000",
        "--models",
        "lr",
        "--grid-file",
        grid.to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "not a grid file");
    let out = cpuwall(&[
        "train",
        "--rows",
        "1000",
        "--models",
        "lr",
        "--grid",
        "lr.penalty=l3",
    ]);
    assert_fails(
        &out,
        2,
        "lr penalty 'l3' is not one of l1, l2, elasticnet, none",
    );
}
