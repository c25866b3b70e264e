//! Boosted trees and the other tree ensembles people deploy, read from the
//! files their libraries write (XGBoost JSON and UBJSON, LightGBM text,
//! scikit-learn's exchange document) by `cpuwall import`, predict each
//! library's own labels and probabilities on rows holding NaN, unseen and
//! negative categories — on every backend and every ISA this CPU runs.
//! Fixtures and expected outputs: tests/fixtures/gbdt/make_fixtures.py.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gbdt")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap())
        .unwrap()
}

fn import(dir: &Path, source: &str) -> PathBuf {
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
    model
}

/// `predict --proba --out` with `backend` and `env`: labels and the
/// per-class probability columns.
fn predict(
    dir: &Path,
    model: &Path,
    data: &Path,
    backend: &str,
    env: &[(&str, &str)],
) -> (Vec<i64>, Vec<Vec<f64>>) {
    let csv = dir.join("out.csv");
    let _ = std::fs::remove_file(&csv);
    let out = run_in_env(
        dir,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--backend",
            backend,
            "--min-time",
            "1ms",
            "--out",
            csv.to_str().unwrap(),
            "--proba",
        ],
        env,
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

/// The probabilities' tolerance: XGBoost sums and answers in float32
/// (its own output is within ~3e-7 of the exact sum); the others compute
/// in float64 as cpuwall does, in the same order.
fn tolerance(source: &str) -> f64 {
    if source.starts_with("xgb") {
        1e-6
    } else {
        1e-12
    }
}

fn worst(a: &[Vec<f64>], b: &serde_json::Value) -> f64 {
    let b = b.as_array().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            let y = y.as_array().unwrap();
            assert_eq!(x.len(), y.len(), "columns");
            x.iter()
                .zip(y)
                .map(|(p, q)| (p - q.as_f64().unwrap()).abs())
        })
        .fold(0.0, f64::max)
}

fn labels_of(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// The test rows with NaN replaced by 0 (GradientBoosting refuses NaN, and
/// its expected outputs are on these rows).
fn without_nan(dir: &Path, data: &Path) -> PathBuf {
    let text = std::fs::read_to_string(data).unwrap().replace("nan", "0");
    let path = dir.join("clean.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_library_s_model_predicts_its_own_labels_and_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    let cases = exp["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 10, "five sources, binary and 4 classes");
    for (source, e) in cases {
        let model = import(dir.path(), source);
        let mut data = fixture_dir().join(e["data"].as_str().unwrap());
        if !e["nan"].as_bool().unwrap() {
            data = without_nan(dir.path(), &data);
        }
        // `all` compares every backend's labels (direct, threads, processes,
        // auto) and fails when any differs.
        let (labels, proba) = predict(dir.path(), &model, &data, "all", &[]);
        assert_eq!(labels, labels_of(&e["labels"]), "{source}");
        let w = worst(&proba, &e["proba"]);
        assert!(
            w <= tolerance(source),
            "{source}: probabilities differ by {w}"
        );
        let mut seen = labels.clone();
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() >= 2, "{source}: one class everywhere");
    }
}

#[test]
fn every_isa_path_gives_the_same_labels_and_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    let isas: Vec<&str> = cpuwall::isa::available()
        .into_iter()
        .map(|i| i.name())
        .collect();
    assert!(isas.contains(&"scalar"));
    for source in [
        "xgb-multi.ubj",
        "lgb-binary.txt",
        "hgb-multi.json",
        "et-binary.json",
    ] {
        let e = &exp["cases"][source];
        let model = import(dir.path(), source);
        let data = fixture_dir().join(e["data"].as_str().unwrap());
        for isa in &isas {
            let (labels, proba) = predict(
                dir.path(),
                &model,
                &data,
                "direct",
                &[(cpuwall::isa::ENV, isa)],
            );
            assert_eq!(labels, labels_of(&e["labels"]), "{source} on {isa}");
            let w = worst(&proba, &e["proba"]);
            assert!(w <= tolerance(source), "{source} on {isa}: {w}");
        }
    }
}

