//! Regression through the CLI, as a user runs it: `train --task
//! regression` reaches scikit-learn's GridSearchCV test R² on the bundled
//! diabetes data and make_friedman1; regressors of every family read from
//! the files their libraries write predict what those libraries predict,
//! on every backend; `serve` answers values (v1) and one FP64 output (v2);
//! a label column that does not fit the task is refused naming `--task`.
//! Fixtures and expected values: tests/fixtures/regression/make_fixtures.py.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/regression")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap())
        .unwrap()
}

fn fixture_str(name: &str) -> String {
    fixture_dir().join(name).to_str().unwrap().to_string()
}

/// `train --task regression` on a data set's train/test files: the test R²
/// of each model trained (by `--format json`).
fn train(dir: &Path, data: &str, extra: &[&str]) -> serde_json::Value {
    let train = fixture_str(&format!("{data}-train.csv"));
    let test = fixture_str(&format!("{data}-test.csv"));
    let mut args = vec![
        "train",
        "--data",
        &train,
        "--test",
        &test,
        "--task",
        "regression",
        "--out",
        "models",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args);
    assert_succeeds(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_valid_results(&doc, "train --task regression");
    doc
}

#[test]
fn train_reaches_scikit_learns_grid_search_r2_for_ridge_lasso_elastic_net_and_the_forest() {
    let exp = expected();
    for data in ["diabetes", "friedman"] {
        let dir = tempfile::tempdir().unwrap();
        let want = &exp["data"][data];
        for (family, penalty) in [
            ("ridge", "l2"),
            ("lasso", "l1"),
            ("elasticnet", "elasticnet"),
        ] {
            let grid = format!("linreg.penalty={penalty}");
            let doc = train(dir.path(), data, &["--models", "linreg", "--grid", &grid]);
            let m = &doc["models"]["linreg"];
            assert_eq!(m["task"], "regression");
            let got = m["test_accuracy"].as_f64().unwrap();
            let sk = want[family]["test_r2"].as_f64().unwrap();
            assert!(
                (got - sk).abs() <= 0.01,
                "{data} {family}: test R² {got} against scikit-learn's {sk}"
            );
            // The errors a person reads beside R².
            assert!(m["test_mae"].as_f64().unwrap() > 0.0);
            assert!(m["test_rmse"].as_f64().unwrap() >= m["test_mae"].as_f64().unwrap());
        }
        let doc = train(dir.path(), data, &["--models", "rfr"]);
        let got = doc["models"]["rfr"]["test_accuracy"].as_f64().unwrap();
        let sk = want["forest"]["test_r2"].as_f64().unwrap();
        // scikit-learn's own forests differ by their seed this much (88
        // diabetes test rows: 0.036 over five seeds).
        let spread = want["forest"]["spread"].as_f64().unwrap().max(0.01);
        assert!(
            (got - sk).abs() <= spread,
            "{data} forest: test R² {got} against scikit-learn's {sk} (seeds spread {spread})"
        );
        let report = std::fs::read_to_string(dir.path().join("models/training-report.md")).unwrap();
        assert!(report.contains("5-fold cross-validation (R²)"), "{report}");
        assert!(report.contains("test RMSE"), "{report}");
    }
}

#[test]
fn top_k_averages_the_best_regressors_as_a_voting_regressor_does() {
    let dir = tempfile::tempdir().unwrap();
    let doc = train(
        dir.path(),
        "friedman",
        &["--models", "linreg", "--top-k", "3"],
    );
    let e = &doc["ensemble"];
    assert_eq!(e["vote"], "mean");
    assert_eq!(e["members"].as_array().unwrap().len(), 3);
    // Its CV estimate and test R² are R², near the members' own.
    let best = e["members"][0]["test_accuracy"].as_f64().unwrap();
    let ensemble = e["test_accuracy"].as_f64().unwrap();
    assert!((ensemble - best).abs() < 0.05, "{ensemble} against {best}");
    // The file predicts the mean of its members' values.
    let ens = dir.path().join("models/ensemble.cpuwall");
    let inspect = run_in(dir.path(), &["inspect", ens.to_str().unwrap()]);
    assert!(
        stdout(&inspect).contains("vote=mean"),
        "{}",
        stdout(&inspect)
    );
    assert!(
        stdout(&inspect).contains("regression"),
        "{}",
        stdout(&inspect)
    );
    let values = predicted(dir.path(), &ens, "threads", "e.csv");
    assert_eq!(values.len(), 400);
    // --vote means classifiers' votes: refused for regressors.
    let out = run_in(
        dir.path(),
        &[
            "train",
            "--task",
            "regression",
            "--models",
            "linreg",
            "--top-k",
            "3",
            "--vote",
            "soft",
            "--rows",
            "500",
            "--out",
            "x",
        ],
    );
    assert_fails(&out, 2, "their ensemble averages their values");
}

/// `predict --out` values of `model` on the friedman test rows.
fn predicted(dir: &Path, model: &Path, backend: &str, out: &str) -> Vec<f64> {
    predicted_on(dir, model, &fixture_str("friedman-test.csv"), backend, out)
}

/// `predict --model MODEL --data DATA --backend BACKEND --out DIR/OUT`,
/// which must succeed; the output's path.
fn predict_to(dir: &Path, model: &Path, data: &str, backend: &str, out: &str) -> PathBuf {
    let path = dir.join(out);
    let _ = std::fs::remove_file(&path);
    assert_succeeds(&run_in(
        dir,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data,
            "--backend",
            backend,
            "--min-time",
            "1ms",
            "--out",
            path.to_str().unwrap(),
        ],
    ));
    path
}

