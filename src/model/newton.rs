//! Proximal Newton with coordinate descent for every linear model cpuwall
//! fits: `mean loss + l2/2 ||w||^2 + l1 ||w||_1` (newGLMNET, Yuan, Ho &
//! Lin 2012 — liblinear's solver for L1-regularised logistic regression —
//! used here for every penalty and loss).
//!
//! Each outer (Newton) iteration builds the quadratic model of the smooth
//! part at `w` — gradient `G`, Hessian `X^T diag(h) X + l2 I` (block
//! diagonal per class for the multinomial loss, the generalised Hessian for
//! the squared hinge) — minimises it plus the L1 term by cyclic coordinate
//! descent (each coordinate's step scaled by its own curvature, which is
//! what makes features in different units harmless), then takes the
//! largest of 1, 1/2, 1/4, ... that decreases the objective enough
//! (Armijo, sigma = 0.01). Cyclic order, no randomness: fits are
//! deterministic.
//!
//! **Stopping rule.** The optimality measure is the largest entry of the
//! minimum-norm subgradient of the whole objective (it is zero exactly at
//! the optimum): `|G_j + l1 sign(w_j)|` where `w_j != 0`, else
//! `max(|G_j| - l1, 0)`, intercepts plain `|G_j|`. A fit has converged when
//! the measure is at most `tol` times its value at the start `w = 0`
//! (liblinear's relative rule, in the max norm); `max_iter` bounds the
//! Newton iterations.

use ndarray::{Array2, ArrayView1, Axis};

use super::linear::FitInfo;

