//! Bring your own model: scikit-learn models (exported to JSON by
//! tools/export_sklearn.py) and ONNX files (skl2onnx) imported as .cpuwall
//! models predict what scikit-learn and ONNX Runtime predict. The fixtures
//! and their expected outputs come from tests/fixtures/import/make_fixtures.py.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap())
        .unwrap()
}

/// `cpuwall import` then `predict --proba` on the case's test rows: the
/// labels and the per-class columns written.
fn import_and_predict(dir: &Path, source: &str, data: &Path) -> (Vec<i64>, Vec<Vec<f64>>) {
    let model = dir.join(format!("{source}.cpuwall"));
    let out = run_in(
        dir,
        &[
            "import",
            fixture_dir().join(source).to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ],
    );
    assert_succeeds(&out);
    let csv = dir.join(format!("{source}.out.csv"));
    let out = run_in(
        dir,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--backend",
            "all",
            "--min-time",
            "1ms",
            "--out",
            csv.to_str().unwrap(),
            "--proba",
        ],
    );
    assert_succeeds(&out);
    let text = std::fs::read_to_string(csv).unwrap();
    let mut labels = Vec::new();
    let mut scores = Vec::new();
    for line in text.lines().skip(1) {
        let mut f = line.split(',');
        labels.push(f.next().unwrap().parse().unwrap());
        scores.push(f.map(|v| v.parse().unwrap()).collect());
    }
    (labels, scores)
}

fn ints(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn scikit_learn_models_predict_scikit_learns_labels_and_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    for family in ["nb", "lr", "svc", "rf"] {
        for tag in ["binary", "multi"] {
            let case = format!("{family}-{tag}");
            let e = &exp["cases"][&case];
            let data = fixture_dir().join(format!("test-{tag}.csv"));
            let (labels, scores) = import_and_predict(dir.path(), &format!("{case}.json"), &data);
            assert_eq!(labels, ints(&e["sklearn_labels"]), "{case}");
            let want = json_rows(e.get("sklearn_proba").unwrap_or(&e["sklearn_scores"]));
            assert_eq!(scores.len(), want.len(), "{case}");
            let worst = scores
                .iter()
                .zip(&want)
                .flat_map(|(a, b)| {
                    assert_eq!(a.len(), b.len(), "{case}: columns");
                    a.iter().zip(b).map(|(x, y)| (x - y).abs())
                })
                .fold(0.0, f64::max);
            assert!(worst <= 1e-9, "{case}: scores differ by {worst}");
            // Not one class everywhere: a wrong model would show.
            let mut seen = labels.clone();
            seen.sort_unstable();
            seen.dedup();
            assert!(seen.len() >= 2, "{case}");
        }
    }
}

/// The test rows with the ONNX models' feature names (`f0..f5`).
fn positional_csv(dir: &Path, tag: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture_dir().join(format!("test-{tag}.csv"))).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let n = header.split(',').count() - 1;
    let names: Vec<String> = (0..n).map(|j| format!("f{j}")).collect();
    let body: Vec<&str> = lines.collect();
    let path = dir.join(format!("positional-{tag}.csv"));
    std::fs::write(
        &path,
        format!("{},y\n{}\n", names.join(","), body.join("\n")),
    )
    .unwrap();
    path
}

#[test]
fn onnx_models_predict_onnx_runtimes_labels() {
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    for family in ["lr", "svc", "rf"] {
        for tag in ["binary", "multi"] {
            let case = format!("{family}-{tag}");
            let e = &exp["cases"][&case];
            let data = positional_csv(dir.path(), tag);
            let (labels, _) = import_and_predict(dir.path(), &format!("{case}.onnx"), &data);
            assert_eq!(labels, ints(&e["onnx_labels"]), "{case}");
            // float32 weights could move a row lying on a decision boundary;
            // on these rows none moves: the ONNX route also gives
            // scikit-learn's labels.
            assert_eq!(labels, ints(&e["sklearn_labels"]), "{case}: scikit-learn");
        }
    }
}

