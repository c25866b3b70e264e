//! Columns are matched by name when the model has real names: a model file
//! stores the names of the features it was trained on; at predict and test
//! time a file's columns are put in the model's order by name (with a
//! notice), and missing, unexpected, duplicate or unnamed columns are
//! refused unless `--columns by-position` is given. A model trained without
//! names (synthetic, `.npy`) takes a CSV's columns by position, with a
//! notice, when the count matches.

mod common;

use std::path::Path;

use common::*;

/// The study's test rows as a table of text cells (header first).
fn study_rows() -> Vec<Vec<String>> {
    std::fs::read_to_string(fixture("test.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Write `rows` with each row's cells picked by `cols` (indices into the
/// study's columns `f0..f9,y`) and the header replaced by `header` if given.
fn write(dir: &Path, name: &str, cols: &[usize], header: Option<&[&str]>) {
    let mut text = String::new();
    for (i, row) in study_rows().iter().enumerate() {
        let cells: Vec<String> = match (i, header) {
            (0, Some(h)) => h.iter().map(|s| s.to_string()).collect(),
            _ => cols.iter().map(|&c| row[c].clone()).collect(),
        };
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    std::fs::write(dir.join(name), text).unwrap();
}

const ALL: [usize; 11] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/// Train nb on the study's rows with these column names (`y` last).
fn train(dir: &Path, header: &[&str]) {
    write(dir, "train.csv", &ALL, Some(header));
    assert_succeeds(&run_in(
        dir,
        &[
            "train",
            "--models",
            "nb",
            "--data",
            "train.csv",
            "--out",
            "m",
        ],
    ));
}

fn predict(dir: &Path, data: &str, out: &str) -> std::process::Output {
    predict_with(dir, data, out, &[])
}

/// `predict` with more options (`--columns by-position`).
fn predict_with(dir: &Path, data: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "predict",
        "--model",
        "nb",
        "--models-dir",
        "m",
        "--data",
        data,
        "--backend",
        "direct",
        "--min-time",
        "1ms",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

const NAMES: [&str; 11] = [
    "age", "income", "height", "weight", "score", "visits", "days", "rate", "depth", "width", "y",
];

#[test]
fn the_model_file_stores_the_training_column_names() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), &NAMES);
    let out = run_in(dir.path(), &["inspect", "m/nb.cpuwall", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(names, &NAMES[..10]);
    let table = stdout(&run_in(dir.path(), &["inspect", "m/nb.cpuwall"]));
    assert!(table.contains("10 ('age', 'income',"), "{table}");
}

#[test]
fn reordered_columns_predict_the_same_labels_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, &NAMES);
    write(d, "same.csv", &ALL, Some(&NAMES));
    let order = [7, 2, 9, 0, 10, 4, 1, 3, 8, 6, 5];
    let shuffled: Vec<&str> = order.iter().map(|&c| NAMES[c]).collect();
    write(d, "shuffled.csv", &order, Some(&shuffled));
    let before = std::fs::read(d.join("shuffled.csv")).unwrap();
    let same = predict(d, "same.csv", "same.out.csv");
    assert_succeeds(&same);
    assert!(
        !stderr(&same).contains("matched by name"),
        "{}",
        stderr(&same)
    );
    let moved = predict(d, "shuffled.csv", "shuffled.out.csv");
    assert_succeeds(&moved);
    assert!(
        stderr(&moved).contains(
            "shuffled.csv: columns are in another order than the model's features; matched by name"
        ),
        "{}",
        stderr(&moved)
    );
    let labels = std::fs::read(d.join("same.out.csv")).unwrap();
    assert_eq!(std::fs::read(d.join("shuffled.out.csv")).unwrap(), labels);
    assert_eq!(std::fs::read(d.join("shuffled.csv")).unwrap(), before);
    // The labels are not all one class: a reordering bug would show.
    let text = String::from_utf8(labels).unwrap();
    assert!(text.lines().any(|l| l == "0") && text.lines().any(|l| l == "1"));
}

#[test]
fn missing_and_unexpected_columns_are_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, &NAMES);
    let mut renamed = NAMES;
    renamed[2] = "tallness";
    write(d, "renamed.csv", &ALL, Some(&renamed));
    assert_fails(
        &predict(d, "renamed.csv", "o.csv"),
        2,
        "10 feature columns do not match the model's 10: missing 'height'; unexpected 'tallness'",
    );
    // Ten features and a label called `target`: the hint names --label.
    let mut target = NAMES;
    target[10] = "target";
    write(d, "target.csv", &ALL, Some(&target));
    assert_fails(
        &predict(d, "target.csv", "o.csv"),
        2,
        "if 'target' is the label column, name it with --label target",
    );
    assert!(!d.join("o.csv").exists());
}