/// A float64 `.npy` file's header and values.
fn npy_values(path: &Path) -> (String, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let head = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[..head]).to_string();
    assert!(header.contains("'<f8'"), "{header}");
    let values = bytes[head..]
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (header, values)
}

/// `predict --out` values of `model` on the rows of `data`.
fn predicted_on(dir: &Path, model: &Path, data: &str, backend: &str, out: &str) -> Vec<f64> {
    let path = predict_to(dir, model, data, backend, out);
    if out.ends_with(".npy") {
        let (header, values) = npy_values(&path);
        assert!(header.contains("'shape': ("), "{header}");
        values
    } else {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("prediction"));
        lines.map(|l| l.parse().unwrap()).collect()
    }
}

/// The backends compared with direct's `--out`, each with a file form.
const OTHER_BACKENDS: [(&str, &str); 3] = [
    ("threads", "v.npy"),
    ("processes", "v.csv"),
    ("auto", "v.npy"),
];

/// Whether cpuwall's value `g` is the library's `w` for the fixture `file`.
fn agrees(file: &str, g: f64, w: f64) -> bool {
    if file.starts_with("xgb") {
        // XGBoost sums in float32 and answers float32.
        (g - w).abs() <= 2e-6 * w.abs().max(1.0)
    } else if file.starts_with("ridge") {
        // numpy's BLAS adds the terms in another order.
        (g - w).abs() <= 1e-12 * w.abs().max(1.0)
    } else {
        // The same comparisons and sums in the same order.
        g == w
    }
}

#[test]
fn imported_regressors_of_every_family_predict_their_librarys_values_on_every_backend() {
    let exp = expected();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (file, models) in exp["models"].as_object().unwrap() {
        let model = d.join(format!("{file}.cpuwall"));
        let out = run_in(
            d,
            &[
                "import",
                &fixture_str(file),
                "--out",
                model.to_str().unwrap(),
            ],
        );
        assert_succeeds(&out);
        assert!(stderr(&out).contains("a regressor"), "{}", stderr(&out));
        let want: Vec<f64> = models
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let direct = predicted(d, &model, "direct", "v.csv");
        assert_eq!(direct.len(), want.len());
        for (i, (g, w)) in direct.iter().zip(&want).enumerate() {
            assert!(agrees(file, *g, *w), "{file} row {i}: {g} against {w}");
        }
        for (backend, out) in OTHER_BACKENDS {
            assert_eq!(
                predicted(d, &model, backend, out),
                direct,
                "{file} {backend}"
            );
        }
    }
}

