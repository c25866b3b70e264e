//! A faithful port of scikit-learn's `make_classification`: same parameters,
//! same defaults, same structure (clusters on hypercube vertices, random
//! covariance per cluster, redundant features as linear combinations,
//! repeated and useless features, label noise, shift/scale, shuffles) and the
//! same random stream (numpy's legacy MT19937), so a seed gives scikit-learn's
//! data. Only the matrix products may differ in the last bits from BLAS.

use ndarray::Array2;

use super::mt19937::RandomState;
use super::Dataset;
use crate::error::{Error, Result};

/// Parameters of `make_classification`, with scikit-learn's defaults except
/// `n_samples`/`n_features`, which callers always set.
#[derive(Debug, Clone)]
pub struct MakeClassification {
    pub n_samples: usize,
    pub n_features: usize,
    pub n_informative: usize,
    pub n_redundant: usize,
    pub n_repeated: usize,
    pub n_classes: usize,
    pub n_clusters_per_class: usize,
    pub weights: Option<Vec<f64>>,
    pub flip_y: f64,
    pub class_sep: f64,
    pub hypercube: bool,
    /// `None` draws a random shift per feature (scikit-learn's `shift=None`).
    pub shift: Option<f64>,
    /// `None` draws a random scale per feature (scikit-learn's `scale=None`).
    pub scale: Option<f64>,
    pub shuffle: bool,
    pub seed: u32,
}