#[test]
fn a_test_file_is_matched_to_the_training_columns_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "train.csv", &ALL, Some(&NAMES));
    let order = [3, 1, 10, 0, 2, 4, 5, 6, 7, 8, 9];
    let shuffled: Vec<&str> = order.iter().map(|&c| NAMES[c]).collect();
    write(d, "test.csv", &ALL, Some(&NAMES));
    write(d, "test-shuffled.csv", &order, Some(&shuffled));
    let accuracy = |test: &str, out: &str| {
        let o = run_in(
            d,
            &[
                "train",
                "--models",
                "nb",
                "--data",
                "train.csv",
                "--test",
                test,
                "--out",
                out,
                "--format",
                "json",
            ],
        );
        assert_succeeds(&o);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (
            v["models"]["nb"]["test_accuracy"].as_f64().unwrap(),
            stderr(&o),
        )
    };
    let (plain, _) = accuracy("test.csv", "a");
    let (moved, notice) = accuracy("test-shuffled.csv", "b");
    assert_eq!(plain, moved);
    assert!(
        notice.contains("another order than the training data's features"),
        "{notice}"
    );
    let mut other = NAMES;
    other[0] = "years";
    write(d, "test-other.csv", &ALL, Some(&other));
    let o = run_in(
        d,
        &[
            "train",
            "--models",
            "nb",
            "--data",
            "train.csv",
            "--test",
            "test-other.csv",
            "--out",
            "c",
        ],
    );
    assert_fails(
        &o,
        2,
        "do not match the training data's 10: missing 'age'; unexpected 'years'",
    );
}

#[test]
fn two_columns_with_one_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A copy of the label as a feature would train to accuracy 1.0.
    let mut header = NAMES.to_vec();
    header.push("y");
    write(
        d,
        "dup.csv",
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10],
        Some(&header),
    );
    let o = run_in(
        d,
        &["train", "--models", "nb", "--data", "dup.csv", "--out", "m"],
    );
    assert_fails(
        &o,
        2,
        "column 'y' appears twice in the header (columns 11 and 12)",
    );
    assert!(!d.join("m").exists());
}

#[test]
fn a_pandas_index_column_is_not_a_feature() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, &NAMES);
    write(d, "plain.csv", &ALL, Some(&NAMES));
    // pandas' to_csv(): an unnamed first column holding 0..n-1.
    let text: String = std::fs::read_to_string(d.join("plain.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!(",{l}\n"),
            _ => format!("{},{l}\n", i - 1),
        })
        .collect();
    std::fs::write(d.join("indexed.csv"), text).unwrap();
    assert_succeeds(&predict(d, "plain.csv", "plain.out.csv"));
    let o = predict(d, "indexed.csv", "indexed.out.csv");
    assert_succeeds(&o);
    assert!(
        stderr(&o).contains("a pandas index: not used as a feature"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(d.join("indexed.out.csv")).unwrap(),
        std::fs::read(d.join("plain.out.csv")).unwrap()
    );
    // Training on it keeps the ten named features.
    let o = run_in(
        d,
        &[
            "train",
            "--models",
            "nb",
            "--data",
            "indexed.csv",
            "--out",
            "n",
        ],
    );
    assert_succeeds(&o);
    let v: serde_json::Value =
        serde_json::from_slice(&run_in(d, &["inspect", "n/nb.cpuwall", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(v["n_features"], 10);
}

#[test]
fn an_unnamed_column_elsewhere_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut header = NAMES;
    header[4] = "";
    write(d, "blank.csv", &ALL, Some(&header));
    let o = run_in(
        d,
        &[
            "train",
            "--models",
            "nb",
            "--data",
            "blank.csv",
            "--out",
            "m",
        ],
    );
    assert_fails(&o, 2, "column 5 has no name in the header");
}

#[test]
fn a_missing_default_model_is_trained_for_any_ten_columns_and_refused_for_other_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("m")).unwrap();
    // Nine feature columns: refused before anything is trained.
    write(
        d,
        "nine.csv",
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 10],
        Some(&[NAMES[..9].to_vec(), vec!["y"]].concat()),
    );
    assert_fails(
        &predict(d, "nine.csv", "o.csv"),
        2,
        "default nb model is trained on 10-feature synthetic data (its columns are taken by position), but nine.csv has 9 feature columns",
    );
    assert!(!d.join("m/nb.cpuwall").exists(), "nothing trained");
    // Ten named columns: the default model is trained and takes them in order.
    write(d, "named.csv", &ALL, Some(&NAMES));
    let o = predict(d, "named.csv", "o.csv");
    assert_succeeds(&o);
    assert!(
        stderr(&o).contains("so columns are taken by position: 'age', 'income',"),
        "{}",
        stderr(&o)
    );
    assert!(d.join("m/nb.cpuwall").exists());
}

