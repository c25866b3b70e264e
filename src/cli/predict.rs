use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use ndarray::Array2;

use super::Format;
use crate::atomic::write_atomic;
use crate::data::count::count_arg;
use crate::data::{check_finite, check_memory, csv, extension, npy};
use crate::error::{Error, Result};
use crate::exec::auto::{threshold_for, Auto};
use crate::exec::direct::Direct;
use crate::exec::processes::{config, current_exe, ProcessPool};
use crate::exec::threads::Threads;
use crate::exec::{parse_backend_list, Backend, BackendKind};
use crate::measure::clock::Snapshot;
use crate::measure::run::{measure_interleaved, warm_up, Measured, Repeats, WARM_UP};
use crate::model::store::{self, StoredModel};
use crate::model::{Classifier, Model, ModelKind};
use crate::report::{table, units};
use crate::tune::train::{model_path, train_default};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// nb, lr, svc, rf (the file in --models-dir, trained if missing) or a model file path.
    #[arg(long)]
    pub model: String,
    /// Synthetic rows to predict (make_classification, the model's feature count).
    #[arg(long, value_parser = count_arg, conflicts_with = "data")]
    pub rows: Option<u64>,
    /// Rows to predict: CSV with a header (a label column is dropped) or .npy.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// CSV label column to drop from --data.
    #[arg(long, default_value = "y")]
    pub label: String,
    /// Seed of the synthetic rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// direct, threads, processes, auto, or all (comma-separated list allowed).
    #[arg(long, default_value = "all")]
    pub backend: String,
    /// Threads for the threads/auto backends (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Worker processes for the processes backend (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Rows per chunk for threads (default: sized by the model's cost).
    #[arg(long, value_parser = count_arg)]
    pub chunk_rows: Option<u64>,
    /// Timed repeats per backend (default: until 0.5 s measured, 3 to 1000 runs).
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Batch size from which auto uses threads (default: measured once, cached).
    #[arg(long, value_parser = count_arg)]
    pub threads_from: Option<u64>,
    /// Seconds a worker may take for its share before it is killed.
    #[arg(long, default_value_t = 60.0)]
    pub worker_timeout: f64,
    /// Where nb/lr/svc/rf model files live.
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
    /// Write the predictions: .csv (column y) or .npy.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// A model given by name (trained on first use) or by path.
pub fn resolve_model(name: &str, dir: &Path) -> Result<(PathBuf, StoredModel)> {
    if let Ok(kind) = name.parse::<ModelKind>() {
        let path = model_path(dir, kind);
        if !path.exists() {
            let t = Instant::now();
            train_default(kind, dir)?;
            eprintln!(
                "{} not found: trained the default {kind} model (make_classification 10000x10 seed 0, grid search, 5-fold CV) in {:.2} s",
                path.display(),
                t.elapsed().as_secs_f64()
            );
        }
        let stored = store::load(&path)?;
        return Ok((path, stored));
    }
    let path = PathBuf::from(name);
    if !path.exists() && !name.contains('/') && !name.contains('.') {
        return Err(Error::usage(format!(
            "unknown model '{name}'; give nb, lr, svc, rf or a model file path"
        )));
    }
    let stored = store::load(&path)?;
    Ok((path, stored))
}

fn load_rows(a: &PredictArgs, n_features: usize, copies: u64) -> Result<(Array2<f64>, String)> {
    if let Some(path) = &a.data {
        let x = match extension(path).as_str() {
            "npy" => npy::read_features(path)?,
            _ => csv::read_features(path, &a.label)?,
        };
        check_finite(x.view(), path)?;
        if x.ncols() != n_features {
            return Err(Error::data(
                path,
                format!(
                    "{} feature columns but the model was trained on {n_features}; give data with {n_features} feature columns",
                    x.ncols()
                ),
            ));
        }
        let line = format!("{} ({} rows)", path.display(), x.nrows());
        return Ok((x, line));
    }
    let rows = a.rows.unwrap_or(1_000_000);
    if rows == 0 {
        return Err(Error::usage("--rows 0: give at least one row to predict"));
    }
    check_memory(rows, n_features as u64, copies)?;
    let data = crate::data::synth::study_data(rows as usize, n_features, a.seed)?;
    Ok((
        data.x,
        format!(
            "make_classification({rows} x {n_features}, seed {})",
            a.seed
        ),
    ))
}

