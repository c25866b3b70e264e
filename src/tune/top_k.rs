//! `cpuwall train --top-k K`: the K best candidates of the grid search (of
//! one family, or of every trained family with `--across-families`), refit
//! on all training rows and saved as one voting ensemble
//! ([`crate::model::vote`]).
//!
//! Its CV estimate needs no refit: every (candidate, fold) fit kept its
//! predictions on its test fold ([`super::search::FoldVotes`]); the members'
//! predictions of each fold combine as the ensemble combines them, and the
//! folds' accuracies average as a candidate's do. The folds are the same for
//! every family (one split of the same rows, one seed).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::kfold::{fold_indices, plain_folds, stratified_folds};
use super::search::FoldVotes;
use super::train::TrainedModel;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::params::{describe, ParamSet};
use crate::model::store::{self, ModelHeader};
use crate::model::vote::{self, Member, Vote, Voting};
use crate::model::{accuracy, fit, r2, score, Fitted, Model, ModelKind, Predictor, Task};

/// What `--top-k`, `--vote` and `--across-families` asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopK {
    pub k: usize,
    pub vote: Vote,
}

/// The ensemble's file in a model directory.
pub fn ensemble_path(dir: &Path) -> PathBuf {
    super::train::model_path(dir, vote::KIND)
}

/// Check `--top-k` / `--vote` / `--across-families` against `--models`
/// before any fit; the vote (`None`: soft, unless a family gives no
/// probabilities — LinearSVC — then hard).
pub fn plan(
    k: Option<usize>,
    vote: Option<Vote>,
    across: bool,
    models: &[ModelKind],
) -> Result<Option<TopK>> {
    let Some(k) = k else {
        if vote.is_some() || across {
            return Err(Error::usage(
                "--vote and --across-families shape a --top-k ensemble: add --top-k K (e.g. --top-k 5)",
            ));
        }
        return Ok(None);
    };
    if k < 2 {
        return Err(Error::usage(format!(
            "--top-k {k}: an ensemble needs at least 2 members (the best single model is already saved)"
        )));
    }
    if models.len() > 1 && !across {
        let names: Vec<&str> = models.iter().map(|m| m.short()).collect();
        return Err(Error::usage(format!(
            "--top-k with --models {}: add --across-families to pick the best of all of them, or train one family",
            names.join(",")
        )));
    }
    // Regressors are averaged, as scikit-learn's VotingRegressor does.
    if !models.is_empty() && models.iter().all(|m| m.family().task == Task::Regression) {
        return match vote {
            None | Some(Vote::Mean) => Ok(Some(TopK {
                k,
                vote: Vote::Mean,
            })),
            Some(v) => Err(Error::usage(format!(
                "--vote {}: regressors have no labels or probabilities to vote with; their ensemble averages their values (leave --vote out)",
                v.name()
            ))),
        };
    }
    if vote == Some(Vote::Mean) {
        return Err(Error::usage(
            "--vote mean averages regressors; classifiers vote soft or hard",
        ));
    }
    let without_probabilities: Vec<&str> = models
        .iter()
        .filter(|m| !has_probabilities(**m))
        .map(|m| m.short())
        .collect();
    let vote = match vote {
        Some(Vote::Soft) if !without_probabilities.is_empty() => {
            return Err(Error::usage(format!(
                "--vote soft averages probabilities, and {} gives none (LinearSVC has decision values only; scikit-learn's VotingClassifier refuses it too): use --vote hard, or leave {} out of --models",
                without_probabilities.join(", "),
                without_probabilities.join(", ")
            )))
        }
        Some(v) => v,
        None if without_probabilities.is_empty() => Vote::Soft,
        None => Vote::Hard,
    };
    Ok(Some(TopK { k, vote }))
}

/// Whether a family's models give probabilities (svc: decision values).
fn has_probabilities(kind: ModelKind) -> bool {
    kind.family().scores == crate::model::ScoreKind::Probability
}

/// One member of a trained ensemble, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct MemberResult {
    pub model: ModelKind,
    pub params: ParamSet,
    pub cv_accuracy: f64,
    pub train_accuracy: f64,
    pub test_accuracy: Option<f64>,
}