#[test]
fn inspect_shows_rounds_links_missing_values_and_categorical_sets() {
    let dir = tempfile::tempdir().unwrap();
    let model = import(dir.path(), "lgb-multi.txt");
    let out = run_in(dir.path(), &["inspect", model.to_str().unwrap()]);
    assert_succeeds(&out);
    let text = stdout(&out);
    for needle in [
        "trees (imported tree ensemble",
        "LightGBM v4 multiclass num_class:4",
        "softmax",
        "rounds                 12",
        "trees per round        4",
        "routed by each split (NaN accepted)",
        "categorical sets",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}

#[test]
fn a_model_that_does_not_route_missing_values_refuses_nan_with_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let model = import(dir.path(), "gb-binary.json");
    let data = fixture_dir().join("test-binary.csv");
    let out = run_in(
        dir.path(),
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert_fails(&out, 2, "row 1 column 4 is NaN");
}

#[test]
fn an_infinite_feature_is_refused_even_where_nan_is_data() {
    let dir = tempfile::tempdir().unwrap();
    let model = import(dir.path(), "xgb-binary.json");
    let data = dir.path().join("inf.csv");
    std::fs::write(&data, "f0,f1,f2,f3,f4,f5\n1,nan,2,3,4,5\n1,2,inf,3,4,5\n").unwrap();
    let out = run_in(
        dir.path(),
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert_fails(&out, 2, "row 2 column 3 is inf");
}

/// Write `text` as `name` and import it: the exit code and stderr.
fn import_text(dir: &Path, name: &str, text: &str) -> std::process::Output {
    std::fs::write(dir.join(name), text).unwrap();
    run_in(dir, &["import", name, "--out", "m.cpuwall"])
}

#[test]
fn what_cpuwall_does_not_read_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lgb = std::fs::read_to_string(fixture_dir().join("lgb-binary.txt")).unwrap();
    let out = import_text(
        d,
        "linear.txt",
        &lgb.replacen("is_linear=0", "is_linear=1", 1),
    );
    assert_fails(&out, 2, "linear tree");
    let out = import_text(
        d,
        "reg.txt",
        &lgb.replacen("objective=binary sigmoid:1", "objective=poisson", 1),
    );
    // A log link's predictions are not its sums.
    assert_fails(&out, 2, "objective 'poisson'");
    let cut = &lgb[..lgb.find("end of trees").unwrap() - 200];
    assert_fails(&import_text(d, "cut.txt", cut), 2, "cut short");

    let xgb = std::fs::read_to_string(fixture_dir().join("xgb-binary.json")).unwrap();
    let out = import_text(d, "dart.json", &xgb.replacen("\"gbtree\"", "\"dart\"", 1));
    assert_fails(&out, 2, "booster 'dart'");
    let out = import_text(
        d,
        "obj.json",
        &xgb.replacen("binary:logistic", "count:poisson", 1),
    );
    assert_fails(&out, 2, "objective 'count:poisson'");
    let out = import_text(
        d,
        "cat.json",
        &xgb.replacen("\"split_type\":[0", "\"split_type\":[1", 1),
    );
    assert_fails(&out, 2, "categorical split");
    assert!(!d.join("m.cpuwall").exists(), "nothing written");
}

#[test]
fn a_mutated_model_file_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lgb = std::fs::read_to_string(fixture_dir().join("lgb-binary.txt")).unwrap();
    for (from, to) in [
        ("left_child=", "left_child=99 "),
        ("split_feature=", "split_feature=77 "),
        ("num_leaves=", "num_leaves=9"),
        ("cat_boundaries=", "cat_boundaries=999 "),
        ("decision_type=", "decision_type=13 "),
    ] {
        let out = import_text(d, "bad.txt", &lgb.replacen(from, to, 1));
        assert_eq!(out.status.code(), Some(2), "{from}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("LightGBM model: tree"),
            "{}",
            stderr(&out)
        );
    }
    let ubj = std::fs::read(fixture_dir().join("xgb-multi.ubj")).unwrap();
    for cut in [10, ubj.len() / 2, ubj.len() - 1] {
        std::fs::write(d.join("cut.ubj"), &ubj[..cut]).unwrap();
        let out = run_in(d, &["import", "cut.ubj", "--out", "m.cpuwall"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
}

#[test]
fn serve_takes_null_as_a_missing_value_for_a_model_that_routes_it() {
    use common::serving::{post, Server};
    let dir = tempfile::tempdir().unwrap();
    let exp = expected();
    let e = &exp["cases"]["xgb-binary.json"];
    let model = import(dir.path(), "xgb-binary.json");
    let text = std::fs::read_to_string(fixture_dir().join("test-binary.csv")).unwrap();
    // The first 40 test rows, NaN sent as null.
    let rows: Vec<serde_json::Value> = text
        .lines()
        .skip(1)
        .take(40)
        .map(|l| {
            l.split(',')
                .map(|v| match v.parse::<f64>() {
                    Ok(x) if !x.is_nan() => serde_json::json!(x),
                    _ => serde_json::Value::Null,
                })
                .collect()
        })
        .collect();
    assert!(rows
        .iter()
        .any(|r| r.as_array().unwrap().contains(&serde_json::Value::Null)));
    let s = Server::start(&["--model", model.to_str().unwrap()]);
    let name = model.file_stem().unwrap().to_str().unwrap().to_string();
    let (status, answer) = post(
        s.addr,
        &name,
        &serde_json::json!({"rows": rows, "proba": true}),
    );
    assert_eq!(status, 200, "{answer}");
    let want: Vec<i64> = labels_of(&e["labels"])[..40].to_vec();
    assert_eq!(labels_of(&answer["labels"]), want);
    let w = worst(
        &json_rows(&answer["proba"]),
        &serde_json::Value::Array(e["proba"].as_array().unwrap()[..40].to_vec()),
    );
    assert!(w <= 1e-6, "{w}");
}

/// An imported boosted model named `trees.cpuwall` in `--models-dir` is
/// swept like any family: every backend's labels identical to direct's,
/// and a results document that passes the schema.
#[test]
fn an_imported_boosted_model_is_swept_like_any_family() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let imported = import(dir.path(), "xgb-binary.json");
    std::fs::rename(imported, models.join("trees.cpuwall")).unwrap();
    let out = run_in(
        dir.path(),
        &[
            "sweep",
            "--models",
            "trees",
            "--backends",
            "direct,threads",
            "--rows",
            "10..1000",
            "--min-time",
            "5ms",
            "--models-dir",
            models.to_str().unwrap(),
            "--out",
            "s.json",
        ],
    );
    assert_succeeds(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_valid_results(&doc, "a sweep of an imported boosted model");
    let cells = doc["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6, "3 sizes x 2 backends");
    for c in cells {
        assert_eq!(c["model"], "trees");
        assert_eq!(c["identical_to_direct"], true, "{}", c["backend"]);
    }
}