/// `cpuwall export --onnx` writes a regressor as ONNX's `LinearRegressor`
/// or `TreeEnsembleRegressor`, and `cpuwall import` reads it back: trees
/// keep their float64 thresholds, leaf values and NaN routes exactly, so
/// the file read back predicts the very same values; a linear model's
/// coefficients travel as float32, as skl2onnx writes them. (ONNX Runtime
/// on the same files: `.ci/run`, tests/onnx_export_check.py.)
#[test]
fn regressors_exported_to_onnx_import_back_and_predict_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The friedman test rows, and a copy with about one value in seven
    // missing.
    let text = std::fs::read_to_string(fixture_dir().join("friedman-test.csv")).unwrap();
    let mut nan = String::new();
    for (i, line) in text.lines().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let row: Vec<&str> = cells
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if i > 0 && (i * 11 + j) % 7 == 0 {
                    "nan"
                } else {
                    c
                }
            })
            .collect();
        nan.push_str(&row.join(","));
        nan.push('\n');
    }
    std::fs::write(d.join("nan.csv"), nan).unwrap();
    let nan = d.join("nan.csv");
    let nan = nan.to_str().unwrap();
    // Two trained here (a small forest), and one of every library's.
    let train = run_in(
        d,
        &[
            "train",
            "--data",
            &fixture_str("friedman-train.csv"),
            "--models",
            "linreg,rfr",
            "--grid",
            "rfr.n_estimators=5",
            "--out",
            "m",
        ],
    );
    assert_succeeds(&train);
    let mut models = vec![d.join("m/linreg.cpuwall"), d.join("m/rfr.cpuwall")];
    for file in [
        "xgb.json",
        "lgb.txt",
        "hgb.json",
        "gbr.json",
        "rf.json",
        "ridge.json",
    ] {
        let model = d.join(format!("{file}.cpuwall"));
        let out = [
            "import",
            &fixture_str(file),
            "--out",
            model.to_str().unwrap(),
        ];
        assert_succeeds(&run_in(d, &out));
        models.push(model);
    }
    let mut routed = 0;
    for model in &models {
        let name = model.file_stem().unwrap().to_str().unwrap();
        let onnx = d.join(format!("{name}.onnx"));
        let back = d.join(format!("{name}-back.cpuwall"));
        let m = model.to_str().unwrap();
        let o = run_in(d, &["export", m, "--onnx", onnx.to_str().unwrap()]);
        assert_succeeds(&o);
        let o = run_in(
            d,
            &[
                "import",
                onnx.to_str().unwrap(),
                "--out",
                back.to_str().unwrap(),
            ],
        );
        assert_succeeds(&o);
        assert!(stderr(&o).contains("a regressor"), "{}", stderr(&o));
        let linear = name == "linreg" || name.starts_with("ridge");
        let want = predicted(d, model, "direct", "a.csv");
        let got = predicted(d, &back, "direct", "b.csv");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let ok = if linear {
                (g - w).abs() <= 1e-6 * w.abs().max(1.0)
            } else {
                g == w
            };
            assert!(ok, "{name} row {i}: {g} read back, {w} exported");
        }
        // A model that routes missing values routes them the same way
        // once read back.
        let refuses = run_in(
            d,
            &["predict", "--model", m, "--data", nan, "--min-time", "1ms"],
        );
        if refuses.status.success() {
            routed += 1;
            assert_eq!(
                predicted_on(d, &back, nan, "direct", "b.csv"),
                predicted_on(d, model, nan, "direct", "a.csv"),
                "{name} with NaN"
            );
        }
    }
    // XGBoost, LightGBM (its NaN read as zero), HistGradientBoosting and
    // the scikit-learn forest route NaN.
    assert_eq!(routed, 4);
}