/// The data term (borrowed targets: cheap to copy).
#[derive(Clone, Copy)]
pub enum Loss<'a> {
    /// Binary logistic loss; targets 0 or 1.
    Logistic(&'a [f64]),
    /// Multinomial (softmax) logistic loss; targets are class indices.
    Multinomial { y: &'a [usize], classes: usize },
    /// Binary squared hinge, `max(0, 1 - y z)^2`; targets -1 or +1.
    SquaredHinge(&'a [f64]),
    /// Squared error, `(z - y)^2 / 2` (least squares, ridge, lasso,
    /// elastic net); real targets.
    Squared(&'a [f64]),
}

pub struct Problem<'a> {
    /// Features, row-major, `n x d`.
    pub x: &'a [f64],
    pub n: usize,
    pub d: usize,
    pub loss: Loss<'a>,
    pub l1: f64,
    pub l2: f64,
    /// Whether the intercepts carry the penalty too (liblinear's bias
    /// feature, as scikit-learn's `LinearSVC`); else they are free.
    pub penalize_intercept: bool,
    /// Units of the coefficients: `x` holds each feature divided by `s_j`,
    /// coefficients are `w_j s_j` and the penalties weighted to match
    /// (`l1 / s_j`, `l2 / s_j^2`): the same objective in other units. Empty
    /// (all 1) for the problem a caller states; [`minimize`] solves it
    /// over columns divided by their root mean square (a diagonal
    /// preconditioner: features in the thousands and below 1 then cost the
    /// coordinate steps and the Hessian's conditioning nothing).
    units: Vec<f64>,
}

/// Armijo's sufficient-decrease fraction.
const SIGMA: f64 = 0.01;
/// Step halvings before the line search gives up.
const MAX_HALVINGS: usize = 40;
/// The quadratic model is solved until its coordinate steps (times their
/// curvature) fall below this fraction of the outer optimality measure.
const INNER_FRACTION: f64 = 0.05;
/// Coordinate-descent passes per Newton iteration, at most: over the
/// explicit Hessian (a pass costs `(d + 1)^2`) and over the data columns
/// (a pass costs `2 n (d + 1)`).
const MAX_GRAM_PASSES: usize = 20_000;
const MAX_COLUMN_PASSES: usize = 200;
/// Widest problem (features + 1) whose Hessian block is formed explicitly
/// (`n (d + 1)^2 / 2` per Newton iteration, 2 MiB at 512); wider ones run
/// coordinate descent over the data columns instead.
const GRAM_MAX_WIDTH: usize = 512;

impl<'a> Problem<'a> {
    pub fn new(
        x: &'a [f64],
        n: usize,
        d: usize,
        loss: Loss<'a>,
        (l1, l2): (f64, f64),
        penalize_intercept: bool,
    ) -> Self {
        Problem {
            x,
            n,
            d,
            loss,
            l1,
            l2,
            penalize_intercept,
            units: Vec::new(),
        }
    }

    /// Unit of coefficient `j` (`j == d`: the intercept, always 1).
    fn unit(&self, j: usize) -> f64 {
        self.units.get(j).copied().unwrap_or(1.0)
    }

    /// Number of linear outputs (rows of W).
    pub fn outputs(&self) -> usize {
        match self.loss {
            Loss::Multinomial { classes, .. } => classes,
            _ => 1,
        }
    }

    fn width(&self) -> usize {
        self.d + 1
    }

    /// (l1, l2) weights of the coordinate `j` of an output (`j == d`: the
    /// intercept).
    fn penalty_of(&self, j: usize) -> (f64, f64) {
        if j < self.d || self.penalize_intercept {
            let s = self.unit(j);
            (self.l1 / s, self.l2 / (s * s))
        } else {
            (0.0, 0.0)
        }
    }

    /// The penalty part of the objective.
    fn penalty(&self, w: &[f64]) -> f64 {
        let wd = self.width();
        w.iter()
            .enumerate()
            .map(|(idx, v)| {
                let (l1, l2) = self.penalty_of(idx % wd);
                l1 * v.abs() + 0.5 * l2 * v * v
            })
            .sum()
    }

    /// Decision values `z` (output-major, `outputs x n`) of `w`.
    fn decisions(&self, w: &[f64]) -> Vec<f64> {
        let (n, d, wd) = (self.n, self.d, self.width());
        let mut z = vec![0.0; self.outputs() * n];
        for (o, zo) in z.chunks_exact_mut(n).enumerate() {
            let wo = &w[o * wd..(o + 1) * wd];
            for (zi, row) in zo.iter_mut().zip(self.x.chunks_exact(d.max(1))) {
                let mut s = wo[d];
                for j in 0..d {
                    s += wo[j] * row[j];
                }
                *zi = s;
            }
        }
        z
    }

    /// Mean loss at decision values `z + step * u` (output-major).
    fn mean_loss(&self, z: &[f64], u: &[f64], step: f64) -> f64 {
        let n = self.n;
        let at = |o: usize, i: usize| z[o * n + i] + step * u[o * n + i];
        let mut total = 0.0;
        match &self.loss {
            Loss::Logistic(t) => {
                for (i, &ti) in t.iter().enumerate() {
                    let zz = at(0, i);
                    total += (-zz.abs()).exp().ln_1p() + zz.max(0.0) - ti * zz;
                }
            }
            Loss::SquaredHinge(y) => {
                for (i, &yi) in y.iter().enumerate() {
                    let m = 1.0 - yi * at(0, i);
                    if m > 0.0 {
                        total += m * m;
                    }
                }
            }
            Loss::Squared(y) => {
                for (i, &yi) in y.iter().enumerate() {
                    let r = at(0, i) - yi;
                    total += 0.5 * r * r;
                }
            }
            Loss::Multinomial { y, classes } => {
                for (i, &yi) in y.iter().enumerate() {
                    let m = (0..*classes).map(|o| at(o, i)).fold(f64::MIN, f64::max);
                    let s: f64 = (0..*classes).map(|o| (at(o, i) - m).exp()).sum();
                    total += m + s.ln() - at(yi, i);
                }
            }
        }
        total / n as f64
    }

    /// Per-row first and second derivatives of the mean loss with respect to
    /// each decision value (output-major), the second block-diagonal for the
    /// multinomial loss and the generalised one for the squared hinge.
    fn derivatives(&self, z: &[f64], g: &mut [f64], h: &mut [f64]) {
        let n = self.n;
        let inv_n = 1.0 / n as f64;
        match &self.loss {
            Loss::Logistic(t) => {
                for i in 0..n {
                    let p = 1.0 / (1.0 + (-z[i]).exp());
                    g[i] = (p - t[i]) * inv_n;
                    h[i] = p * (1.0 - p) * inv_n;
                }
            }
            Loss::SquaredHinge(y) => {
                for i in 0..n {
                    let m = 1.0 - y[i] * z[i];
                    let (gi, hi) = if m > 0.0 {
                        (-2.0 * y[i] * m, 2.0)
                    } else {
                        (0.0, 0.0)
                    };
                    g[i] = gi * inv_n;
                    h[i] = hi * inv_n;
                }
            }
            Loss::Squared(y) => {
                for i in 0..n {
                    g[i] = (z[i] - y[i]) * inv_n;
                    h[i] = inv_n;
                }
            }
            Loss::Multinomial { y, classes } => {
                let k = *classes;
                let mut p = vec![0.0; k];
                for i in 0..n {
                    let m = (0..k).map(|o| z[o * n + i]).fold(f64::MIN, f64::max);
                    let mut s = 0.0;
                    for (o, po) in p.iter_mut().enumerate() {
                        *po = (z[o * n + i] - m).exp();
                        s += *po;
                    }
                    for (o, po) in p.iter().enumerate() {
                        let q = po / s;
                        let target = if y[i] == o { 1.0 } else { 0.0 };
                        g[o * n + i] = (q - target) * inv_n;
                        h[o * n + i] = q * (1.0 - q) * inv_n;
                    }
                }
            }
        }
    }

    /// Gradient of the smooth part (mean loss + l2 term) from the per-row
    /// derivatives `g`, over the transposed features `xt` (`d x n`).
    fn gradient(&self, xt: &[f64], g: &[f64], w: &[f64]) -> Vec<f64> {
        (0..self.outputs())
            .flat_map(|o| self.gradient_block(xt, g, w, o))
            .collect()
    }

    /// The gradient's block of output `o`.
    fn gradient_block(&self, xt: &[f64], g: &[f64], w: &[f64], o: usize) -> Vec<f64> {
        let (n, d, wd) = (self.n, self.d, self.width());
        let go = &g[o * n..(o + 1) * n];
        (0..wd)
            .map(|j| {
                let raw = if j < d {
                    dot(&xt[j * n..(j + 1) * n], go)
                } else {
                    go.iter().sum()
                };
                raw + self.penalty_of(j).1 * w[o * wd + j]
            })
            .collect()
    }

    /// The softmax is unchanged when one vector `c` is subtracted from every
    /// class's coefficients; choose, per feature, the `c` that minimises
    /// the penalty (the mean over classes for l2, the median for l1; in
    /// between for elastic net) — the one direction along which the
    /// classes' blocks cannot move together. Updates `z`; returns the new
    /// objective.
    fn center(&self, w: &mut [f64], z: &mut [f64]) -> f64 {
        let (n, d, k, wd) = (self.n, self.d, self.outputs(), self.width());
        let mut shift = vec![0.0; d];
        for (j, sj) in shift.iter_mut().enumerate() {
            let col: Vec<f64> = (0..k).map(|o| w[o * wd + j]).collect();
            let (l1, l2) = self.penalty_of(j);
            let cost = |c: f64| -> f64 {
                col.iter()
                    .map(|v| l1 * (v - c).abs() + 0.5 * l2 * (v - c) * (v - c))
                    .sum()
            };
            // The penalty's derivative in c is nondecreasing: bisect its root.
            let slope = |c: f64| -> f64 {
                col.iter()
                    .map(|v| -l1 * (v - c).signum() - l2 * (v - c))
                    .sum()
            };
            let (mut lo, mut hi) = col
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
            if lo == hi {
                *sj = lo;
                continue;
            }
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                if slope(mid) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let c = 0.5 * (lo + hi);
            // Only a strict gain: where the l1 cost is flat (an even number
            // of classes) the shift would only move zeros off zero.
            let before = cost(0.0);
            if cost(c) < before - 1e-12 * before.abs() {
                *sj = c;
            }
        }
        for o in 0..k {
            for j in 0..d {
                w[o * wd + j] -= shift[j];
            }
        }
        let row_shift: Vec<f64> = self
            .x
            .chunks_exact(d.max(1))
            .take(n)
            .map(|row| dot(row, &shift))
            .collect();
        for o in 0..k {
            for (zv, rs) in z[o * n..(o + 1) * n].iter_mut().zip(&row_shift) {
                *zv -= rs;
            }
        }
        self.mean_loss(z, z, 0.0) + self.penalty(w)
    }

    /// `[X 1]`, `n x (d + 1)`: the rows with the intercept's constant.
    fn augmented(&self) -> Array2<f64> {
        let (n, d) = (self.n, self.d);
        let mut xa = Array2::ones((n, d + 1));
        for (mut out, row) in xa.rows_mut().into_iter().zip(self.x.chunks_exact(d.max(1))) {
            for (o, v) in out.iter_mut().zip(row) {
                *o = *v;
            }
        }
        xa
    }

    /// One output's Hessian block of the smooth part, `[X 1]' diag(h) [X 1]`
    /// (`xa` is [`Self::augmented`]) plus the l2 penalty on the diagonal,
    /// `(d + 1) x (d + 1)` row-major. A matrix product (ndarray's GEMM,
    /// SIMD-dispatched at run time): the bulk of a Newton iteration.
    fn weighted_gram(&self, xa: &Array2<f64>, h: &[f64]) -> Vec<f64> {
        let wd = self.width();
        let h = ArrayView1::from(h);
        let weighted = xa * &h.insert_axis(Axis(1));
        let mut hess = weighted.t().dot(xa);
        for j in 0..wd {
            hess[[j, j]] += self.penalty_of(j).1 + 1e-12;
        }
        hess.into_raw_vec_and_offset().0
    }

    /// `uo = X (to - wo)` for one output.
    fn apply(&self, wo: &[f64], to: &[f64], uo: &mut [f64]) {
        let d = self.d;
        let s: Vec<f64> = to.iter().zip(wo).map(|(t, w)| t - w).collect();
        for (ui, row) in uo.iter_mut().zip(self.x.chunks_exact(d.max(1))) {
            let mut v = s[d];
            for j in 0..d {
                v += s[j] * row[j];
            }
            *ui = v;
        }
    }

    /// The optimality measure at `w` (see the module notes); zero exactly at
    /// the optimum.
    pub fn optimality(&self, w: &[f64]) -> f64 {
        let xt = transpose(self.x, self.n, self.d);
        let z = self.decisions(w);
        let mut g = vec![0.0; z.len()];
        let mut h = vec![0.0; z.len()];
        self.derivatives(&z, &mut g, &mut h);
        self.measure(&self.gradient(&xt, &g, w), w)
    }

    fn measure(&self, grad: &[f64], w: &[f64]) -> f64 {
        self.measures(grad, w).0
    }

    /// The optimality measure in the stated problem's units and in this
    /// problem's own (what its coordinate steps are compared with).
    fn measures(&self, grad: &[f64], w: &[f64]) -> (f64, f64) {
        let wd = self.width();
        grad.iter()
            .zip(w)
            .enumerate()
            .map(|(idx, (gv, wv))| {
                let l1 = self.penalty_of(idx % wd).0;
                let v = if *wv != 0.0 {
                    (gv + l1 * wv.signum()).abs()
                } else {
                    (gv.abs() - l1).max(0.0)
                };
                // d/dw_j = s_j d/d(w_j s_j): the stated problem's units.
                (v * self.unit(idx % wd), v)
            })
            .fold((0.0, 0.0), |(a, b), (c, e)| {
                (f64::max(a, c), f64::max(b, e))
            })
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `n x d` row-major to `d x n`: every coordinate's column contiguous.
fn transpose(x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut xt = vec![0.0; n * d];
    for (i, row) in x.chunks_exact(d.max(1)).take(n).enumerate() {
        for (j, v) in row.iter().enumerate() {
            xt[j * n + i] = *v;
        }
    }
    xt
}

/// `sign(v) max(|v| - t, 0)`.
fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

/// Minimise the problem from `w = 0`: the solution (`outputs x (d + 1)`,
/// each output's coefficients then its intercept) and how the fit ended.
pub fn minimize(stated: &Problem, max_iter: usize, tol: f64) -> (Vec<f64>, FitInfo) {
    let (n, d) = (stated.n, stated.d);
    let mut units: Vec<f64> = (0..d)
        .map(|j| {
            let ss: f64 = stated
                .x
                .iter()
                .skip(j)
                .step_by(d.max(1))
                .map(|v| v * v)
                .sum();
            let rms = (ss / n.max(1) as f64).sqrt();
            if rms > 0.0 && rms.is_finite() {
                rms
            } else {
                1.0
            }
        })
        .collect();
    let scaled_x: Vec<f64> = stated
        .x
        .iter()
        .enumerate()
        .map(|(i, v)| v / units[i % d.max(1)])
        .collect();
    let mut problem = Problem::new(
        &scaled_x,
        n,
        d,
        stated.loss,
        (stated.l1, stated.l2),
        stated.penalize_intercept,
    );
    problem.units = std::mem::take(&mut units);
    let (mut w, info) = solve(&problem, max_iter, tol);
    let wd = d + 1;
    for (idx, v) in w.iter_mut().enumerate() {
        *v /= problem.unit(idx % wd);
    }
    (w, info)
}

/// [`minimize`] in the problem's own units.
fn solve(p: &Problem, max_iter: usize, tol: f64) -> (Vec<f64>, FitInfo) {
    let (n, d, k, wd) = (p.n, p.d, p.outputs(), p.width());
    let xt = transpose(p.x, n, d);
    let xa = (wd <= GRAM_MAX_WIDTH).then(|| p.augmented());
    let mut w = vec![0.0; k * wd];
    let mut z = vec![0.0; k * n];
    let mut g = vec![0.0; k * n];
    let mut h = vec![0.0; k * n];
    let mut u = vec![0.0; k * n];
    let mut initial = f64::NAN;
    let mut objective = p.mean_loss(&z, &u, 0.0) + p.penalty(&w);
    let mut iterations = 0;
    loop {
        p.derivatives(&z, &mut g, &mut h);
        let grad = p.gradient(&xt, &g, &w);
        let (measure, own_measure) = p.measures(&grad, &w);
        if iterations == 0 {
            initial = measure;
        }
        if measure <= tol * initial {
            return (w, fit_info(iterations, true));
        }
        if iterations == max_iter {
            return (w, fit_info(iterations, false));
        }
        iterations += 1;

        // One Newton step per output in turn (glmnet's order for the
        // multinomial loss: each class's block of the Hessian is exact at
        // the current point, which the coupled classes need; one block for
        // binary problems). Derivatives are refreshed after every block.
        let inner_tol = INNER_FRACTION * own_measure;
        let mut moved = false;
        for o in 0..k {
            if o > 0 {
                p.derivatives(&z, &mut g, &mut h);
            }
            let block = o * wd..(o + 1) * wd;
            let go = p.gradient_block(&xt, &g, &w, o);
            let wo = w[block.clone()].to_vec();
            let wo = &wo[..];
            let ho = &h[o * n..(o + 1) * n];
            let mut to = wo.to_vec();
            {
                let uo = &mut u[o * n..(o + 1) * n];
                if let Some(xa) = &xa {
                    let hess = p.weighted_gram(xa, ho);
                    gram_descent(p, &hess, &go, wo, &mut to, inner_tol);
                    p.apply(wo, &to, uo);
                } else {
                    column_descent(p, &xt, ho, &go, wo, &mut to, uo, inner_tol);
                }
            }
            let ls = line_search(p, &z, &u, wo, &to, &go, objective);
            if let Some((step, value)) = ls {
                let uo = &u[o * n..(o + 1) * n];
                for (zv, uv) in z[o * n..(o + 1) * n].iter_mut().zip(uo) {
                    *zv += step * uv;
                }
                w[block].copy_from_slice(&if step == 1.0 {
                    to // exactly the model's zeros
                } else {
                    wo.iter()
                        .zip(&to)
                        .map(|(a, b)| a + step * (b - a))
                        .collect()
                });
                objective = value;
                moved = true;
            }
            u[o * n..(o + 1) * n].iter_mut().for_each(|v| *v = 0.0);
        }
        if k > 1 && moved && (p.l1 > 0.0 || p.l2 > 0.0) {
            objective = p.center(&mut w, &mut z);
        }
        if !moved {
            // No descent step left at this precision.
            break;
        }
    }
    // Stopped without a descent step: converged only if already optimal.
    let converged = p.optimality(&w) <= tol * initial;
    (w, fit_info(iterations, converged))
}

/// The largest of 1, 1/2, 1/4, ... along `to - wo` (one output's block;
/// `u` holds `X (to - wo)` in that block and zeros elsewhere) that decreases
/// the objective by at least `SIGMA` of the model's predicted decrease:
/// `(step, new objective)`, or `None` when there is no descent.
fn line_search(
    p: &Problem,
    z: &[f64],
    u: &[f64],
    wo: &[f64],
    to: &[f64],
    go: &[f64],
    objective: f64,
) -> Option<(f64, f64)> {
    let wd = p.width();
    let mut decrease = 0.0;
    for j in 0..wd {
        let l1 = p.penalty_of(j).0;
        decrease += go[j] * (to[j] - wo[j]) + l1 * (to[j].abs() - wo[j].abs());
    }
    if decrease >= 0.0 {
        return None;
    }
    let others = objective - p.mean_loss(z, u, 0.0) - p.penalty(wo);
    let mut step = 1.0;
    let mut trial = vec![0.0; wd];
    for _ in 0..MAX_HALVINGS {
        for j in 0..wd {
            trial[j] = wo[j] + step * (to[j] - wo[j]);
        }
        let value = p.mean_loss(z, u, step) + p.penalty(&trial) + others;
        // Rounding: differences below ~1e-15 of the objective are noise.
        if value - objective <= SIGMA * step * decrease + 1e-15 * objective.abs() {
            return Some((step, value));
        }
        step *= 0.5;
    }
    None
}

/// Coordinate descent on one output's quadratic model, `go.s + s'Hs/2 +
/// l1 |wo + s|` with `s = to - wo`, over its explicit Hessian `hess`
/// (`wd x wd`, penalty included): a coordinate step costs `O(d)`.
fn gram_descent(p: &Problem, hess: &[f64], go: &[f64], wo: &[f64], to: &mut [f64], tol: f64) {
    let wd = wo.len();
    // hs = H s, kept current as coordinates move.
    let mut hs = vec![0.0; wd];
    for _ in 0..MAX_GRAM_PASSES {
        let mut largest = 0.0f64;
        for j in 0..wd {
            let a = hess[j * wd + j];
            let current = to[j];
            let slope = go[j] + hs[j];
            let next = soft_threshold(current - slope / a, p.penalty_of(j).0 / a);
            let delta = next - current;
            if delta == 0.0 {
                continue;
            }
            largest = largest.max(delta.abs() * a);
            to[j] = next;
            for (hv, col) in hs.iter_mut().zip(&hess[j * wd..(j + 1) * wd]) {
                *hv += delta * col;
            }
        }
        if largest <= tol {
            break;
        }
    }
}

/// The same over the data's columns (`xt`, `d x n`) for problems too wide
/// for an explicit Hessian; keeps `uo = X (to - wo)` current.
#[allow(clippy::too_many_arguments)]
fn column_descent(
    p: &Problem,
    xt: &[f64],
    ho: &[f64],
    go: &[f64],
    wo: &[f64],
    to: &mut [f64],
    uo: &mut [f64],
    tol: f64,
) {
    let (n, d) = (p.n, p.d);
    uo.iter_mut().for_each(|v| *v = 0.0);
    let hdiag: Vec<f64> = (0..=d)
        .map(|j| {
            let raw: f64 = if j < d {
                xt[j * n..(j + 1) * n]
                    .iter()
                    .zip(ho)
                    .map(|(x, hv)| hv * x * x)
                    .sum()
            } else {
                ho.iter().sum()
            };
            raw + p.penalty_of(j).1 + 1e-12
        })
        .collect();
    for _ in 0..MAX_COLUMN_PASSES {
        let mut largest = 0.0f64;
        for j in 0..=d {
            let (l1, l2) = p.penalty_of(j);
            let a = hdiag[j];
            let col = (j < d).then(|| &xt[j * n..(j + 1) * n]);
            let curv: f64 = match col {
                Some(c) => c
                    .iter()
                    .zip(ho)
                    .zip(uo.iter())
                    .map(|((x, hv), uv)| x * hv * uv)
                    .sum(),
                None => ho.iter().zip(uo.iter()).map(|(hv, uv)| hv * uv).sum(),
            };
            let current = to[j];
            let slope = go[j] + curv + l2 * (current - wo[j]);
            let next = soft_threshold(current - slope / a, l1 / a);
            let delta = next - current;
            if delta == 0.0 {
                continue;
            }
            largest = largest.max(delta.abs() * a);
            to[j] = next;
            match col {
                Some(c) => uo.iter_mut().zip(c).for_each(|(uv, x)| *uv += delta * x),
                None => uo.iter_mut().for_each(|uv| *uv += delta),
            }
        }
        if largest <= tol {
            break;
        }
    }
}

fn fit_info(iterations: usize, converged: bool) -> FitInfo {
    FitInfo {
        iterations,
        converged,
    }
}

/// Split a solution into (coef row-major `outputs x d`, intercepts).
pub fn split_solution(w: &[f64], outputs: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut coef = Vec::with_capacity(outputs * d);
    let mut intercept = Vec::with_capacity(outputs);
    for o in 0..outputs {
        coef.extend_from_slice(&w[o * (d + 1)..o * (d + 1) + d]);
        intercept.push(w[o * (d + 1) + d]);
    }
    (coef, intercept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use proptest::prelude::*;

    fn unit(rng: &mut SplitMix64) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A problem in the shape real data has: features spanning six orders
    /// of magnitude, one column nearly a copy of another.
    fn ill_conditioned(seed: u64, n: usize, d: usize) -> (Vec<f64>, Vec<usize>) {
        let mut rng = SplitMix64::new(seed);
        let scales: Vec<f64> = (0..d)
            .map(|_| 10f64.powf(unit(&mut rng) * 6.0 - 3.0))
            .collect();
        let truth: Vec<f64> = (0..d).map(|_| unit(&mut rng) * 2.0 - 1.0).collect();
        let mut x = vec![0.0; n * d];
        let mut y = vec![0; n];
        for i in 0..n {
            let mut score = 0.0;
            for j in 0..d {
                let raw = if j == 1 {
                    x[i * d] / scales[0] + 0.01 * (unit(&mut rng) - 0.5)
                } else {
                    unit(&mut rng) * 2.0 - 1.0
                };
                score += truth[j] * raw;
                x[i * d + j] = raw * scales[j];
            }
            let noisy = score + 0.5 * (unit(&mut rng) - 0.5);
            y[i] = if noisy < -0.3 {
                0
            } else if noisy < 0.3 {
                1
            } else {
                2
            };
        }
        (x, y)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn the_returned_solution_meets_the_optimality_tolerance(
            seed in any::<u64>(),
            n in 40usize..160,
            d in 2usize..9,
            loss in 0usize..3,
            penalty in 0usize..3,
            log_c in -2.0f64..3.0,
        ) {
            let (x, classes) = ill_conditioned(seed, n, d);
            let binary: Vec<f64> = classes.iter().map(|&c| (c == 2) as u8 as f64).collect();
            let signs: Vec<f64> = binary.iter().map(|b| 2.0 * b - 1.0).collect();
            let strength = 1.0 / (10f64.powf(log_c) * n as f64);
            let weights = match penalty {
                0 => (strength, 0.0),
                1 => (0.0, strength),
                _ => (0.5 * strength, 0.5 * strength),
            };
            let (loss, penalize_intercept) = match loss {
                0 => (Loss::Logistic(&binary), false),
                1 => (Loss::Multinomial { y: &classes, classes: 3 }, false),
                _ => (Loss::SquaredHinge(&signs), true),
            };
            let p = Problem::new(&x, n, d, loss, weights, penalize_intercept);
            let tol = 1e-4;
            let (w, info) = minimize(&p, 1000, tol);
            let at_zero = p.optimality(&vec![0.0; w.len()]);
            let at_solution = p.optimality(&w);
            prop_assert!(info.converged, "{info}: measure {at_solution:e} vs start {at_zero:e}");
            prop_assert!(
                at_solution <= tol * at_zero,
                "measure {at_solution:e} > {tol} x {at_zero:e}"
            );
        }
    }

    #[test]
    fn problems_too_wide_for_an_explicit_hessian_converge_too() {
        // More than GRAM_MAX_WIDTH features: coordinate descent over the
        // data's columns instead of the Hessian.
        let (n, d) = (60, GRAM_MAX_WIDTH + 8);
        let (x, classes) = ill_conditioned(7, n, d);
        let binary: Vec<f64> = classes.iter().map(|&c| (c == 2) as u8 as f64).collect();
        let signs: Vec<f64> = binary.iter().map(|b| 2.0 * b - 1.0).collect();
        for (loss, weights) in [
            (Loss::Logistic(&binary), (0.02, 0.0)),
            (Loss::SquaredHinge(&signs), (0.0, 0.05)),
        ] {
            let p = Problem::new(&x, n, d, loss, weights, false);
            let (w, info) = minimize(&p, 1000, 1e-4);
            let at_zero = p.optimality(&vec![0.0; w.len()]);
            assert!(info.converged, "{info}");
            assert!(p.optimality(&w) <= 1e-4 * at_zero);
        }
    }

    #[test]
    fn the_measure_is_zero_only_at_the_optimum() {
        // One feature, two rows: the l2 logistic optimum is symmetric.
        let x = [1.0, -1.0];
        let t = [1.0, 0.0];
        let p = Problem::new(&x, 2, 1, Loss::Logistic(&t), (0.0, 0.5), false);
        let (w, info) = minimize(&p, 100, 1e-10);
        assert!(info.converged);
        assert!(w[1].abs() < 1e-9, "intercept {}", w[1]);
        // d/dw [log(1 + e^-w) + 0.25 w^2] = 0  =>  w / 2 = sigmoid(-w).
        let s = 1.0 / (1.0 + w[0].exp());
        assert!((w[0] / 2.0 - s).abs() < 1e-9, "w {}", w[0]);
        assert!(p.optimality(&[w[0] + 0.1, 0.0]) > 1e-3);
    }
}
