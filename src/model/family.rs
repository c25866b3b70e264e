//! What a model family is, and the type-erased fitted [`Model`] every
//! backend, the store and the tuner work with.
//!
//! A family file (`nb.rs`, `forest.rs`, ...) holds its parameters, its fit,
//! its prediction (`Predictor`), its default grid and one `pub static
//! FAMILY: Family`; `super::FAMILIES` lists them. Nothing else in cpuwall
//! names a family: names, grids, fitting and file decoding all go through
//! the registry.

use std::any::Any;
use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::params::{Grid, ParamSet};
use super::{Predictor, ScoreKind};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// One model family: its names, its default grid, how to check parameters,
/// fit, and decode its model-file payload.
pub struct Family {
    pub kind: ModelKind,
    /// Name on the command line, in model files and results (`nb`).
    pub short: &'static str,
    /// Name for people (`Gaussian naive Bayes`).
    pub long: &'static str,
    /// Other accepted spellings (`gnb`, `naive-bayes`).
    pub aliases: &'static [&'static str],
    /// The scikit-learn study's grid (empty: the defaults only).
    pub default_grid: fn() -> Grid,
    /// Check a parameter set without fitting (grids are validated up front).
    pub check_params: fn(&ParamSet) -> Result<()>,
    /// Fit on `data`; `seed` drives every random choice.
    pub fit: fn(&ParamSet, &Dataset, u64) -> Result<Model>,
    /// Decode the payload written by [`Model::encode`] (after the tag byte).
    pub decode: fn(&[u8]) -> std::result::Result<Model, String>,
    /// Fold a standardisation (`scale=standard`) into a model fit on
    /// standardised features; `None`: the family's fit does not change
    /// under per-feature affine maps (trees) and it is fit on raw values.
    pub fold_scaling: Option<fn(&Model, &super::scale::Standardizer) -> Model>,
    /// Whether a grid search fits it (`train --models`' default list, the
    /// sweep's); an ensemble is made of searched models instead.
    pub searched: bool,
    /// What its fit makes (an imported family may hold either: its models
    /// say, [`crate::model::Predictor::task`]).
    pub task: super::Task,
    /// What its models' `scores` are (an ensemble's models may say
    /// otherwise: [`crate::model::Predictor::score_kind`]).
    pub scores: super::ScoreKind,
}

/// A family, by its stable model-file tag. Cheap to copy, compare and use as
/// a map key; everything else about the family is in its [`Family`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelKind(u8);

impl ModelKind {
    /// `tag` is written into model files: never reuse or renumber one.
    pub const fn tagged(tag: u8) -> Self {
        assert!(tag < 128, "tags are one postcard varint byte");
        ModelKind(tag)
    }

    pub fn tag(self) -> u8 {
        self.0
    }

    /// Every classifier family a grid search fits, in registration order.
    pub fn all() -> Vec<ModelKind> {
        Self::searched(super::Task::Classification)
    }

    /// Every family a grid search fits for `task`, in registration order.
    pub fn searched(task: super::Task) -> Vec<ModelKind> {
        super::FAMILIES
            .iter()
            .filter(|f| f.searched && f.task == task)
            .map(|f| f.kind)
            .collect()
    }

    pub fn by_tag(tag: u8) -> Option<ModelKind> {
        super::FAMILIES
            .iter()
            .find(|f| f.kind.0 == tag)
            .map(|f| f.kind)
    }

    pub fn family(self) -> &'static Family {
        super::FAMILIES
            .iter()
            .find(|f| f.kind == self)
            .copied()
            .expect("a kind exists only through a registered family")
    }

    pub fn short(self) -> &'static str {
        self.family().short
    }

    pub fn long(self) -> &'static str {
        self.family().long
    }

    /// `nb,lr,svc,rf` → kinds, in the order given, without repeats.
    pub fn parse_list(text: &str) -> Result<Vec<ModelKind>> {
        let mut out = Vec::new();
        for part in text.split(',').filter(|s| !s.trim().is_empty()) {
            let k: ModelKind = part.parse()?;
            if !out.contains(&k) {
                out.push(k);
            }
        }
        if out.is_empty() {
            return Err(Error::usage(format!(
                "--models is empty; name some of {}",
                ModelKind::choices()
            )));
        }
        Ok(out)
    }

    /// Every registered family's short name, comma-separated (`nb,lr,svc,rf`):
    /// the default of `--models`, so a new family is trained and swept.
    pub fn all_list() -> String {
        let names: Vec<&str> = Self::all().into_iter().map(|k| k.short()).collect();
        names.join(",")
    }

    /// `nb, lr, svc or rf`: the short names, for messages.
    pub fn choices() -> String {
        let names: Vec<&str> = super::FAMILIES.iter().map(|f| f.short).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            Some((last, _)) => last.to_string(),
            None => String::new(),
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

impl FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase();
        super::FAMILIES
            .iter()
            .find(|f| f.short == name || f.aliases.contains(&name.as_str()))
            .map(|f| f.kind)
            .ok_or_else(|| {
                Error::usage(format!(
                    "unknown model '{name}'; choose {}",
                    ModelKind::choices()
                ))
            })
    }
}

