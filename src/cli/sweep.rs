use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::parse_models;
use super::predict::resolve_model;
use crate::atomic::write_atomic;
use crate::data::count::{format_count, parse_count};
use crate::error::{Error, Result};
use crate::exec::auto::threshold_for;
use crate::exec::processes::current_exe;
use crate::exec::threads::Threads;
use crate::exec::{parse_backend_list, BackendKind};
use crate::measure::env::{load_average, Environment};
use crate::measure::results::{Settings, SweepResults};
use crate::measure::sweep::{decades, run_sweep, SweepModel, SweepSpec};
use crate::report::units;

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[arg(long, default_value = "nb,lr,svc,rf")]
    pub models: String,
    #[arg(long, default_value = "direct,threads,processes,auto")]
    pub backends: String,
    /// Batch sizes: LOW..HIGH by decade (10..1e7) or a list (10,500,1e4).
    #[arg(long, default_value = "10..1e7")]
    pub rows: String,
    /// Minimum measured time per cell (e.g. 0.2s, 200ms).
    #[arg(long, default_value = "0.2s")]
    pub min_time: String,
    #[arg(long, default_value_t = 1000)]
    pub max_repeats: usize,
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seed of the synthetic rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
    /// Results file (JSON); written after every cell.
    #[arg(long, default_value = "results/sweep.json")]
    pub out: PathBuf,
    /// Also write the cells as CSV beside the JSON.
    #[arg(long)]
    pub csv: bool,
}

pub fn parse_rows(text: &str) -> Result<Vec<usize>> {
    if let Some((lo, hi)) = text.split_once("..") {
        return decades(parse_count(lo)?, parse_count(hi)?);
    }
    let mut v = Vec::new();
    for p in text.split(',').filter(|s| !s.trim().is_empty()) {
        let n = parse_count(p)?;
        if n == 0 {
            return Err(Error::usage("--rows: batch sizes must be at least 1"));
        }
        v.push(n as usize);
    }
    if v.is_empty() {
        return Err(Error::usage(format!(
            "--rows '{text}' is empty: give LOW..HIGH (10..1e7) or a list"
        )));
    }
    Ok(v)
}

pub fn parse_seconds(text: &str) -> Result<f64> {
    let t = text.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * scale),
        _ => Err(Error::usage(format!(
            "invalid duration '{text}': write 0.2s or 200ms"
        ))),
    }
}

pub fn run(a: SweepArgs) -> Result<()> {
    let kinds = parse_models(&a.models)?;
    let mut backends = parse_backend_list(&a.backends, "--backends")?;
    // Direct first: the other backends' speedups are relative to it.
    backends.sort_by_key(|k| *k != BackendKind::Direct);
    // Only an `mpi` build can parse `--backends mpi`.
    #[cfg(feature = "mpi")]
    if backends.contains(&BackendKind::Mpi) {
        if backends
            .iter()
            .any(|b| !matches!(b, BackendKind::Mpi | BackendKind::Direct))
        {
            return Err(Error::usage(
                "--backends mpi runs with direct only (every rank runs the same command); drop the others",
            ));
        }
        return super::mpi::run_sweep(&a);
    }
    let rows = parse_rows(&a.rows)?;
    let min_time = parse_seconds(&a.min_time)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (threads, workers) = (
        a.threads.unwrap_or(cores).max(1),
        a.workers.unwrap_or(cores).max(1),
    );
    let max_rows = *rows.iter().max().expect("non-empty");
    crate::data::check_memory(max_rows as u64, 10, 2)?;

    let mut models = Vec::new();
    let mut auto_from = Vec::new();
    for k in &kinds {
        let (path, stored) = resolve_model(k.short(), &a.models_dir)?;
        let model = std::sync::Arc::new(stored.model);
        if backends.contains(&BackendKind::Auto) {
            let mut t = Threads::new(model.clone(), threads, None)?;
            auto_from.push(threshold_for(&model, &stored.header.data_hash, &mut t)?);
        }
        models.push(SweepModel {
            name: k.short().to_string(),
            path,
            model,
        });
    }
    let settings = Settings {
        models: kinds.iter().map(|k| k.short().to_string()).collect(),
        backends: backends.iter().map(|b| b.as_str().to_string()).collect(),
        rows: rows.iter().map(|&r| r as u64).collect(),
        min_time_seconds: min_time,
        max_repeats: a.max_repeats,
        threads,
        workers,
        seed: a.seed,
    };
    let spec = SweepSpec {
        models,
        backends,
        rows,
        min_time,
        max_repeats: a.max_repeats,
        threads,
        workers,
        seed: a.seed,
        exe: current_exe()?,
        auto_threads_from: auto_from,
    };
    let total = (spec.models.len() * spec.rows.len() * spec.backends.len()) as u64;
    let mut results = SweepResults::new(Environment::capture(), settings);
    let stop = crate::interrupt::install();
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "[{bar:30}] {pos}/{len} cells {elapsed_precise} eta {eta} {msg}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        pb
    });
    let out = a.out.clone();
    let csv = a.csv;
    let mut on_cell = |r: &SweepResults| -> Result<()> {
        r.save(&out)?;
        if csv {
            write_atomic(&out.with_extension("csv"), r.to_csv().as_bytes())?;
        }
        let c = r.cells.last().expect("a cell");
        let line = format!(
            "{} {} {}: {} ({})",
            c.model,
            c.backend,
            format_count(c.rows),
            units::seconds(c.wall_seconds.median),
            c.speedup_vs_direct
                .map_or("-".into(), |s| format!("{s:.2}x"))
        );
        match &bar {
            Some(pb) => {
                pb.inc(1);
                pb.set_message(line);
            }
            None => eprintln!("[{}/{total}] {line}", r.cells.len()),
        }
        Ok(())
    };
    run_sweep(&spec, &mut results, stop, &mut on_cell)?;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    results.environment.load_average_end = load_average();
    results.save(&a.out)?;
    if a.csv {
        write_atomic(&a.out.with_extension("csv"), results.to_csv().as_bytes())?;
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!(
            "interrupted: {} of {total} cells kept in {} (marked incomplete)",
            results.cells.len(),
            a.out.display()
        );
        std::process::exit(130);
    }
    println!(
        "{} cells in {:.1} s (noise: a typical repeat is {:.1}% slower than the best) -> {}",
        results.cells.len(),
        results.elapsed_seconds,
        results.noise * 100.0,
        a.out.display()
    );
    Ok(())
}
