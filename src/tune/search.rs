//! Grid search with stratified k-fold cross-validation (plain k-fold for
//! regression): every (candidate, fold) fit runs in parallel on the
//! current rayon pool; the best candidate by mean CV score (accuracy, or
//! R² for a regressor: scikit-learn's defaults; the first among ties, as
//! scikit-learn) is refit on all the training data. A candidate that fails
//! is kept, with its reason. The `accuracy` fields hold that score.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::kfold::{fold_indices, plain_folds, stratified_folds};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::params::{describe, ParamSet};
use crate::model::vote::Vote;
use crate::model::{accuracy, fit, score, word_value, Model, ModelKind, Predictor};

/// One fit's predictions on its test fold, kept for `train --top-k` to
/// score ensembles per fold without refitting: probabilities (rows x
/// classes, row-major) for soft voting, labels for hard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FoldVotes {
    Probabilities(Vec<f64>),
    Labels(Vec<i64>),
    /// A regressor's values (an ensemble averages them).
    Values(Vec<f64>),
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateResult {
    pub params: ParamSet,
    pub fold_accuracy: Vec<f64>,
    pub mean_accuracy: f64,
    pub std_accuracy: f64,
    /// Summed fit time of its folds (seconds, single-thread equivalent).
    pub fit_seconds: f64,
    /// Why it failed; `None` when every fold fit.
    pub error: Option<String>,
    /// Folds whose iterative fit stopped at max_iter short of its tolerance.
    pub unconverged_folds: usize,
    /// Each fold's predictions on its test rows, when the search keeps them
    /// ([`SearchSpec::votes`]); empty otherwise or when a fold failed.
    #[serde(skip)]
    pub fold_votes: Vec<FoldVotes>,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub kind: ModelKind,
    pub candidates: Vec<CandidateResult>,
    pub best: usize,
    pub model: Model,
    /// Wall time of the whole search including the refit.
    pub wall_seconds: f64,
    pub refit_seconds: f64,
}

impl SearchResult {
    pub fn best_params(&self) -> &ParamSet {
        &self.candidates[self.best].params
    }
    pub fn cv_accuracy(&self) -> f64 {
        self.candidates[self.best].mean_accuracy
    }
    pub fn n_failed(&self) -> usize {
        self.candidates.iter().filter(|c| c.error.is_some()).count()
    }
    /// Candidates with a fold that stopped short of its tolerance.
    pub fn n_unconverged(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| c.unconverged_folds > 0)
            .count()
    }
}

pub struct SearchSpec<'a> {
    pub kind: ModelKind,
    pub candidates: &'a [ParamSet],
    pub folds: usize,
    /// Shuffle rows into folds (else scikit-learn's `StratifiedKFold()`
    /// order, for parity runs).
    pub shuffle: bool,
    /// Seeds the fold shuffle and every model's randomness.
    pub seed: u64,
    /// Keep every fit's test-fold predictions for this kind of vote.
    pub votes: Option<Vote>,
}

/// What one (candidate, fold) fit gave: its accuracy or why it failed, its
/// fit seconds, whether it converged (`None`: not an iterative fit), and
/// its test-fold predictions when asked for.
pub type JobOutcome = (Result<f64, String>, f64, Option<bool>, Option<FoldVotes>);

/// Runs (candidate, fold) jobs: returns every job's outcome in order, or
/// `None` on a process that only helped (a non-root MPI rank).
pub type JobRunner<'a> = dyn Fn(&[(usize, usize)], &(dyn Fn(usize, usize) -> JobOutcome + Sync)) -> Option<Vec<JobOutcome>>
    + 'a;

/// All jobs in parallel on the current rayon pool.
pub fn run_jobs_locally(
    jobs: &[(usize, usize)],
    run: &(dyn Fn(usize, usize) -> JobOutcome + Sync),
) -> Option<Vec<JobOutcome>> {
    Some(jobs.par_iter().map(|&(c, f)| run(c, f)).collect())
}

/// Fit and score, turning a panic inside a fit into a failure message.
fn fit_and_score(
    kind: ModelKind,
    params: &ParamSet,
    train: &Dataset,
    test: &Dataset,
    seed: u64,
    votes: Option<Vote>,
) -> JobOutcome {
    let t = Instant::now();
    let mut converged = None;
    let mut kept = None;
    let out = catch_unwind(AssertUnwindSafe(|| {
        let m = fit(kind, params, train, seed).map_err(|e| e.to_string())?;
        converged = m.converged();
        if test.targets.is_some() {
            // A regressor: R², and its values for an averaging ensemble.
            let acc = score(&m, test);
            kept = votes.map(|_| {
                FoldVotes::Values(
                    m.predict(test.x.view())
                        .into_iter()
                        .map(word_value)
                        .collect(),
                )
            });
            return Ok(acc);
        }
        let labels = m.predict(test.x.view());
        let acc = accuracy(&labels, &test.y);
        kept = match votes {
            None => None,
            // (a regressor's values are kept above, whatever the vote)
            Some(Vote::Hard | Vote::Mean) => Some(FoldVotes::Labels(labels)),
            Some(Vote::Soft) => Some(FoldVotes::Probabilities(
                m.scores(test.x.view()).1.into_iter().collect(),
            )),
        };
        Ok(acc)
    }))
    .unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(format!("internal error: {why}"))
    });
    (out, t.elapsed().as_secs_f64(), converged, kept)
}

