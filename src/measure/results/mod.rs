//! The results spine: every document cpuwall writes for machines starts
//! with one [`Header`] — `format` (which document), `version` (one schema
//! version for every format) and `environment` (the machine and build that
//! measured it) — and is read back by one [`read`]: bounded, header checked,
//! one set of error texts. `docs/results.md` describes each format;
//! `docs/results.schema.json` is the same as a JSON Schema, checked against
//! every JSON output by `tests/results_schema.rs`.
//!
//! One file per document: `sweep.rs`, `predict.rs`, `mpi.rs`, `train.rs`,
//! `load.rs`, `cells.rs` (merged sweeps), `ensemble.rs`, `tensorflow.rs`
//! (the baseline script's).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::env::Environment;
use crate::error::{Error, Result};

pub mod cells;
pub mod ensemble;
pub mod load;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod predict;
pub mod sweep;
pub mod tensorflow;
pub mod train;

pub use sweep::{is_name, Cell, Settings, SweepResults};

/// The schema version this cpuwall writes. 2: every format carries
/// `format`/`version`/`environment`, measurements carry their raw samples,
/// load results say `format` (was `schema`) and `environment` (was `machine`).
pub const VERSION: u32 = 2;

/// `cpuwall sweep --out` / `--export-json`.
pub const SWEEP: &str = "cpuwall-sweep";
/// `cpuwall predict --format json` / `--export-json`.
pub const PREDICT: &str = "cpuwall-predict";
/// `cpuwall predict --backend mpi --format json` (rank 0).
pub const MPI_PREDICT: &str = "cpuwall-mpi-predict";
/// `cpuwall ensemble bench --out` / `--export-json`, the CNN study's results.
pub const ENSEMBLE: &str = "cpuwall-ensemble";
/// `cpuwall load --out` / `--format json`.
pub const LOAD: &str = "cpuwall-load";
/// `cpuwall train --format json`.
pub const TRAIN: &str = "cpuwall-train";
/// `cpuwall report -o FILE.json`: cells merged from sweep results.
pub const CELLS: &str = "cpuwall-cells";
/// A TensorFlow baseline for the CNN study (`baselines/keras_ensembles.py`).
pub const TENSORFLOW: &str = "cpuwall-baseline-tensorflow";

/// What every document cpuwall writes starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Which document this is (schema version 1 of load results called
    /// this field `schema`).
    #[serde(alias = "schema")]
    pub format: String,
    pub version: u32,
    /// Version 1 of load results called this field `machine`.
    #[serde(alias = "machine")]
    pub environment: Environment,
}

impl Header {
    /// The header of a document of `format` measured now, on this machine.
    pub fn new(format: &str) -> Self {
        Self::with(format, Environment::capture())
    }

    pub fn with(format: &str, environment: Environment) -> Self {
        Header {
            format: format.into(),
            version: VERSION,
            environment,
        }
    }
}

/// A document's kind, as the reader needs it: its `format`, how errors
/// name it and what they tell the user to do.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub format: &'static str,
    /// "cpuwall sweep results file" (errors say "not a ...").
    pub what: &'static str,
    /// How to get a good file ("write one with `cpuwall sweep --out`").
    pub remedy: &'static str,
    /// The largest file read.
    pub max_bytes: u64,
    /// Files from before schema version 2 with no `format` and `version`
    /// are read as version 1 of this format (the ensemble's results).
    pub headerless_is_version_1: bool,
}

/// Read the document of `kind` in `path`: a JSON object of at most
/// `kind.max_bytes`, its header checked, then decoded into `T`.
pub fn read<T: DeserializeOwned>(path: &Path, kind: &Kind) -> Result<T> {
    let not_found = format!("{} not found; {}", kind.what, kind.remedy);
    let text = crate::data::bounded::read_json_text(
        path,
        &crate::data::bounded::Limit {
            what: kind.what,
            max: kind.max_bytes,
            not_found: &not_found,
        },
    )?;
    from_text(path, &text, kind)
}

