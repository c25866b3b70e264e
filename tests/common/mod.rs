#![allow(dead_code)]
//! Helpers shared by the integration tests.

pub mod serving;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cpuwall::data::{npy, Dataset};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sklearn-study")
        .join(name)
}

/// The study's train and test sets, read from the `.npy` fixtures.
pub fn study_split() -> (Dataset, Dataset) {
    let load = |x: &str, y: &str| {
        Dataset::new(
            npy::read_features(&fixture(x)).unwrap(),
            npy::read_labels(&fixture(y)).unwrap(),
        )
    };
    (
        load("X_train.npy", "y_train.npy"),
        load("X_test.npy", "y_test.npy"),
    )
}

pub fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference.json")).unwrap()).unwrap()
}

pub fn model_params() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("model_params.json")).unwrap()).unwrap()
}

/// Run the cpuwall binary in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    run_in_env(dir, args, &[])
}

/// [`run_in`] with environment variables set.
pub fn run_in_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("cpuwall runs")
}

/// A sweep of nb on direct at 10 rows into `dir/out`: a complete results
/// file in a fraction of a second.
pub fn tiny_sweep(dir: &Path, out: &str) -> Output {
    run_in(
        dir,
        &[
            "sweep",
            "--models",
            "nb",
            "--backends",
            "direct",
            "--rows",
            "10",
            "--min-time",
            "1ms",
            "--out",
            out,
        ],
    )
}

/// Run the cpuwall binary.
/// A JSON list of lists of numbers as rows of f64.
pub fn json_rows(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// `cpuwall import SRC --out OUT` in `dir`, which must succeed.
pub fn import_to(dir: &Path, src: &Path, out: &Path) {
    assert_succeeds(&run_in(
        dir,
        &[
            "import",
            src.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ));
}

pub fn cpuwall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args(args)
        .output()
        .expect("cpuwall runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert a successful run, showing its stderr otherwise.
pub fn assert_succeeds(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

/// Assert a failed run: exit code, one error line containing `needle`.
pub fn assert_fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected, got: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Check `doc` against docs/results.schema.json (the documented results
/// schema); panics with every violation and where it is.
#[allow(dead_code)]
pub fn assert_valid_results(doc: &serde_json::Value, what: &str) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.schema.json"),
        )
        .expect("docs/results.schema.json"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    // The format's own definition gives the precise errors (the top level's
    // oneOf only says "not valid under any").
    let format = doc["format"].as_str().unwrap_or("");
    let def = format.trim_start_matches("cpuwall-").replace('-', "_");
    let def = if def == "baseline_tensorflow" {
        "tensorflow".to_string()
    } else {
        def
    };
    let errors: Vec<String> = match schema["$defs"].get(&def) {
        Some(_) => {
            let mut one = schema.clone();
            one.as_object_mut().unwrap().remove("oneOf");
            one["$ref"] = serde_json::Value::from(format!("#/$defs/{def}"));
            let v = jsonschema::validator_for(&one).expect("compiles");
            v.iter_errors(doc)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect()
        }
        None => vec![format!("unknown format {format:?}")],
    };
    assert!(
        errors.is_empty() && validator.is_valid(doc),
        "{what} does not match docs/results.schema.json:\n{}",
        errors.join("\n")
    );
}
