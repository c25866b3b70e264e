//! `--format json` means stdout is one JSON document and nothing else: every
//! line for people (training the default models first included) goes to
//! stderr. Checked for every subcommand that has the flag, in a fresh
//! directory where the defaults must be trained first.

mod common;

use std::path::Path;

use common::*;
use cpuwall::data::cifar;

fn json_only(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn every_json_command_prints_only_json_on_stdout_in_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // predict trains the missing default model first.
    let v = json_only(
        d,
        &[
            "predict",
            "--model",
            "nb",
            "--rows",
            "1000",
            "--backend",
            "direct",
            "--format",
            "json",
        ],
    );
    assert_eq!(v["rows"], 1000);
    let v = json_only(
        d,
        &[
            "train", "--models", "lr", "--rows", "2000", "--grid", "lr.C=1", "--format", "json",
        ],
    );
    assert!(v["models"]["lr"].is_object(), "{v}");
    let v = json_only(d, &["inspect", "models/nb.cpuwall", "--format", "json"]);
    assert_eq!(v["kind"], "nb");
    // The ensemble commands train the default ensemble first.
    std::fs::write(d.join("x.bin"), cifar::synthetic(8, 3).to_bytes()).unwrap();
    let v = json_only(
        d,
        &[
            "ensemble", "predict", "--images", "x.bin", "--format", "json",
        ],
    );
    assert_eq!(v["images"], 8);
    let v = json_only(
        d,
        &[
            "ensemble",
            "bench",
            "--images",
            "16",
            "--batch-size",
            "8",
            "--strategy",
            "fused",
            "--format",
            "json",
        ],
    );
    assert_eq!(v["cells"].as_array().map(Vec::len), Some(1), "{v}");
}
