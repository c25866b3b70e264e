use clap::Args;

use crate::atomic::write_atomic;
use crate::data::count::format_count;
use crate::error::Result;
use crate::measure::sweep::{sweep, SweepOptions};
use crate::report::csv::cells_csv;
use crate::report::progress::Steps;
use crate::units;

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
    pub export: crate::report::exports::ExportArgs,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let job = a.sweep.job()?;
    // Only an `mpi` build can parse `--backends mpi`.
    #[cfg(feature = "mpi")]
    if job.backends.contains(&crate::exec::BackendKind::Mpi) {
        use crate::exec::BackendKind;
        if job
            .backends
            .iter()
            .any(|b| !matches!(b, BackendKind::Mpi | BackendKind::Direct))
        {
            return Err(crate::error::Error::usage(
                "--backends mpi runs with direct only (every rank runs the same command); drop the others",
            ));
        }
        return sweep_mpi(&job);
    }
    let partial = job.partial_path();
    let mut outputs = vec![
        ("--out", job.out.as_path()),
        ("--out (while running)", partial.as_path()),
    ];
    let csv_path = job.out.with_extension("csv");
    if a.csv {
        outputs.push(("--csv", csv_path.as_path()));
    }
    a.export.check(&[], &outputs)?;
    let total = job.cells() as u64;
    let stop = crate::interrupt::install();
    let steps = Steps::new(total, "cells");
    // The CSV follows the JSON: partial while running, renamed when complete.
    let csv = a.csv.then(|| job.partial_path().with_extension("csv"));
    let results = sweep(&job, stop, &|line| eprintln!("{line}"), &mut |r| {
        if let Some(path) = &csv {
            write_atomic(path, cells_csv(&r.cells).as_bytes())?;
        }
        let c = r.cells.last().expect("a cell");
        let line = format!(
            "{} {} {}: {} ({})",
            c.model,
            c.backend,
            format_count(c.rows as u64),
            units::seconds(c.wall_seconds.median),
            c.speedup_vs_direct.map_or("-".into(), crate::units::times)
        );
        steps.step(&line);
        Ok(())
    })?;
    drop(steps);
    if !results.complete {
        eprintln!(
            "interrupted: {} of {total} cells kept in {} (marked incomplete; {} was not changed)",
            results.cells.len(),
            job.partial_path().display(),
            job.out.display()
        );
        std::process::exit(130);
    }
    if let Some(partial) = &csv {
        let done = job.out.with_extension("csv");
        std::fs::rename(partial, &done).map_err(|e| {
            crate::error::Error::io(
                format!("cannot move {} to {}", partial.display(), done.display()),
                e,
            )
        })?;
    }
    a.export.write(
        || serde_json::to_string(&results).expect("json"),
        || crate::report::sweep::raw_csv(&results.cells),
        || crate::report::sweep::markdown_without_plots(&job.out, &results),
    )?;
    let summary = format!(
        "{} cells in {:.1} s (noise: a typical repeat is {:.1}% slower than the best) -> {}",
        results.cells.len(),
        results.elapsed_seconds,
        results.noise * 100.0,
        job.out.display()
    );
    let style = crate::report::style::Style::stdout();
    println!(
        "{}",
        style.paint(&summary, crate::report::style::Tone::Bold)
    );
    Ok(())
}

/// `--backends mpi` under `mpirun`/`srun`: rank 0 prints and writes the results.
#[cfg(feature = "mpi")]
fn sweep_mpi(job: &crate::measure::sweep::SweepJob) -> Result<()> {
    let results = crate::measure::mpi::sweep(job, &mut |r| {
        let c = r.cells.last().expect("a cell");
        eprintln!(
            "[{}] {} mpi({}) {}: {}{}",
            r.cells.len(),
            c.model,
            r.settings.workers,
            format_count(c.rows as u64),
            crate::units::seconds(c.wall_seconds.median),
            c.speedup_vs_direct.map_or(String::new(), |s| format!(
                " ({} direct)",
                crate::units::times(s)
            ))
        );
    })?;
    if let Some(res) = results {
        println!(
            "{} cells in {:.1} s -> {}",
            res.cells.len(),
            res.elapsed_seconds,
            job.out.display()
        );
    }
    Ok(())
}
