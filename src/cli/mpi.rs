//! `cpuwall predict --backend mpi` and `cpuwall train --mpi` under
//! `mpirun`/`srun` (cargo feature `mpi`).

use std::path::PathBuf;
use std::time::Instant;

use super::predict::{resolve_model, PredictArgs};
use super::Format;
use crate::data::count::format_count;
use crate::data::extension;
use crate::error::{Error, Result};
use crate::exec::mpi::{abort, predict, Cluster, MpiRun, RowSource};
use crate::measure::stats::Spread;
use crate::model::store;
use crate::model::{Classifier, ModelKind};
use crate::report::{table, units};
use crate::tune::train::model_path;

/// Run `body` on every rank; an error on any rank of a multi-rank job
/// aborts the job (others may be waiting in a collective and would hang).
pub fn on_every_rank(cluster: &Cluster, body: impl FnOnce() -> Result<()>) -> Result<()> {
    match body() {
        Ok(()) => Ok(()),
        Err(e) if cluster.size > 1 => {
            eprintln!("error: rank {}: {e}", cluster.rank);
            abort(e.exit_code())
        }
        Err(e) => Err(e),
    }
}

pub fn run_predict(a: &PredictArgs) -> Result<()> {
    let cluster = Cluster::init()?;
    on_every_rank(&cluster, || predict_job(&cluster, a))
}

/// Test hook: the rank named here panics once the job is running.
pub const PANIC_RANK_ENV: &str = "CPUWALL_TEST_PANIC_RANK";

fn predict_job(cluster: &Cluster, a: &PredictArgs) -> Result<()> {
    if std::env::var(PANIC_RANK_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        == Some(cluster.rank)
    {
        cluster.barrier();
        panic!("test panic on rank {} ({PANIC_RANK_ENV})", cluster.rank);
    }
    // Rank 0 trains a missing default model; the others wait, then load it.
    let path = match a.model.parse::<ModelKind>() {
        Ok(kind) => model_path(&a.models_dir, kind),
        Err(_) => PathBuf::from(&a.model),
    };
    if cluster.is_root() {
        resolve_model(&a.model, &a.models_dir)?;
    }
    cluster.barrier();
    let model = store::load(&path)?.model;
    let nf = model.n_features();
    let (source, total, what) = match &a.data {
        Some(p) if extension(p) == "npy" => {
            let rows = crate::data::npy::shape(p)?.first().copied().unwrap_or(0);
            (
                RowSource::Npy(p.clone()),
                rows,
                format!("{} ({} rows)", p.display(), rows),
            )
        }
        Some(p) => {
            let x = crate::data::csv::read_features(p, &a.label)?;
            (
                RowSource::Csv {
                    path: p.clone(),
                    label: a.label.clone(),
                },
                x.nrows(),
                format!("{} ({} rows)", p.display(), x.nrows()),
            )
        }
        None => {
            let rows = a.rows.unwrap_or(1_000_000);
            if rows == 0 {
                return Err(Error::usage("--rows 0: give at least one row to predict"));
            }
            crate::data::check_memory(rows.div_ceil(cluster.size as u64), nf as u64, 1)?;
            (
                RowSource::Synthetic { seed: a.seed },
                rows as usize,
                format!(
                    "blocked make_classification({} x {nf}, seed {})",
                    format_count(rows),
                    a.seed
                ),
            )
        }
    };
    let repeats = a.repeat.unwrap_or(3).max(1);
    predict(cluster, &model, total, &source)?; // warm-up
    let mut runs: Vec<MpiRun> = Vec::new();
    for _ in 0..repeats {
        if let Some(run) = predict(cluster, &model, total, &source)? {
            runs.push(run);
        }
    }
    if !cluster.is_root() {
        return Ok(());
    }
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_seconds).collect();
    let spread = Spread::of(&walls);
    let median = runs
        .iter()
        .min_by(|x, y| {
            (x.wall_seconds - spread.median)
                .abs()
                .total_cmp(&(y.wall_seconds - spread.median).abs())
        })
        .expect("runs");
    // The check against direct needs all rows in one process.
    let check = (total <= 10_000_000).then(|| -> Result<(bool, f64)> {
        let x = source.rows(0..total, nf)?;
        let t = Instant::now();
        let expected = model.predict(x.view());
        Ok((expected == median.labels, t.elapsed().as_secs_f64()))
    });
    let check = check.transpose()?;
    let predict_cpu: f64 = median.ranks.iter().map(|r| r.predict_cpu_seconds).sum();
    let gather_cpu: f64 = median.ranks.iter().map(|r| r.gather_cpu_seconds).sum();
    let cpu_per_wall = predict_cpu / median.wall_seconds;
    let speedup = check.map(|(_, d)| d / median.wall_seconds);
    match a.format {
        Format::Json => {
            let v = serde_json::json!({
                "model": model.kind().short(),
                "model_path": path.display().to_string(),
                "rows": total,
                "features": nf,
                "data": what,
                "ranks": cluster.size,
                "runs": runs.len(),
                "wall_seconds": spread.median,
                "wall_seconds_min": spread.min,
                "wall_seconds_max": spread.max,
                "cpu_seconds": predict_cpu,
                "mpi_cpu_seconds": gather_cpu,
                "cpu_per_wall": cpu_per_wall,
                "rows_per_second": total as f64 / median.wall_seconds,
                "direct_wall_seconds": check.map(|c| c.1),
                "speedup_vs_direct": speedup,
                "predictions_identical": check.map(|c| c.0),
                "per_rank": median.ranks,
            });
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        Format::Table => {
            println!(
                "{} ({}) on {what}, {} MPI ranks",
                path.display(),
                model.kind().long(),
                cluster.size
            );
            let header = [
                "rank",
                "rows",
                "generate",
                "predict wall",
                "predict cpu",
                "cpu/wall",
                "gather wall",
                "gather cpu",
            ];
            let rows: Vec<Vec<String>> = median
                .ranks
                .iter()
                .map(|r| {
                    vec![
                        r.rank.to_string(),
                        format_count(r.rows as u64),
                        units::seconds(r.generate_seconds),
                        units::seconds(r.predict_wall_seconds),
                        units::seconds(r.predict_cpu_seconds),
                        format!(
                            "{:.2}",
                            r.predict_cpu_seconds / r.predict_wall_seconds.max(1e-12)
                        ),
                        units::seconds(r.gather_wall_seconds),
                        units::seconds(r.gather_cpu_seconds),
                    ]
                })
                .collect();
            print!("{}", table::render(&header, &rows));
            println!(
                "mpi({}): {} rows in {} (median of {}, {}-{}), cluster CPU/wall {:.2} (predict CPU {} + MPI CPU {}), {} rows/s{}",
                cluster.size,
                format_count(total as u64),
                units::seconds(spread.median),
                runs.len(),
                units::seconds(spread.min),
                units::seconds(spread.max),
                cpu_per_wall,
                units::seconds(predict_cpu),
                units::seconds(gather_cpu),
                units::rate(total as f64 / median.wall_seconds),
                speedup.map_or(String::new(), |s| format!(", {s:.2}x direct"))
            );
            println!(
                "predictions identical to direct: {}",
                match check {
                    Some((true, _)) => "yes",
                    Some((false, _)) => "NO",
                    None =>
                        "not checked (over 1e7 rows: direct would need all rows in one process)",
                }
            );
        }
    }
    if check.is_some_and(|c| !c.0) {
        return Err(Error::Runtime(
            "MPI predictions differ from direct's; this is a bug, please report it".into(),
        ));
    }
    Ok(())
}