/// `sweep` measures regressors like classifiers: every backend gives the
/// direct values, the results document is schema-valid, and `report` draws
/// each regressor.
#[test]
fn a_sweep_of_regressors_is_measured_and_reported_like_a_classifiers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A small forest, so the default 100 trees are not grown here.
    assert_succeeds(&run_in(
        d,
        &[
            "train",
            "--task",
            "regression",
            "--models",
            "rfr",
            "--grid",
            "rfr.n_estimators=5",
            "--out",
            "models",
        ],
    ));
    let out = run_in(
        d,
        &[
            "sweep",
            "--models",
            "linreg,rfr",
            "--rows",
            "10..1000",
            "--min-time",
            "5ms",
            "--models-dir",
            "models",
            "--out",
            "s.json",
        ],
    );
    assert_succeeds(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("s.json")).unwrap()).unwrap();
    assert_valid_results(&doc, "sweep of regressors");
    let cells = doc["cells"].as_array().unwrap();
    for model in ["linreg", "rfr"] {
        let mine: Vec<_> = cells.iter().filter(|c| c["model"] == model).collect();
        assert_eq!(mine.len(), 3 * 4, "{model}: 3 sizes x 4 backends");
        assert!(
            mine.iter().all(|c| c["identical_to_direct"] == true),
            "{model}"
        );
    }
    let out = run_in(d, &["report", "s.json", "-o", "r.md"]);
    assert_succeeds(&out);
    let md = std::fs::read_to_string(d.join("r.md")).unwrap();
    for heading in ["## linreg (", "## rfr ("] {
        assert!(md.contains(heading), "{md}");
    }
    assert!(d.join("r-rfr-wall.svg").exists());
}

#[test]
fn serve_answers_a_regressors_values_on_v1_and_one_fp64_output_on_v2() {
    use common::serving::{http, post, Server};
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("rf.cpuwall");
    assert_succeeds(&run_in(
        dir.path(),
        &[
            "import",
            &fixture_str("rf.json"),
            "--out",
            model.to_str().unwrap(),
        ],
    ));
    let want: Vec<f64> = expected()["models"]["rf.json"].as_array().unwrap()[..5]
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let text = std::fs::read_to_string(fixture_dir().join("friedman-test.csv")).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .take(5)
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|c| c.parse().unwrap()).collect();
            v[..10].to_vec()
        })
        .collect();
    let s = Server::start(&["--model", model.to_str().unwrap()]);
    let (status, answer) = post(s.addr, "rf", &serde_json::json!({ "rows": rows }));
    assert_eq!(status, 200, "{answer}");
    let got: Vec<f64> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got, want);
    let (status, answer) = post(
        s.addr,
        "rf",
        &serde_json::json!({ "rows": rows, "proba": true }),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("is a regressor"), "{answer}");
    let (status, _, meta) = http(s.addr, "GET", "/v2/models/rf", b"");
    assert_eq!(status, 200);
    let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    assert_eq!(
        meta["outputs"],
        serde_json::json!([{ "name": "prediction", "datatype": "FP64", "shape": [-1] }])
    );
    let flat: Vec<f64> = rows.concat();
    let body = serde_json::json!({
        "inputs": [{ "name": "input", "shape": [5, 10], "datatype": "FP64", "data": flat }]
    });
    let (status, _, out) = http(
        s.addr,
        "POST",
        "/v2/models/rf/infer",
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["outputs"][0]["name"], "prediction");
    assert_eq!(out["outputs"][0]["datatype"], "FP64");
    let got: Vec<f64> = out["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_label_column_that_does_not_fit_the_task_is_refused_naming_task() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let friedman = fixture_str("friedman-train.csv");
    let diabetes = fixture_str("diabetes-train.csv");
    // Real targets told to be classes.
    let out = run_in(
        d,
        &[
            "train",
            "--data",
            &friedman,
            "--task",
            "classification",
            "--out",
            "m",
        ],
    );
    assert_fails(&out, 2, "--task regression");
    assert!(
        stderr(&out).contains("line 2, label column 'y'"),
        "{}",
        stderr(&out)
    );
    // Integer targets with hundreds of values, no --task: not classes.
    let out = run_in(d, &["train", "--data", &diabetes, "--out", "m"]);
    assert_fails(&out, 2, "distinct values");
    assert!(
        stderr(&out).contains("--task regression"),
        "{}",
        stderr(&out)
    );
    // Real labels without --task or --models: regression, said on stderr.
    let text = std::fs::read_to_string(fixture_dir().join("friedman-train.csv")).unwrap();
    let small: Vec<&str> = text.lines().take(201).collect();
    std::fs::write(d.join("small.csv"), small.join("\n")).unwrap();
    let out = run_in(d, &["train", "--data", "small.csv", "--out", "m"]);
    assert_succeeds(&out);
    assert!(
        stderr(&out).contains("training regressors"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("test R²"), "{}", stdout(&out));
    assert!(d.join("m/linreg.cpuwall").exists() && d.join("m/rfr.cpuwall").exists());
    // Families named say the task: classifiers on real labels are refused
    // naming --task, and a regressor family trains on synthetic
    // regression data.
    let out = run_in(
        d,
        &["train", "--data", &friedman, "--models", "lr", "--out", "m"],
    );
    assert_fails(&out, 2, "train regressors with --task regression");
    let out = run_in(
        d,
        &["train", "--models", "linreg", "--rows", "500", "--out", "s"],
    );
    assert_succeeds(&out);
    assert!(stdout(&out).contains("test R²"), "{}", stdout(&out));
    // Families of both tasks at once cannot share one data set.
    let out = run_in(
        d,
        &[
            "train",
            "--models",
            "lr,linreg",
            "--rows",
            "500",
            "--out",
            "s",
        ],
    );
    assert_fails(&out, 2, "linreg: linear regression");
    // A NaN target, named by its line.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let cut = lines[3].rfind(',').unwrap();
    lines[3] = format!("{},nan", &lines[3][..cut]);
    std::fs::write(d.join("nan.csv"), lines.join("\n")).unwrap();
    let out = run_in(
        d,
        &[
            "train",
            "--data",
            "nan.csv",
            "--task",
            "regression",
            "--out",
            "m",
        ],
    );
    assert_fails(&out, 2, "line 4, target column 'y': NaN");
    // A constant target trains: R² on a constant test set is defined.
    let constant: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                format!("{},3.5", &l[..l.rfind(',').unwrap()])
            }
        })
        .collect();
    std::fs::write(d.join("constant.csv"), constant.join("\n")).unwrap();
    let out = run_in(
        d,
        &[
            "train",
            "--data",
            "constant.csv",
            "--task",
            "regression",
            "--models",
            "linreg",
            "--out",
            "c",
            "--format",
            "json",
        ],
    );
    assert_succeeds(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r2 = doc["models"]["linreg"]["test_accuracy"].as_f64().unwrap();
    assert!(r2 == 0.0 || r2 == 1.0, "{r2}");
}

