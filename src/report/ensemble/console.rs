//! What the ensemble commands print: the bench table and its lines, the
//! raw samples as CSV, training and predict summaries.

use super::plots::axes;
use crate::ensemble::predict::Prediction;
use crate::ensemble::train::{TrainJob, TrainedEnsemble};
use crate::measure::ensemble::{agreement, BenchCell, StudyResults};
use crate::report::table;
use crate::units;
/// The study's table: one row per device and batch size, one column per
/// strategy (median wall, CPU/wall, GFLOP/s), then accuracy and agreement.
pub fn render_table(cells: &[BenchCell]) -> String {
    let (header, rows) = table_rows(cells);
    table::render(&header, &rows) + &agreement_line(cells)
}

/// The study's table: header and one row per device and batch size.
pub(super) fn table_rows(cells: &[BenchCell]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let (kinds, _) = axes(cells);
    let mut rows_key: Vec<(String, usize)> = Vec::new();
    for c in cells {
        let key = (c.device.clone(), c.batch_size);
        if !rows_key.contains(&key) {
            rows_key.push(key);
        }
    }
    let mut header = vec!["device", "batch"];
    header.extend(kinds.iter().map(|k| k.name()));
    let rows: Vec<Vec<String>> = rows_key
        .iter()
        .map(|(dev, batch)| {
            let mut row = vec![dev.clone(), batch.to_string()];
            for k in &kinds {
                row.push(
                    cells
                        .iter()
                        .find(|c| c.strategy == *k && &c.device == dev && c.batch_size == *batch)
                        .map(|c| {
                            format!(
                                "{} ({:.2} cpu/wall, {:.0} GFLOP/s)",
                                units::seconds(c.measured.wall_seconds.median),
                                c.measured.cpu_per_wall,
                                c.gflops
                            )
                        })
                        .unwrap_or_else(|| "-".into()),
                );
            }
            row
        })
        .collect();
    (header, rows)
}

/// The line under the study's table: images, members, accuracy, agreement.
pub(super) fn agreement_line(cells: &[BenchCell]) -> String {
    agreement(cells).map_or(String::new(), |(images, members, accuracy, per_member, worst)| {
        format!(
            "\n{images} images x {members} members; ensemble accuracy {accuracy:.4} (members {per_member}); largest |averaged probability - sequential's| over all cells: {worst:.1e}\n"
        )
    })
}

/// `ensemble bench --export-csv`: one line per timed sample of every cell.
pub fn raw_csv(r: &StudyResults) -> String {
    let rows: Vec<(Vec<String>, &crate::measure::run::RawSamples)> = r
        .cells
        .iter()
        .map(|c| {
            (
                vec![
                    c.strategy.name().to_string(),
                    c.device.clone(),
                    c.batch_size.to_string(),
                    c.images.to_string(),
                ],
                &c.measured.raw,
            )
        })
        .collect();
    crate::report::export_flags::raw_csv(&["strategy", "device", "batch_size", "images"], &rows)
}

/// `ensemble bench --export-markdown`: the study's table in markdown.
pub fn render_markdown_table(cells: &[BenchCell]) -> String {
    let (header, rows) = table_rows(cells);
    format!(
        "# cpuwall ensemble bench\n\n{}{}",
        table::markdown(&header, &rows),
        agreement_line(cells)
    )
}

/// `ensemble bench`'s progress line for a finished cell.
pub fn cell_line(c: &BenchCell) -> String {
    format!(
        "  {:<10} batch {:>4}: {} ({:.2} cpu/wall)",
        c.strategy.name(),
        c.batch_size,
        units::seconds(c.measured.wall_seconds.median),
        c.measured.cpu_per_wall
    )
}

/// `ensemble train`'s summary: one line per member, one for the ensemble.
pub fn trained_lines(t: &TrainedEnsemble, job: &TrainJob) -> String {
    let mut s = String::new();
    for (m, member) in t.members.iter().enumerate() {
        s.push_str(&format!(
            "member {m}: trained in {:.1} s, accuracy on {} held-out images {:.4} -> {}\n",
            member.seconds,
            t.held_out,
            member.accuracy,
            member.path.display()
        ));
    }
    s.push_str(&format!(
        "ensemble of {} trained in {:.1} s ({} epoch(s), batch {}, {} images); ensemble accuracy {:.4}\n",
        t.members.len(),
        t.seconds,
        job.epochs,
        job.batch_size,
        t.images,
        t.accuracy
    ));
    s
}

/// `ensemble predict --format json`.
pub fn predict_json(p: &Prediction) -> serde_json::Value {
    serde_json::json!({
        "images": p.images,
        "members": p.members,
        "strategy": p.strategy.name(),
        "batch_size": p.batch_size,
        "wall_seconds": p.usage.wall_seconds,
        "cpu_seconds": p.usage.cpu_seconds(),
        "worker_cpu_seconds": p.usage.worker_cpu_seconds,
        "cpu_per_wall": p.usage.cpu_per_wall(),
        "accuracy": p.accuracy,
        "member_accuracy": p.member_accuracy,
        "predicted": p.predicted,
    })
}

/// `ensemble predict`'s summary line.
pub fn predict_line(p: &Prediction, out: Option<&std::path::Path>) -> String {
    format!(
        "{} images, {} members, {} batch {}: {} wall, {:.2} cpu/wall; accuracy {:.4} against the file's labels{}\n",
        p.images,
        p.members,
        p.strategy.name(),
        p.batch_size,
        units::seconds(p.usage.wall_seconds),
        p.usage.cpu_per_wall(),
        p.accuracy,
        out.map(|o| format!("; predictions in {}", o.display()))
            .unwrap_or_default()
    )
}
