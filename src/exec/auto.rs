//! `auto`: direct below the measured crossover batch size, threads from it
//! on. Processes never win on one machine (the same cores plus copies and
//! pipes), so auto does not pick them. The crossover is measured once per
//! (model kind, features, threads) and cached; `--threads-from ROWS`
//! overrides it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ndarray::{Array2, ArrayView2};

use super::direct::Direct;
use super::threads::Threads;
use super::{Backend, CallCost};
use crate::atomic::write_atomic;
use crate::error::Result;
use crate::model::{Model, Predictor};
use crate::rng::SplitMix64;

/// A backend beats direct when its wall is below this fraction of direct's
/// (at least 5% faster); smaller gaps are within run-to-run noise. One rule
/// for both auto's switch to threads and the crossovers that reports show,
/// so a report explains what auto does.
pub const BEAT_MARGIN: f64 = 0.95;

/// `wall` beats `direct_wall` by [`BEAT_MARGIN`].
pub fn beats(wall: f64, direct_wall: f64) -> bool {
    wall < BEAT_MARGIN * direct_wall
}

/// Batch sizes tried when calibrating.
const PROBES: [usize; 9] = [30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000];

pub struct Auto {
    direct: Direct,
    threads: Threads,
    /// Smallest batch predicted with threads.
    pub threads_from_rows: usize,
}

impl Auto {
    pub fn new(model: Arc<Model>, threads: Threads, threads_from_rows: usize) -> Self {
        Auto {
            direct: Direct::new(model),
            threads,
            threads_from_rows,
        }
    }
}

impl Backend for Auto {
    fn name(&self) -> String {
        if self.threads_from_rows == usize::MAX {
            "auto(direct at every size: threads never paid off here)".into()
        } else {
            format!("auto(threads from {} rows)", self.threads_from_rows)
        }
    }

    fn predict(&mut self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost> {
        if x.nrows() >= self.threads_from_rows {
            self.threads.predict(x, out)
        } else {
            self.direct.predict(x, out)
        }
    }

    fn scores(&mut self, x: ArrayView2<'_, f64>) -> Result<(ndarray::Array2<f64>, CallCost)> {
        if x.nrows() >= self.threads_from_rows {
            self.threads.scores(x)
        } else {
            self.direct.scores(x)
        }
    }

    fn predict_finite(
        &mut self,
        x: ArrayView2<'_, f64>,
        out: &mut [i64],
        origin: &std::path::Path,
    ) -> Result<CallCost> {
        if x.nrows() >= self.threads_from_rows {
            self.threads.predict_finite(x, out, origin)
        } else {
            self.direct.predict_finite(x, out, origin)
        }
    }

    fn rest(&mut self) {
        self.threads.rest();
    }
}

fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Smallest probed batch where threads [`beats`] direct
/// (best of several runs each), `usize::MAX` if never.
pub fn calibrate(model: &Arc<Model>, threads: &mut Threads) -> usize {
    let d = model.n_features();
    let mut rng = SplitMix64::new(42);
    let biggest = *PROBES.last().expect("probes");
    let x = Array2::from_shape_fn((biggest, d), |_| {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
    });
    let k = model.n_outputs();
    let mut out = vec![0i64; biggest * k];
    for rows in PROBES {
        let xs = x.slice(ndarray::s![..rows, ..]);
        let runs = (200_000 / rows).clamp(3, 50);
        let direct = best_of(runs, || model.predict_into(xs, &mut out[..rows * k]));
        let par = best_of(runs, || {
            let _ = threads.predict(xs, &mut out[..rows * k]);
        });
        if beats(par, direct) {
            return rows;
        }
    }
    usize::MAX
}

/// Where calibrations are cached: `$XDG_CACHE_HOME/cpuwall/crossover.json`
/// (or `~/.cache/...`).
pub fn cache_path() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("cpuwall").join("crossover.json")
}

