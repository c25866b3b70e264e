//! Accelerated proximal gradient (FISTA with backtracking and adaptive
//! restart) for `mean loss + l2/2 ||W||^2 + l1 ||W||_1` over linear models,
//! intercepts unpenalised. One solver serves every penalty of logistic
//! regression (l1, l2, elastic net) and the L1-penalised squared-hinge SVC,
//! so each grid candidate is fit to the same standard.

use super::linear::FitInfo;

/// The data term.
pub enum Loss<'a> {
    /// Binary logistic loss; targets 0 or 1.
    Logistic(&'a [f64]),
    /// Multinomial (softmax) logistic loss; targets are class indices.
    Multinomial { y: &'a [usize], classes: usize },
    /// Binary squared hinge, `max(0, 1 - y z)^2`; targets -1 or +1.
    SquaredHinge(&'a [f64]),
}

pub struct Problem<'a> {
    /// Features, row-major, `n x d`.
    pub x: &'a [f64],
    pub n: usize,
    pub d: usize,
    pub loss: Loss<'a>,
    pub l1: f64,
    pub l2: f64,
}

impl Problem<'_> {
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

    fn is_coef(&self, idx: usize) -> bool {
        idx % self.width() != self.d
    }

    /// Mean loss plus the L2 term; fills `grad` when given.
    fn smooth(&self, w: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        let (d, wd, k) = (self.d, self.width(), self.outputs());
        if let Some(g) = grad.as_deref_mut() {
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut total = 0.0;
        let mut z = vec![0.0; k];
        let mut dz = vec![0.0; k];
        for i in 0..self.n {
            let row = &self.x[i * d..(i + 1) * d];
            for (o, zo) in z.iter_mut().enumerate() {
                let wo = &w[o * wd..(o + 1) * wd];
                let mut s = wo[d];
                for j in 0..d {
                    s += wo[j] * row[j];
                }
                *zo = s;
            }
            total += match &self.loss {
                Loss::Logistic(y) => {
                    let (zz, t) = (z[0], y[i]);
                    dz[0] = 1.0 / (1.0 + (-zz).exp()) - t;
                    (-zz.abs()).exp().ln_1p() + zz.max(0.0) - t * zz
                }
                Loss::SquaredHinge(y) => {
                    let m = 1.0 - y[i] * z[0];
                    if m > 0.0 {
                        dz[0] = -2.0 * y[i] * m;
                        m * m
                    } else {
                        dz[0] = 0.0;
                        0.0
                    }
                }
                Loss::Multinomial { y, .. } => {
                    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let mut sum = 0.0;
                    for (o, v) in z.iter().enumerate() {
                        dz[o] = (v - m).exp();
                        sum += dz[o];
                    }
                    for v in dz.iter_mut() {
                        *v /= sum;
                    }
                    dz[y[i]] -= 1.0;
                    m + sum.ln() - z[y[i]]
                }
            };
            if let Some(g) = grad.as_deref_mut() {
                for (o, dzo) in dz.iter().enumerate() {
                    if *dzo == 0.0 {
                        continue;
                    }
                    let go = &mut g[o * wd..(o + 1) * wd];
                    for j in 0..d {
                        go[j] += dzo * row[j];
                    }
                    go[d] += dzo;
                }
            }
        }
        let inv_n = 1.0 / self.n as f64;
        let mut value = total * inv_n;
        if let Some(g) = grad {
            for (idx, gv) in g.iter_mut().enumerate() {
                *gv *= inv_n;
                if self.is_coef(idx) {
                    *gv += self.l2 * w[idx];
                }
            }
        }
        for (idx, wv) in w.iter().enumerate() {
            if self.is_coef(idx) {
                value += 0.5 * self.l2 * wv * wv;
            }
        }
        value
    }

    /// Largest eigenvalue of `[X 1]^T [X 1] / n` by power iteration, scaled by
    /// the loss's curvature bound: a step size that backtracking rarely rejects.
    fn lipschitz_estimate(&self) -> f64 {
        let (d, n) = (self.d, self.n);
        let mut v = vec![1.0; d + 1];
        let mut lambda = 1.0;
        for _ in 0..30 {
            let mut next = vec![0.0; d + 1];
            for i in 0..n {
                let row = &self.x[i * d..(i + 1) * d];
                let mut u = v[d];
                for j in 0..d {
                    u += row[j] * v[j];
                }
                for j in 0..d {
                    next[j] += u * row[j];
                }
                next[d] += u;
            }
            let norm: f64 = next.iter().map(|t| t * t).sum::<f64>().sqrt();
            let vnorm: f64 = v.iter().map(|t| t * t).sum::<f64>().sqrt();
            if norm == 0.0 || vnorm == 0.0 {
                break;
            }
            lambda = norm / vnorm / n as f64;
            v = next.iter().map(|t| t / norm).collect();
        }
        let curvature = match self.loss {
            Loss::Logistic(_) => 0.25,
            Loss::Multinomial { .. } => 0.5,
            Loss::SquaredHinge(_) => 2.0,
        };
        curvature * lambda + self.l2
    }

    fn prox(&self, v: &mut [f64], step: f64) {
        let t = self.l1 * step;
        if t == 0.0 {
            return;
        }
        for (idx, x) in v.iter_mut().enumerate() {
            if self.is_coef(idx) {
                *x = x.signum() * (x.abs() - t).max(0.0);
            }
        }
    }
}

/// Minimise the problem from zero. Converged when the prox-gradient mapping
/// (the composite objective's gradient) is below `tol` in every coordinate.
pub fn minimize(p: &Problem, max_iter: usize, tol: f64) -> (Vec<f64>, FitInfo) {
    let size = p.outputs() * p.width();
    let mut x = vec![0.0; size];
    let mut y = x.clone();
    let mut grad = vec![0.0; size];
    let mut z = vec![0.0; size];
    let mut lip = p.lipschitz_estimate().max(1e-12);
    let mut t = 1.0f64;
    for it in 1..=max_iter {
        let fy = p.smooth(&y, Some(&mut grad));
        loop {
            for i in 0..size {
                z[i] = y[i] - grad[i] / lip;
            }
            p.prox(&mut z, 1.0 / lip);
            let fz = p.smooth(&z, None);
            let mut model = fy;
            let mut dist = 0.0;
            for i in 0..size {
                let dlt = z[i] - y[i];
                model += grad[i] * dlt;
                dist += dlt * dlt;
            }
            model += 0.5 * lip * dist;
            if fz <= model + 1e-12 * fy.abs() || lip > 1e30 {
                break;
            }
            lip *= 2.0;
        }
        let mapping = y
            .iter()
            .zip(&z)
            .map(|(a, b)| ((a - b) * lip).abs())
            .fold(0.0, f64::max);
        // Adaptive restart (O'Donoghue & Candes): drop momentum when it
        // points uphill.
        let uphill: f64 = (0..size).map(|i| (y[i] - z[i]) * (z[i] - x[i])).sum();
        let t_next = if uphill > 0.0 {
            1.0
        } else {
            (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0
        };
        let beta = if uphill > 0.0 {
            0.0
        } else {
            (t - 1.0) / t_next
        };
        for i in 0..size {
            y[i] = z[i] + beta * (z[i] - x[i]);
        }
        x.copy_from_slice(&z);
        t = t_next;
        if mapping < tol {
            return (
                x,
                FitInfo {
                    iterations: it,
                    converged: true,
                },
            );
        }
    }
    (
        x,
        FitInfo {
            iterations: max_iter,
            converged: false,
        },
    )
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