/// The document of `kind` in `text` (`path` names it in errors).
pub fn from_text<T: DeserializeOwned>(path: &Path, text: &str, kind: &Kind) -> Result<T> {
    let mut v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::data(
            path,
            format!(
                "corrupted results file (not valid JSON: {e}); {}",
                kind.remedy
            ),
        )
    })?;
    if kind.headerless_is_version_1 {
        if let Some(obj) = v.as_object_mut() {
            if !obj.contains_key("format") && !obj.contains_key("version") {
                obj.insert("format".into(), kind.format.into());
                obj.insert("version".into(), 1.into());
            }
        }
    }
    check(path, &v, kind)?;
    serde_json::from_value(v).map_err(|e| {
        Error::data(
            path,
            format!("corrupted results file ({e}); {}", kind.remedy),
        )
    })
}

/// Check a document's header: `format` must be `kind.format`, `version` one
/// this cpuwall reads (1 to [`VERSION`]).
pub fn check(path: &Path, v: &serde_json::Value, kind: &Kind) -> Result<u32> {
    let what = kind.what;
    let found = v
        .get("format")
        .or_else(|| v.get("schema"))
        .and_then(|f| f.as_str());
    if found != Some(kind.format) {
        return Err(Error::data(
            path,
            format!(
                "not {} (its \"format\" is {}, expected \"{}\"); {}",
                crate::data::bounded::a(what),
                found.map_or("missing".to_string(), |f| format!("\"{f}\"")),
                kind.format,
                kind.remedy
            ),
        ));
    }
    let version = v.get("version").and_then(|n| n.as_u64()).unwrap_or(0);
    if version > VERSION as u64 {
        return Err(Error::data(
            path,
            format!("{what} schema version {version} is newer than this cpuwall reads ({VERSION}); upgrade cpuwall"),
        ));
    }
    if version == 0 {
        return Err(Error::data(
            path,
            format!(
                "{what} has no valid schema \"version\" (1 to {VERSION}); {}",
                kind.remedy
            ),
        ));
    }
    Ok(version as u32)
}

/// Whether a file starts like a document of `format` (for `cpuwall report`,
/// which renders sweeps and load results): its first 4 KB name the format.
/// Unreadable files are left to the readers' messages.
pub fn sniff(path: &Path, format: &str) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    ["format", "schema"].iter().any(|k| {
        text.contains(&format!("\"{k}\": \"{format}\""))
            || text.contains(&format!("\"{k}\":\"{format}\""))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: Kind = Kind {
        format: "cpuwall-test",
        what: "test results file",
        remedy: "make a good one",
        max_bytes: 1 << 20,
        headerless_is_version_1: false,
    };

    #[derive(Debug, Deserialize)]
    struct Doc {
        format: String,
        version: u32,
        n: u32,
    }

    fn read_text(text: &str, kind: &Kind) -> Result<Doc> {
        from_text(Path::new("r.json"), text, kind)
    }

    #[test]
    fn a_document_of_the_kind_and_a_known_version_is_read() {
        let d = read_text(r#"{"format": "cpuwall-test", "version": 1, "n": 7}"#, &KIND).unwrap();
        assert_eq!((d.format.as_str(), d.version, d.n), ("cpuwall-test", 1, 7));
    }

    #[test]
    fn each_bad_header_has_its_own_error() {
        let e = |t: &str| read_text(t, &KIND).unwrap_err().to_string();
        assert!(e(r#"{"format": "other", "version": 1}"#)
            .contains("not a test results file (its \"format\" is \"other\", expected \"cpuwall-test\"); make a good one"));
        assert!(e(r#"{"version": 1}"#).contains("its \"format\" is missing"));
        let newer = format!(
            r#"{{"format": "cpuwall-test", "version": {}}}"#,
            VERSION + 1
        );
        assert!(e(&newer).contains("is newer than this cpuwall reads"));
        assert!(e(r#"{"format": "cpuwall-test", "version": 0}"#)
            .contains("has no valid schema \"version\""));
        assert!(e(r#"{"format": "cpuwall-test", "version": 1, "n": "x"}"#)
            .contains("corrupted results file"));
        assert!(e(r#"{"format": "cpuwall-test", "#).contains("not valid JSON"));
    }

    #[test]
    fn a_headerless_file_is_version_1_only_where_the_kind_says_so() {
        let old = r#"{"n": 3}"#;
        assert!(read_text(old, &KIND).is_err());
        let lenient = Kind {
            headerless_is_version_1: true,
            ..KIND
        };
        let d = read_text(old, &lenient).unwrap();
        assert_eq!((d.format.as_str(), d.version, d.n), ("cpuwall-test", 1, 3));
    }
}
