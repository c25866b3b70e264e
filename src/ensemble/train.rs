//! Training the ensemble's members: candle, Adam, cross-entropy, members
//! concurrently (one per core, each single-threaded), evaluated on
//! held-out images with the native kernels, saved as safetensors.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::devices::DeviceSpec;
use super::net::{train_member, TrainConfig};
use super::weights::{member_path, MemberWeights, Provenance};
use super::{accuracies, Ensemble};
use crate::data::cifar::{self, Images, CLASSES};
use crate::error::{Error, Result};

/// Where `ensemble` commands look for members unless told otherwise.
pub const DEFAULT_DIR: &str = "models/ensemble";
/// Seeds of the synthetic sets: training and evaluation never share images.
pub const TRAIN_SEED: u64 = 1;
pub const EVAL_SEED: u64 = 2;

/// What to train and where to save it.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub members: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// A cifar-10-batches-bin directory; None: synthetic images.
    pub data: Option<PathBuf>,
    /// Synthetic training images (evaluation: a fifth, 100 to 2000).
    pub synthetic: u64,
    pub out: PathBuf,
    pub seed: u64,
}

impl Default for TrainJob {
    /// The study's ensemble: 4 members, 1 epoch at batch 4, Adam at 1e-3,
    /// 6000 synthetic images, saved in [`DEFAULT_DIR`].
    fn default() -> Self {
        TrainJob {
            members: 4,
            epochs: 1,
            batch_size: 4,
            learning_rate: 1e-3,
            data: None,
            synthetic: 6000,
            out: PathBuf::from(DEFAULT_DIR),
            seed: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrainedMember {
    pub seconds: f64,
    /// Accuracy on the held-out images.
    pub accuracy: f64,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct TrainedEnsemble {
    pub members: Vec<TrainedMember>,
    /// Wall seconds of the whole training.
    pub seconds: f64,
    /// The averaged ensemble's accuracy on the held-out images.
    pub accuracy: f64,
    pub held_out: usize,
    /// Training images.
    pub images: usize,
}

/// `n` synthetic CIFAR-shaped images, refused if they would not fit in memory.
pub fn synthetic(n: u64, seed: u64) -> Result<Images> {
    // Pixels, the f32 copy a run converts, and n x members x 10 outputs.
    let need = n as f64 * (cifar::PIXELS as f64 * 5.0 + 4.0 * 40.0 * 2.0);
    crate::data::check_fits(need, &format!("{n} images need"), "", "images")?;
    Ok(cifar::synthetic(n as usize, seed))
}

/// Train the members concurrently, evaluate them on held-out images and
/// save them (only once every member trained: a failure leaves the old
/// ensemble whole). `progress(done, total)` hears training images done.
pub fn train(a: &TrainJob, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<TrainedEnsemble> {
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
    let done_images = std::sync::atomic::AtomicU64::new(0);
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
                                let d = done_images.fetch_add(
                                    (done - last) as u64,
                                    std::sync::atomic::Ordering::Relaxed,
                                ) + (done - last) as u64;
                                last = done;
                                progress(d, total);
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
    let mut trained = Vec::with_capacity(members.len());
    for (m, (w, secs)) in members.iter().enumerate() {
        let path = member_path(&a.out, m);
        w.save(&path)?;
        trained.push(TrainedMember {
            seconds: *secs,
            accuracy: per[m],
            path,
        });
    }
    for stale in (a.members..)
        .map(|m| member_path(&a.out, m))
        .take_while(|p| p.exists())
    {
        std::fs::remove_file(&stale)
            .map_err(|e| Error::io(format!("cannot remove stale {}", stale.display()), e))?;
    }
    Ok(TrainedEnsemble {
        members: trained,
        seconds,
        accuracy: ens,
        held_out: test_set.len(),
        images: train_set.len(),
    })
}

/// The ensemble at `dir`; the default one is trained first if missing
/// (`notify` hears a line for people saying so).
pub fn load_or_train(
    dir: &Path,
    devices: &[DeviceSpec],
    notify: &dyn Fn(&str),
) -> Result<Ensemble> {
    if dir == Path::new(DEFAULT_DIR) && !member_path(dir, 0).exists() {
        notify(&format!(
            "no ensemble at {DEFAULT_DIR}; training the default one first (4 members, 1 epoch, batch 4, 6000 synthetic images)"
        ));
        train(&TrainJob::default(), &|_, _| {})?;
    }
    Ensemble::load(dir, devices)
}
