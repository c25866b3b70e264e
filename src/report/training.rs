//! The training report: the study's table plus every candidate's CV scores.

use std::path::{Path, PathBuf};

use crate::atomic::write_atomic;
use crate::error::Result;
use crate::model::params::describe;
use crate::model::Task;
use crate::tune::top_k::TrainedEnsemble;
use crate::tune::train::TrainedModel;

/// Write the training report (`training-report.md`) into `dir`; its path.
pub fn write(
    models: &[TrainedModel],
    ensemble: Option<&TrainedEnsemble>,
    data_line: &str,
    folds: usize,
    threads: usize,
    dir: &Path,
) -> Result<PathBuf> {
    let path = dir.join("training-report.md");
    let mut text = markdown(models, data_line, folds, threads);
    if let Some(e) = ensemble {
        text.push_str(&ensemble_markdown(e, folds));
    }
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// The `--format json` document (schema `cpuwall-train`, docs/results.md):
/// each model's results by short name under `models`, the `--top-k`
/// ensemble's under `ensemble`.
pub fn json<'a>(
    models: &'a [TrainedModel],
    ensemble: Option<&'a TrainedEnsemble>,
) -> crate::measure::results::train::TrainDocument<'a> {
    crate::measure::results::train::TrainDocument::of(models, ensemble)
}

/// What the ensemble's line in the console summary and the report say.
fn ensemble_verdict(e: &TrainedEnsemble) -> String {
    let best = &e.members[0];
    let score = score_name(e);
    let vs = match (e.test_accuracy, best.test_accuracy) {
        (Some(t), Some(b)) => format!(
            "test {score} {t:.4} vs {b:.4} for the best single model ({}, {}): {}",
            best.model,
            describe(&best.params),
            match e.beats_best_single {
                Some(true) => "beats it",
                _ if t == b => "ties it",
                _ => "does not beat it",
            }
        ),
        _ => "no test set".into(),
    };
    format!(
        "{} vote of {} members -> {}; CV estimate {:.4}; {vs}\n",
        e.vote.name(),
        e.members.len(),
        e.path.display(),
        e.cv_accuracy
    )
}

/// What an ensemble's scores are: accuracy, or an averaging ensemble's R².
fn score_name(e: &TrainedEnsemble) -> &'static str {
    if e.vote == crate::model::vote::Vote::Mean {
        "R²"
    } else {
        "accuracy"
    }
}

/// The report's ensemble section: its members and how it did.
pub fn ensemble_markdown(e: &TrainedEnsemble, folds: usize) -> String {
    let short = if e.vote == crate::model::vote::Vote::Mean {
        "R²"
    } else {
        "acc"
    };
    let mut s = format!(
        "\n## ensemble (top {}, {} vote)\n\nFile: `{}`. Members refit on all training rows in {:.3} s. A {}\nCV estimate: the ensemble scored on each of the {folds} folds from its members' predictions there (no refit): {}.\n\n| member | model | params | CV {short} | train {short} | test {short} |\n|---|---|---|---|---|---|\n",
        e.members.len(),
        e.vote.name(),
        e.path.display(),
        e.refit_seconds,
        ensemble_verdict(e).trim_end(),
        e.fold_accuracy
            .iter()
            .map(|a| format!("{a:.4}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for (i, m) in e.members.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {} | {} | {:.4} | {} | {} |\n",
            i + 1,
            m.model,
            describe(&m.params),
            m.cv_accuracy,
            fmt_acc(Some(m.train_accuracy)),
            fmt_acc(m.test_accuracy)
        ));
    }
    s.push_str(&format!(
        "| **ensemble** | {} vote | | {:.4} | {} | {} |\n",
        e.vote.name(),
        e.cv_accuracy,
        fmt_acc(Some(e.train_accuracy)),
        fmt_acc(e.test_accuracy)
    ));
    s
}

/// The console summary: the study's table, each model's choice and file
/// (and failed candidates), the ensemble, and where the report is.
pub fn summary(
    models: &[TrainedModel],
    ensemble: Option<&TrainedEnsemble>,
    report: &Path,
) -> String {
    let rows = table_rows(models);
    let mut s = crate::report::table::render(&table_header(models), &rows);
    for m in models {
        let failed: Vec<String> = m
            .candidates
            .iter()
            .filter_map(|c| {
                c.error
                    .as_ref()
                    .map(|e| format!("{} ({e})", describe(&c.params)))
            })
            .collect();
        s.push_str(&format!(
            "{}: best of {} candidates is {} -> {}{}\n",
            m.model,
            m.n_candidates,
            describe(&m.best_params),
            m.path.display(),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; failed: {}", failed.join(", "))
            }
        ));
    }
    if let Some(e) = ensemble {
        s.push_str(&format!("ensemble: {}", ensemble_verdict(e)));
    }
    s.push_str(&format!("report: {}\n", report.display()));
    s
}

