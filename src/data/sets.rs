//! The training and test sets of a training job: from files (CSV with a
//! header, or .npy features + labels), split like the study when no test
//! file is given, or synthetic (`make_classification`) and split.

use std::path::PathBuf;

use super::columns::{align, ColumnRule, Wanted};
use super::count::count_arg;
use super::csv::delimiter_arg;
use super::split::train_test_split;
use super::synth::{friedman1, study_data};
use super::{check_finite, extension, load_for, Dataset, Task};
use crate::error::{Error, Result};

/// Where a training job's data comes from (`cpuwall train`'s data options).
#[derive(Debug, Clone, clap::Args)]
pub struct DataSpec {
    /// Training data: CSV with a header, or .npy features (with --labels).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test data (same format). Without it, --data is split like the study.
    #[arg(long, requires = "data")]
    pub test: Option<PathBuf>,
    /// Labels .npy for --data when it is a .npy file.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Labels .npy for --test when it is a .npy file.
    #[arg(long)]
    pub test_labels: Option<PathBuf>,
    /// Name of the CSV label column.
    #[arg(long, default_value = "y")]
    pub label: String,
    /// CSV field separator (one character, or tab).
    #[arg(long, default_value = ",", value_parser = delimiter_arg)]
    pub delimiter: u8,
    /// Synthetic rows (make_classification) when no --data is given.
    #[arg(long, default_value = "10000", value_parser = count_arg, allow_negative_numbers = true)]
    pub rows: u64,
    /// Synthetic features.
    #[arg(long, default_value = "10", value_parser = count_arg)]
    pub features: u64,
    /// Seed of the synthetic data, the folds and every model's randomness.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Test fraction when splitting (scikit-learn's test_size).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Seed of the train/test split (the study used 2020).
    #[arg(long, default_value_t = 2020)]
    pub split_seed: u32,
    /// How --test's columns meet --data's: by-name (by position when the
    /// training data has no header) or by-position (in order, whatever their names).
    #[arg(long, value_enum, default_value = "by-name")]
    pub columns: ColumnRule,
    /// classification (integer class labels) or regression (real targets;
    /// synthetic data: make_friedman1 with noise 1). Default: regression
    /// when the label column holds non-integer values (said on stderr),
    /// else classification.
    #[arg(long, value_enum)]
    pub task: Option<Task>,
}

impl DataSpec {
    /// The task asked for, or the one synthetic data defaults to.
    pub fn stated_task(&self) -> Option<Task> {
        match (&self.data, self.task) {
            (_, Some(t)) => Some(t),
            (None, None) => Some(Task::Classification),
            (Some(_), None) => None,
        }
    }
}

/// The training file read as the task says, or (no `--task`) with its
/// labels read as numbers: integers are classes, anything else makes it a
/// regression set, said through `notify`.
fn load_training(a: &DataSpec, path: &std::path::Path, notify: &dyn Fn(&str)) -> Result<Dataset> {
    let task = a.task.unwrap_or(Task::Regression);
    let (data, notes) = load_for(
        task,
        path,
        &a.label,
        a.labels.as_deref(),
        "--labels",
        a.delimiter,
    )?;
    notes.iter().for_each(|n| notify(n));
    if a.task.is_some() {
        return Ok(data);
    }
    let t = data.targets.as_deref().unwrap_or(&[]);
    match t
        .iter()
        .position(|v| v.fract() != 0.0 || v.abs() > 9_007_199_254_740_992.0)
    {
        Some(i) => {
            notify(&format!(
                "{}: the labels are real numbers ({} in row {}): training regressors (say --task to choose)",
                path.display(),
                t[i],
                i + 1
            ));
            Ok(data)
        }
        None => {
            let y = t.iter().map(|&v| v as i64).collect();
            let generated = data.generated_names;
            let mut d = Dataset::new(data.x, y).with_names(data.names);
            d.generated_names = generated;
            Ok(d)
        }
    }
}

/// Training and test sets, plus a line describing where they came from;
/// `notify` hears lines for people (columns reordered, an index dropped).
/// A test file's columns are matched to the training file's by name.
pub fn load(a: &DataSpec, notify: &dyn Fn(&str)) -> Result<(Dataset, Dataset, String)> {
    match &a.data {
        Some(path) => {
            let data = load_training(a, path, notify)?;
            data.validate_for_training(path)?;
            let task = if data.targets.is_some() {
                Task::Regression
            } else {
                Task::Classification
            };
            match &a.test {
                Some(tp) => {
                    let (test, notes) = load_for(
                        task,
                        tp,
                        &a.label,
                        a.test_labels.as_deref(),
                        "--test-labels",
                        a.delimiter,
                    )?;
                    notes.iter().for_each(|n| notify(n));
                    check_finite(test.x.view(), tp)?;
                    let test = if extension(tp) == "npy" || extension(path) == "npy" {
                        // No header on one side: columns by position.
                        if test.n_features() != data.n_features() {
                            return Err(Error::data(
                                tp,
                                format!(
                                    "{} features, but the training data has {}; use matching columns",
                                    test.n_features(),
                                    data.n_features()
                                ),
                            ));
                        }
                        test.named_as(&data)
                    } else {
                        let want = Wanted {
                            names: &data.names,
                            generated: data.generated_names,
                            whose: "the training data's",
                        };
                        let (x, note) = align(tp, test.x, &test.names, &want, a.columns)?;
                        if let Some(n) = note {
                            notify(&n);
                        }
                        match test.targets {
                            Some(t) => Dataset::regression(x, t).named_as(&data),
                            None => Dataset::new(x, test.y).named_as(&data),
                        }
                    };
                    let line = format!(
                        "{} ({} rows), test {} ({} rows), {} features",
                        path.display(),
                        data.n_rows(),
                        tp.display(),
                        test.n_rows(),
                        data.n_features()
                    );
                    Ok((data, test, line))
                }
                None => {
                    let (train, test) =
                        train_test_split(&data, a.test_fraction, a.split_seed, false)?;
                    let line = format!(
                        "{} split {}/{} (test_fraction {}, seed {}), {} features",
                        path.display(),
                        train.n_rows(),
                        test.n_rows(),
                        a.test_fraction,
                        a.split_seed,
                        data.n_features()
                    );
                    Ok((train, test, line))
                }
            }
        }
        None => {
            let rows = usize::try_from(a.rows).map_err(|_| Error::usage("--rows is too large"))?;
            if rows > 100_000_000 || a.features > 10_000 {
                return Err(Error::usage(format!(
                    "--rows {} x --features {} is too large to train on here; use at most 1e8 rows and 1e4 features",
                    a.rows, a.features
                )));
            }
            let regression = a.task == Some(Task::Regression);
            let (data, generator) = if regression {
                (
                    friedman1(rows, a.features as usize, 1.0, a.seed)?,
                    "make_friedman1",
                )
            } else {
                (
                    study_data(rows, a.features as usize, a.seed)?,
                    "make_classification",
                )
            };
            let origin = PathBuf::from(generator);
            let (train, test) = train_test_split(&data, a.test_fraction, a.split_seed, false)?;
            train.validate_for_training(&origin)?;
            let line = format!(
                "{generator}(n_samples={}, n_features={}{}, random_state={}) split {}/{} (seed {})",
                a.rows,
                a.features,
                if regression { ", noise=1.0" } else { "" },
                a.seed,
                train.n_rows(),
                test.n_rows(),
                a.split_seed
            );
            Ok((train, test, line))
        }
    }
}