impl Serialize for ModelKind {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.short())
    }
}

impl<'de> Deserialize<'de> for ModelKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        super::FAMILIES
            .iter()
            .find(|f| f.short == name)
            .map(|f| f.kind)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown model kind '{name}' (this build knows {})",
                    ModelKind::choices()
                ))
            })
    }
}

/// What a family's fitted model adds to [`Predictor`]: the checks and notes
/// the store and the training report use.
pub trait Fitted: Predictor + fmt::Debug {
    /// Internal consistency after loading (sizes, indices), so a crafted
    /// file cannot make prediction index out of bounds.
    fn validate(&self) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Facts about the fit worth recording (iterations, convergence).
    fn fit_notes(&self) -> String {
        String::new()
    }
    /// Whether an iterative fit reached its optimality tolerance; `None`
    /// for fits that are not iterative (closed form, trees).
    fn converged(&self) -> Option<bool> {
        None
    }
}

/// Object-safe glue that lets [`Model`] clone, compare and encode any family
/// without naming it.
trait AnyFitted: Fitted {
    fn clone_box(&self) -> Box<dyn AnyFitted>;
    fn same_as(&self, other: &dyn AnyFitted) -> bool;
    fn payload(&self) -> Vec<u8>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Fitted + Clone + PartialEq + Serialize + 'static> AnyFitted for T {
    fn clone_box(&self) -> Box<dyn AnyFitted> {
        Box::new(self.clone())
    }
    fn same_as(&self, other: &dyn AnyFitted) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn payload(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("model serialises")
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A fitted model of any family.
// `Predictor: Send + Sync`, so every boxed model is too.
pub struct Model(Box<dyn AnyFitted>);

impl Model {
    pub fn new<T>(fitted: T) -> Self
    where
        T: Fitted + Clone + PartialEq + Serialize + Send + Sync + 'static,
    {
        Model(Box::new(fitted))
    }

    /// The family's own type, when a caller needs it (benches, interop).
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        self.0.validate()
    }

    pub fn fit_notes(&self) -> String {
        self.0.fit_notes()
    }

    pub fn converged(&self) -> Option<bool> {
        self.0.converged()
    }

    /// The model-file payload: the family's tag, then its postcard encoding.
    /// (Byte-identical to the postcard encoding of the enum the four study
    /// families once were, so files written before the registry still load.)
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind().tag()];
        out.extend(self.0.payload());
        out
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Model, String> {
        let (&tag, rest) = bytes.split_first().ok_or("empty payload")?;
        let kind = ModelKind::by_tag(tag).ok_or_else(|| {
            format!("unknown model family tag {tag} (written by a newer cpuwall?)")
        })?;
        let model = (kind.family().decode)(rest)?;
        if model.kind() != kind {
            return Err(format!("payload tagged {kind} decoded as {}", model.kind()));
        }
        Ok(model)
    }
}

/// Decode a family's postcard payload into a [`Model`]: what most families'
/// `Family::decode` is.
pub fn decode_payload<T>(bytes: &[u8]) -> std::result::Result<Model, String>
where
    T: Fitted + Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    postcard::from_bytes::<T>(bytes)
        .map(Model::new)
        .map_err(|e| e.to_string())
}

impl Clone for Model {
    fn clone(&self) -> Self {
        Model(self.0.clone_box())
    }
}

impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_as(&*other.0)
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Predictor for Model {
    fn kind(&self) -> ModelKind {
        self.0.kind()
    }
    fn task(&self) -> super::Task {
        self.0.task()
    }
    fn n_features(&self) -> usize {
        self.0.n_features()
    }
    fn classes(&self) -> &[i64] {
        self.0.classes()
    }
    fn n_outputs(&self) -> usize {
        self.0.n_outputs()
    }
    fn predict_into(&self, x: ndarray::ArrayView2<'_, f64>, out: &mut [i64]) {
        self.0.predict_into(x, out)
    }
    fn predict_vouching(&self, x: ndarray::ArrayView2<'_, f64>, out: &mut [i64]) -> Option<bool> {
        self.0.predict_vouching(x, out)
    }
    fn scores(&self, x: ndarray::ArrayView2<'_, f64>) -> (ScoreKind, ndarray::Array2<f64>) {
        self.0.scores(x)
    }
    fn score_kind(&self) -> ScoreKind {
        self.0.score_kind()
    }
    fn routes_missing(&self) -> bool {
        self.0.routes_missing()
    }
    fn row_cost_ns(&self) -> f64 {
        self.0.row_cost_ns()
    }
    fn layout(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.0.layout()
    }
}
