//! One call on the calling thread.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2};

use super::{Backend, CallCost};
use crate::error::Result;
use crate::model::{Model, Predictor};

pub struct Direct {
    model: Arc<Model>,
}

impl Direct {
    pub fn new(model: Arc<Model>) -> Self {
        Direct { model }
    }
}

impl Backend for Direct {
    fn name(&self) -> String {
        "direct".into()
    }

    fn predict(&mut self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost> {
        super::check_batch(super::shape(&self.model), x, out)?;
        self.model.predict_into(x, out);
        Ok(CallCost::default())
    }

    fn scores(&mut self, x: ArrayView2<'_, f64>) -> Result<(Array2<f64>, CallCost)> {
        super::check_features(self.model.n_features(), x)?;
        Ok((self.model.scores(x).1, CallCost::default()))
    }

    fn predict_finite(
        &mut self,
        x: ArrayView2<'_, f64>,
        out: &mut [i64],
        origin: &std::path::Path,
    ) -> Result<CallCost> {
        super::check_batch(super::shape(&self.model), x, out)?;
        crate::model::predict_finite(self.model.as_ref(), x, out, origin)?;
        Ok(CallCost::default())
    }
}
