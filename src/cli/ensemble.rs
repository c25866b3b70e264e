//! `cpuwall ensemble train|bench|predict` and the hidden `ensemble-worker`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::Format;
use crate::atomic::write_atomic;
use crate::clock::{Snapshot, Usage};
use crate::data::cifar::{self, Images, CLASSES};
use crate::data::count::count_arg;
use crate::ensemble::bench::{render_table, run_bench, BenchConfig};
use crate::ensemble::devices::DeviceSpec;
use crate::ensemble::net::{train_member, TrainConfig};
use crate::ensemble::processes::Settings;
use crate::ensemble::report::StudyResults;
use crate::ensemble::weights::{member_path, MemberWeights, Provenance};
use crate::ensemble::{accuracies, argmax, native::average, Ensemble, StrategyKind};
use crate::error::{Error, Result};
use crate::exec::build::current_exe;
use crate::units;

pub const DEFAULT_DIR: &str = "models/ensemble";
/// Seeds of the synthetic sets: training and evaluation never share images.
const TRAIN_SEED: u64 = 1;
const EVAL_SEED: u64 = 2;

#[derive(Debug, Subcommand)]
pub enum EnsembleCommand {
    /// Train the members (candle, Adam) and save them as safetensors.
    Train(TrainArgs),
    /// Time every strategy x predict batch size: the study's table.
    Bench(BenchArgs),
    /// Predict a CIFAR-10 binary file with the ensemble.
    Predict(PredictArgs),
    /// Write the markdown report of saved bench results (beside TensorFlow's figures).
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results written by `ensemble bench --out` or the cnn_study example.
    #[arg(long)]
    pub results: PathBuf,
    #[arg(long, default_value = "reports/cnn-study/report.md")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct EnsembleArgs {
    #[command(subcommand)]
    pub command: EnsembleCommand,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(long, default_value_t = 4)]
    pub members: usize,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    /// A cifar-10-batches-bin directory (data_batch_*.bin, test_batch.bin).
    #[arg(long, conflicts_with = "synthetic")]
    pub data: Option<PathBuf>,
    /// Synthetic CIFAR-shaped training images (the offline default).
    #[arg(long, value_parser = count_arg, default_value = "6000")]
    pub synthetic: u64,
    #[arg(long, default_value = DEFAULT_DIR)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Ensemble directory (trained with the defaults first if it is the default and missing).
    #[arg(long, default_value = DEFAULT_DIR)]
    pub models: PathBuf,
    /// sequential, threads, processes, fused or all (comma-separated).
    #[arg(long, default_value = "all")]
    pub strategy: String,
    /// Synthetic images to predict.
    #[arg(long, value_parser = count_arg, default_value = "6000", conflicts_with = "data")]
    pub images: u64,
    /// Predict a CIFAR-10 binary file instead (its labels give the accuracy).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Predict batch sizes (comma-separated).
    #[arg(long, default_value = "4,64,500")]
    pub batch_size: String,
    /// Timed runs per cell (median reported).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Device per member: cpu or cuda:N, one for all or one per member.
    #[arg(long, default_value = "cpu")]
    pub devices: String,
    /// Images per segment a member process streams back.
    #[arg(long, default_value_t = 500)]
    pub segment: usize,
    /// Seconds a member process may stay silent before it is killed.
    #[arg(long, default_value_t = 120.0)]
    pub worker_timeout: f64,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also write the JSON results to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A CIFAR-10 binary file (records of 1 label byte + 3072 pixel bytes).
    #[arg(long)]
    pub images: PathBuf,
    #[arg(long, default_value = DEFAULT_DIR)]
    pub models: PathBuf,
    #[arg(long, default_value = "fused")]
    pub strategy: String,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value = "cpu")]
    pub devices: String,
    /// Write per-image predictions (index,label,predicted,p0..p9) as CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub member: usize,
}