/// The ensemble `train --top-k` saved, and how it did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedEnsemble {
    pub vote: Vote,
    /// The members, best CV accuracy first (the first is the best single model).
    pub members: Vec<MemberResult>,
    /// The ensemble's own CV estimate, from the members' fold predictions.
    pub cv_accuracy: f64,
    pub fold_accuracy: Vec<f64>,
    pub train_accuracy: f64,
    pub test_accuracy: Option<f64>,
    /// Whether its test accuracy beats the best single model's (the
    /// candidate with the best CV accuracy).
    pub beats_best_single: Option<bool>,
    /// Wall seconds of the members' refits.
    pub refit_seconds: f64,
    pub path: PathBuf,
}

/// A candidate in the ranking.
struct Ranked<'a> {
    trained: &'a TrainedModel,
    params: &'a ParamSet,
    cv_accuracy: f64,
    fold_votes: &'a [FoldVotes],
}

/// Build, score and save the ensemble of the `top.k` best candidates of
/// `trained` (the families of this run). `notes` gets a line when fewer
/// candidates than K fit.
#[allow(clippy::too_many_arguments)]
pub fn build(
    top: TopK,
    trained: &[TrainedModel],
    train: &Dataset,
    test: Option<&Dataset>,
    folds: usize,
    shuffle: bool,
    seed: u64,
    out_dir: &Path,
    notes: &mut Vec<String>,
) -> Result<TrainedEnsemble> {
    // Every candidate that fit in every fold, best mean CV accuracy first;
    // ties keep the search's order (families as trained, then candidates).
    let mut ranked: Vec<Ranked> = trained
        .iter()
        .flat_map(|t| {
            t.candidates
                .iter()
                .filter(|c| c.error.is_none() && c.fold_votes.len() == folds)
                .map(move |c| Ranked {
                    trained: t,
                    params: &c.params,
                    cv_accuracy: c.mean_accuracy,
                    fold_votes: &c.fold_votes,
                })
        })
        .collect();
    ranked.sort_by(|a, b| b.cv_accuracy.total_cmp(&a.cv_accuracy));
    if ranked.len() < 2 {
        return Err(Error::usage(format!(
            "--top-k {}: only {} candidate fit, and an ensemble needs 2; widen the grid (--grid) or add families (--models ... --across-families)",
            top.k,
            ranked.len()
        )));
    }
    if ranked.len() < top.k {
        notes.push(format!(
            "--top-k {}: only {} candidates fit; the ensemble has all of them",
            top.k,
            ranked.len()
        ));
    }
    ranked.truncate(top.k);

    let classes = trained[0].fitted.classes().to_vec();
    let (fold_accuracy, cv_accuracy) = match &train.targets {
        Some(t) => cv_estimate_mean(&ranked, t, folds, shuffle, seed)?,
        None => cv_estimate(top.vote, &ranked, &classes, &train.y, folds, shuffle, seed)?,
    };

    // Refit the members on all training rows (each family's best is refit
    // already), in parallel on the current pool.
    let t = std::time::Instant::now();
    let models: Vec<Model> = ranked
        .par_iter()
        .map(|r| {
            if *r.params == r.trained.best_params {
                Ok(r.trained.fitted.clone())
            } else {
                fit(r.trained.model, r.params, train, seed)
            }
        })
        .collect::<Result<_>>()?;
    let refit_seconds = t.elapsed().as_secs_f64();

    // Accuracy, or a regressor's R².
    let acc = |m: &dyn Predictor, d: &Dataset| score(m, d);
    let members: Vec<MemberResult> = ranked
        .iter()
        .zip(&models)
        .map(|(r, m)| MemberResult {
            model: r.trained.model,
            params: r.params.clone(),
            cv_accuracy: r.cv_accuracy,
            train_accuracy: acc(m, train),
            test_accuracy: test.map(|d| acc(m, d)),
        })
        .collect();
    let voting = Voting::new(
        top.vote,
        classes.clone(),
        ranked
            .iter()
            .zip(models)
            .map(|(r, model)| Member {
                model,
                params: r.params.clone(),
                cv_accuracy: Some(r.cv_accuracy),
            })
            .collect(),
    )?;
    let train_accuracy = acc(&voting, train);
    let test_accuracy = test.map(|d| acc(&voting, d));
    let beats_best_single = test_accuracy
        .zip(members[0].test_accuracy)
        .map(|(e, b)| e > b);

    let header = ModelHeader {
        kind: vote::KIND,
        n_features: train.n_features(),
        feature_names: train.names.clone(),
        feature_names_generated: Some(train.generated_names),
        task: voting.task(),
        classes,
        class_names: Vec::new(),
        params: vote::header_params(top.vote, members.len()),
        cv_accuracy: Some(cv_accuracy),
        train_rows: train.n_rows(),
        data_hash: train.content_hash(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        fit_notes: voting.fit_notes(),
        origin: None,
    };
    let path = ensemble_path(out_dir);
    store::save(&path, &header, &Model::new(voting))?;
    Ok(TrainedEnsemble {
        vote: top.vote,
        members,
        cv_accuracy,
        fold_accuracy,
        train_accuracy,
        test_accuracy,
        beats_best_single,
        refit_seconds,
        path,
    })
}

/// An averaging ensemble's R² on each CV fold (scikit-learn's `KFold`),
/// from its members' values there summed in order and divided by their
/// count, as the ensemble predicts; and their mean.
fn cv_estimate_mean(
    ranked: &[Ranked],
    targets: &[f64],
    folds: usize,
    shuffle: bool,
    seed: u64,
) -> Result<(Vec<f64>, f64)> {
    let assignment = plain_folds(targets.len(), folds, shuffle.then_some(seed as u32))?;
    let mut per_fold = Vec::with_capacity(folds);
    for f in 0..folds {
        let (_, test_rows) = fold_indices(&assignment, f);
        let truth: Vec<f64> = test_rows.iter().map(|&i| targets[i]).collect();
        let mut sum = vec![0.0f64; truth.len()];
        for r in ranked {
            match &r.fold_votes[f] {
                FoldVotes::Values(v) if v.len() == truth.len() => {
                    sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                }
                _ => {
                    return Err(Error::Runtime(format!(
                        "{} ({}): its fold {f} values do not fit the fold's {} rows",
                        r.trained.model,
                        describe(r.params),
                        truth.len()
                    )))
                }
            }
        }
        let m = ranked.len() as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / m).collect();
        per_fold.push(r2(&mean, &truth));
    }
    let mean = per_fold.iter().sum::<f64>() / folds as f64;
    Ok((per_fold, mean))
}

