//! Hyperparameters as named values: what grids enumerate, what model files
//! record, what the CLI prints. Each model family turns a [`ParamSet`] into
//! its own checked config, so a misspelt name is an error, not a default.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Num(f64),
    Text(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Num(v) => write!(f, "{v}"),
            ParamValue::Text(s) => write!(f, "{s}"),
        }
    }
}

impl ParamValue {
    /// Numbers stay numbers; anything else is text (`l1`, `sqrt`).
    pub fn parse(text: &str) -> ParamValue {
        match text.trim().parse::<f64>() {
            Ok(v) => ParamValue::Num(v),
            Err(_) => ParamValue::Text(text.trim().to_string()),
        }
    }
}

pub type ParamSet = BTreeMap<String, ParamValue>;

/// Values to try per parameter name; a family's default grid is one.
pub type Grid = BTreeMap<String, Vec<ParamValue>>;

/// `["l1", "l2"]` as grid values.
pub fn texts(values: &[&str]) -> Vec<ParamValue> {
    values
        .iter()
        .map(|s| ParamValue::Text(s.to_string()))
        .collect()
}

/// `[0.1, 1.0]` as grid values.
pub fn nums(values: &[f64]) -> Vec<ParamValue> {
    values.iter().map(|x| ParamValue::Num(*x)).collect()
}

/// `C=0.01, penalty=l2` (or `defaults` when empty).
pub fn describe(params: &ParamSet) -> String {
    if params.is_empty() {
        return "defaults".to_string();
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads named values out of a [`ParamSet`], remembering which were used so
/// that leftovers (typos) are reported.
pub struct ParamReader<'a> {
    model: &'static str,
    params: &'a ParamSet,
    known: &'static [&'static str],
}

impl<'a> ParamReader<'a> {
    pub fn new(
        model: &'static str,
        params: &'a ParamSet,
        known: &'static [&'static str],
    ) -> Result<Self> {
        for key in params.keys() {
            if !known.contains(&key.as_str()) {
                return Err(Error::usage(format!(
                    "unknown parameter '{key}' for {model}; known: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        Ok(ParamReader {
            model,
            params,
            known,
        })
    }

    pub fn num(&self, key: &str, default: f64) -> Result<f64> {
        debug_assert!(self.known.contains(&key));
        match self.params.get(key) {
            None => Ok(default),
            Some(ParamValue::Num(v)) if v.is_finite() => Ok(*v),
            Some(v) => Err(Error::usage(format!(
                "parameter {key}={v} for {} must be a number",
                self.model
            ))),
        }
    }

    pub fn positive(&self, key: &str, default: f64) -> Result<f64> {
        let v = self.num(key, default)?;
        if v <= 0.0 {
            return Err(Error::usage(format!(
                "parameter {key}={v} for {} must be positive",
                self.model
            )));
        }
        Ok(v)
    }

    pub fn count(&self, key: &str, default: usize) -> Result<usize> {
        let v = self.num(key, default as f64)?;
        if v < 1.0 || v.fract() != 0.0 {
            return Err(Error::usage(format!(
                "parameter {key}={v} for {} must be a whole number >= 1",
                self.model
            )));
        }
        Ok(v as usize)
    }

    pub fn text(&self, key: &str, default: &str) -> String {
        match self.params.get(key) {
            None => default.to_string(),
            Some(v) => v.to_string(),
        }
    }
}
