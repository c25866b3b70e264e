use clap::Args;

use crate::error::Result;
use crate::measure::sweep::{sweep, SweepOptions};
use crate::report::progress::Steps;
use crate::report::style::{Style, Tone};
use crate::report::sweep as out;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall sweep --out results/sweep.json
  cpuwall sweep --models nb,rf --rows 10..1e6 --backends direct,threads --min-time 0.5s --out sweep.json
  cpuwall sweep --models lr --rows 1e3..1e6 --export-csv samples.csv --export-markdown sweep.md")]
pub struct SweepArgs {
    #[command(flatten)]
    pub sweep: SweepOptions,
    /// Also write the cells as CSV beside the JSON.
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub export: crate::report::export_flags::ExportArgs,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let mut job = a.sweep.job()?;
    job.csv = a.csv;
    if job.is_mpi()? {
        return sweep_mpi(&job);
    }
    a.export.check_paths(&job.outputs(a.csv))?;
    let total = job.cells() as u64;
    let steps = Steps::new(total, "cells");
    let stop = crate::interrupt::install();
    let results = sweep(&job, stop, &|line| eprintln!("{line}"), &mut |r| {
        steps.step(&out::cell_line(r.cells.last().expect("a cell")));
        Ok(())
    })?;
    drop(steps);
    if !results.complete {
        return Err(crate::Error::Interrupted(format!(
            "interrupted: {} of {total} cells kept in {} (marked incomplete; {} was not changed)",
            results.cells.len(),
            job.partial_path().display(),
            job.out.display()
        )));
    }
    a.export.write(
        || serde_json::to_string(&results).expect("json"),
        || out::raw_csv(&results.cells),
        || out::markdown_without_plots(&job.out, &results),
    )?;
    let line = out::done_line(&results, &job.out);
    println!("{}", Style::stdout().paint(&line, Tone::Bold));
    Ok(())
}

/// `--backends mpi` under `mpirun`/`srun`: rank 0 prints and writes the results.
#[cfg(feature = "mpi")]
fn sweep_mpi(job: &crate::measure::sweep::SweepJob) -> Result<()> {
    let results = crate::measure::mpi::sweep(job, &mut |r| {
        let c = r.cells.last().expect("a cell");
        eprintln!(
            "{}",
            out::mpi_cell_line(r.cells.len(), c, r.settings.workers)
        );
    })?;
    if let Some(res) = results {
        println!("{}", out::done_line(&res, &job.out));
    }
    Ok(())
}

#[cfg(not(feature = "mpi"))]
fn sweep_mpi(_: &crate::measure::sweep::SweepJob) -> Result<()> {
    unreachable!("only an mpi build parses --backends mpi")
}