/// Rows on a forest's thresholds (and a float64 step either side): the
/// branch is decided by rounding the row to float32, as scikit-learn and
/// ONNX Runtime do, so both routes agree with their source on every row.
#[test]
fn rows_on_the_thresholds_go_the_way_float32_sends_them() {
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    for tag in ["binary", "multi"] {
        let e = &exp["cases"][&format!("rf-{tag}")];
        let edge = fixture_dir().join(format!("edge-{tag}.csv"));
        let (labels, _) = import_and_predict(dir.path(), &format!("rf-{tag}.json"), &edge);
        assert_eq!(
            labels,
            ints(&e["edge_sklearn_labels"]),
            "{tag}: scikit-learn"
        );
        // The same rows under the ONNX model's positional names.
        let text = std::fs::read_to_string(&edge).unwrap();
        let (head, body) = text.split_once('\n').unwrap();
        let names: Vec<String> = (0..head.split(',').count())
            .map(|j| format!("f{j}"))
            .collect();
        let positional = dir.path().join(format!("edge-{tag}-f.csv"));
        std::fs::write(&positional, format!("{}\n{body}", names.join(","))).unwrap();
        let (labels, _) = import_and_predict(dir.path(), &format!("rf-{tag}.onnx"), &positional);
        assert_eq!(labels, ints(&e["edge_onnx_labels"]), "{tag}: ONNX Runtime");
        // skl2onnx's float32 thresholds keep scikit-learn's decisions: the
        // two runtimes agree even on rows lying on a threshold.
        assert_eq!(
            labels,
            ints(&e["edge_sklearn_labels"]),
            "{tag}: ONNX vs scikit-learn"
        );
    }
}

fn import(dir: &Path, file: &str) -> std::process::Output {
    run_in(dir, &["import", file, "--out", "m.cpuwall"])
}

/// `rf-binary.json` with `edit` applied to its JSON.
fn edited_forest(dir: &Path, name: &str, edit: impl Fn(&mut serde_json::Value)) -> String {
    let text = std::fs::read_to_string(fixture_dir().join("rf-binary.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    std::fs::write(dir.join(name), v.to_string().replace("\"NaN\"", "NaN")).unwrap();
    name.to_string()
}

