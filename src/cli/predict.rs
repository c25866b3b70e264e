use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{models_dir, Format};
use crate::data::count::{count_arg, parallelism_arg, seconds_arg, timeout_arg};
use crate::data::csv::delimiter_arg;
use crate::data::source::RowSource;
use crate::error::{Error, Result};
use crate::exec::{parse_backend_list, BackendKind};
use crate::measure::predict::{predict, PredictJob};
use crate::measure::run::{warmup_arg, Warmup};
use crate::report;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall predict --model nb --rows 1e6
  cpuwall predict --model models/forest.cpuwall --data rows.csv --out labels.csv --proba
  cpuwall predict --model rf --rows 1e5 --backend direct,threads --format json
  cpuwall predict --model lr --export-json lr.json --export-csv lr-samples.csv")]
pub struct PredictArgs {
    /// nb, lr, svc, rf (the file in --models-dir, trained if missing) or a model file path.
    #[arg(long)]
    pub model: String,
    /// Synthetic rows to predict (make_classification, the model's feature count; default 1e6 when no --data).
    #[arg(long, value_parser = count_arg, conflicts_with = "data", allow_negative_numbers = true)]
    pub rows: Option<u64>,
    /// Rows to predict: CSV with a header (a label column is dropped) or .npy.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// CSV label column to drop from --data.
    #[arg(long, default_value = "y")]
    pub label: String,
    /// CSV field separator (one character, or tab).
    #[arg(long, default_value = ",", value_parser = delimiter_arg)]
    pub delimiter: u8,
    /// Seed of the synthetic rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// direct, threads, processes, auto, or all (comma-separated list allowed).
    #[arg(long, default_value = "all")]
    pub backend: String,
    /// Threads for the threads/auto backends (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub threads: Option<usize>,
    /// Worker processes for the processes backend (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub workers: Option<usize>,
    /// Rows per chunk for threads (default: sized by the model's cost).
    #[arg(long, value_parser = count_arg)]
    pub chunk_rows: Option<u64>,
    /// Minimum timed samples per backend (default 6; raises the count, never lowers --min-time).
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Minimum measured time per backend (e.g. 0.5s, 200ms); tiny calls are timed in batches.
    #[arg(long, default_value = "0.5s", value_parser = seconds_arg)]
    pub min_time: f64,
    /// Passes over the rows before timing: a duration (300ms) or a number of passes (5; 0: none).
    #[arg(long, default_value = "300ms", value_parser = warmup_arg)]
    pub warmup: Warmup,
    /// Batch size from which auto uses threads (default: measured once, cached).
    #[arg(long, value_parser = count_arg)]
    pub threads_from: Option<u64>,
    /// Seconds a worker may take for its share before it is killed.
    #[arg(long, default_value_t = 60.0, value_parser = timeout_arg, allow_negative_numbers = true)]
    pub worker_timeout: f64,
    /// Where nb/lr/svc/rf model files live (must exist; default: ./models, made on first use).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Write the predictions: .csv (column y) or .npy.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --out X.csv: after y, one column per class, p_<class> (nb, lr,
    /// rf probabilities) or score_<class> (svc decision values; one column,
    /// the second class's, for two classes, as scikit-learn).
    #[arg(long, requires = "out")]
    pub proba: bool,
    /// table: for people; json: one JSON document on stdout (messages go to stderr).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[command(flatten)]
    pub export: report::exports::ExportArgs,
}

impl PredictArgs {
    pub fn job(&self, backends: Vec<BackendKind>) -> Result<PredictJob> {
        Ok(PredictJob {
            model: self.model.clone(),
            models_dir: models_dir(&self.models_dir)?,
            source: RowSource::new(self.data.as_deref(), &self.label, self.delimiter, self.seed),
            rows: self.rows,
            backends,
            threads: self.threads,
            workers: self.workers,
            chunk_rows: self.chunk_rows.map(|c| c as usize),
            threads_from: self.threads_from.map(|c| c as usize),
            worker_timeout: Duration::from_secs_f64(self.worker_timeout),
            repeat: self.repeat,
            min_time: self.min_time,
            warmup: self.warmup,
            out: self.out.clone(),
            proba: self.proba,
        })
    }
}

pub fn run(a: PredictArgs) -> Result<()> {
    let backends = parse_backend_list(&a.backend, "--backend")?;
    // Only an `mpi` build can parse `--backend mpi`.
    #[cfg(feature = "mpi")]
    if backends.contains(&BackendKind::Mpi) {
        if backends.len() > 1 {
            return Err(Error::usage(
                "--backend mpi runs alone (every rank runs the same command); drop the other backends",
            ));
        }
        return predict_mpi(&a);
    }
    let job = a.job(backends)?;
    a.export.check_paths(&job.paths())?;
    let outcome = predict(&job, &|line| eprintln!("{line}"), &|secs| {
        report::progress::timed_bar(secs, "predict")
    })?;
    a.export.write(
        || serde_json::to_string_pretty(&report::predict::json(&outcome)).expect("json"),
        || report::predict::raw_csv(&outcome),
        || report::predict::markdown(&outcome),
    )?;
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::predict::json(&outcome)).expect("json")
        ),
        Format::Table => print!(
            "{}",
            report::predict::table_styled(&outcome, &report::style::Style::stdout())
        ),
    }
    if !outcome.identical() {
        return Err(Error::Runtime(
            "backends disagreed on the predictions; this is a bug, please report it".into(),
        ));
    }
    Ok(())
}

/// `--backend mpi` under `mpirun`/`srun`: rank 0 prints.
#[cfg(feature = "mpi")]
fn predict_mpi(a: &PredictArgs) -> Result<()> {
    let Some(o) = crate::measure::mpi::predict(&a.job(vec![BackendKind::Mpi])?)? else {
        return Ok(()); // not rank 0
    };
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&crate::report::mpi::json(&o)).expect("json")
        ),
        Format::Table => print!("{}", crate::report::mpi::table(&o)),
    }
    if o.check.is_some_and(|c| !c.0) {
        return Err(Error::Runtime(
            "MPI predictions differ from direct's; this is a bug, please report it".into(),
        ));
    }
    Ok(())
}