pub fn grid_search(
    spec: &SearchSpec,
    data: &Dataset,
    on_fit_done: &(dyn Fn() + Sync),
) -> Result<SearchResult> {
    Ok(
        grid_search_with(spec, data, on_fit_done, &run_jobs_locally)?
            .expect("local runs return results"),
    )
}

/// Grid search with the (candidate, fold) fits run by `runner`; `None`
/// where the runner says this process only helped.
pub fn grid_search_with(
    spec: &SearchSpec,
    data: &Dataset,
    on_fit_done: &(dyn Fn() + Sync),
    runner: &JobRunner,
) -> Result<Option<SearchResult>> {
    let start = Instant::now();
    let shuffle = spec.shuffle.then_some(spec.seed as u32);
    // Regression folds are not stratified (scikit-learn's KFold).
    let folds = match &data.targets {
        Some(t) => plain_folds(t.len(), spec.folds, shuffle)?,
        None => stratified_folds(&data.y, spec.folds, shuffle)?,
    };
    let splits: Vec<(Dataset, Dataset)> = (0..spec.folds)
        .map(|f| {
            let (tr, te) = fold_indices(&folds, f);
            (data.select(&tr), data.select(&te))
        })
        .collect();
    let jobs: Vec<(usize, usize)> = (0..spec.candidates.len())
        .flat_map(|c| (0..spec.folds).map(move |f| (c, f)))
        .collect();
    let run = |c: usize, f: usize| {
        let (train, test) = &splits[f];
        let r = fit_and_score(
            spec.kind,
            &spec.candidates[c],
            train,
            test,
            spec.seed,
            spec.votes,
        );
        on_fit_done();
        r
    };
    let Some(outcomes) = runner(&jobs, &run) else {
        return Ok(None);
    };

    let mut candidates = Vec::with_capacity(spec.candidates.len());
    for (c, params) in spec.candidates.iter().enumerate() {
        let mine = &outcomes[c * spec.folds..(c + 1) * spec.folds];
        let fit_seconds = mine.iter().map(|o| o.1).sum();
        let error = mine.iter().find_map(|o| o.0.clone().err());
        let fold_accuracy: Vec<f64> = mine.iter().filter_map(|o| o.0.clone().ok()).collect();
        let unconverged_folds = mine.iter().filter(|o| o.2 == Some(false)).count();
        let fold_votes: Vec<FoldVotes> = mine.iter().filter_map(|o| o.3.clone()).collect();
        let (mean, std) = if error.is_none() {
            let m = fold_accuracy.iter().sum::<f64>() / fold_accuracy.len() as f64;
            let v = fold_accuracy.iter().map(|a| (a - m) * (a - m)).sum::<f64>()
                / fold_accuracy.len() as f64;
            (m, v.sqrt())
        } else {
            (f64::NAN, f64::NAN)
        };
        candidates.push(CandidateResult {
            params: params.clone(),
            fold_accuracy,
            mean_accuracy: mean,
            std_accuracy: std,
            fit_seconds,
            fold_votes: if fold_votes.len() == spec.folds {
                fold_votes
            } else {
                Vec::new()
            },
            error,
            unconverged_folds,
        });
    }
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        if c.error.is_none() && best.is_none_or(|b| c.mean_accuracy > candidates[b].mean_accuracy) {
            best = Some(i);
        }
    }
    let best = best.ok_or_else(|| {
        let first = candidates
            .iter()
            .find_map(|c| {
                c.error
                    .as_ref()
                    .map(|e| format!("{}: {e}", describe(&c.params)))
            })
            .unwrap_or_default();
        Error::Runtime(format!(
            "{}: all {} candidates failed (first: {first})",
            spec.kind,
            candidates.len()
        ))
    })?;
    let t = Instant::now();
    let model = fit(spec.kind, &candidates[best].params, data, spec.seed)?;
    on_fit_done();
    let refit_seconds = t.elapsed().as_secs_f64();
    Ok(Some(SearchResult {
        kind: spec.kind,
        candidates,
        best,
        model,
        wall_seconds: start.elapsed().as_secs_f64(),
        refit_seconds,
    }))
}