#[test]
fn bad_models_to_import_get_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A pickle (protocol 4) is never unpickled.
    std::fs::write(d.join("model.pkl"), b"\x80\x04\x95\x10\x00\x00\x00").unwrap();
    assert_fails(
        &import(d, "model.pkl"),
        2,
        "cpuwall never unpickles; run `python tools/export_sklearn.py",
    );
    // An ONNX graph with an operator cpuwall does not run.
    let mut onnx = std::fs::read(fixture_dir().join("svc-binary.onnx")).unwrap();
    while let Some(at) = onnx
        .windows(b"ArrayFeatureExtractor".len())
        .position(|w| w == b"ArrayFeatureExtractor")
    {
        onnx[at..at + 21].copy_from_slice(b"ArrayFeatureSelector!");
    }
    std::fs::write(d.join("other.onnx"), onnx).unwrap();
    assert_fails(&import(d, "other.onnx"), 2, "operator 'ArrayFeatureSelector!' is not supported; cpuwall imports LinearClassifier, TreeEnsembleClassifier, LinearRegressor or TreeEnsembleRegressor");
    // Inconsistent shapes, NaN, children backwards or out of range.
    let f = edited_forest(d, "short.json", |v| {
        v["model"]["trees"][0]["threshold"]
            .as_array_mut()
            .unwrap()
            .pop();
    });
    assert_fails(&import(d, &f), 2, "tree 0: its arrays disagree in length");
    let f = edited_forest(d, "nan.json", |v| {
        v["model"]["trees"][1]["threshold"][0] = "NaN".into()
    });
    assert_fails(&import(d, &f), 2, "not a scikit-learn exchange file");
    let f = edited_forest(d, "back.json", |v| {
        v["model"]["trees"][0]["children_left"][2] = 1.into()
    });
    assert_fails(
        &import(d, &f),
        2,
        "tree 0: node 2 points to node 1, not a later node",
    );
    let f = edited_forest(d, "far.json", |v| {
        v["model"]["trees"][0]["children_right"][0] = 100000.into()
    });
    assert_fails(
        &import(d, &f),
        2,
        "tree 0: node 0 points to node 100000, not a later node",
    );
    // A forest that claims far more than the file holds.
    let f = edited_forest(d, "huge.json", |v| {
        v["n_features_in"] = 10_000_000_000u64.into()
    });
    assert_fails(
        &import(d, &f),
        2,
        "cpuwall imports at most 16777216 features",
    );
    let f = edited_forest(d, "other.json", |v| {
        v["estimator"] = "AdaBoostClassifier".into()
    });
    assert_fails(&import(d, &f), 2, "estimator 'AdaBoostClassifier' is not supported; cpuwall imports GaussianNB, LogisticRegression, LinearSVC, RandomForestClassifier, ExtraTreesClassifier");
    // A boosted model's document under a forest's arrays: its fields named.
    let f = edited_forest(d, "gb.json", |v| {
        v["estimator"] = "GradientBoostingClassifier".into()
    });
    assert_fails(
        &import(d, &f),
        2,
        "the GradientBoostingClassifier parameters do not read",
    );
    assert!(!d.join("m.cpuwall").exists());
}

#[test]
fn an_import_never_replaces_its_source_and_writes_a_cpuwall_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(fixture_dir().join("lr-binary.json"), d.join("lr.json")).unwrap();
    let out = run_in(d, &["import", "lr.json", "--out", "lr.json"]);
    assert_fails(&out, 2, "--out");
    let out = run_in(d, &["import", "lr.json", "--out", "lr.model"]);
    assert_fails(&out, 2, "name the model file NAME.cpuwall");
    let out = run_in(d, &["import", "lr.json", "--out", "lr.cpuwall"]);
    assert_succeeds(&out);
    let info = stdout(&run_in(d, &["inspect", "lr.cpuwall"]));
    assert!(
        info.contains("imported from scikit-learn 1.9.1 LogisticRegression"),
        "{info}"
    );
}

/// `cpuwall export` writes what `cpuwall import` reads back: the same
/// forest (float64 thresholds and weights survive exactly), and linear
/// models whose float32 coefficients decide the study's rows alike.
#[test]
fn exported_models_import_back_and_predict_the_same_labels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = fixture("test.csv");
    let data = data.to_str().unwrap();
    for model in ["rf", "lr", "svc"] {
        assert_succeeds(&run_in(
            d,
            &["export", model, "--onnx", &format!("{model}.onnx")],
        ));
        assert_succeeds(&run_in(
            d,
            &[
                "import",
                &format!("{model}.onnx"),
                "--out",
                &format!("{model}-back.cpuwall"),
            ],
        ));
        let labels = |m: &str, out: &str| {
            assert_succeeds(&run_in(
                d,
                &[
                    "predict",
                    "--model",
                    m,
                    "--data",
                    data,
                    "--backend",
                    "direct",
                    "--min-time",
                    "1ms",
                    "--out",
                    out,
                ],
            ));
            std::fs::read_to_string(d.join(out)).unwrap()
        };
        let original = labels(model, &format!("{model}.csv"));
        let back = labels(
            &format!("{model}-back.cpuwall"),
            &format!("{model}-back.csv"),
        );
        assert_eq!(original, back, "{model}");
    }
    let out = run_in(d, &["export", "nb", "--onnx", "nb.onnx"]);
    assert_fails(&out, 2, "nb models have no ONNX export");
}