/// Cached crossover for `key`, else calibrate and cache it. Keys are
/// `BUILD/rest`; caching a new one drops those of other builds.
pub fn crossover(
    cache: &Path,
    key: &str,
    model: &Arc<Model>,
    threads: &mut Threads,
) -> Result<usize> {
    // A cache that cannot be read (missing, foreign, huge) is recalibrated.
    let limit = crate::data::bounded::Limit {
        what: "crossover cache",
        max: 1 << 20,
        not_found: "",
    };
    let mut table: BTreeMap<String, usize> = crate::data::bounded::read_json_text(cache, &limit)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if let Some(v) = table.get(key) {
        return Ok(*v);
    }
    let v = calibrate(model, threads);
    let build = key.split('/').next().unwrap_or_default();
    table.retain(|k, _| k.split('/').next() == Some(build));
    table.insert(key.to_string(), v);
    // A cache that cannot be written only costs a recalibration next time.
    let _ = write_atomic(
        cache,
        serde_json::to_string_pretty(&table)
            .expect("json")
            .as_bytes(),
    );
    Ok(v)
}

/// This build of the program: its size and modification time. A crossover
/// measured with other kernels says nothing about these (the AVX-512 row
/// kernels cut the per-row cost 2-3x, which moves the crossover), so every
/// rebuild recalibrates once.
fn build_id() -> String {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            format!("{}b{}", m.len(), modified)
        })
        .unwrap_or_else(|_| env!("CARGO_PKG_VERSION").to_string())
}

/// The crossover for a stored model with `threads` threads, cached by
/// (kind, features, threads, training-data hash, build of this program).
pub fn threshold_for(model: &Arc<Model>, data_hash: &str, threads: &mut Threads) -> Result<usize> {
    let key = format!(
        "{}/{}-{}f-{}t-{}",
        build_id(),
        model.kind(),
        model.n_features(),
        threads.threads(),
        data_hash,
    );
    crossover(&cache_path(), &key, model, threads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::study_data;
    use crate::model::params::ParamSet;
    use crate::model::{fit, nb};

    #[test]
    fn an_auto_that_never_uses_threads_says_so_not_a_row_count() {
        let data = study_data(200, 4, 0).unwrap();
        let model = Arc::new(fit(nb::KIND, &ParamSet::new(), &data, 0).unwrap());
        let threads = Threads::new(model.clone(), 2, None).unwrap();
        let never = Auto::new(model.clone(), threads, usize::MAX).name();
        assert_eq!(
            never,
            "auto(direct at every size: threads never paid off here)"
        );
        let threads = Threads::new(model.clone(), 2, None).unwrap();
        assert_eq!(
            Auto::new(model, threads, 5000).name(),
            "auto(threads from 5000 rows)"
        );
    }

    #[test]
    fn a_cached_crossover_is_reused_and_other_builds_entries_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("crossover.json");
        std::fs::write(&cache, r#"{"old/nb-x": 5, "new/nb-y": 7}"#).unwrap();
        let data = study_data(500, 4, 0).unwrap();
        let model = Arc::new(fit(nb::KIND, &ParamSet::new(), &data, 0).unwrap());
        let mut threads = Threads::new(model.clone(), 2, None).unwrap();
        // Cached: returned as stored, nothing measured or rewritten.
        assert_eq!(
            crossover(&cache, "new/nb-y", &model, &mut threads).unwrap(),
            7
        );
        assert!(std::fs::read_to_string(&cache)
            .unwrap()
            .contains("old/nb-x"));
        // New key: calibrated, cached, and the other build's entry dropped.
        let v = crossover(&cache, "new/nb-z", &model, &mut threads).unwrap();
        let table: BTreeMap<String, usize> =
            serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
        assert_eq!(table.get("new/nb-z"), Some(&v));
        assert_eq!(table.get("new/nb-y"), Some(&7));
        assert!(!table.contains_key("old/nb-x"));
    }
}
