//! Numbers derived from results: crossovers and findings, computed, never typed.

use crate::data::count::format_count;
use crate::exec::auto::{beats, BEAT_MARGIN};
use crate::measure::results::Cell;

use super::baseline::{self, BaselineCell};

/// Median wall time of (model, backend, rows), if measured.
pub fn wall(cells: &[Cell], model: &str, backend: &str, rows: u64) -> Option<f64> {
    cells
        .iter()
        .find(|c| c.model == model && c.backend == backend && c.rows as u64 == rows)
        .map(|c| c.wall_seconds.median)
}

/// Smallest batch size from which `backend` [`beats`] `direct` at every
/// measured size; `None` if it does not
/// win at the largest one. `walls(rows)` gives (backend, direct) medians.
pub fn crossover_rows(sizes: &[u64], walls: impl Fn(u64) -> Option<(f64, f64)>) -> Option<u64> {
    let mut from = None;
    for &r in sizes.iter().rev() {
        match walls(r) {
            Some((b, d)) if beats(b, d) => from = Some(r),
            _ => break,
        }
    }
    from
}

pub fn sizes(cells: &[Cell], model: &str) -> Vec<u64> {
    sorted_unique(
        cells
            .iter()
            .filter(|c| c.model == model)
            .map(|c| c.rows as u64),
    )
}