/// The ensemble's accuracy on each CV fold, from its members' predictions
/// there, and their mean.
fn cv_estimate(
    vote: Vote,
    ranked: &[Ranked],
    classes: &[i64],
    y: &[i64],
    folds: usize,
    shuffle: bool,
    seed: u64,
) -> Result<(Vec<f64>, f64)> {
    let k = classes.len();
    let assignment = stratified_folds(y, folds, shuffle.then_some(seed as u32))?;
    let mut per_fold = Vec::with_capacity(folds);
    for f in 0..folds {
        let (_, test_rows) = fold_indices(&assignment, f);
        let truth: Vec<i64> = test_rows.iter().map(|&i| y[i]).collect();
        let n = truth.len();
        let mut tally = vec![0.0f64; n * k];
        for r in ranked {
            match &r.fold_votes[f] {
                FoldVotes::Probabilities(p) if p.len() == n * k => {
                    for (t, v) in tally.iter_mut().zip(p) {
                        *t += v;
                    }
                }
                FoldVotes::Labels(l) if l.len() == n => {
                    for (row, label) in l.iter().enumerate() {
                        let c = classes.binary_search(label).map_err(|_| {
                            Error::Runtime(format!("a fold model predicted {label}, not a class"))
                        })?;
                        tally[row * k + c] += 1.0;
                    }
                }
                _ => {
                    return Err(Error::Runtime(format!(
                        "{} ({}): its fold {f} predictions do not fit the fold's {n} rows",
                        r.trained.model,
                        describe(r.params)
                    )))
                }
            }
        }
        // Soft voting divides by the member count before its argmax, as the
        // ensemble does (the division can merge near-ties).
        let divisor = match vote {
            Vote::Soft => ranked.len() as f64,
            // (a mean vote's ensemble is scored by `cv_estimate_mean`)
            Vote::Hard | Vote::Mean => 1.0,
        };
        let predicted: Vec<i64> = tally
            .chunks_exact(k)
            .map(|row| {
                let mut best = 0;
                for c in 1..k {
                    if row[c] / divisor > row[best] / divisor {
                        best = c;
                    }
                }
                classes[best]
            })
            .collect();
        per_fold.push(accuracy(&predicted, &truth));
    }
    let mean = per_fold.iter().sum::<f64>() / folds as f64;
    Ok((per_fold, mean))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::{nums, Grid};
    use crate::tune::search::{grid_search, SearchSpec};

    /// The CV estimate from the members' kept fold predictions equals the
    /// ensemble itself fitted and scored fold by fold (members refit on each
    /// fold's training rows, combined by `Voting`), for both votes and a
    /// 3-class problem where soft and hard disagree on some rows.
    #[test]
    fn the_cv_estimate_is_the_ensemble_scored_fold_by_fold() {
        let mut gen = crate::data::synth::MakeClassification::new(900, 6, 4);
        gen.n_classes = 3;
        gen.n_informative = 4;
        let data = gen.generate().unwrap();
        let kind = crate::model::logistic::KIND;
        let mut grid = Grid::new();
        grid.insert("C".into(), nums(&[0.001, 0.01, 0.1, 1.0]));
        let candidates = crate::tune::grid::expand(&grid);
        for vote in [Vote::Soft, Vote::Hard] {
            let spec = SearchSpec {
                kind,
                candidates: &candidates,
                folds: 3,
                shuffle: true,
                seed: 7,
                votes: Some(vote),
            };
            let result = grid_search(&spec, &data, &|| {}).unwrap();
            let trained = TrainedModel {
                model: kind,
                best_params: result.best_params().clone(),
                n_candidates: 4,
                n_failed: 0,
                fit_seconds: 0.0,
                refit_seconds: 0.0,
                task: crate::model::Task::Classification,
                train_accuracy: 0.0,
                test_accuracy: None,
                cv_accuracy: result.cv_accuracy(),
                test_mae: None,
                test_rmse: None,
                fit_notes: String::new(),
                converged: None,
                n_unconverged: 0,
                path: PathBuf::new(),
                candidates: result.candidates.clone(),
                fitted: result.model.clone(),
            };
            let dir = tempfile::tempdir().unwrap();
            let top = TopK { k: 3, vote };
            let mut notes = Vec::new();
            let built = build(
                top,
                &[trained],
                &data,
                None,
                3,
                true,
                7,
                dir.path(),
                &mut notes,
            )
            .unwrap();

            let assignment = stratified_folds(&data.y, 3, Some(7)).unwrap();
            for f in 0..3 {
                let (tr, te) = fold_indices(&assignment, f);
                let (train, test) = (data.select(&tr), data.select(&te));
                let members = built
                    .members
                    .iter()
                    .map(|m| Member {
                        model: fit(kind, &m.params, &train, 7).unwrap(),
                        params: m.params.clone(),
                        cv_accuracy: None,
                    })
                    .collect();
                let voting = Voting::new(vote, train_classes(&train), members).unwrap();
                let acc = accuracy(&voting.predict(test.x.view()), &test.y);
                assert_eq!(acc, built.fold_accuracy[f], "{vote:?} fold {f}");
            }
            assert!(notes.is_empty());
        }
    }

    fn train_classes(d: &Dataset) -> Vec<i64> {
        crate::model::encode_labels(&d.y).0
    }

    #[test]
    fn plan_picks_the_vote_and_refuses_what_cannot_be_built() {
        let lr = crate::model::logistic::KIND;
        let svc = crate::model::svc::KIND;
        let soft = plan(Some(5), None, false, &[lr]).unwrap().unwrap();
        assert_eq!(soft.vote, Vote::Soft);
        let hard = plan(Some(5), None, true, &[lr, svc]).unwrap().unwrap();
        assert_eq!(hard.vote, Vote::Hard);
        assert!(plan(Some(5), Some(Vote::Soft), true, &[lr, svc]).is_err());
        assert!(plan(Some(5), None, false, &[lr, svc]).is_err());
        assert!(plan(Some(1), None, false, &[lr]).is_err());
        assert_eq!(plan(None, None, false, &[lr]).unwrap(), None);
    }
}
