use clap::Args;

use super::Format;
use crate::error::{Error, Result};
use crate::exec::parse_backend_list;
use crate::measure::predict::{predict, PredictOptions};
use crate::report;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall predict --model nb --rows 1e6
  cpuwall predict --model models/forest.cpuwall --data rows.csv --out labels.csv --proba
  cpuwall predict --model rf --rows 1e5 --backend direct,threads --format json
  cpuwall predict --model lr --export-json lr.json --export-csv lr-samples.csv")]
pub struct PredictArgs {
    #[command(flatten)]
    pub options: PredictOptions,
    /// table: for people; json: one JSON document on stdout (messages go to stderr).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[command(flatten)]
    pub export: report::export_flags::ExportArgs,
}

pub fn run(a: PredictArgs) -> Result<()> {
    let backends = parse_backend_list(&a.options.backend, "--backend")?;
    if crate::measure::predict::is_mpi(&backends)? {
        return predict_mpi(&a);
    }
    let job = a.options.job(backends)?;
    a.export.check_paths(&job.paths())?;
    let outcome = predict(&job, &|line| eprintln!("{line}"), &|secs| {
        report::progress::timed_bar(secs, "predict")
    })?;
    let json = || serde_json::to_string_pretty(&report::predict::json(&outcome)).expect("json");
    a.export.write(
        json,
        || report::predict::raw_csv(&outcome),
        || report::predict::markdown(&outcome),
    )?;
    match a.format {
        Format::Json => println!("{}", json()),
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
    let mpi = vec![crate::exec::BackendKind::Mpi];
    let Some(o) = crate::measure::mpi::predict(&a.options.job(mpi)?)? else {
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

#[cfg(not(feature = "mpi"))]
fn predict_mpi(_: &PredictArgs) -> Result<()> {
    unreachable!("only an mpi build parses --backend mpi")
}
