//! What every results document cpuwall writes starts with: `format` (which
//! document it is) and `version` (the schema version, one number for every
//! format), then `environment` (the machine and build that measured it).
//! `docs/results.md` describes each format; `docs/results.schema.json`
//! is the same as a JSON Schema, checked against every JSON output by
//! `tests/results_schema.rs`.

use std::path::Path;

use crate::error::{Error, Result};

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

/// Check a document's header: `format` must be `format`, `version` one this
/// cpuwall reads (1 to [`VERSION`]). `what` names the file in errors
/// ("sweep results file") and `remedy` says how to get a good one.
pub fn check(
    path: &Path,
    v: &serde_json::Value,
    format: &str,
    what: &str,
    remedy: &str,
) -> Result<u32> {
    let found = v
        .get("format")
        .or_else(|| v.get("schema"))
        .and_then(|f| f.as_str());
    if found != Some(format) {
        return Err(Error::data(
            path,
            format!(
                "not a {what} (its \"format\" is {}, expected \"{format}\"); {remedy}",
                found.map_or("missing".to_string(), |f| format!("\"{f}\""))
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
            format!("{what} has no valid schema \"version\" (1 to {VERSION}); {remedy}"),
        ));
    }
    Ok(version as u32)
}
