//! Data: the in-memory dataset, synthetic generation, splits and file readers.

pub mod bounded;
pub mod cifar;
pub mod columns;
pub mod count;
pub mod csv;
pub mod mt19937;
pub mod npy;
pub mod sets;
pub mod source;
pub mod split;
pub mod synth;

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What a model predicts. Both tasks share one prediction shape: every
/// backend, the measuring code, the server and the Python package move
/// 64-bit words (`Predictor::predict_into`'s `out`), one a row (a
/// classifier's label or the bits of a regressor's value:
/// `model::value_word`, `model::word_value`) or, for a multi-output
/// regressor, `Predictor::n_outputs` a row side by side; only the edges
/// that show a prediction (files, responses, Python arrays) read the words
/// by the model's task and outputs.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Class labels, with probabilities or decision values as scores.
    #[default]
    Classification,
    /// One real value per row.
    Regression,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Row-major `f64` features with integer class labels (or, for
/// regression, real targets) and the features' names (a CSV header's, or
/// `f0..fN-1` for `.npy` and synthetic data).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub x: Array2<f64>,
    /// Class labels; empty for a regression data set.
    pub y: Vec<i64>,
    /// A regression data set's real targets, one per row (`None`: labels).
    pub targets: Option<Vec<f64>>,
    pub names: Vec<String>,
    /// The names are generated `f0..fN-1` (synthetic or `.npy` data), not
    /// a header's: a model trained on them takes columns by position.
    pub generated_names: bool,
}

impl Dataset {
    /// Features named `f0..fN-1`.
    pub fn new(x: Array2<f64>, y: Vec<i64>) -> Self {
        assert_eq!(x.nrows(), y.len(), "features and labels differ in length");
        let names = columns::default_names(x.ncols());
        Dataset {
            x,
            y,
            targets: None,
            names,
            generated_names: true,
        }
    }

    /// A regression data set: real targets, features named `f0..fN-1`.
    pub fn regression(x: Array2<f64>, targets: Vec<f64>) -> Self {
        assert_eq!(
            x.nrows(),
            targets.len(),
            "features and targets differ in length"
        );
        let names = columns::default_names(x.ncols());
        Dataset {
            x,
            y: Vec::new(),
            targets: Some(targets),
            names,
            generated_names: true,
        }
    }

    /// The same data with these feature names (one per column), real ones.
    pub fn with_names(mut self, names: Vec<String>) -> Self {
        assert_eq!(names.len(), self.x.ncols(), "one name per feature column");
        self.names = names;
        self.generated_names = false;
        self
    }

    /// The same data named as `other`'s features are (real or generated).
    pub fn named_as(self, other: &Dataset) -> Self {
        let generated = other.generated_names;
        let mut d = self.with_names(other.names.clone());
        d.generated_names = generated;
        d
    }

    pub fn n_rows(&self) -> usize {
        self.x.nrows()
    }

    pub fn n_features(&self) -> usize {
        self.x.ncols()
    }

    /// Sorted distinct labels.
    pub fn classes(&self) -> Vec<i64> {
        let mut c = self.y.clone();
        c.sort_unstable();
        c.dedup();
        c
    }

