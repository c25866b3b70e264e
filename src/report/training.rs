//! The training report: the study's table plus every candidate's CV scores.

use std::path::{Path, PathBuf};

use crate::atomic::write_atomic;
use crate::error::Result;
use crate::model::params::describe;
use crate::tune::train::TrainedModel;

/// Write the training report (`training-report.md`) into `dir`; its path.
pub fn write(
    models: &[TrainedModel],
    data_line: &str,
    folds: usize,
    threads: usize,
    dir: &Path,
) -> Result<PathBuf> {
    let path = dir.join("training-report.md");
    write_atomic(
        &path,
        markdown(models, data_line, folds, threads).as_bytes(),
    )?;
    Ok(path)
}

/// The `--format json` document (schema `cpuwall-train`, docs/results.md):
/// each model's results by short name under `models`.
pub fn json(models: &[TrainedModel]) -> crate::measure::results::train::TrainDocument<'_> {
    crate::measure::results::train::TrainDocument::of(models)
}

/// The console summary: the study's table, each model's choice and file
/// (and failed candidates), and where the report is.
pub fn summary(models: &[TrainedModel], report: &Path) -> String {
    let rows: Vec<Vec<String>> = table_rows(models).into_iter().map(|r| r.to_vec()).collect();
    let mut s = crate::report::table::render(&TABLE_HEADER, &rows);
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

/// One row per model: model, best params, candidates, failed, converged,
/// fit s, accuracies.
pub fn table_rows(models: &[TrainedModel]) -> Vec<[String; 9]> {
    models
        .iter()
        .map(|m| {
            [
                m.model.short().to_string(),
                describe(&m.best_params),
                m.n_candidates.to_string(),
                m.n_failed.to_string(),
                converged_cell(m),
                format!("{:.3}", m.fit_seconds),
                fmt_acc(Some(m.train_accuracy)),
                fmt_acc(m.test_accuracy),
                fmt_acc(Some(m.cv_accuracy)),
            ]
        })
        .collect()
}

pub const TABLE_HEADER: [&str; 9] = [
    "model",
    "best params",
    "candidates",
    "failed",
    "converged",
    "fit s",
    "train acc",
    "test acc",
    "CV acc",
];

pub fn markdown(models: &[TrainedModel], data_line: &str, folds: usize, threads: usize) -> String {
    let mut s = String::from("# cpuwall training report\n\n");
    s.push_str(&format!(
        "Data: {data_line}. Grid search with stratified {folds}-fold cross-validation (accuracy), {threads} worker threads, best candidate refit on all training rows.\n\n"
    ));
    s.push_str(&format!("| {} |\n", TABLE_HEADER.join(" | ")));
    s.push_str(&format!("|{}\n", "---|".repeat(TABLE_HEADER.len())));
    for row in table_rows(models) {
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    for m in models {
        s.push_str(&format!(
            "\n## {} ({})\n\nFile: `{}`. Fit: {}.\n\n| candidate | CV accuracy | std | fit s (sum of folds) | status |\n|---|---|---|---|---|\n",
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