/// The study's test rows' features (no label) as a C-order `.npy`.
fn write_npy(dir: &Path, name: &str) {
    let rows = study_rows();
    let values: Vec<f64> = rows[1..]
        .iter()
        .flat_map(|r| r[..10].iter().map(|c| c.parse::<f64>().unwrap()))
        .collect();
    let shape = format!("({}, 10)", rows.len() - 1);
    let mut bytes = cpuwall::data::npy::header_bytes("<f8", &shape);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// The README's first command trains nb on synthetic data (generated names
/// f0..f9); the same model file here, trained on synthetic data.
fn train_synthetic(dir: &Path) {
    assert_succeeds(&run_in(
        dir,
        &["train", "--models", "nb", "--rows", "2000", "--out", "m"],
    ));
}

#[test]
fn a_model_trained_without_names_takes_any_header_by_position_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_synthetic(d);
    let inspect = stdout(&run_in(d, &["inspect", "m/nb.cpuwall"]));
    assert!(
        inspect.contains("generated names: a CSV's columns are taken by position"),
        "{inspect}"
    );
    let header = [
        "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "y",
    ];
    write(d, "my.csv", &ALL, Some(&header));
    write_npy(d, "my.npy");
    let csv = predict(d, "my.csv", "csv.out.csv");
    assert_succeeds(&csv);
    assert!(
        stderr(&csv).contains(
            "my.csv: the model's features have no names (trained on data without a header), so columns are taken by position: 'x0', 'x1',"
        ),
        "{}",
        stderr(&csv)
    );
    let npy = predict(d, "my.npy", "npy.out.csv");
    assert_succeeds(&npy);
    let labels = std::fs::read_to_string(d.join("csv.out.csv")).unwrap();
    assert_eq!(
        labels,
        std::fs::read_to_string(d.join("npy.out.csv")).unwrap()
    );
    assert!(labels.lines().any(|l| l == "0") && labels.lines().any(|l| l == "1"));
    // Nine feature columns: both counts named.
    write(
        d,
        "nine.csv",
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 10],
        Some(&header[1..]),
    );
    assert_fails(
        &predict(d, "nine.csv", "nine.out.csv"),
        2,
        "9 feature columns, but the model's features are 10: the model's features have no names",
    );
}

#[test]
fn a_model_with_real_names_refuses_renamed_columns_unless_told_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, &NAMES);
    write(d, "same.csv", &ALL, Some(&NAMES));
    let mut renamed = NAMES;
    renamed[2] = "tallness";
    renamed[5] = "trips";
    write(d, "renamed.csv", &ALL, Some(&renamed));
    assert_fails(
        &predict(d, "renamed.csv", "r.out.csv"),
        2,
        "or pass --columns by-position if their order is right",
    );
    let by_position =
        |data: &str, out: &str| predict_with(d, data, out, &["--columns", "by-position"]);
    let ok = by_position("renamed.csv", "r.out.csv");
    assert_succeeds(&ok);
    assert!(
        stderr(&ok).contains("--columns by-position takes columns in order"),
        "{}",
        stderr(&ok)
    );
    assert_succeeds(&predict(d, "same.csv", "same.out.csv"));
    assert_eq!(
        std::fs::read(d.join("r.out.csv")).unwrap(),
        std::fs::read(d.join("same.out.csv")).unwrap()
    );
    // By position with the wrong count: both counts, exit 2.
    write(
        d,
        "short.csv",
        &[0, 1, 2, 3, 4, 5, 6, 7, 10],
        Some(&["a", "b", "c", "d", "e", "f", "g", "h", "y"]),
    );
    assert_fails(
        &by_position("short.csv", "s.out.csv"),
        2,
        "8 feature columns, but the model's features are 10: --columns by-position",
    );
}

#[test]
fn train_test_columns_follow_the_same_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "train.csv", &ALL, Some(&NAMES));
    let mut renamed = NAMES;
    renamed[0] = "years";
    write(d, "test.csv", &ALL, Some(&renamed));
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--models",
            "nb",
            "--data",
            "train.csv",
            "--test",
            "test.csv",
            "--out",
            "m",
        ];
        args.extend_from_slice(extra);
        run_in(d, &args)
    };
    assert_fails(&train(&[]), 2, "--columns by-position");
    let ok = train(&["--columns", "by-position"]);
    assert_succeeds(&ok);
    assert!(
        stderr(&ok).contains("'years', 'income',"),
        "{}",
        stderr(&ok)
    );
}

#[test]
fn model_files_from_before_the_flag_read_f0_to_fn_as_generated_names() {
    use cpuwall::model::store;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_synthetic(d);
    let stored = store::load(&d.join("m/nb.cpuwall")).unwrap();
    assert_eq!(stored.header.feature_names_generated, Some(true));
    let mut old = stored.header.clone();
    old.feature_names_generated = None;
    assert!(
        old.features().generated,
        "f0..f9 without the flag: generated"
    );
    old.feature_names = NAMES[..10].iter().map(|s| s.to_string()).collect();
    assert!(
        !old.features().generated,
        "real names without the flag: real"
    );
}
