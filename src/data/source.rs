//! Where rows to predict come from: a CSV or `.npy` file, or synthetic rows
//! of the study's generator. Loaded whole for one process, or by row range
//! for one MPI rank.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{check_finite, check_memory, csv, extension, npy, synth};
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
    },
}

impl RowSource {
    /// `--data` if given (by extension), else synthetic rows.
    pub fn new(data: Option<&Path>, label: &str, delimiter: u8, seed: u32) -> Self {
        match data {
            Some(p) if extension(p) == "npy" => RowSource::Npy(p.to_path_buf()),
            Some(p) => RowSource::Csv {
                path: p.to_path_buf(),
                label: label.to_string(),
                delimiter,
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

    /// Rows `range` of the source, `n_features` wide (blocked synthetic rows:
    /// every range is the same whatever the split).
    pub fn rows(&self, range: Range<usize>, n_features: usize) -> Result<Array2<f64>> {
        match self {
            RowSource::Synthetic { seed } => synth::blocked_rows(range, n_features, *seed),
            RowSource::Npy(p) => npy::read_feature_rows(p, range),
            RowSource::Csv {
                path,
                label,
                delimiter,
            } => {
                let x = csv::read_features(path, label, *delimiter)?;
                Ok(x.slice(ndarray::s![range, ..]).to_owned())
            }
        }
    }

    /// Feature columns of a file source (None for synthetic rows).
    pub fn file_columns(&self) -> Result<Option<usize>> {
        Ok(match self {
            RowSource::Synthetic { .. } => None,
            RowSource::Npy(p) => Some(npy::shape(p)?.get(1).copied().unwrap_or(1)),
            RowSource::Csv {
                path,
                label,
                delimiter,
            } => Some(csv::read_features(path, label, *delimiter)?.ncols()),
        })
    }

    /// Every row for one process: the file's (checked finite and
    /// `n_features` wide), or `rows` synthetic ones (default 1e6; refused
    /// if `copies` of them would not fit in memory). Also a line saying
    /// what was loaded.
    pub fn load(
        &self,
        rows: Option<u64>,
        n_features: usize,
        copies: u64,
    ) -> Result<(Array2<f64>, String)> {
        let x = match self {
            RowSource::Synthetic { seed } => {
                let rows = rows.unwrap_or(DEFAULT_ROWS);
                if rows == 0 {
                    return Err(Error::usage("--rows 0: give at least one row to predict"));
                }
                check_memory(rows, n_features as u64, copies)?;
                let data = synth::study_data(rows as usize, n_features, *seed)?;
                let line = format!("make_classification({rows} x {n_features}, seed {seed})");
                return Ok((data.x, line));
            }
            RowSource::Npy(p) => npy::read_features(p)?,
            RowSource::Csv {
                path,
                label,
                delimiter,
            } => csv::read_features(path, label, *delimiter)?,
        };
        let path = self.path().expect("a file source");
        check_finite(x.view(), path)?;
        if x.ncols() != n_features {
            // One column too many in a CSV is most often a label column by
            // another name than the one dropped.
            let hint = match self {
                RowSource::Csv { label, .. } if x.ncols() == n_features + 1 => format!(
                    "; if one column is the label (not named '{label}'), name it with --label COLUMN"
                ),
                _ => String::new(),
            };
            return Err(Error::data(
                path,
                format!(
                    "{} feature columns but the model was trained on {n_features}; give data with {n_features} feature columns{hint}",
                    x.ncols()
                ),
            ));
        }
        let line = format!("{} ({} rows)", path.display(), x.nrows());
        Ok((x, line))
    }
}
