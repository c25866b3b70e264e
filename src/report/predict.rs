//! What `cpuwall predict` prints: its JSON document and its terminal table.

use crate::data::count::format_count;
use crate::measure::predict::PredictOutcome;
use crate::report::table;
use crate::units;

/// The results document (`--format json`, `--export-json`): schema
/// `cpuwall-predict` (docs/results.md), every backend's raw samples included.
pub fn json(o: &PredictOutcome) -> crate::measure::results::predict::PredictDocument<'_> {
    crate::measure::results::predict::PredictDocument::of(o)
}

/// `--export-csv`: one line per timed sample of each backend.
pub fn raw_csv(o: &PredictOutcome) -> String {
    let rows: Vec<(Vec<String>, &crate::measure::run::RawSamples)> = o
        .backends
        .iter()
        .map(|r| {
            (
                vec![
                    o.model.short().to_string(),
                    r.kind.as_str().to_string(),
                    o.rows.to_string(),
                ],
                &r.measured.raw,
            )
        })
        .collect();
    super::export_flags::raw_csv(&["model", "backend", "rows"], &rows)
}

/// `--export-markdown`: the terminal table as markdown, under a title line.
pub fn markdown(o: &PredictOutcome) -> String {
    let (header, rows) = table_rows(o);
    format!(
        "# cpuwall predict: {} ({}) on {}\n\n{}\nPredictions identical across backends: {}. Measured on {} ({} cores, {}), {}.\n",
        o.model_path.display(),
        o.model.long(),
        o.data,
        table::markdown(&header, &rows),
        if o.identical() { "yes" } else { "NO" },
        o.environment.cpu_model,
        o.environment.cores,
        o.environment.isa,
        o.environment.date
    )
}

const HEADER: [&str; 8] = [
    "backend",
    "rows",
    "wall (median, 95% CI)",
    "runs",
    "cpu",
    "cpu/wall",
    "rows/s",
    "speedup",
];

/// The table's rows: one per backend, plus a cold row for a process pool.
fn table_rows(o: &PredictOutcome) -> ([&'static str; 8], Vec<Vec<String>>) {
    let rows = format_count(o.rows as u64);
    let mut lines: Vec<Vec<String>> = Vec::new();
    for r in &o.backends {
        let m = &r.measured;
        let ci = m.wall_seconds_ci95;
        lines.push(vec![
            r.name.clone(),
            rows.clone(),
            format!(
                "{} ({}-{}){}",
                units::seconds(m.wall_seconds.median),
                units::seconds(ci[0]),
                units::seconds(ci[1]),
                if m.is_shaky() { " ~" } else { "" }
            ),
            m.runs.to_string(),
            units::seconds(m.cpu_per_call()),
            format!("{:.2}", m.cpu_per_wall),
            units::rate(m.rows_per_second),
            r.speedup_vs_direct.map_or("-".into(), crate::units::times),
        ]);
        if let Some(c) = r.cold_start_seconds {
            let mut cold = vec!["-".to_string(); HEADER.len()];
            cold[0] = format!("{} cold", r.name);
            cold[1] = rows.clone();
            cold[2] = format!("{} (spawn + load + first call)", units::seconds(c));
            cold[3] = "1".into();
            lines.push(cold);
        }
    }
    (HEADER, lines)
}

/// The terminal table: a title line, one row per backend (plus a cold row
/// for a process pool), and whether the backends agreed.
pub fn table(o: &PredictOutcome) -> String {
    table_styled(o, &super::style::Style::PLAIN)
}

/// [`table`] with its verdict coloured by `style` (a terminal's).
pub fn table_styled(o: &PredictOutcome, style: &super::style::Style) -> String {
    let mut s = format!(
        "{} ({}) on {}\n",
        o.model_path.display(),
        o.model.long(),
        o.data
    );
    let (header, lines) = table_rows(o);
    s.push_str(&table::render(&header, &lines));
    if o.backends.iter().any(|b| b.measured.is_shaky()) {
        s.push_str("~ fewer than 6 samples or a CI wider than +-10% of the median: noisy, raise --min-time\n");
    }
    for b in &o.backends {
        if b.kind == crate::exec::BackendKind::Threads && b.measured.parallelism == 1 {
            s.push_str(&format!(
                "{}: no helper thread took a chunk in any call (the batch was too small to split, or helpers were not scheduled): it ran single-threaded\n",
                b.name
            ));
        }
    }
    let verdict = style.verdict(o.identical(), if o.identical() { "yes" } else { "NO" });
    match o.backends.as_slice() {
        // Direct alone is the reference: there is nothing to compare.
        [only] if only.kind == crate::exec::BackendKind::Direct => {}
        [_] => s.push_str(&format!("predictions identical to direct's: {verdict}\n")),
        _ => s.push_str(&format!(
            "predictions identical across backends: {verdict}\n"
        )),
    }
    s
}
