//! What `cpuwall predict --backend mpi` prints (rank 0).

use crate::data::count::format_count;
use crate::measure::mpi::MpiPredictOutcome;
use crate::report::table;
use crate::units;

/// The `--format json` document (schema `cpuwall-mpi-predict`, docs/results.md).
pub fn json(o: &MpiPredictOutcome) -> crate::measure::results::mpi::MpiPredictDocument<'_> {
    crate::measure::results::mpi::MpiPredictDocument::of(o)
}

/// A title, one row per rank (the median run), a summary line and the check.
pub fn table(o: &MpiPredictOutcome) -> String {
    let mut s = format!(
        "{} ({}) on {}, {} MPI ranks\n",
        o.model_path.display(),
        o.model.long(),
        o.data,
        o.ranks
    );
    let header = [
        "rank",
        "rows",
        "generate",
        "predict wall",
        "predict cpu",
        "cpu/wall",
        "gather wall",
        "gather cpu",
    ];
    let rows: Vec<Vec<String>> = o
        .median
        .ranks
        .iter()
        .map(|r| {
            vec![
                r.rank.to_string(),
                format_count(r.rows as u64),
                units::seconds(r.generate_seconds),
                units::seconds(r.predict_wall_seconds),
                units::seconds(r.predict_cpu_seconds),
                format!(
                    "{:.2}",
                    r.predict_cpu_seconds / r.predict_wall_seconds.max(1e-12)
                ),
                units::seconds(r.gather_wall_seconds),
                units::seconds(r.gather_cpu_seconds),
            ]
        })
        .collect();
    s.push_str(&table::render(&header, &rows));
    let w = o.wall_seconds;
    s.push_str(&format!(
        "mpi({}): {} rows in {} (median of {}, {}-{}), cluster CPU/wall {:.2} (predict CPU {} + MPI CPU {}), {} rows/s{}\n",
        o.ranks,
        format_count(o.rows as u64),
        units::seconds(w.median),
        o.runs,
        units::seconds(w.min),
        units::seconds(w.max),
        o.cpu_per_wall(),
        units::seconds(o.predict_cpu()),
        units::seconds(o.gather_cpu()),
        units::rate(o.rows as f64 / o.median.wall_seconds),
        o.speedup_vs_direct()
            .map_or(String::new(), |s| format!(", {} direct", crate::units::times(s)))
    ));
    s.push_str(&format!(
        "predictions identical to direct: {}\n",
        match o.check {
            Some((true, _)) => "yes",
            Some((false, _)) => "NO",
            None => "not checked (over 1e7 rows: direct would need all rows in one process)",
        }
    ));
    s
}