/// `predict --out` of a multi-output regressor: its rows of values, and
/// the header (CSV) or shape (`.npy`) that says how many a row.
fn predicted_rows(dir: &Path, model: &Path, backend: &str, out: &str) -> Vec<Vec<f64>> {
    let path = predict_to(dir, model, &fixture_str("friedman-test.csv"), backend, out);
    if out.ends_with(".npy") {
        let (header, values) = npy_values(&path);
        assert!(
            header.contains(&format!("({}, 2)", values.len() / 2)),
            "{header}"
        );
        values.chunks(2).map(<[f64]>::to_vec).collect()
    } else {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("prediction_0,prediction_1"));
        lines
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect()
    }
}

/// Regressors fitted on two targets at once (scikit-learn's and XGBoost's,
/// tests/fixtures/regression/make_multi_output.py) predict a pair per row
/// on every backend, equal to scikit-learn's (the forest exactly, the
/// linear model to BLAS's order of additions); `inspect` says how many
/// values a row; the server answers a pair per row on v1 and an `[n, 2]`
/// FP64 tensor on v2; and the linear one goes through ONNX and back.
#[test]
fn multi_output_regressors_give_a_row_of_values_on_every_backend_and_surface() {
    use common::serving::{http, post, Server};
    let text = std::fs::read_to_string(fixture_dir().join("expected-multi.json")).unwrap();
    let exp: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for file in ["ridge2.json", "rf2.json", "xgb2.json"] {
        let model = d.join(file.replace(".json", ".cpuwall"));
        import_to(d, &fixture_dir().join(file), &model);
        let want = json_rows(&exp["models"][file]);
        let direct = predicted_rows(d, &model, "direct", "v.csv");
        assert_eq!(direct.len(), want.len(), "{file}");
        for (i, (g, w)) in direct.iter().zip(&want).enumerate() {
            assert_eq!(g.len(), 2, "{file} row {i}");
            for (g, w) in g.iter().zip(w) {
                assert!(agrees(file, *g, *w), "{file} row {i}: {g} against {w}");
            }
        }
        for (backend, out) in OTHER_BACKENDS {
            assert_eq!(
                predicted_rows(d, &model, backend, out),
                direct,
                "{file} {backend}"
            );
        }
        let shown = run_in(d, &["inspect", model.to_str().unwrap()]);
        assert!(
            stdout(&shown)
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["outputs", "2"]),
            "{}",
            stdout(&shown)
        );
        if file != "ridge2.json" {
            // A regressor decides no labels early: it walks every tree.
            assert!(
                stdout(&shown).contains("trees walked           every tree (a regressor's"),
                "{}",
                stdout(&shown)
            );
        }
    }

    // Serving: a pair per row on v1, an [n, 2] tensor on v2.
    let model = d.join("rf2.cpuwall");
    let text = std::fs::read_to_string(fixture_dir().join("friedman-test.csv")).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split(',').take(10).map(|c| c.parse().unwrap()).collect())
        .collect();
    let want = &exp["models"]["rf2.json"].as_array().unwrap()[..3];
    let s = Server::start(&["--model", model.to_str().unwrap()]);
    let (status, answer) = post(s.addr, "rf2", &serde_json::json!({ "rows": rows }));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["predictions"].as_array().unwrap(), want);
    let (_, _, meta) = http(s.addr, "GET", "/v2/models/rf2", b"");
    let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    assert_eq!(
        meta["outputs"],
        serde_json::json!([{ "name": "prediction", "datatype": "FP64", "shape": [-1, 2] }])
    );
    let body = serde_json::json!({
        "inputs": [{ "name": "input", "shape": [3, 10], "datatype": "FP64", "data": rows.concat() }]
    });
    let (status, _, out) = http(
        s.addr,
        "POST",
        "/v2/models/rf2/infer",
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["outputs"][0]["shape"], serde_json::json!([3, 2]));
    // `cpuwall load` drives a regressor on both protocols (on v2 it asks for
    // the model's first output, `prediction`), every request answered.
    for protocol in ["native", "v2"] {
        let o = run_in(
            d,
            &[
                "load",
                "--url",
                &s.url(),
                "--model",
                "rf2",
                "--protocol",
                protocol,
                "--rate",
                "50",
                "--duration",
                "0.4s",
                "--warmup",
                "0.1s",
                "--format",
                "json",
            ],
        );
        assert_succeeds(&o);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["errors"], serde_json::json!({}), "{protocol}: {v}");
        assert!(v["ok"].as_u64().unwrap() > 0, "{protocol}: {v}");
        assert_eq!(v["ok"], v["requests"], "{protocol}: {v}");
    }
    let flat: Vec<serde_json::Value> = want
        .iter()
        .flat_map(|r| r.as_array().unwrap().clone())
        .collect();
    assert_eq!(out["outputs"][0]["data"].as_array().unwrap(), &flat);

    // ONNX and back: a LinearRegressor of two targets (float32
    // coefficients, as ONNX keeps them) and a TreeEnsembleRegressor of two
    // targets (float64 thresholds and leaf values: the same values exactly).
    for (name, exact) in [("ridge2", false), ("rf2", true)] {
        let model = d.join(format!("{name}.cpuwall"));
        let onnx = d.join(format!("{name}.onnx"));
        assert_succeeds(&run_in(
            d,
            &[
                "export",
                model.to_str().unwrap(),
                "--onnx",
                onnx.to_str().unwrap(),
            ],
        ));
        let back = d.join(format!("{name}-back.cpuwall"));
        import_to(d, &onnx, &back);
        let before = predicted_rows(d, &model, "direct", "a.csv");
        let after = predicted_rows(d, &back, "direct", "b.csv");
        if exact {
            assert_eq!(before, after, "{name}");
        }
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            for (a, b) in a.iter().zip(b) {
                assert!(
                    (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                    "{name} row {i}: {a} against {b}"
                );
            }
        }
    }
}