impl MakeClassification {
    pub fn new(n_samples: usize, n_features: usize, seed: u32) -> Self {
        MakeClassification {
            n_samples,
            n_features,
            n_informative: 2,
            n_redundant: 2,
            n_repeated: 0,
            n_classes: 2,
            n_clusters_per_class: 2,
            weights: None,
            flip_y: 0.01,
            class_sep: 1.0,
            hypercube: true,
            shift: Some(0.0),
            scale: Some(1.0),
            shuffle: true,
            seed,
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::usage(m));
        if self.n_samples == 0 || self.n_features == 0 {
            return bad("make_classification needs at least one sample and one feature".into());
        }
        if self.n_informative == 0 || self.n_classes == 0 || self.n_clusters_per_class == 0 {
            return bad(
                "n_informative, n_classes and n_clusters_per_class must be at least 1".into(),
            );
        }
        let used = self.n_informative + self.n_redundant + self.n_repeated;
        if used > self.n_features {
            return bad(format!(
                "--features {} is too few: informative ({}) + redundant ({}) + repeated ({}) = {used}; use --features {used} or more",
                self.n_features, self.n_informative, self.n_redundant, self.n_repeated
            ));
        }
        let clusters = self.n_classes * self.n_clusters_per_class;
        if (self.n_informative as f64) < (clusters as f64).log2() {
            return bad(format!(
                "n_classes({}) * n_clusters_per_class({}) must be smaller or equal 2**n_informative({})={}",
                self.n_classes,
                self.n_clusters_per_class,
                self.n_informative,
                1u64 << self.n_informative.min(63)
            ));
        }
        if let Some(w) = &self.weights {
            if w.len() != self.n_classes && w.len() != self.n_classes - 1 {
                return bad(format!(
                    "weights has {} entries; give n_classes ({}) or n_classes - 1",
                    w.len(),
                    self.n_classes
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.flip_y) || self.class_sep <= 0.0 {
            return bad("flip_y must be in [0, 1] and class_sep positive".into());
        }
        Ok(())
    }

    pub fn generate(&self) -> Result<Dataset> {
        self.check()?;
        let (n, nf, ni) = (self.n_samples, self.n_features, self.n_informative);
        let (nr, np_) = (self.n_redundant, self.n_repeated);
        let n_useless = nf - ni - nr - np_;
        let n_clusters = self.n_classes * self.n_clusters_per_class;
        let mut rng = RandomState::new(self.seed);

        let weights = match &self.weights {
            Some(w) if w.len() == self.n_classes => w.clone(),
            Some(w) => {
                let mut w = w.clone();
                w.push(1.0 - w.iter().sum::<f64>());
                w
            }
            None => {
                let mut w = vec![1.0 / self.n_classes as f64; self.n_classes];
                let head: f64 = w[..self.n_classes - 1].iter().sum();
                w[self.n_classes - 1] = 1.0 - head;
                w
            }
        };
        let mut per_cluster: Vec<usize> = (0..n_clusters)
            .map(|k| {
                (n as f64 * weights[k % self.n_classes] / self.n_clusters_per_class as f64) as usize
            })
            .collect();
        let assigned: usize = per_cluster.iter().sum();
        for i in 0..n.saturating_sub(assigned) {
            per_cluster[i % n_clusters] += 1;
        }

        let mut x = Array2::<f64>::zeros((n, nf));
        let mut y = vec![0i64; n];

        let mut centroids = generate_hypercube(n_clusters, ni, &mut rng);
        for v in centroids.iter_mut() {
            *v = *v * 2.0 * self.class_sep - self.class_sep;
        }
        if !self.hypercube {
            let a: Vec<f64> = (0..n_clusters).map(|_| rng.random_sample()).collect();
            let b: Vec<f64> = (0..ni).map(|_| rng.random_sample()).collect();
            for k in 0..n_clusters {
                for j in 0..ni {
                    centroids[[k, j]] *= a[k];
                }
            }
            for k in 0..n_clusters {
                for j in 0..ni {
                    centroids[[k, j]] *= b[j];
                }
            }
        }

        for i in 0..n {
            for j in 0..ni {
                x[[i, j]] = rng.standard_normal();
            }
        }

        let mut stop = 0;
        let mut row = vec![0.0; ni];
        for k in 0..n_clusters {
            let start = stop;
            stop += per_cluster[k];
            let a: Vec<f64> = (0..ni * ni)
                .map(|_| 2.0 * rng.random_sample() - 1.0)
                .collect();
            for i in start..stop {
                y[i] = (k % self.n_classes) as i64;
                row.copy_from_slice(&x.row(i).as_slice().expect("row-major")[..ni]);
                for j in 0..ni {
                    let mut s = 0.0;
                    for (t, r) in row.iter().enumerate() {
                        s += r * a[t * ni + j];
                    }
                    x[[i, j]] = s + centroids[[k, j]];
                }
            }
        }

        if nr > 0 {
            let b: Vec<f64> = (0..ni * nr)
                .map(|_| 2.0 * rng.random_sample() - 1.0)
                .collect();
            for i in 0..n {
                for j in 0..nr {
                    let mut s = 0.0;
                    for t in 0..ni {
                        s += x[[i, t]] * b[t * nr + j];
                    }
                    x[[i, ni + j]] = s;
                }
            }
        }

        if np_ > 0 {
            let m = ni + nr;
            let idx: Vec<usize> = (0..np_)
                .map(|_| ((m as f64 - 1.0) * rng.random_sample() + 0.5) as usize)
                .collect();
            for i in 0..n {
                for (j, &src) in idx.iter().enumerate() {
                    x[[i, m + j]] = x[[i, src]];
                }
            }
        }

        if n_useless > 0 {
            for i in 0..n {
                for j in nf - n_useless..nf {
                    x[[i, j]] = rng.standard_normal();
                }
            }
        }

        if self.flip_y >= 0.0 {
            let mask: Vec<bool> = (0..n).map(|_| rng.random_sample() < self.flip_y).collect();
            for (i, flip) in mask.iter().enumerate() {
                if *flip {
                    y[i] = rng.randint(self.n_classes as u64) as i64;
                }
            }
        }

        let shift: Vec<f64> = match self.shift {
            Some(s) => vec![s; nf],
            None => (0..nf)
                .map(|_| (2.0 * rng.random_sample() - 1.0) * self.class_sep)
                .collect(),
        };
        let scale: Vec<f64> = match self.scale {
            Some(s) => vec![s; nf],
            None => (0..nf).map(|_| 1.0 + 100.0 * rng.random_sample()).collect(),
        };
        for mut r in x.rows_mut() {
            for j in 0..nf {
                r[j] = (r[j] + shift[j]) * scale[j];
            }
        }

        if self.shuffle {
            let rows = rng.permutation(n);
            let mut cols: Vec<usize> = (0..nf).collect();
            rng.shuffle(&mut cols);
            let mut xs = Array2::<f64>::zeros((n, nf));
            let mut ys = vec![0i64; n];
            for (dst, &src) in rows.iter().enumerate() {
                ys[dst] = y[src];
                for (j, &c) in cols.iter().enumerate() {
                    xs[[dst, j]] = x[[src, c]];
                }
            }
            x = xs;
            y = ys;
        }
        Ok(Dataset::new(x, y))
    }
}

/// `_generate_hypercube`: `samples` distinct binary vertices of a
/// `dimensions`-cube, drawn by `sample_without_replacement`.
fn generate_hypercube(samples: usize, dimensions: usize, rng: &mut RandomState) -> Array2<f64> {
    let mut out = Array2::<f64>::zeros((samples, dimensions));
    if dimensions > 30 {
        let extra = dimensions - 30;
        for i in 0..samples {
            for j in 0..extra {
                out[[i, j]] = rng.randint(2) as f64;
            }
        }
        let rest = generate_hypercube(samples, 30, rng);
        out.slice_mut(ndarray::s![.., extra..]).assign(&rest);
        return out;
    }
    let codes = sample_without_replacement(1u64 << dimensions, samples, rng);
    for (i, code) in codes.iter().enumerate() {
        for j in 0..dimensions {
            // Most significant of the low `dimensions` bits first (unpackbits).
            out[[i, j]] = ((code >> (dimensions - 1 - j)) & 1) as f64;
        }
    }
    out
}

/// scikit-learn's `sample_without_replacement(method="auto")`.
fn sample_without_replacement(population: u64, samples: usize, rng: &mut RandomState) -> Vec<u64> {
    let ratio = samples as f64 / population as f64;
    if ratio > 0.01 && ratio < 0.99 {
        return rng
            .permutation(population as usize)
            .into_iter()
            .take(samples)
            .map(|v| v as u64)
            .collect();
    }
    if ratio < 0.2 {
        // tracking selection
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let mut j = rng.randint(population);
            while seen.contains(&j) {
                j = rng.randint(population);
            }
            seen.insert(j);
            out.push(j);
        }
        out
    } else {
        // reservoir sampling
        let mut out: Vec<u64> = (0..samples as u64).collect();
        for i in samples as u64..population {
            let j = rng.randint(i + 1);
            if (j as usize) < samples {
                out[j as usize] = i;
            }
        }
        out
    }
}

/// The default data set of every command: `make_classification` with the
/// study's settings (`n_features` features, two informative, seed).
/// scikit-learn's `make_friedman1(n_samples=rows, n_features=features,
/// noise, random_state=seed)`, the same draws: `X` uniform on [0, 1)
/// (row-major), `y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 +
/// noise N(0, 1)`; the features past the fifth are irrelevant.
pub fn friedman1(rows: usize, features: usize, noise: f64, seed: u32) -> Result<Dataset> {
    if features < 5 {
        return Err(Error::usage(format!(
            "--features {features} is too few for make_friedman1, whose target reads five; use --features 5 or more"
        )));
    }
    let mut rng = RandomState::new(seed);
    let x = Array2::from_shape_fn((rows, features), |_| rng.uniform(0.0, 1.0));
    let y = x
        .rows()
        .into_iter()
        .map(|r| {
            10.0 * (std::f64::consts::PI * r[0] * r[1]).sin()
                + 20.0 * (r[2] - 0.5).powi(2)
                + 10.0 * r[3]
                + 5.0 * r[4]
        })
        .collect::<Vec<f64>>();
    let y = y
        .into_iter()
        .map(|v| v + noise * rng.standard_normal())
        .collect();
    Ok(Dataset::regression(x, y))
}

pub fn study_data(rows: usize, features: usize, seed: u32) -> Result<Dataset> {
    MakeClassification::new(rows, features, seed).generate()
}

/// Rows per block of [`blocked_rows`].
pub const BLOCK_ROWS: usize = 65_536;

/// Synthetic rows `range` of a data set built from independent blocks of
/// [`BLOCK_ROWS`] rows, block `b` being `make_classification` with a seed
/// derived from (`seed`, `b`). Unlike one big `make_classification` (whose
/// final shuffle ties every row to every other), any range can be made on
/// its own: MPI ranks generate just their rows and still agree with a
/// single process generating all of them.
pub fn blocked_rows(
    range: std::ops::Range<usize>,
    n_features: usize,
    seed: u32,
) -> Result<Array2<f64>> {
    let mut out = Array2::<f64>::zeros((range.len(), n_features));
    if range.is_empty() {
        return Ok(out);
    }
    let (first, last) = (range.start / BLOCK_ROWS, (range.end - 1) / BLOCK_ROWS);
    for b in first..=last {
        let block_seed =
            (crate::rng::SplitMix64::derive(seed as u64, b as u64).next_u64() >> 32) as u32;
        let block = MakeClassification::new(BLOCK_ROWS, n_features, block_seed).generate()?;
        let (b0, b1) = (b * BLOCK_ROWS, (b + 1) * BLOCK_ROWS);
        let (lo, hi) = (range.start.max(b0), range.end.min(b1));
        out.slice_mut(ndarray::s![lo - range.start..hi - range.start, ..])
            .assign(&block.x.slice(ndarray::s![lo - b0..hi - b0, ..]));
    }
    Ok(out)
}
