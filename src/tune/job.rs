//! `cpuwall train` as one library call: check the outputs, build the
//! grids, load the sets, then train every family (on this machine, or with
//! the (candidate, fold) fits spread over MPI ranks), holding the output
//! directory's lock.

use std::path::PathBuf;

use super::grid::grids_for;
use super::options::SolverOptions;
use super::top_k::{TopK, TrainedEnsemble};
use super::train::{check_train_outputs, fit_pool, train_models, TrainJob, TrainedModel};
use crate::atomic::lock_dir;
use crate::data::sets::{self, DataSpec};
use crate::error::Result;
use crate::model::{ModelKind, Task};

/// What to train, on what, and where to write it.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub data: DataSpec,
    /// Empty: every family of the data's task.
    pub models: Vec<ModelKind>,
    pub folds: usize,
    pub solver: SolverOptions,
    /// Worker threads for the fits (None: all cores).
    pub jobs: Option<usize>,
    /// `--grid MODEL.PARAM=V1,V2` overrides.
    pub grid: Vec<String>,
    pub grid_file: Option<PathBuf>,
    pub out: PathBuf,
    /// Spread the fits over MPI ranks (needs the `mpi` feature).
    pub mpi: bool,
    /// `--top-k`: also save an ensemble of the best candidates.
    pub top_k: Option<TopK>,
}

/// `--models` as families, and the task they state: families named that
/// all fit one task set `data.task` when `--task` did not. No `--models`:
/// every family of the stated task, or none yet (empty: [`train`] picks
/// the task's families once the data says which task it is).
pub fn resolve_models(list: Option<&str>, data: &mut DataSpec) -> Result<Vec<ModelKind>> {
    let Some(list) = list else {
        return Ok(data
            .stated_task()
            .map(ModelKind::searched)
            .unwrap_or_default());
    };
    let named = ModelKind::parse_list(list)?;
    let task = named[0].family().task;
    if data.task.is_none() && named.iter().all(|k| k.family().task == task) {
        data.task = Some(task);
    }
    Ok(named)
}

/// What a training run gives the one who asked.
pub struct Trained {
    pub models: Vec<TrainedModel>,
    /// The `--top-k` ensemble.
    pub ensemble: Option<TrainedEnsemble>,
    /// What the data was, for people.
    pub data_line: String,
    /// Threads that fitted (all ranks').
    pub threads: usize,
}

/// Progress of a run: a family's search starts (with its fit count), a fit ends.
pub struct Progress<'a> {
    pub notify: &'a dyn Fn(&str),
    pub on_model_start: &'a (dyn Fn(ModelKind, usize) + Sync),
    pub on_fit_done: &'a (dyn Fn() + Sync),
}

