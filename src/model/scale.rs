//! `scale=standard`: scikit-learn's `StandardScaler` in front of a model,
//! fit on the rows the model is fit on (inside cross-validation: each
//! training fold's own mean and deviation, no leakage) and then folded into
//! the model's parameters, so prediction reads the raw features with no
//! extra pass: a linear model's `w.((x - mean) / sd) + b` is
//! `(w / sd).x + (b - sum w mean / sd)`; naive Bayes' means and variances map
//! back the same way. Families whose fit does not change under a per-feature
//! affine map (trees) are fit on the raw values.

use ndarray::Axis;

use super::params::{ParamSet, ParamValue};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// The parameter's name in grids and model headers.
pub const PARAM: &str = "scale";

/// Per-feature mean and standard deviation of a training set.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    /// Population deviation (scikit-learn's), 1 for constant features.
    pub sd: Vec<f64>,
}

impl Standardizer {
    pub fn fit(data: &Dataset) -> Self {
        let n = data.n_rows().max(1) as f64;
        let mean: Vec<f64> = data.x.sum_axis(Axis(0)).iter().map(|s| s / n).collect();
        let sd = data
            .x
            .columns()
            .into_iter()
            .zip(&mean)
            .map(|(col, m)| {
                let v = col.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
                let s = v.sqrt();
                // scikit-learn's _handle_zeros_in_scale.
                if s < 10.0 * f64::EPSILON * m.abs().max(1.0) {
                    1.0
                } else {
                    s
                }
            })
            .collect();
        Standardizer { mean, sd }
    }

    /// A standardised copy of `data`.
    pub fn apply(&self, data: &Dataset) -> Dataset {
        let mut out = data.clone();
        for mut row in out.x.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.sd) {
                *v = (*v - m) / s;
            }
        }
        out
    }

    /// Fold into a linear decision function fit on standardised features
    /// (`coef` row-major `outputs x d`, one intercept per output).
    pub fn fold_linear(&self, coef: &mut [f64], intercept: &mut [f64]) {
        let d = self.mean.len();
        for (row, b) in coef.chunks_exact_mut(d.max(1)).zip(intercept.iter_mut()) {
            for ((w, m), s) in row.iter_mut().zip(&self.mean).zip(&self.sd) {
                *w /= s;
                *b -= *w * m;
            }
        }
    }
}

/// Split `scale` off a parameter set: whether to standardise, and the
/// family's own parameters.
pub fn take(params: &ParamSet) -> Result<(bool, ParamSet)> {
    let mut rest = params.clone();
    let standard = match rest.remove(PARAM) {
        None => false,
        Some(ParamValue::Text(t)) if t == "standard" => true,
        Some(ParamValue::Text(t)) if t == "none" => false,
        Some(v) => {
            return Err(Error::usage(format!(
                "parameter scale={v} is not one of none, standard"
            )))
        }
    };
    Ok((standard, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn standardised_columns_have_mean_zero_and_unit_deviation() {
        let data = Dataset::new(array![[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], vec![0, 1, 0]);
        let s = Standardizer::fit(&data);
        assert_eq!(s.mean, vec![3.0, 5.0]);
        assert!((s.sd[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.sd[1], 1.0, "a constant column is left unscaled");
        let x = s.apply(&data).x;
        assert!((x[[0, 0]] + (1.5f64).sqrt()).abs() < 1e-12);
        assert_eq!(x.column(1).to_vec(), vec![0.0, 0.0, 0.0]);
    }

    #[test]
    fn a_folded_linear_function_gives_the_same_decision_on_raw_rows() {
        let data = Dataset::new(
            array![[1.0, 200.0], [3.0, 100.0], [8.0, 400.0]],
            vec![0, 1, 0],
        );
        let s = Standardizer::fit(&data);
        let (w, b) = ([0.7, -1.3], 0.25);
        let (mut coef, mut intercept) = (w.to_vec(), vec![b]);
        s.fold_linear(&mut coef, &mut intercept);
        for (raw, scaled) in data.x.rows().into_iter().zip(s.apply(&data).x.rows()) {
            let want = w[0] * scaled[0] + w[1] * scaled[1] + b;
            let got = coef[0] * raw[0] + coef[1] * raw[1] + intercept[0];
            assert!((want - got).abs() < 1e-12, "{want} vs {got}");
        }
    }

    #[test]
    fn only_none_and_standard_are_scalings() {
        let mut p = ParamSet::new();
        p.insert("scale".into(), ParamValue::Text("minmax".into()));
        let err = take(&p).unwrap_err().to_string();
        assert!(
            err.contains("scale=minmax is not one of none, standard"),
            "{err}"
        );
        p.insert("scale".into(), ParamValue::Text("standard".into()));
        p.insert("C".into(), ParamValue::Num(1.0));
        let (standard, rest) = take(&p).unwrap();
        assert!(standard);
        assert_eq!(rest.keys().collect::<Vec<_>>(), ["C"]);
    }
}
