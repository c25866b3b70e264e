//! An output never replaces an input: every command refuses, before any
//! work and with exit code 2 and one line, an output path that is one of
//! its inputs by any path (the same name, `./`, `..`, a symbolic link), and
//! leaves the input byte for byte as it was.

mod common;

use std::path::Path;

use common::*;

/// `args` fails with exit 2 and `needle` on one line; `file` is unchanged.
fn refused_and_untouched(dir: &Path, args: &[&str], file: &str, needle: &str) {
    let before = std::fs::read(dir.join(file)).unwrap();
    let out = run_in(dir, args);
    assert_fails(&out, 2, needle);
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.join(file)).unwrap(),
        before,
        "{file} changed: {args:?}"
    );
}

/// A directory with a small trained nb model (`models/nb.cpuwall`) and the
/// study's test rows as `in.csv`, plus a link to it.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_in(
        d,
        &[
            "train", "--models", "nb", "--rows", "2000", "--out", "models",
        ],
    );
    assert_succeeds(&out);
    std::fs::copy(fixture("test.csv"), d.join("in.csv")).unwrap();
    std::os::unix::fs::symlink(d.join("in.csv"), d.join("link.csv")).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    dir
}

#[test]
fn predict_refuses_to_write_its_predictions_over_its_data_or_its_model() {
    let dir = workspace();
    let d = dir.path();
    for out in ["in.csv", "./in.csv", "sub/../in.csv", "link.csv"] {
        refused_and_untouched(
            d,
            &[
                "predict",
                "--model",
                "nb",
                "--data",
                "in.csv",
                "--out",
                out,
                "--backend",
                "direct",
            ],
            "in.csv",
            "is the input --data",
        );
    }
    for model in ["nb", "models/nb.cpuwall"] {
        refused_and_untouched(
            d,
            &[
                "predict",
                "--model",
                model,
                "--rows",
                "100",
                "--out",
                "models/nb.cpuwall",
            ],
            "models/nb.cpuwall",
            "is the input --model",
        );
    }
    // Another output path is fine.
    let ok = run_in(
        d,
        &[
            "predict",
            "--model",
            "nb",
            "--data",
            "in.csv",
            "--out",
            "pred.csv",
            "--backend",
            "direct",
        ],
    );
    assert_succeeds(&ok);
}

#[test]
fn sweep_and_report_refuse_outputs_that_are_their_inputs() {
    let dir = workspace();
    let d = dir.path();
    refused_and_untouched(
        d,
        &[
            "sweep",
            "--models",
            "nb",
            "--rows",
            "10",
            "--out",
            "models/nb.cpuwall",
        ],
        "models/nb.cpuwall",
        "is the input --models-dir",
    );
    let out = tiny_sweep(d, "r.json");
    assert_succeeds(&out);
    refused_and_untouched(
        d,
        &["report", "r.json", "-o", "r.json"],
        "r.json",
        "is the input results",
    );
    std::fs::copy(fixture("sklearn_sweep.csv"), d.join("base.csv")).unwrap();
    refused_and_untouched(
        d,
        &[
            "report",
            "r.json",
            "--baseline",
            "base.csv",
            "-o",
            "base.csv",
        ],
        "base.csv",
        "is the input --baseline",
    );
}

#[test]
fn train_refuses_an_existing_file_as_its_output_directory_before_training() {
    let dir = workspace();
    let d = dir.path();
    refused_and_untouched(
        d,
        &[
            "train", "--data", "in.csv", "--models", "nb", "--out", "in.csv",
        ],
        "in.csv",
        "is a file",
    );
}

#[test]
fn ensemble_outputs_never_replace_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("r.json"), "{}").unwrap();
    refused_and_untouched(
        d,
        &[
            "ensemble",
            "report",
            "--results",
            "r.json",
            "--out",
            "r.json",
        ],
        "r.json",
        "is the input --results",
    );
    std::fs::write(d.join("images.bin"), vec![0u8; 3073]).unwrap();
    refused_and_untouched(
        d,
        &[
            "ensemble",
            "predict",
            "--images",
            "images.bin",
            "--out",
            "images.bin",
        ],
        "images.bin",
        "is the input --images",
    );
}

#[test]
fn a_second_train_into_a_directory_in_use_is_refused_and_writes_nothing() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("models")).unwrap();
    // This test holds the directory, as a running `cpuwall train` would.
    let held = std::fs::File::create(d.join("models/.cpuwall.lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let out = run_in(
        d,
        &[
            "train", "--models", "nb", "--rows", "2000", "--out", "models",
        ],
    );
    assert_fails(&out, 1, "another cpuwall train is writing");
    assert!(!d.join("models/nb.cpuwall").exists());
    drop(held);
    assert_succeeds(&run_in(
        d,
        &[
            "train", "--models", "nb", "--rows", "2000", "--out", "models",
        ],
    ));
    assert!(d.join("models/nb.cpuwall").exists());
    assert!(
        !d.join("models/.cpuwall.lock").exists(),
        "a finished train leaves no lock file behind"
    );
}