struct Row {
    name: String,
    kind: BackendKind,
    m: Measured,
    identical: bool,
    cold_start_seconds: Option<f64>,
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
        return super::mpi::run_predict(&a);
    }
    if a.workers == Some(0) || a.threads == Some(0) {
        return Err(Error::usage("--workers and --threads must be at least 1"));
    }
    let copies = if backends.contains(&BackendKind::Processes) {
        3
    } else {
        2
    };
    // Refuse a batch that cannot fit before anything else happens, training
    // a missing default model (10 features) included.
    if let (Some(rows), Ok(kind)) = (a.rows, a.model.parse::<ModelKind>()) {
        if !model_path(&a.models_dir, kind).exists() {
            check_memory(rows, 10, copies)?;
        }
    }
    let (path, stored) = resolve_model(&a.model, &a.models_dir)?;
    let model: Arc<Model> = Arc::new(stored.model);
    let nf = model.n_features();
    let (x, data_line) = load_rows(&a, nf, copies)?;
    let rows = x.nrows();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a.threads.unwrap_or(cores);
    let workers = a.workers.unwrap_or(cores);
    let chunk = a.chunk_rows.map(|c| c as usize);
    let repeats = match a.repeat {
        Some(n) => Repeats::fixed(n),
        None => Repeats {
            min_seconds: 0.5,
            min_runs: 3,
            max_runs: 1000,
        },
    };

    let mut reference = vec![0i64; rows];
    Direct::new(model.clone()).predict(x.view(), &mut reference)?;
    warm_up(model.as_ref(), x.view(), &mut reference, WARM_UP);
    let mut out = vec![0i64; rows];
    let mut built: Vec<(BackendKind, Box<dyn Backend>, Option<f64>)> = Vec::new();
    for kind in &backends {
        let mut cold_start = None;
        let backend: Box<dyn Backend> = match kind {
            BackendKind::Direct => Box::new(Direct::new(model.clone())),
            BackendKind::Threads => Box::new(Threads::new(model.clone(), threads, chunk)?),
            BackendKind::Auto => {
                let mut t = Threads::new(model.clone(), threads, chunk)?;
                let from = match a.threads_from {
                    Some(v) => v as usize,
                    None => threshold_for(&model, &stored.header.data_hash, &mut t)?,
                };
                Box::new(Auto::new(model.clone(), t, from))
            }
            BackendKind::Processes => {
                // Cold: spawn + model load + the first call, timed together.
                let t0 = Snapshot::now();
                let timeout = Duration::from_secs_f64(a.worker_timeout.max(0.001));
                let mut pool =
                    ProcessPool::start(config(&current_exe()?, &path, workers, timeout))?;
                pool.predict(x.view(), &mut out)?;
                cold_start = Some(t0.wall.elapsed().as_secs_f64());
                Box::new(pool)
            }
            BackendKind::Mpi => unreachable!("refused while parsing"),
        };
        built.push((*kind, backend, cold_start));
    }
    let mut identical = vec![false; built.len()];
    let measured = {
        let mut handles: Vec<&mut dyn Backend> = Vec::new();
        for (_, b, _) in built.iter_mut() {
            handles.push(b.as_mut());
        }
        measure_interleaved(
            &mut handles,
            x.view(),
            &mut out,
            repeats,
            |i, got| identical[i] = got == reference.as_slice(),
            &|| false,
        )?
    };
    let results: Vec<Row> = built
        .into_iter()
        .zip(measured)
        .zip(identical)
        .map(
            |(((kind, backend, cold_start_seconds), m), identical)| Row {
                name: backend.name(),
                kind,
                identical,
                m,
                cold_start_seconds,
            },
        )
        .collect();
    let direct_wall = results
        .iter()
        .find(|r| r.kind == BackendKind::Direct)
        .map(|r| r.m.wall_seconds.median);
    let identical = results.iter().all(|r| r.identical);

    if let Some(p) = &a.out {
        let bytes = match extension(p).as_str() {
            "npy" => npy::labels_to_bytes(&reference),
            _ => {
                let mut s = String::from("y\n");
                for v in &reference {
                    s.push_str(&format!("{v}\n"));
                }
                s.into_bytes()
            }
        };
        write_atomic(p, &bytes)?;
    }

    let speedup = |r: &Row| direct_wall.map(|d| d / r.m.wall_seconds.median);
    match a.format {
        Format::Json => {
            let mut per = serde_json::Map::new();
            for r in &results {
                per.insert(
                    r.kind.as_str().into(),
                    serde_json::json!({
                        "name": r.name,
                        "runs": r.m.runs,
                        "wall_seconds": r.m.wall_seconds.median,
                        "wall_seconds_min": r.m.wall_seconds.min,
                        "wall_seconds_max": r.m.wall_seconds.max,
                        "cpu_seconds": r.m.cpu_seconds.median,
                        "worker_cpu_seconds": r.m.worker_cpu_seconds.median,
                        "cpu_per_wall": r.m.cpu_per_wall,
                        "rows_per_second": r.m.rows_per_second,
                        "speedup_vs_direct": speedup(r),
                        "predictions_identical": r.identical,
                        "cold_start_seconds": r.cold_start_seconds,
                    }),
                );
            }
            let v = serde_json::json!({
                "model": model.kind().short(),
                "model_path": path.display().to_string(),
                "rows": rows,
                "features": nf,
                "data": data_line,
                "backends": per,
                "predictions_identical": identical,
            });
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        Format::Table => {
            println!(
                "{} ({}) on {data_line}",
                path.display(),
                model.kind().long()
            );
            let header = [
                "backend",
                "rows",
                "wall (median, min-max)",
                "cpu",
                "cpu/wall",
                "rows/s",
                "speedup",
            ];
            let mut lines: Vec<Vec<String>> = Vec::new();
            for r in &results {
                let w = r.m.wall_seconds;
                lines.push(vec![
                    r.name.clone(),
                    crate::data::count::format_count(rows as u64),
                    format!(
                        "{} ({}-{})",
                        units::seconds(w.median),
                        units::seconds(w.min),
                        units::seconds(w.max)
                    ),
                    units::seconds(r.m.cpu_seconds.median),
                    format!("{:.2}", r.m.cpu_per_wall),
                    units::rate(r.m.rows_per_second),
                    speedup(r).map_or("-".into(), |s| format!("{s:.2}x")),
                ]);
                if let Some(c) = r.cold_start_seconds {
                    lines.push(vec![
                        format!("{} cold", r.name),
                        crate::data::count::format_count(rows as u64),
                        format!("{} (spawn + load + first call)", units::seconds(c)),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                    ]);
                }
            }
            print!("{}", table::render(&header, &lines));
            println!(
                "predictions identical across backends: {}",
                if identical { "yes" } else { "NO" }
            );
        }
    }
    if !identical {
        return Err(Error::Runtime(
            "backends disagreed on the predictions; this is a bug, please report it".into(),
        ));
    }
    Ok(())
}
