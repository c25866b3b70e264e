//! `cpuwall train --format json` (format `cpuwall-train`, docs/results.md):
//! each trained model's results by its short name.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Header;
use crate::tune::top_k::TrainedEnsemble;
use crate::tune::train::TrainedModel;

#[derive(Debug, Clone, Serialize)]
pub struct TrainDocument<'a> {
    #[serde(flatten)]
    pub header: Header,
    pub models: BTreeMap<&'static str, &'a TrainedModel>,
    /// `train --top-k`: the ensemble of the best candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<&'a TrainedEnsemble>,
}

impl<'a> TrainDocument<'a> {
    pub fn of(models: &'a [TrainedModel], ensemble: Option<&'a TrainedEnsemble>) -> Self {
        TrainDocument {
            header: Header::new(super::TRAIN),
            models: models.iter().map(|m| (m.model.short(), m)).collect(),
            ensemble,
        }
    }
}
