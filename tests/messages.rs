//! Error messages name the real problem and the option that fixes it.

mod common;

use common::*;

/// A little-endian float64 `.npy` vector.
fn f64_npy(values: &[f64]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    for v in values {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

#[test]
fn a_npy_test_file_without_labels_names_the_test_labels_option() {
    let out = cpuwall(&[
        "train",
        "--models",
        "nb",
        "--data",
        fixture("X_train.npy").to_str().unwrap(),
        "--labels",
        fixture("y_train.npy").to_str().unwrap(),
        "--test",
        fixture("X_test.npy").to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "add --test-labels");
}

#[test]
fn float_labels_too_large_to_be_told_apart_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("y.npy"), f64_npy(&[1e19, 2e19])).unwrap();
    let x = ndarray::Array2::from_shape_vec((2, 1), vec![0.5, 0.25]).unwrap();
    std::fs::write(
        d.join("x.npy"),
        cpuwall::data::npy::features_to_bytes(x.view()),
    )
    .unwrap();
    let out = run_in(
        d,
        &[
            "train", "--models", "nb", "--data", "x.npy", "--labels", "y.npy",
        ],
    );
    assert_fails(&out, 2, "not an integer class");
}

#[test]
fn an_extra_csv_column_suggests_the_label_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = std::fs::read_to_string(fixture("test.csv")).unwrap();
    std::fs::write(d.join("t.csv"), csv.replacen(",y\n", ",target\n", 1)).unwrap();
    assert_succeeds(&run_in(d, &["train", "--models", "nb", "--rows", "2000"]));
    let out = run_in(
        d,
        &[
            "predict",
            "--model",
            "nb",
            "--data",
            "t.csv",
            "--backend",
            "direct",
        ],
    );
    assert_fails(
        &out,
        2,
        "if 'target' is the label column, name it with --label target",
    );
}

#[test]
fn predict_with_a_file_of_other_width_does_not_train_a_default_model_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("five.csv"), "a,b,c,d,e\n1,2,3,4,5\n").unwrap();
    let out = run_in(d, &["predict", "--model", "nb", "--data", "five.csv"]);
    assert_fails(&out, 2, "10-feature synthetic data");
    assert!(
        !d.join("models/nb.cpuwall").exists(),
        "a useless model was trained"
    );
}

#[test]
fn a_truncated_model_says_how_much_its_header_announced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_succeeds(&run_in(d, &["train", "--models", "nb", "--rows", "2000"]));
    let bytes = std::fs::read(d.join("models/nb.cpuwall")).unwrap();
    std::fs::write(d.join("cut.cpuwall"), &bytes[..200]).unwrap();
    let out = run_in(d, &["inspect", "cut.cpuwall"]);
    assert_fails(
        &out,
        2,
        "truncated (200 bytes, its header announces at least",
    );
}

#[test]
fn a_model_file_renamed_to_another_familys_name_is_refused_under_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_succeeds(&run_in(d, &["train", "--models", "nb", "--rows", "2000"]));
    std::fs::rename(d.join("models/nb.cpuwall"), d.join("models/lr.cpuwall")).unwrap();
    let out = run_in(
        d,
        &[
            "predict",
            "--model",
            "lr",
            "--rows",
            "100",
            "--backend",
            "direct",
        ],
    );
    assert_fails(&out, 2, "holds a nb model, not lr");
    // By its path it is what it is.
    let out = run_in(
        d,
        &[
            "predict",
            "--model",
            "models/lr.cpuwall",
            "--rows",
            "100",
            "--backend",
            "direct",
        ],
    );
    assert_succeeds(&out);
}

#[test]
fn a_worker_that_dies_between_calls_does_not_take_cpuwall_with_it() {
    // cpuwall restores SIGPIPE's default (for `| head`): a job written to a
    // worker that is gone must be an error it handles, not its death.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_succeeds(&run_in(d, &["train", "--models", "nb", "--rows", "2000"]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args([
            "predict",
            "--model",
            "nb",
            "--rows",
            "1000",
            "--backend",
            "processes",
            "--workers",
            "1",
            "--min-time",
            "1ms",
        ])
        .env("CPUWALL_WORKER_FAULT", "gone-after:1")
        .current_dir(d)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("before being sent rows 0..1000; replaced it"),
        "{err}"
    );
}