/// Run `req`. `None` on the MPI ranks other than 0, which only fit.
pub fn train(req: &TrainRequest, progress: &Progress) -> Result<Option<Trained>> {
    check_outputs(req)?;
    // The grids are checked before the data is read (a typo fails fast).
    let named = if req.models.is_empty() {
        ModelKind::searched(Task::Classification)
            .into_iter()
            .chain(ModelKind::searched(Task::Regression))
            .collect()
    } else {
        req.models.clone()
    };
    grids_for(&named, req.grid_file.as_deref(), &req.grid)?;
    let (train, test, data_line) = sets::load(&req.data, progress.notify)?;
    let task = match train.targets {
        Some(_) => Task::Regression,
        None => Task::Classification,
    };
    let req = &TrainRequest {
        models: if req.models.is_empty() {
            ModelKind::searched(task)
        } else {
            req.models.clone()
        },
        ..req.clone()
    };
    let mut grids = grids_for(&req.models, req.grid_file.as_deref(), &req.grid)?;
    req.solver.apply(&mut grids);
    // The task known only now (no --models, no --task): regressors average.
    let req = &TrainRequest {
        top_k: match req.top_k {
            Some(top) if task == Task::Regression => {
                super::top_k::plan(Some(top.k), None, true, &req.models)?
            }
            other => other,
        },
        ..req.clone()
    };
    // A family fits one task: say which fit the data.
    if let Some(k) = req.models.iter().find(|k| k.family().task != task) {
        let fit = ModelKind::searched(task)
            .iter()
            .map(|k| k.short())
            .collect::<Vec<_>>()
            .join(",");
        return Err(crate::error::Error::usage(format!(
            "--models {k}: {} is a {} family, but this is {} data; train --models {fit} on it (or say --task)",
            k.long(),
            k.family().task,
            task
        )));
    }
    // Before any fit: a class with fewer rows than folds is a usage error.
    match task {
        Task::Classification => {
            super::kfold::stratified_folds(&train.y, req.folds, None)?;
        }
        Task::Regression => {
            super::kfold::plain_folds(train.n_rows(), req.folds, None)?;
        }
    }
    let pool = fit_pool(req.jobs)?;
    let threads = pool.current_num_threads();
    let job = TrainJob {
        models: &req.models,
        grids: &grids,
        folds: req.folds,
        shuffle: req.solver.cv_shuffle,
        seed: req.data.seed as u64,
        out_dir: &req.out,
        votes: req.top_k.map(|t| t.vote),
    };
    // Rank 0 (or the only process) builds the ensemble from the searches.
    let finish = |models: Vec<TrainedModel>, threads: usize| -> Result<Trained> {
        let ensemble = match req.top_k {
            None => {
                if let Some(line) = super::train::stale_ensemble_note(&req.out, &train) {
                    (progress.notify)(&line);
                }
                None
            }
            Some(top) => {
                let mut notes = Vec::new();
                let built = pool.install(|| {
                    super::top_k::build(
                        top,
                        &models,
                        &train,
                        Some(&test),
                        req.folds,
                        job.shuffle,
                        job.seed,
                        &req.out,
                        &mut notes,
                    )
                })?;
                for line in notes {
                    (progress.notify)(&line);
                }
                Some(built)
            }
        };
        Ok(Trained {
            models,
            ensemble,
            data_line: data_line.clone(),
            threads,
        })
    };
    if req.mpi {
        #[cfg(not(feature = "mpi"))]
        return Err(crate::error::Error::usage(
            "--mpi needs a build with the `mpi` feature (cargo build --release --features mpi) launched by mpirun",
        ));
        #[cfg(feature = "mpi")]
        {
            let cluster = crate::exec::mpi::Cluster::init()?;
            let _lock = if cluster.is_root() {
                Some(lock_dir(&req.out, "cpuwall train")?)
            } else {
                None
            };
            let trained = pool.install(|| {
                super::train::train_models_on_cluster(&cluster, &job, &train, Some(&test))
            })?;
            return trained
                .map(|models| finish(models, threads * cluster.size))
                .transpose();
        }
    }
    // One run at a time writes a directory's set of models.
    let _lock = lock_dir(&req.out, "cpuwall train")?;
    let models = pool.install(|| {
        train_models(
            &job,
            &train,
            Some(&test),
            progress.on_model_start,
            progress.on_fit_done,
        )
    })?;
    finish(models, threads).map(Some)
}

/// Before any work: `--out` must be a directory (or not exist yet), and no
/// file written into it may be one of the inputs.
fn check_outputs(req: &TrainRequest) -> Result<()> {
    let inputs = [
        ("--data", &req.data.data),
        ("--test", &req.data.test),
        ("--labels", &req.data.labels),
        ("--test-labels", &req.data.test_labels),
        ("--grid-file", &req.grid_file),
    ]
    .map(|(opt, p)| (opt, p.as_deref()));
    // No --models yet: any family's file may be written.
    let every: Vec<ModelKind>;
    let models = if req.models.is_empty() {
        every = crate::model::FAMILIES
            .iter()
            .filter(|f| f.searched)
            .map(|f| f.kind)
            .collect();
        &every
    } else {
        &req.models
    };
    check_train_outputs(&req.out, models, req.top_k.is_some(), &inputs)
}