    /// Rows picked by index, in that order (used for folds and splits).
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let x = self.x.select(ndarray::Axis(0), rows);
        let y = if self.y.is_empty() {
            Vec::new()
        } else {
            rows.iter().map(|&r| self.y[r]).collect()
        };
        let targets = self
            .targets
            .as_ref()
            .map(|t| rows.iter().map(|&r| t[r]).collect());
        Dataset {
            x,
            y,
            targets,
            names: self.names.clone(),
            generated_names: self.generated_names,
        }
    }

    /// Check what every fit needs: finite features, at least two classes
    /// (a regression set: finite targets, a constant one included).
    /// `origin` names the file (or generator) in the error.
    pub fn validate_for_training(&self, origin: &Path) -> Result<()> {
        check_finite(self.x.view(), origin)?;
        if self.n_rows() == 0 {
            return Err(Error::data(origin, "no rows to train on"));
        }
        if let Some(t) = &self.targets {
            return match t.iter().position(|v| !v.is_finite()) {
                Some(i) => Err(Error::data(
                    origin,
                    format!(
                        "target of row {} is {}; targets must be finite",
                        i + 1,
                        t[i]
                    ),
                )),
                None => Ok(()),
            };
        }
        // Integer labels with this many distinct values are far more
        // likely real targets than classes.
        let distinct = self.classes().len();
        if distinct > MAX_CLASSES_TRAINED {
            return Err(Error::data(
                origin,
                format!("the labels take {distinct} distinct values: real targets rather than classes? Train regressors with --task regression (cpuwall trains classifiers of at most {MAX_CLASSES_TRAINED} classes)"),
            ));
        }
        let classes = self.classes();
        if classes.len() < 2 {
            return Err(Error::data(
                origin,
                format!(
                    "only one class ({}) in the labels; training needs at least two classes",
                    classes.first().copied().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// SHA-256 of the features (little-endian f64, row-major) and labels,
    /// hex; stored in model files so a model names the data it was fit on.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update((self.n_rows() as u64).to_le_bytes());
        h.update((self.n_features() as u64).to_le_bytes());
        for v in self.x.iter() {
            h.update(v.to_le_bytes());
        }
        for v in &self.y {
            h.update(v.to_le_bytes());
        }
        for v in self.targets.iter().flatten() {
            h.update(v.to_le_bytes());
        }
        hex(&h.finalize())
    }
}

/// Refuse NaN and infinite features, naming the first bad cell.
pub fn check_finite(x: ArrayView2<'_, f64>, origin: &Path) -> Result<()> {
    check_finite_from(x, origin, 0)
}

/// [`check_finite`] of rows that start at row `first_row` of the input
/// (the error numbers rows from there).
pub fn check_finite_from(x: ArrayView2<'_, f64>, origin: &Path, first_row: usize) -> Result<()> {
    if let Some(all) = x.as_slice_memory_order() {
        if all_finite(all) {
            return Ok(());
        }
    }
    for (r, row) in x.rows().into_iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::data(
                    origin,
                    format!(
                        "row {} column {} is {v}; features must be finite numbers (drop or impute such rows)",
                        first_row + r + 1,
                        c + 1
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// [`check_finite_from`], or with `missing_ok` (a model whose splits
/// route missing values) NaN accepted as a missing value while an
/// infinite value is still refused, naming its row and column.
pub fn check_features(
    x: ArrayView2<'_, f64>,
    origin: &Path,
    first_row: usize,
    missing_ok: bool,
) -> Result<()> {
    if !missing_ok {
        return check_finite_from(x, origin, first_row);
    }
    if let Some(all) = x.as_slice_memory_order() {
        if all_finite(all) {
            return Ok(());
        }
    }
    for (r, row) in x.rows().into_iter().enumerate() {
        if let Some(c) = row.iter().position(|v| v.is_infinite()) {
            return Err(Error::data(
                origin,
                format!(
                    "row {} column {} is {}; features must be finite numbers or NaN (missing: this model routes it)",
                    first_row + r + 1,
                    c + 1,
                    row[c]
                ),
            ));
        }
    }
    Ok(())
}

/// [`check_finite`] on `threads` threads at once, each over a contiguous
/// share of the rows (for batches a team of threads will predict: one
/// thread's pass over rows that do not fit in cache costs about as much as
/// the prediction itself). The error names the first bad row of the first
/// share that has one.
pub fn check_finite_parallel(
    x: ArrayView2<'_, f64>,
    origin: &Path,
    threads: usize,
    missing_ok: bool,
) -> Result<()> {
    let share = x.nrows().div_ceil(threads.max(1)).max(1);
    if threads <= 1 || x.nrows() < 2 * 4096 {
        return check_features(x, origin, 0, missing_ok);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = x
            .axis_chunks_iter(ndarray::Axis(0), share)
            .enumerate()
            .map(|(k, rows)| s.spawn(move || check_features(rows, origin, k * share, missing_ok)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a checking thread panicked"))
            .collect::<Result<Vec<()>>>()
            .map(|_| ())
    })
}

/// Whether every value is finite, on the process's ISA ([`crate::isa`]).
/// Python callers check every batch inside the timed call, so this pass
/// is on the hot path: built for the baseline x86-64 (SSE2, which has no
/// 64-bit integer compare) it cost a third of a Gaussian NB prediction at
/// 10 features (3.3 of 10 ms at 1e6 rows); compiled for AVX2 or AVX-512
/// it is a few instructions per 4 or 8 values.
pub fn all_finite(values: &[f64]) -> bool {
    all_finite_on(crate::isa::current(), values)
}

/// [`all_finite`] on the given ISA's code (each gives the same answer).
pub fn all_finite_on(isa: crate::isa::Isa, values: &[f64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::isa::Isa;
        // SAFETY: each arm runs only where the CPU has the features its
        // function is compiled for; the bodies are plain Rust.
        match isa {
            Isa::Avx512 if Isa::Avx512.supported() => unsafe {
                return finite_avx512(values);
            },
            Isa::Avx2 | Isa::Avx512 if Isa::Avx2.supported() => unsafe {
                return finite_avx2(values);
            },
            _ => {}
        }
    }
    let _ = isa;
    finite_body(values)
}

/// # Safety
/// The CPU runs AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn finite_avx2(values: &[f64]) -> bool {
    finite_body(values)
}

/// # Safety
/// The CPU runs AVX-512 F, BW, DQ and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn finite_avx512(values: &[f64]) -> bool {
    finite_body(values)
}

/// Integer operations on the exponent bits (all ones only for NaN and the
/// infinities), without a branch per value, so the compiler vectorises the
/// pass; one branch a chunk.
#[inline(always)]
fn finite_body(values: &[f64]) -> bool {
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    values.chunks(512).all(|c| {
        c.iter()
            .fold(0u64, |bad, v| bad | u64::from(!v.to_bits() & EXPONENT == 0))
            == 0
    })
}

/// The error for an input file that cannot be opened or read.
pub fn read_error(path: &Path, e: std::io::Error) -> Error {
    read_error_hint(path, e, "file not found; check the path")
}

/// As [`read_error`], with the caller's advice for a missing file.
pub fn read_error_hint(path: &Path, e: std::io::Error, not_found: &str) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::data(path, not_found),
        _ => Error::data(path, format!("cannot read: {e}")),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Features and labels, or regression targets, as `task` says: a CSV's
/// label column, or a `.npy` features file with its labels file (given by
/// the option `labels_option`; features named `f0..fN-1`). Also lines for
/// people about what was read.
pub fn load_for(
    task: Task,
    path: &Path,
    label: &str,
    labels_npy: Option<&Path>,
    labels_option: &str,
    delimiter: u8,
) -> Result<(Dataset, Vec<String>)> {
    let what = match task {
        Task::Classification => "labels",
        Task::Regression => "targets",
    };
    if extension(path) != "npy" {
        return match task {
            Task::Classification => csv::read_labelled(path, label, delimiter),
            Task::Regression => csv::read_targets(path, label, delimiter),
        };
    }
    let x = npy::read_features(path)?;
    let y_path = labels_npy.ok_or_else(|| {
        Error::usage(format!(
            "{}: a .npy features file needs its {what}: add {labels_option} y.npy",
            path.display()
        ))
    })?;
    let rows = x.nrows();
    let matching = |n: usize| -> Result<()> {
        if n == rows {
            return Ok(());
        }
        Err(Error::data(
            y_path,
            format!(
                "{n} {what} for {rows} feature rows in {}; they must match",
                path.display()
            ),
        ))
    };
    let data = match task {
        Task::Classification => {
            let y = npy::read_labels(y_path)?;
            matching(y.len())?;
            Dataset::new(x, y)
        }
        Task::Regression => {
            let t = npy::read_targets(y_path)?;
            matching(t.len())?;
            Dataset::regression(x, t)
        }
    };
    Ok((data, Vec::new()))
}

/// [`load_for`] classification: integer class labels.
pub fn load_labelled(
    path: &Path,
    label: &str,
    labels_npy: Option<&Path>,
    labels_option: &str,
    delimiter: u8,
) -> Result<(Dataset, Vec<String>)> {
    load_for(
        Task::Classification,
        path,
        label,
        labels_npy,
        labels_option,
        delimiter,
    )
}

/// The most classes `train` fits a classifier for.
pub const MAX_CLASSES_TRAINED: usize = 100;

/// Write labels to `path`: `.npy` (int64), anything else CSV with one
/// column `y`; atomically, so a failed write leaves the old file whole.
pub fn write_labels(path: &Path, labels: &[i64]) -> Result<()> {
    write_column(path, "y", labels, npy::labels_to_bytes, |v| v.to_string())
}

/// Write a regressor's predictions (`outputs` values a row, side by
/// side): `.npy` (float64, shape `(n,)` or `(n, outputs)`), anything else
/// CSV with one column `prediction` (or `prediction_0..` for several
/// outputs), floats in shortest round-trip form; atomically.
pub fn write_values(path: &Path, values: &[f64], outputs: usize) -> Result<()> {
    let npy = |v: &[f64]| {
        let shape = match outputs {
            1 => format!("({},)", v.len()),
            k => format!("({}, {k})", v.len() / k),
        };
        let mut out = npy::header_bytes("<f8", &shape);
        v.iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        out
    };
    if outputs == 1 {
        return write_column(path, "prediction", values, npy, |v| format!("{v:?}"));
    }
    let header = (0..outputs)
        .map(|o| format!("prediction_{o}"))
        .collect::<Vec<_>>()
        .join(",");
    let rows: Vec<&[f64]> = values.chunks_exact(outputs).collect();
    write_column(
        path,
        &header,
        &rows,
        |r| npy(&r.concat()),
        |r| {
            r.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(",")
        },
    )
}

/// One column to `path`: `.npy` bytes, or CSV under `header`; atomically.
fn write_column<T>(
    path: &Path,
    header: &str,
    values: &[T],
    npy: impl Fn(&[T]) -> Vec<u8>,
    text: impl Fn(&T) -> String,
) -> Result<()> {
    let bytes = match extension(path).as_str() {
        "npy" => npy(values),
        _ => {
            let mut s = format!("{header}\n");
            for v in values {
                s.push_str(&text(v));
                s.push('\n');
            }
            s.into_bytes()
        }
    };
    crate::atomic::write_atomic(path, &bytes)
}

/// Write labels and per-class scores as CSV: `y`, then `<prefix>_<class>`
/// (`p` for probabilities, `score` for decision values; one column, the
/// last class's, when a binary model gives one), floats in shortest
/// round-trip form; atomically.
pub fn write_scores(
    path: &Path,
    labels: &[i64],
    classes: &[i64],
    prefix: &str,
    scores: ndarray::ArrayView2<'_, f64>,
) -> Result<()> {
    let named = &classes[classes.len() - scores.ncols()..];
    let mut s = String::from("y");
    for c in named {
        s.push_str(&format!(",{prefix}_{c}"));
    }
    s.push('\n');
    for (y, row) in labels.iter().zip(scores.rows()) {
        s.push_str(&y.to_string());
        for v in row {
            s.push_str(&format!(",{v:?}"));
        }
        s.push('\n');
    }
    crate::atomic::write_atomic(path, s.as_bytes())
}

pub fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Refuse a batch that would not fit in memory, before allocating it.
/// `copies`: how many copies of the rows (and labels) will live at once.
pub fn check_memory(rows: u64, cols: u64, copies: u64) -> Result<()> {
    let need = (rows as f64) * (cols as f64 * 8.0 + 8.0) * copies as f64;
    check_fits(
        need,
        &format!("--rows {rows} x {cols} features needs"),
        &format!("({copies} copies of features and labels) "),
        "rows",
    )
}

/// Refuse a request of `need` bytes above 80% of available memory:
/// "`what` X of memory `detail`but Y is available; use fewer `unit`".
pub fn check_fits(need: f64, what: &str, detail: &str, unit: &str) -> Result<()> {
    let available = available_memory().unwrap_or(u64::MAX) as f64;
    if need > 0.8 * available {
        return Err(Error::usage(format!(
            "{what} {} of memory {detail}but {} is available; use fewer {unit}",
            crate::units::bytes(need),
            crate::units::bytes(available)
        )));
    }
    Ok(())
}

/// `MemAvailable` from /proc/meminfo, bytes.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod finite_tests {
    use super::*;

    #[test]
    fn every_kind_of_non_finite_value_is_found_wherever_it_is_on_every_isa() {
        for isa in crate::isa::available() {
            for bad in [f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                // Every position of a vector and of a chunk, and a tail.
                for at in [0, 1, 3, 7, 8, 511, 512, 1999, 2000] {
                    let mut v = vec![1.5; 2001];
                    v[at] = bad;
                    assert!(!all_finite_on(isa, &v), "{bad} at {at} on {isa:?}");
                }
            }
            let edges = [f64::MAX, f64::MIN, f64::MIN_POSITIVE, 0.0, -0.0, 5e-324];
            assert!(all_finite_on(isa, &edges), "{isa:?}");
            assert!(all_finite_on(isa, &[]), "{isa:?}");
        }
    }

    #[test]
    fn a_parallel_check_names_the_row_in_the_whole_batch() {
        let mut x = ndarray::Array2::from_elem((20_000, 3), 0.5);
        check_finite_parallel(x.view(), Path::new("X"), 2, false).unwrap();
        x[[15_001, 1]] = f64::NAN;
        let e = check_finite_parallel(x.view(), Path::new("X"), 2, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("X: row 15002 column 2 is NaN"), "{e}");
        x[[3, 0]] = f64::INFINITY;
        let e = check_finite_parallel(x.view(), Path::new("X"), 4, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 4 column 1 is inf"), "{e}");
    }
}
