//! `cpuwall predict --backend mpi` and `cpuwall train --mpi` under
//! `mpirun`/`srun` (cargo feature `mpi`).

use std::path::PathBuf;
use std::time::Instant;

use super::predict::{resolve_model, PredictArgs};
use super::Format;
use crate::data::count::format_count;
use crate::data::extension;
use crate::error::{Error, Result};
use crate::exec::mpi::{abort, local_rows, predict_local, Cluster, MpiRun, RowSource};
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
    let (x, generated) = local_rows(cluster, nf, total, &source)?;
    predict_local(cluster, &model, total, x.view(), generated)?; // warm-up
    let mut runs: Vec<MpiRun> = Vec::new();
    for _ in 0..repeats {
        if let Some(run) = predict_local(cluster, &model, total, x.view(), generated)? {
            runs.push(run);
        }
    }
    drop(x);
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

/// `cpuwall sweep --backends mpi` under mpirun: every rank walks the same
/// cells; rank 0 also measures direct on the same (blocked) rows up to 1e7
/// rows, decides the repeats, and writes the results file.
pub fn run_sweep(a: &super::sweep::SweepArgs) -> Result<()> {
    let cluster = Cluster::init()?;
    on_every_rank(&cluster, || sweep_job(&cluster, a))
}

fn sweep_job(cluster: &Cluster, a: &super::sweep::SweepArgs) -> Result<()> {
    use crate::exec::direct::Direct;
    use crate::measure::clock::Usage;
    use crate::measure::env::{load_average, Environment};
    use crate::measure::results::{Cell, Settings, SweepResults};
    use crate::measure::run::{measure, Measured, Repeats};

    let kinds = super::parse_models(&a.models)?;
    let rows = super::sweep::parse_rows(&a.rows)?;
    let min_time = super::sweep::parse_seconds(&a.min_time)?;
    if cluster.is_root() {
        for k in &kinds {
            resolve_model(k.short(), &a.models_dir)?;
        }
    }
    cluster.barrier();
    let mut results = cluster.is_root().then(|| {
        SweepResults::new(
            Environment::capture(),
            Settings {
                models: kinds.iter().map(|k| k.short().to_string()).collect(),
                backends: vec!["direct".into(), "mpi".into()],
                rows: rows.iter().map(|&r| r as u64).collect(),
                min_time_seconds: min_time,
                max_repeats: a.max_repeats,
                threads: 1,
                workers: cluster.size,
                seed: a.seed,
            },
        )
    });
    let started = Instant::now();
    let source = RowSource::Synthetic { seed: a.seed };
    for k in &kinds {
        let model = store::load(&model_path(&a.models_dir, *k))?.model;
        let nf = model.n_features();
        for &n in &rows {
            // Direct on rank 0, on the very rows the ranks will make.
            let mut reference = None;
            if let Some(res) = results.as_mut().filter(|_| n <= 10_000_000) {
                let x = source.rows(0..n, nf)?;
                let mut out = vec![0i64; n];
                let shared = std::sync::Arc::new(model.clone());
                let m = measure(
                    &mut Direct::new(shared),
                    x.view(),
                    &mut out,
                    Repeats {
                        min_seconds: min_time,
                        min_runs: 1,
                        max_runs: a.max_repeats.max(1),
                    },
                )?;
                res.cells.push(Cell::from_measured(
                    k.short(),
                    "direct",
                    &m,
                    Some(m.wall_seconds.median),
                    true,
                ));
                reference = Some((out, m.wall_seconds.median));
            }
            let (x, generated) = local_rows(cluster, nf, n, &source)?;
            predict_local(cluster, &model, n, x.view(), generated)?; // warm-up
            let mut usages = Vec::new();
            let mut labels = Vec::new();
            loop {
                if let Some(run) = predict_local(cluster, &model, n, x.view(), generated)? {
                    let own = &run.ranks[0];
                    usages.push(Usage {
                        wall_seconds: run.wall_seconds,
                        own_cpu_seconds: own.predict_cpu_seconds + own.gather_cpu_seconds,
                        worker_cpu_seconds: run.ranks[1..]
                            .iter()
                            .map(|r| r.predict_cpu_seconds + r.gather_cpu_seconds)
                            .sum(),
                    });
                    labels = run.labels;
                }
                let total: f64 = usages.iter().map(|u| u.wall_seconds).sum();
                let more =
                    cluster.is_root() && total < min_time && usages.len() < a.max_repeats.max(1);
                if !cluster.broadcast_flag(more) {
                    break;
                }
            }
            if let Some(res) = results.as_mut() {
                let m = Measured::from_runs(n, &usages);
                let direct = reference.as_ref().map(|r| r.1);
                let same = reference.as_ref().is_none_or(|r| r.0 == labels);
                res.cells
                    .push(Cell::from_measured(k.short(), "mpi", &m, direct, same));
                res.update_noise();
                res.elapsed_seconds = started.elapsed().as_secs_f64();
                res.save(&a.out)?;
                eprintln!(
                    "[{}] {k} mpi({}) {}: {}{}",
                    res.cells.len(),
                    cluster.size,
                    format_count(n as u64),
                    units::seconds(m.wall_seconds.median),
                    direct.map_or(String::new(), |d| format!(
                        " ({:.2}x direct)",
                        d / m.wall_seconds.median
                    ))
                );
            }
        }
    }
    if let Some(mut res) = results {
        res.complete = true;
        res.environment.load_average_end = load_average();
        res.elapsed_seconds = started.elapsed().as_secs_f64();
        res.save(&a.out)?;
        println!(
            "{} cells in {:.1} s -> {}",
            res.cells.len(),
            res.elapsed_seconds,
            a.out.display()
        );
    }
    Ok(())
}
