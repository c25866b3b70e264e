//! `cpuwall train --format json` (format `cpuwall-train`, docs/results.md):
//! each trained model's results by its short name.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Header;
use crate::tune::train::TrainedModel;

#[derive(Debug, Clone, Serialize)]
pub struct TrainDocument<'a> {
    #[serde(flatten)]
    pub header: Header,
    pub models: BTreeMap<&'static str, &'a TrainedModel>,
}

impl<'a> TrainDocument<'a> {
    pub fn of(models: &'a [TrainedModel]) -> Self {
        TrainDocument {
            header: Header::new(super::TRAIN),
            models: models.iter().map(|m| (m.model.short(), m)).collect(),
        }
    }
}
