//! `--find-max`: raise the rate (×2 from the start) until a run misses the
//! target, then bisect between the last rate that met it and the first that
//! did not, to within 5%. The search is a function of the runs it is shown,
//! so it is tested with a fake server.

use crate::error::Result;
use crate::measure::results::load::{kept_up, meets, LoadRun};

/// `--find-max`'s settings.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub p99_ms: f64,
    /// Doubling steps at most before giving up on finding a limit.
    pub max_steps: usize,
}

/// Run the search: `measure(rate)` runs the load at `rate`; `refine` is the
/// most bisection steps. `on_step` sees each run and whether it met the
/// target. Every run, and the highest rate that met the target.
pub fn find_max(
    start: f64,
    p99_ms: f64,
    max_steps: usize,
    refine: usize,
    measure: &mut dyn FnMut(f64) -> Result<LoadRun>,
    on_step: &dyn Fn(&LoadRun, bool),
) -> Result<(Vec<LoadRun>, Option<f64>)> {
    let mut runs = Vec::new();
    let mut good: Option<f64> = None;
    let mut bad: Option<f64> = None;
    let mut rate = start;
    for step in 0..max_steps + refine {
        let r = measure(rate)?;
        let mut ok = meets(&r, p99_ms);
        on_step(&r, ok);
        // A p99 miss while the answers kept up with the offer may be one
        // stall of a shared machine: two more runs, the majority decides.
        let missed_p99_only = !ok && r.error_count() == 0 && kept_up(&r);
        runs.push(r);
        if missed_p99_only {
            let again = measure(rate)?;
            ok = meets(&again, p99_ms);
            on_step(&again, ok);
            runs.push(again);
            if ok {
                let third = measure(rate)?;
                ok = meets(&third, p99_ms);
                on_step(&third, ok);
                runs.push(third);
            }
        }
        if ok {
            good = Some(good.map_or(rate, |g: f64| g.max(rate)));
        } else {
            bad = Some(bad.map_or(rate, |b: f64| b.min(rate)));
        }
        rate = match (good, bad) {
            (Some(g), None) => g * 2.0,
            (Some(g), Some(b)) => (g + b) / 2.0,
            (None, Some(b)) => b / 2.0,
            (None, None) => unreachable!("a step ran"),
        };
        if bad.is_none() && step + 1 >= max_steps {
            break;
        }
        // Bisect to within 5%.
        if let (Some(g), Some(b)) = (good, bad) {
            if (b - g) / g < 0.05 {
                break;
            }
        }
        if good.is_none() && rate < 1.0 {
            break;
        }
    }
    Ok((runs, good))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::results::load::{Mode, Percentiles};
    use std::collections::BTreeMap;

    /// A fake server: answers everything offered, with p99 `p99(rate)` ms.
    fn run_at(rate: f64, p99: f64) -> LoadRun {
        LoadRun {
            mode: Mode::Rate(rate),
            offered_rps: Some(rate),
            connections: 1,
            rows_per_request: 1,
            duration_s: 1.0,
            requests: rate as u64,
            ok: rate as u64,
            errors: BTreeMap::new(),
            throughput_rps: rate,
            latency_ms: Some(Percentiles {
                p50: p99 / 2.0,
                p90: p99,
                p99,
                p999: p99,
                max: p99,
                mean: p99 / 2.0,
            }),
            server_cpu_per_wall: None,
            mean_batch_rows: None,
            client_cpu_per_wall: 0.1,
        }
    }

    #[test]
    fn the_search_doubles_then_bisects_to_within_five_percent_of_the_limit() {
        // p99 crosses 10 ms at 30,000 requests/s.
        let mut server = |rate: f64| Ok(run_at(rate, rate / 3000.0));
        let (runs, best) = find_max(1000.0, 10.0, 20, 6, &mut server, &|_, _| {}).unwrap();
        let best = best.unwrap();
        assert!((28_500.0..=30_000.0).contains(&best), "best {best}");
        // 1k, 2k, 4k, 8k, 16k, 32k doubling; the misses at 32k are run three times at most.
        assert_eq!(
            runs[..6]
                .iter()
                .map(|r| r.offered_rps.unwrap())
                .collect::<Vec<_>>(),
            vec![1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 32000.0]
        );
    }

    #[test]
    fn one_stalled_run_is_outvoted_by_two_good_ones() {
        let mut calls = 0;
        // The second run at 2,000 stalls once (p99 50 ms); the two after it meet 10 ms.
        let mut server = |rate: f64| {
            calls += 1;
            Ok(run_at(rate, if calls == 2 { 50.0 } else { 1.0 }))
        };
        let (runs, best) = find_max(1000.0, 10.0, 2, 0, &mut server, &|_, _| {}).unwrap();
        assert_eq!(best, Some(2000.0));
        assert_eq!(runs.len(), 4, "1k, then 2k three times");
    }

    #[test]
    fn a_server_that_never_meets_the_target_has_no_best_rate() {
        let mut server = |rate: f64| {
            let mut r = run_at(rate, 1.0);
            r.errors.insert("503".into(), 1);
            Ok(r)
        };
        let (runs, best) = find_max(8.0, 10.0, 5, 6, &mut server, &|_, _| {}).unwrap();
        assert_eq!(best, None);
        assert_eq!(
            runs.last().unwrap().offered_rps,
            Some(1.0),
            "halves down to 1 request/s"
        );
    }
}