pub fn fmt_acc(v: Option<f64>) -> String {
    v.map_or("-".into(), |a| format!("{a:.4}"))
}

/// `yes` / `NO` / `-` (not an iterative fit), and how many candidates did
/// not converge in some CV fold.
fn converged_cell(m: &TrainedModel) -> String {
    let chosen = match m.converged {
        None => return "-".into(),
        Some(true) => "yes",
        Some(false) => "NO",
    };
    match m.n_unconverged {
        0 => chosen.to_string(),
        k => format!("{chosen} ({k}/{} not)", m.n_candidates),
    }
}

/// Lines for stderr: a chosen model whose solver stopped at max_iter, and
/// candidates that did, with what to do.
pub fn warnings(models: &[TrainedModel]) -> Vec<String> {
    let mut out = Vec::new();
    for m in models {
        if m.converged == Some(false) {
            out.push(format!(
                "warning: {}'s chosen model ({}) did not converge: its coefficients are not the optimum; raise --max-iter or add --scale standard",
                m.model,
                describe(&m.best_params)
            ));
        } else if m.n_unconverged > 0 {
            out.push(format!(
                "warning: {} of {} {} candidates did not converge in some CV fold (see {}); raise --max-iter or add --scale standard",
                m.n_unconverged,
                m.n_candidates,
                m.model,
                m.path.with_file_name("training-report.md").display()
            ));
        }
    }
    out
}

/// Whether a run trained regressors (one run trains one task).
fn regression(models: &[TrainedModel]) -> bool {
    models.first().is_some_and(|m| m.task == Task::Regression)
}

/// One row per model: model, best params, candidates, failed, converged,
/// fit s, scores (accuracy, or R² with the test MAE and RMSE).
pub fn table_rows(models: &[TrainedModel]) -> Vec<Vec<String>> {
    let regression = regression(models);
    models
        .iter()
        .map(|m| {
            let mut row = vec![
                m.model.short().to_string(),
                describe(&m.best_params),
                m.n_candidates.to_string(),
                m.n_failed.to_string(),
                converged_cell(m),
                format!("{:.3}", m.fit_seconds),
                fmt_acc(Some(m.train_accuracy)),
                fmt_acc(m.test_accuracy),
                fmt_acc(Some(m.cv_accuracy)),
            ];
            if regression {
                row.push(m.test_mae.map_or("-".into(), |v| format!("{v:.4}")));
                row.push(m.test_rmse.map_or("-".into(), |v| format!("{v:.4}")));
            }
            row
        })
        .collect()
}

/// The columns of [`table_rows`].
pub fn table_header(models: &[TrainedModel]) -> Vec<&'static str> {
    let mut h = vec![
        "model",
        "best params",
        "candidates",
        "failed",
        "converged",
        "fit s",
    ];
    if regression(models) {
        h.extend(["train R²", "test R²", "CV R²", "test MAE", "test RMSE"]);
    } else {
        h.extend(["train acc", "test acc", "CV acc"]);
    }
    h
}

pub fn markdown(models: &[TrainedModel], data_line: &str, folds: usize, threads: usize) -> String {
    let mut s = String::from("# cpuwall training report\n\n");
    let (cv, score) = if regression(models) {
        ("", "R²")
    } else {
        ("stratified ", "accuracy")
    };
    s.push_str(&format!(
        "Data: {data_line}. Grid search with {cv}{folds}-fold cross-validation ({score}), {threads} worker threads, best candidate refit on all training rows.\n\n"
    ));
    let header = table_header(models);
    s.push_str(&format!("| {} |\n", header.join(" | ")));
    s.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in table_rows(models) {
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    for m in models {
        s.push_str(&format!(
            "\n## {} ({})\n\nFile: `{}`. Fit: {}.\n\n| candidate | CV {score} | std | fit s (sum of folds) | status |\n|---|---|---|---|---|\n",
            m.model.short(),
            m.model.long(),
            m.path.display(),
            if m.fit_notes.is_empty() { "closed form" } else { &m.fit_notes }
        ));
        for c in &m.candidates {
            let best = if c.params == m.best_params {
                " **best**"
            } else {
                ""
            };
            s.push_str(&format!(
                "| {}{best} | {} | {} | {:.3} | {} |\n",
                describe(&c.params),
                if c.mean_accuracy.is_nan() {
                    "-".into()
                } else {
                    format!("{:.4}", c.mean_accuracy)
                },
                if c.std_accuracy.is_nan() {
                    "-".into()
                } else {
                    format!("{:.4}", c.std_accuracy)
                },
                c.fit_seconds,
                match (&c.error, c.unconverged_folds) {
                    (Some(e), _) => e.clone(),
                    (None, 0) => "ok".into(),
                    (None, k) => format!("NOT converged in {k} of {} folds", folds),
                }
            ));
        }
    }
    s
}