fn sorted_unique(values: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn backends(cells: &[Cell], model: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in cells.iter().filter(|c| c.model == model) {
        if !v.contains(&c.backend) {
            v.push(c.backend.clone());
        }
    }
    v
}

pub fn models(cells: &[Cell]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in cells {
        if !v.contains(&c.model) {
            v.push(c.model.clone());
        }
    }
    v
}

/// "threads beat direct from 1e3 rows" lines for one model.
pub fn crossover_lines(cells: &[Cell], model: &str) -> Vec<String> {
    let sizes = sizes(cells, model);
    backends(cells, model)
        .iter()
        .filter(|b| *b != "direct")
        .map(|b| {
            let x = crossover_rows(&sizes, |r| {
                Some((wall(cells, model, b, r)?, wall(cells, model, "direct", r)?))
            });
            let margin = ((1.0 - BEAT_MARGIN) * 100.0).round();
            match x {
                Some(r) => format!(
                    "{b} beat direct (by {margin}% or more) from {} rows",
                    format_count(r)
                ),
                None => format!(
                    "{b} never beat direct by {margin}% up to {} rows",
                    format_count(*sizes.last().unwrap_or(&0))
                ),
            }
        })
        .collect()
}

/// One line a reader can act on, for one model: from which size each
/// parallel backend pays (and by how much at the largest size), and how
/// cpuwall compares with scikit-learn (`base`) at the largest size both
/// measured up to 1e6 rows, fastest backend against fastest (within 5%:
/// on par). "nb: threads from 1e4 rows (1.52× at 1e7); processes never
/// pay; 7.09× faster than scikit-learn at 1e6 rows".
pub fn verdict(cells: &[Cell], model: &str, base: &[BaselineCell]) -> String {
    let sizes = sizes(cells, model);
    let Some(&largest) = sizes.last() else {
        return format!("{model}: no cells");
    };
    let mut parts = Vec::new();
    for b in ["threads", "processes"] {
        if wall(cells, model, b, largest).is_none() {
            continue;
        }
        let from = crossover_rows(&sizes, |r| {
            Some((wall(cells, model, b, r)?, wall(cells, model, "direct", r)?))
        });
        let gain = || {
            let (w, d) = (
                wall(cells, model, b, largest)?,
                wall(cells, model, "direct", largest)?,
            );
            Some(crate::units::times(d / w))
        };
        parts.push(match (from, gain()) {
            (Some(r), Some(g)) => format!(
                "{b} from {} rows ({g} at {})",
                format_count(r),
                format_count(largest)
            ),
            _ => format!("{b} never pay (up to {} rows)", format_count(largest)),
        });
    }
    // cpuwall's fastest local backend against scikit-learn's fastest.
    let fastest = |r: u64, walls: &dyn Fn(&str) -> Option<f64>| {
        ["direct", "threads", "processes", "auto"]
            .iter()
            .filter_map(|b| walls(b))
            .min_by(f64::total_cmp)
            .map(|w| (r, w))
    };
    let versus = sizes
        .iter()
        .rev()
        .filter(|&&r| r <= 1_000_000)
        .find_map(|&r| {
            let (_, ours) = fastest(r, &|b| wall(cells, model, b, r))?;
            let (_, theirs) = fastest(r, &|b| {
                Some(baseline::find(base, model, b, r)?.wall_seconds)
            })?;
            Some((r, theirs / ours))
        });
    if let Some((r, ratio)) = versus {
        parts.push(if (1.0 / 1.05..=1.05).contains(&ratio) {
            format!(
                "on par with scikit-learn at {} rows (its fastest over cpuwall's fastest: {})",
                format_count(r),
                crate::units::times(ratio)
            )
        } else if ratio >= 1.0 {
            format!(
                "{} faster than scikit-learn at {} rows",
                crate::units::times(ratio),
                format_count(r)
            )
        } else {
            format!(
                "{} slower than scikit-learn at {} rows",
                crate::units::times(1.0 / ratio),
                format_count(r)
            )
        });
    }
    format!("{model}: {}", parts.join("; "))
}

/// Findings for one model, each a sentence computed from the cells.
pub fn findings(cells: &[Cell], model: &str, base: &[BaselineCell]) -> Vec<String> {
    let mut out = Vec::new();
    let sizes = sizes(cells, model);
    let (Some(&small), Some(&large)) = (sizes.first(), sizes.last()) else {
        return out;
    };
    if let Some(best) = cells
        .iter()
        .filter(|c| c.model == model && c.rows as u64 == large)
        .filter_map(|c| c.speedup_vs_direct.map(|s| (s, c)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        out.push(format!(
            "At {} rows the fastest backend is {} ({} direct, CPU/wall {:.2}, {:.3e} rows/s).",
            format_count(large),
            best.1.backend,
            crate::units::times(best.0),
            best.1.cpu_per_wall,
            best.1.rows_per_second
        ));
    }
    if let (Some(p), Some(d)) = (
        wall(cells, model, "processes", small),
        wall(cells, model, "direct", small),
    ) {
        out.push(if p > 2.0 * d {
            format!(
                "A warm process-pool call at {} rows costs {:.1} µs against {:.1} µs direct: at that size the pipe round trip and shared-memory copy, not the work, set the time.",
                format_count(small),
                p * 1e6,
                d * 1e6
            )
        } else {
            format!(
                "A warm process-pool call at {} rows costs {:.1} µs against {:.1} µs direct: the work per row is large enough that processes pay off even there.",
                format_count(small),
                p * 1e6,
                d * 1e6
            )
        });
    }
    for b in ["direct", "threads", "processes"] {
        let pairs: Vec<(u64, f64)> = sizes
            .iter()
            .filter_map(|&r| {
                Some((
                    r,
                    baseline::find(base, model, b, r)?.wall_seconds / wall(cells, model, b, r)?,
                ))
            })
            .collect();
        if let Some(&(r, ratio)) = pairs.iter().rev().find(|(r, _)| *r <= 1_000_000) {
            out.push(format!(
                "{b}: scikit-learn wall / cpuwall wall = {} at {} rows (over all sizes: {} to {}; above 1 means cpuwall is faster).",
                crate::units::times(ratio),
                format_count(r),
                crate::units::times(pairs.iter().map(|p| p.1).fold(f64::INFINITY, f64::min)),
                crate::units::times(pairs.iter().map(|p| p.1).fold(0.0, f64::max))
            ));
        }
    }
    // Peers other than scikit-learn (ONNX Runtime): cpuwall's best local
    // backend against each, at the largest size both measured.
    for peer in baseline::backends(base, model)
        .into_iter()
        .filter(|b| !["direct", "threads", "processes"].contains(&b.as_str()))
    {
        let best = |r: u64| {
            ["direct", "threads", "auto"]
                .iter()
                .filter_map(|b| Some((wall(cells, model, b, r)?, *b)))
                .min_by(|x, y| x.0.total_cmp(&y.0))
        };
        let at = sizes.iter().rev().find_map(|&r| {
            Some((
                r,
                baseline::find(base, model, &peer, r)?.wall_seconds,
                best(r)?,
            ))
        });
        if let Some((r, theirs, (ours, b))) = at {
            out.push(format!(
                "{}: {} at {} rows against cpuwall {b} {} ({} wall / cpuwall wall = {:.1}).",
                baseline::label(&peer),
                crate::units::seconds(theirs),
                format_count(r),
                crate::units::seconds(ours),
                baseline::label(&peer),
                theirs / ours
            ));
        }
    }
    if !base.is_empty() {
        let sk_sizes = sorted_unique(base.iter().filter(|c| c.model == model).map(|c| c.rows));
        let sk = |b: &str, r: u64| {
            Some((
                baseline::find(base, model, b, r)?.wall_seconds,
                baseline::find(base, model, "direct", r)?.wall_seconds,
            ))
        };
        let ours = crossover_rows(&sizes, |r| {
            Some((
                wall(cells, model, "threads", r)?,
                wall(cells, model, "direct", r)?,
            ))
        });
        let theirs = crossover_rows(&sk_sizes, |r| sk("threads", r));
        let say = |x: Option<u64>| {
            x.map_or("never".to_string(), |r| {
                format!("from {} rows", format_count(r))
            })
        };
        out.push(format!(
            "Threads beat direct {} here; in scikit-learn {}.",
            say(ours),
            say(theirs)
        ));
    }
    if cells
        .iter()
        .any(|c| c.model == model && !c.identical_to_direct)
    {
        out.push("WARNING: some backend's predictions differed from direct's.".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_is_the_start_of_the_final_winning_run() {
        let sizes = [10, 100, 1000, 10000];
        // wins at 10 (noise), loses at 100, wins from 1000 on
        let walls = |r: u64| {
            Some(match r {
                10 => (0.5, 1.0),
                100 => (1.0, 1.0),
                _ => (0.5, 1.0),
            })
        };
        assert_eq!(crossover_rows(&sizes, walls), Some(1000));
        assert_eq!(
            crossover_rows(&sizes, |_| Some((0.97, 1.0))),
            None,
            "3% is noise"
        );
        assert_eq!(
            crossover_rows(&sizes, |r| Some(if r == 10000 {
                (2.0, 1.0)
            } else {
                (0.1, 1.0)
            })),
            None
        );
    }
}
