//! The training report: the study's table plus every candidate's CV scores.

use crate::model::params::describe;
use crate::tune::train::TrainedModel;

pub fn fmt_acc(v: Option<f64>) -> String {
    v.map_or("-".into(), |a| format!("{a:.4}"))
}

/// One row per model: model, best params, candidates, failed, fit s, accuracies.
pub fn table_rows(models: &[TrainedModel]) -> Vec<[String; 8]> {
    models
        .iter()
        .map(|m| {
            [
                m.model.short().to_string(),
                describe(&m.best_params),
                m.n_candidates.to_string(),
                m.n_failed.to_string(),
                format!("{:.3}", m.fit_seconds),
                fmt_acc(Some(m.train_accuracy)),
                fmt_acc(m.test_accuracy),
                fmt_acc(Some(m.cv_accuracy)),
            ]
        })
        .collect()
}

pub const TABLE_HEADER: [&str; 8] = [
    "model",
    "best params",
    "candidates",
    "failed",
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
                c.error.as_deref().unwrap_or("ok")
            ));
        }
    }
    s
}
