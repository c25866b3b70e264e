//! Where rows to predict come from: a CSV or `.npy` file, or synthetic rows
//! of the study's generator. Loaded whole for one process, or by row range
//! for one MPI rank.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::columns::{align, default_names, ColumnRule, Features};
use super::{check_memory, csv, extension, npy, synth};
use crate::error::{Error, Result};

/// Rows predicted when neither `--rows` nor `--data` says otherwise.
pub const DEFAULT_ROWS: u64 = 1_000_000;

#[derive(Debug, Clone)]
pub enum RowSource {
    /// Synthetic rows with this seed (`make_classification` in one process,
    /// `synth::blocked_rows` by range).
    Synthetic { seed: u32 },
    /// A C-order `.npy` file: a range reads only its bytes.
    Npy(PathBuf),
    /// A CSV file with a header; `label` is dropped if present (CSV lines
    /// have no fixed width, so a range parses the whole file).
    Csv {
        path: PathBuf,
        label: String,
        delimiter: u8,
        /// How its columns meet the model's features (`--columns`).
        columns: ColumnRule,
    },
}

impl RowSource {
    /// `--data` if given (by extension), else synthetic rows.
    pub fn new(
        data: Option<&Path>,
        label: &str,
        delimiter: u8,
        columns: ColumnRule,
        seed: u32,
    ) -> Self {
        match data {
            Some(p) if extension(p) == "npy" => RowSource::Npy(p.to_path_buf()),
            Some(p) => RowSource::Csv {
                path: p.to_path_buf(),
                label: label.to_string(),
                delimiter,
                columns,
            },
            None => RowSource::Synthetic { seed },
        }
    }

    /// The input file, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            RowSource::Synthetic { .. } => None,
            RowSource::Npy(p) | RowSource::Csv { path: p, .. } => Some(p),
        }
    }

    /// Rows `range` of the source, with the model's `features` (a CSV's
    /// columns matched to them, see `columns::align`; blocked synthetic
    /// rows: every range is the same whatever the split).
    pub fn rows(&self, range: Range<usize>, features: &Features) -> Result<Array2<f64>> {
        match self {
            RowSource::Synthetic { seed } => synth::blocked_rows(range, features.len(), *seed),
            RowSource::Npy(p) => npy::read_feature_rows(p, range),
            RowSource::Csv {
                path,
                label,
                delimiter,
                columns,
            } => {
                let (x, _) = csv_features(path, label, *delimiter, *columns, features)?;
                Ok(x.slice(ndarray::s![range, ..]).to_owned())
            }
        }
    }

    /// The names of a file source's feature columns: a CSV header's, or
    /// `f0..fN-1` for `.npy` (None for synthetic rows).
    pub fn file_names(&self) -> Result<Option<Vec<String>>> {
        Ok(match self {
            RowSource::Synthetic { .. } => None,
            RowSource::Npy(p) => Some(default_names(npy::shape(p)?.get(1).copied().unwrap_or(1))),
            RowSource::Csv {
                path,
                label,
                delimiter,
                ..
            } => Some(csv::feature_names(path, label, *delimiter)?),
        })
    }

    /// Every row for one process, with the model's `features`: the file's
    /// (checked finite; a CSV's columns matched by `columns::align`'s rule,
    /// a `.npy`'s by position), or `rows` synthetic ones (default 1e6; refused if
    /// `copies` of them would not fit in memory). Also a line saying what
    /// was loaded; `notify` hears lines for people (columns reordered).
    pub fn load(
        &self,
        rows: Option<u64>,
        features: &Features,
        copies: u64,
        notify: &dyn Fn(&str),
    ) -> Result<(Array2<f64>, String)> {
        let n_features = features.len();
        let x = match self {
            RowSource::Synthetic { seed } => {
                let rows = rows.unwrap_or(DEFAULT_ROWS);
                if rows == 0 {
                    return Err(Error::usage("--rows 0: give at least one row to predict"));
                }
                check_memory(rows, n_features as u64, copies)?;
                if features.task == super::Task::Regression && n_features >= 5 {
                    let data = synth::friedman1(rows as usize, n_features, 1.0, *seed)?;
                    let line = format!("make_friedman1({rows} x {n_features}, seed {seed})");
                    return Ok((data.x, line));
                }
                let data = synth::study_data(rows as usize, n_features, *seed)?;
                let line = format!("make_classification({rows} x {n_features}, seed {seed})");
                return Ok((data.x, line));
            }
            RowSource::Npy(p) => {
                let x = npy::read_features(p)?;
                if x.ncols() != n_features {
                    return Err(Error::data(
                        p,
                        format!(
                            "{} feature columns but the model was trained on {n_features}; give data with {n_features} feature columns",
                            x.ncols()
                        ),
                    ));
                }
                if !features.generated {
                    notify(&format!(
                        "{}: a .npy file has no column names, so its columns are taken by position as the model's features {}",
                        p.display(),
                        super::columns::list(&features.names)
                    ));
                }
                x
            }
            RowSource::Csv {
                path,
                label,
                delimiter,
                columns,
            } => {
                let (x, notes) = csv_features(path, label, *delimiter, *columns, features)?;
                notes.iter().for_each(|n| notify(n));
                x
            }
        };
        let path = self.path().expect("a file source");
        super::check_features(x.view(), path, 0, features.missing)?;
        let line = format!("{} ({} rows)", path.display(), x.nrows());
        Ok((x, line))
    }
}

/// A CSV's feature columns (the label column dropped if present) in the
/// order of the model's `features`, by `rule`; and lines for people.
fn csv_features(
    path: &Path,
    label: &str,
    delimiter: u8,
    rule: ColumnRule,
    features: &Features,
) -> Result<(Array2<f64>, Vec<String>)> {
    let frame = csv::read_features(path, label, delimiter)?;
    let mut notes = frame.notes;
    let want = features.wanted("the model's");
    let (x, note) = align(path, frame.x, &frame.names, &want, rule)?;
    notes.extend(note);
    Ok((x, notes))
}