pub fn run(a: EnsembleArgs) -> Result<()> {
    match a.command {
        EnsembleCommand::Train(t) => train(t).map(|_| ()),
        EnsembleCommand::Bench(b) => bench(b),
        EnsembleCommand::Predict(p) => predict(p),
        EnsembleCommand::Report(r) => {
            let results = StudyResults::load(&r.results)?;
            write_atomic(&r.out, results.markdown().as_bytes())?;
            println!("wrote {}", r.out.display());
            Ok(())
        }
    }
}

pub fn worker(a: WorkerArgs) -> Result<()> {
    crate::ensemble::worker::run(&a.weights, a.device.parse()?, a.member)
}

fn synthetic(n: u64, seed: u64) -> Result<Images> {
    // Pixels, the f32 copy a run converts, and n x members x 10 outputs.
    let need = n as f64 * (cifar::PIXELS as f64 * 5.0 + 4.0 * 40.0 * 2.0);
    crate::data::check_fits(need, &format!("{n} images need"), "", "images")?;
    Ok(cifar::synthetic(n as usize, seed))
}

/// Train and save; returns the total training seconds.
pub fn train(a: TrainArgs) -> Result<f64> {
    if a.members == 0 {
        return Err(Error::usage("--members must be at least 1"));
    }
    let (train_set, test_set, data) = match &a.data {
        Some(dir) => {
            let (tr, te) = cifar::read_dir(dir)?;
            (tr, te, dir.display().to_string())
        }
        None => {
            if a.synthetic == 0 {
                return Err(Error::usage("--synthetic must be at least 1"));
            }
            (
                synthetic(a.synthetic, TRAIN_SEED)?,
                synthetic((a.synthetic / 5).clamp(100, 2000), EVAL_SEED)?,
                format!("synthetic({}, seed {TRAIN_SEED})", a.synthetic),
            )
        }
    };
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        learning_rate: a.learning_rate,
        seed: a.seed,
    };
    let total = (a.members * a.epochs * train_set.len()) as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} images ({elapsed}, eta {eta})",
        )
        .expect("valid template"),
    );
    // Members train concurrently, one per core, each single-threaded: at
    // batch 4 one member's ops are too small to split across cores, so
    // cores are better spent on different members. candle takes its thread
    // count from RAYON_NUM_THREADS on every op; at 1 it neither splits ops
    // nor keeps threads spinning for them. Measured, 4 members x 2000
    // images on 2 cores: 8.5 s this way, 23 s with candle on 2 threads.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let saved_threads = std::env::var_os("RAYON_NUM_THREADS");
    // No other thread of this process is running yet.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Trained = Option<Result<(MemberWeights, f64)>>;
    let results: std::sync::Mutex<Vec<Trained>> =
        std::sync::Mutex::new((0..a.members).map(|_| None).collect());
    let started = Instant::now();
    bar.set_message(format!("{} members", a.members));
    std::thread::scope(|scope| {
        for _ in 0..cores.min(a.members) {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                    Ok(p) => p,
                    Err(e) => {
                        let mut r = results.lock().expect("results lock");
                        if let Some(slot) = r.iter_mut().find(|s| s.is_none()) {
                            *slot = Some(Err(Error::Runtime(format!(
                                "cannot start a training thread: {e}"
                            ))));
                        }
                        return;
                    }
                };
                loop {
                    let m = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if m >= a.members {
                        return;
                    }
                    let provenance = Provenance {
                        member: m,
                        members: a.members,
                        seed: a.seed,
                        epochs: a.epochs,
                        batch_size: a.batch_size,
                        train_images: train_set.len(),
                        data: data.clone(),
                    };
                    let t = Instant::now();
                    let mut last = 0;
                    let r = pool.install(|| {
                        train_member(
                            &train_set,
                            &cfg,
                            provenance,
                            &candle_core::Device::Cpu,
                            |done| {
                                bar.inc((done - last) as u64);
                                last = done;
                            },
                        )
                    });
                    let failed = r.is_err();
                    results.lock().expect("results lock")[m] =
                        Some(r.map(|w| (w, t.elapsed().as_secs_f64())));
                    if failed {
                        // Stop handing out members; the error is reported below.
                        next.store(a.members, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    match saved_threads {
        Some(v) => std::env::set_var("RAYON_NUM_THREADS", v),
        None => std::env::remove_var("RAYON_NUM_THREADS"),
    }
    let mut members = Vec::with_capacity(a.members);
    for r in results.into_inner().expect("results lock") {
        match r {
            Some(r) => members.push(r?),
            None => {
                return Err(Error::Runtime(
                    "training stopped before every member was trained".into(),
                ))
            }
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    // Evaluate on held-out images with the native kernels.
    let weights: Vec<_> = members.iter().map(|(w, _)| w).collect();
    let net = crate::ensemble::native::NativeNet::new(&weights);
    let mut probs = vec![0f32; test_set.len() * a.members * CLASSES];
    net.forward(
        &test_set.pixels,
        &mut probs,
        Some(&crate::ensemble::team::Team::all_cores()),
    );
    let (ens, per) = accuracies(&probs, a.members, &test_set.labels);
    // Write only after every member trained: a failure leaves the old ensemble whole.
    for (m, (w, secs)) in members.iter().enumerate() {
        let path = member_path(&a.out, m);
        w.save(&path)?;
        println!(
            "member {m}: trained in {:.1} s, accuracy on {} held-out images {:.4} -> {}",
            secs,
            test_set.len(),
            per[m],
            path.display()
        );
    }
    for stale in (a.members..)
        .map(|m| member_path(&a.out, m))
        .take_while(|p| p.exists())
    {
        std::fs::remove_file(&stale)
            .map_err(|e| Error::io(format!("cannot remove stale {}", stale.display()), e))?;
    }
    println!(
        "ensemble of {} trained in {seconds:.1} s ({} epoch(s), batch {}, {} images); ensemble accuracy {ens:.4}",
        a.members,
        a.epochs,
        a.batch_size,
        train_set.len()
    );
    Ok(seconds)
}

/// The ensemble at `dir`; the default one is trained first if missing.
fn load_or_train(dir: &Path, devices: &[DeviceSpec]) -> Result<Ensemble> {
    if dir == Path::new(DEFAULT_DIR) && !member_path(dir, 0).exists() {
        eprintln!(
            "no ensemble at {DEFAULT_DIR}; training the default one first (4 members, 1 epoch, batch 4, 6000 synthetic images)"
        );
        train(TrainArgs {
            members: 4,
            epochs: 1,
            batch_size: 4,
            learning_rate: 1e-3,
            data: None,
            synthetic: 6000,
            out: dir.to_path_buf(),
            seed: 0,
        })?;
    }
    Ensemble::load(dir, devices)
}

fn parse_batches(text: &str) -> Result<Vec<usize>> {
    let list: Vec<usize> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| match crate::data::count::parse_count(s.trim()) {
            Ok(0) | Err(_) => Err(Error::usage(format!(
                "--batch-size '{s}' is not a positive whole number"
            ))),
            Ok(v) => Ok(v as usize),
        })
        .collect::<Result<_>>()?;
    if list.is_empty() {
        return Err(Error::usage(
            "--batch-size is empty; e.g. --batch-size 4,64,500",
        ));
    }
    Ok(list)
}

fn bench(a: BenchArgs) -> Result<()> {
    let strategies = StrategyKind::parse_list(&a.strategy)?;
    let batch_sizes = parse_batches(&a.batch_size)?;
    let devices = DeviceSpec::parse_list(&a.devices)?;
    if a.repeat == 0 {
        return Err(Error::usage("--repeat must be at least 1"));
    }
    if !(a.worker_timeout > 0.0 && a.worker_timeout.is_finite()) {
        return Err(Error::usage(
            "--worker-timeout must be a positive number of seconds",
        ));
    }
    let images = match &a.data {
        Some(p) => cifar::read_batch(p)?,
        None if a.images == 0 => return Err(Error::usage("--images must be at least 1")),
        None => synthetic(a.images, EVAL_SEED)?,
    };
    let ensemble = load_or_train(&a.models, &devices)?;
    let mut settings = Settings::new(current_exe()?);
    settings.segment = a.segment;
    settings.timeout = Duration::from_secs_f64(a.worker_timeout);
    let cfg = BenchConfig {
        strategies,
        batch_sizes,
        repeats: a.repeat,
        processes: settings,
    };
    let quiet = a.format == Format::Json;
    let env_start = crate::measure::env::Environment::capture();
    let cells = run_bench(&ensemble, &images, &cfg, |c| {
        if !quiet {
            eprintln!(
                "  {:<10} batch {:>4}: {} ({:.2} cpu/wall)",
                c.strategy.name(),
                c.batch_size,
                units::seconds(c.measured.wall_seconds.median),
                c.measured.cpu_per_wall
            );
        }
    })?;
    let mut environment = env_start;
    environment.load_average_end = crate::measure::env::load_average();
    let results = StudyResults {
        environment,
        training: None,
        cells,
    };
    let text = serde_json::to_string_pretty(&results).expect("serialisable");
    if let Some(out) = &a.out {
        results.save(out)?;
    }
    let cells = results.cells;
    match a.format {
        Format::Json => println!("{text}"),
        Format::Table => print!("{}", render_table(&cells)),
    }
    Ok(())
}

fn predict(a: PredictArgs) -> Result<()> {
    let kinds = StrategyKind::parse_list(&a.strategy)?;
    let [kind] = kinds.as_slice() else {
        return Err(Error::usage("ensemble predict runs one --strategy"));
    };
    if a.batch_size == 0 {
        return Err(Error::usage("--batch-size must be at least 1"));
    }
    let devices = DeviceSpec::parse_list(&a.devices)?;
    let images = cifar::read_batch(&a.images)?;
    let ensemble = load_or_train(&a.models, &devices)?;
    let members = ensemble.len();
    let mut strategy = kind.build(&ensemble, &Settings::new(current_exe()?))?;
    let mut probs = vec![0f32; images.len() * members * CLASSES];
    let start = Snapshot::now();
    let cost = strategy.run(&images.pixels, a.batch_size, &mut probs)?;
    let usage = Usage::between(start, Snapshot::now(), cost.worker_cpu_seconds);
    let mean = average(&probs, members);
    let (ens, per) = accuracies(&probs, members, &images.labels);
    if let Some(out) = &a.out {
        let mut csv = String::from("index,label,predicted");
        for k in 0..CLASSES {
            csv.push_str(&format!(",p{k}"));
        }
        csv.push('\n');
        for (i, p) in mean.chunks_exact(CLASSES).enumerate() {
            csv.push_str(&format!("{i},{},{}", images.labels[i], argmax(p)));
            for v in p {
                csv.push_str(&format!(",{v}"));
            }
            csv.push('\n');
        }
        write_atomic(out, csv.as_bytes())?;
    }
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "images": images.len(),
                "members": members,
                "strategy": kind.name(),
                "batch_size": a.batch_size,
                "wall_seconds": usage.wall_seconds,
                "cpu_seconds": usage.cpu_seconds(),
                "worker_cpu_seconds": usage.worker_cpu_seconds,
                "cpu_per_wall": usage.cpu_per_wall(),
                "accuracy": ens,
                "member_accuracy": per,
                "predicted": mean.chunks_exact(CLASSES).map(argmax).collect::<Vec<_>>(),
            }))
            .expect("serialisable")
        ),
        Format::Table => println!(
            "{} images, {members} members, {} batch {}: {} wall, {:.2} cpu/wall; accuracy {ens:.4} against the file's labels{}",
            images.len(),
            kind.name(),
            a.batch_size,
            units::seconds(usage.wall_seconds),
            usage.cpu_per_wall(),
            a.out
                .as_ref()
                .map(|p| format!("; predictions in {}", p.display()))
                .unwrap_or_default()
        ),
    }
    Ok(())
}
