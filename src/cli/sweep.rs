use std::path::PathBuf;

use clap::Args;

use super::models_dir;
use crate::atomic::write_atomic;
use crate::data::count::{format_count, parallelism_arg, parse_batch_sizes, parse_seconds};
use crate::error::Result;
use crate::exec::parse_backend_list;
use crate::measure::run::{warmup_arg, Warmup};
use crate::measure::sweep::{sweep, SweepJob};
use crate::report::csv::cells_csv;
use crate::report::progress::progress_bar;
use crate::units;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall sweep --out results/sweep.json
  cpuwall sweep --models nb,rf --rows 10..1e6 --backends direct,threads --min-time 0.5s --out sweep.json")]
pub struct SweepArgs {
    /// Models to sweep, comma-separated (each file in --models-dir, trained if missing).
    #[arg(long, default_value = "nb,lr,svc,rf")]
    pub models: String,
    /// Backends to measure, comma-separated: direct, threads, processes, auto.
    #[arg(long, default_value = "direct,threads,processes,auto")]
    pub backends: String,
    /// Batch sizes: LOW..HIGH by decade (10..1e7) or a list (10,500,1e4).
    #[arg(long, default_value = "10..1e7")]
    pub rows: String,
    /// Minimum measured time per cell (e.g. 0.2s, 200ms).
    #[arg(long, default_value = "0.2s")]
    pub min_time: String,
    /// Passes over each model's rows before timing: a duration (300ms) or a number of passes (5).
    #[arg(long, default_value = "300ms", value_parser = warmup_arg)]
    pub warmup: Warmup,
    /// At most this many timed samples per cell: caps --min-time for slow cells.
    #[arg(long, default_value_t = 1000)]
    pub max_repeats: usize,
    /// Threads for the threads/auto backends (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub threads: Option<usize>,
    /// Worker processes for the processes backend (default: all cores).
    #[arg(long, value_parser = parallelism_arg)]
    pub workers: Option<usize>,
    /// Seed of the synthetic rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Where nb/lr/svc/rf model files live (must exist; default: ./models, made on first use).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Results file (JSON); written after every cell.
    #[arg(long, default_value = "results/sweep.json")]
    pub out: PathBuf,
    /// Also write the cells as CSV beside the JSON.
    #[arg(long)]
    pub csv: bool,
}

impl SweepArgs {
    pub fn job(&self) -> Result<SweepJob> {
        Ok(SweepJob {
            models: crate::model::ModelKind::parse_list(&self.models)?,
            models_dir: models_dir(&self.models_dir)?,
            backends: parse_backend_list(&self.backends, "--backends")?,
            rows: parse_batch_sizes(&self.rows)?,
            min_time: parse_seconds(&self.min_time)?,
            max_repeats: self.max_repeats,
            warmup: self.warmup,
            threads: self.threads,
            workers: self.workers,
            seed: self.seed,
            out: self.out.clone(),
            exe: None,
        })
    }
}

pub fn run(a: SweepArgs) -> Result<()> {
    let job = a.job()?;
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
    let total = job.cells() as u64;
    let stop = crate::interrupt::install();
    let bar = progress_bar(
        total,
        "[{bar:30}] {pos}/{len} cells {elapsed_precise} eta {eta} {msg}",
    );
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
            format_count(c.rows),
            units::seconds(c.wall_seconds.median),
            c.speedup_vs_direct.map_or("-".into(), crate::units::times)
        );
        match &bar {
            Some(pb) => {
                pb.inc(1);
                pb.set_message(line);
            }
            None => eprintln!("[{}/{total}] {line}", r.cells.len()),
        }
        Ok(())
    })?;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
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
fn sweep_mpi(job: &SweepJob) -> Result<()> {
    let results = crate::measure::mpi::sweep(job, &mut |r| {
        let c = r.cells.last().expect("a cell");
        eprintln!(
            "[{}] {} mpi({}) {}: {}{}",
            r.cells.len(),
            c.model,
            r.settings.workers,
            format_count(c.rows),
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
