//! The model file format. Self-describing and versioned; loading never
//! executes code (plain data decoded by serde, then checked).
//!
//! ```text
//! magic        8 bytes  "CPUWALL\x1a"
//! version      u32 LE   FORMAT_VERSION
//! header_len   u32 LE
//! header       JSON     ModelHeader (kind, features, classes, params, CV
//!                       score, training-data hash, tool version, ...)
//! payload_len  u64 LE
//! payload      postcard-encoded Model
//! checksum     32 bytes SHA-256 of everything above
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::params::ParamSet;
use super::{Model, ModelKind, Predictor};
use crate::atomic::write_atomic;
use crate::error::{Error, ModelFileProblem, Result};

pub const MAGIC: &[u8; 8] = b"CPUWALL\x1a";
pub const FORMAT_VERSION: u32 = 1;
pub const EXTENSION: &str = "cpuwall";
const FIXED: usize = 8 + 4 + 4;
const SUM: usize = 32;

/// Everything a person (or `cpuwall inspect`) wants to know without the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    pub kind: ModelKind,
    pub n_features: usize,
    /// The training features' names, in the model's column order; files
    /// from before names were stored have none (read as `f0..fN-1`).
    #[serde(default)]
    pub feature_names: Vec<String>,
    /// Whether `feature_names` were generated (`f0..fN-1`: synthetic, `.npy`
    /// or ONNX data) rather than real (a CSV header, scikit-learn's
    /// `feature_names_in_`). Absent in files from before it was recorded:
    /// then names that are exactly `f0..fN-1` (or none) count as generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_names_generated: Option<bool>,
    /// Classification or regression; files from before regressors read
    /// as classifiers.
    #[serde(default)]
    pub task: super::Task,
    pub classes: Vec<i64>,
    /// The source's names of the classes when they were not integers
    /// (imported models; cpuwall predicts 0..k-1 for them).
    #[serde(default)]
    pub class_names: Vec<String>,
    pub params: ParamSet,
    pub cv_accuracy: Option<f64>,
    pub train_rows: usize,
    /// SHA-256 of the training data (see `Dataset::content_hash`).
    pub data_hash: String,
    pub tool_version: String,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    pub fit_notes: String,
    /// Where an imported model came from (`cpuwall import`).
    #[serde(default)]
    pub origin: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StoredModel {
    pub header: ModelHeader,
    pub model: Model,
}

impl ModelHeader {
    /// The features a file's columns are matched against at predict time.
    pub fn features(&self) -> crate::data::columns::Features {
        let names = self.feature_names();
        crate::data::columns::Features {
            task: self.task,
            generated: self
                .feature_names_generated
                .unwrap_or_else(|| crate::data::columns::are_default_names(&names)),
            names,
            missing: false,
        }
    }

    /// The names a file's columns are matched against at predict time.
    pub fn feature_names(&self) -> Vec<String> {
        if self.feature_names.is_empty() {
            crate::data::columns::default_names(self.n_features)
        } else {
            self.feature_names.clone()
        }
    }
}

/// A model named on the command line, loaded.
pub struct Resolved {
    pub path: std::path::PathBuf,
    pub stored: StoredModel,
    /// Seconds spent training the default model because its file was missing.
    pub trained_seconds: Option<f64>,
}

impl Resolved {
    /// A line for people when the default model had to be trained first.
    pub fn notice(&self) -> Option<String> {
        self.trained_seconds.map(|s| {
            format!(
                "{} not found: trained the default {} model ({} 10000x10 seed 0, grid search, 5-fold CV) in {s:.2} s",
                self.path.display(),
                self.stored.header.kind,
                match self.stored.header.task {
                    super::Task::Classification => "make_classification",
                    super::Task::Regression => "make_friedman1",
                }
            )
        })
    }
}

pub fn encode(header: &ModelHeader, model: &Model) -> Vec<u8> {
    let head = serde_json::to_vec(header).expect("header serialises");
    let payload = model.encode();
    let mut out = Vec::with_capacity(FIXED + head.len() + 8 + payload.len() + SUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

pub fn save(path: &Path, header: &ModelHeader, model: &Model) -> Result<()> {
    write_atomic(path, &encode(header, model))
}

/// The largest model file cpuwall reads (a forest of 10^7 nodes is ~0.5 GB).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Read and check a model file. Bounded, and nothing is trusted before it
/// is checked: the magic on the first 8 bytes, then the version (a future
/// one is refused before more is read), then the header and payload
/// lengths, and only then the rest, up to what they announce and never
/// past the file's own size (`/dev/zero`, a pipe or a 1 GB foreign file
/// cost 8 bytes; a damaged length field costs nothing).
pub fn load(path: &Path) -> Result<StoredModel> {
    use std::io::Read;
    let problem = |p| Error::model_file(path, p);
    let cannot = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => problem(ModelFileProblem::NotFound),
        _ => problem(ModelFileProblem::Invalid(format!("cannot read: {e}"))),
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if meta.is_dir() {
        return Err(problem(ModelFileProblem::Invalid(
            "is a directory, not a model file".into(),
        )));
    }
    let too_big = || {
        problem(ModelFileProblem::Invalid(format!(
            "larger than {} GB, the most a model file may be",
            MAX_FILE_BYTES >> 30
        )))
    };
    if meta.is_file() && meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // A regular file is read to its size at most; anything else up to the
    // ceiling.
    let size = if meta.is_file() {
        meta.len()
    } else {
        MAX_FILE_BYTES + 1
    };
    let mut reader = std::io::BufReader::new(file);
    let mut bytes = Vec::new();
    // Read up to `upto` bytes of the file in all (no further than its size).
    let mut fill = |bytes: &mut Vec<u8>, upto: u64| -> Result<()> {
        let want = upto.min(size).saturating_sub(bytes.len() as u64);
        (&mut reader)
            .take(want)
            .read_to_end(bytes)
            .map_err(cannot)
            .map(drop)
    };
    fill(&mut bytes, MAGIC.len() as u64)?;
    if bytes.as_slice() != MAGIC {
        return Err(problem(
            decode(&bytes).err().unwrap_or(ModelFileProblem::NotAModel),
        ));
    }
    fill(&mut bytes, FIXED as u64)?;
    if bytes.len() == FIXED {
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version > FORMAT_VERSION {
            return Err(problem(ModelFileProblem::FutureVersion {
                found: version,
                supported: FORMAT_VERSION,
            }));
        }
        let head_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        fill(&mut bytes, FIXED as u64 + u64::from(head_len) + 8)?;
        // One byte past what the lengths announce shows a file that is
        // longer than they say.
        let upto = match declared_len(&bytes) {
            Some(total) if total > MAX_FILE_BYTES => {
                return Err(problem(ModelFileProblem::Corrupted))
            }
            Some(total) => total + 1,
            None => size,
        };
        fill(&mut bytes, upto)?;
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    decode(&bytes).map_err(problem)
}

/// Declared total length, if the fixed fields are present.
fn declared_len(b: &[u8]) -> Option<u64> {
    let head_len = u32::from_le_bytes(b.get(12..16)?.try_into().ok()?) as u64;
    let at = FIXED as u64 + head_len;
    let pl = b.get(at as usize..at as usize + 8)?;
    let payload_len = u64::from_le_bytes(pl.try_into().ok()?);
    Some(at + 8 + payload_len + SUM as u64)
}

pub fn decode(b: &[u8]) -> std::result::Result<StoredModel, ModelFileProblem> {
    let n = b.len();
    if n < MAGIC.len() {
        return Err(if MAGIC.starts_with(b) && n > 0 {
            ModelFileProblem::Truncated {
                expected: FIXED as u64,
                found: n as u64,
            }
        } else {
            ModelFileProblem::NotAModel
        });
    }
    if &b[..8] != MAGIC {
        return Err(ModelFileProblem::NotAModel);
    }
    if n < FIXED {
        return Err(ModelFileProblem::Truncated {
            expected: FIXED as u64,
            found: n as u64,
        });
    }
    let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
    let intact = n >= FIXED + SUM && Sha256::digest(&b[..n - SUM]).as_slice() == &b[n - SUM..];
    if !intact {
        // A newer writer may lay out the rest differently: say so first.
        if version > FORMAT_VERSION {
            return Err(ModelFileProblem::FutureVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        return Err(match declared_len(b) {
            // No model file is that large: the length field is damaged.
            Some(expected) if expected > MAX_FILE_BYTES => ModelFileProblem::Corrupted,
            Some(expected) if expected > n as u64 => ModelFileProblem::Truncated {
                expected,
                found: n as u64,
            },
            // The header's length runs past the end: at least the header,
            // the payload length field and the checksum were announced.
            None => ModelFileProblem::Truncated {
                expected: FIXED as u64
                    + u64::from(u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")))
                    + 8
                    + SUM as u64,
                found: n as u64,
            },
            _ => ModelFileProblem::Corrupted,
        });
    }
    if version > FORMAT_VERSION {
        return Err(ModelFileProblem::FutureVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(ModelFileProblem::Invalid(
            "format version 0 does not exist".into(),
        ));
    }
    let invalid = |m: String| ModelFileProblem::Invalid(m);
    if declared_len(b) != Some(n as u64) {
        return Err(invalid(
            "section lengths do not add up to the file size".into(),
        ));
    }
    let head_len = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")) as usize;
    let header: ModelHeader = serde_json::from_slice(&b[FIXED..FIXED + head_len])
        .map_err(|e| invalid(format!("header: {e}")))?;
    let payload = &b[FIXED + head_len + 8..n - SUM];
    let model = Model::decode(payload).map_err(|e| invalid(format!("payload: {e}")))?;
    model.validate().map_err(invalid)?;
    if model.kind() != header.kind
        || model.task() != header.task
        || model.n_features() != header.n_features
        || model.classes() != header.classes.as_slice()
    {
        return Err(invalid(
            "header and payload describe different models".into(),
        ));
    }
    if !header.feature_names.is_empty() {
        let mut names: Vec<&String> = header.feature_names.iter().collect();
        names.sort();
        names.dedup();
        if header.feature_names.len() != header.n_features || names.len() != header.n_features {
            return Err(invalid(format!(
                "the header names {} distinct features of {}",
                names.len(),
                header.n_features
            )));
        }
    }
    Ok(StoredModel { header, model })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::{ParamSet, ParamValue};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A valid file of every registered family (fitted once).
    fn good_files() -> &'static Vec<Vec<u8>> {
        static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        FILES.get_or_init(|| {
            let mut spec = crate::data::synth::MakeClassification::new(200, 5, 3);
            spec.n_classes = 3;
            spec.n_informative = 3;
            let classes = spec.generate().unwrap();
            let values = crate::data::synth::friedman1(200, 5, 1.0, 3).unwrap();
            ModelKind::all()
                .into_iter()
                .chain(ModelKind::searched(crate::model::Task::Regression))
                .map(|kind| {
                    let mut p = ParamSet::new();
                    if kind == crate::model::forest::KIND
                        || kind == crate::model::forest::regressor::KIND
                    {
                        p.insert("n_estimators".into(), ParamValue::Num(3.0));
                    }
                    let data = match kind.family().task {
                        crate::model::Task::Classification => &classes,
                        crate::model::Task::Regression => &values,
                    };
                    let model = crate::model::fit(kind, &p, data, 1).unwrap();
                    let header = ModelHeader {
                        kind,
                        n_features: model.n_features(),
                        feature_names: data.names.clone(),
                        feature_names_generated: Some(data.generated_names),
                        task: model.task(),
                        classes: model.classes().to_vec(),
                        class_names: Vec::new(),
                        params: p,
                        cv_accuracy: None,
                        train_rows: 200,
                        data_hash: String::new(),
                        tool_version: "test".into(),
                        created_unix: 0,
                        fit_notes: String::new(),
                        origin: None,
                    };
                    encode(&header, &model)
                })
                .collect()
        })
    }

    /// A fresh checksum, so a mutation reaches the header and payload
    /// decoders instead of stopping at the checksum.
    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        let n = b.len();
        if n >= SUM {
            let digest = Sha256::digest(&b[..n - SUM]);
            b[n - SUM..].copy_from_slice(&digest);
        }
        b
    }

    #[test]
    fn every_family_round_trips_through_the_file_format() {
        for bytes in good_files() {
            let stored = decode(bytes).unwrap();
            assert_eq!(encode(&stored.header, &stored.model), *bytes);
        }
    }

    /// A good file with its header JSON rewritten by `edit`, resealed.
    fn with_header(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
        let stored = decode(&good_files()[0]).unwrap();
        let mut head = serde_json::to_value(&stored.header).unwrap();
        edit(&mut head);
        let head = serde_json::to_vec(&head).unwrap();
        let payload = stored.model.encode();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(head.len() as u32).to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        reseal({
            out.extend_from_slice(&[0; SUM]);
            out
        })
    }

    #[test]
    fn files_from_before_regressors_read_as_classifiers_and_a_task_must_match_the_payload() {
        let old = decode(&with_header(|h| {
            h.as_object_mut().unwrap().remove("task");
        }))
        .unwrap();
        assert_eq!(old.header.task, crate::model::Task::Classification);
        let e = decode(&with_header(|h| h["task"] = "regression".into())).unwrap_err();
        assert!(e.to_string().contains("different models"), "{e}");
        // Every regressor family's file says so, and round-trips.
        let regressors: Vec<StoredModel> = good_files()
            .iter()
            .map(|b| decode(b).unwrap())
            .filter(|s| s.header.task == crate::model::Task::Regression)
            .collect();
        assert_eq!(regressors.len(), 2);
        assert!(regressors.iter().all(|s| s.header.classes.is_empty()));
    }

    #[test]
    fn files_from_before_feature_names_read_as_f0_to_fn() {
        let old = decode(&with_header(|h| {
            h.as_object_mut().unwrap().remove("feature_names");
        }))
        .unwrap();
        assert!(old.header.feature_names.is_empty());
        assert_eq!(
            old.header.feature_names(),
            ["f0", "f1", "f2", "f3", "f4"].map(String::from)
        );
    }

    #[test]
    fn feature_names_must_be_one_distinct_name_per_feature() {
        for names in [
            serde_json::json!(["a", "b"]),
            serde_json::json!(["a", "b", "c", "d", "a"]),
        ] {
            let e = decode(&with_header(|h| h["feature_names"] = names.clone())).unwrap_err();
            assert!(e.to_string().contains("distinct features of 5"), "{e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]

        /// Arbitrary bytes: a typed error (or, by chance, a model), never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut b = MAGIC.to_vec();
            b.extend(bytes);
            let _ = decode(&reseal(b.clone()));
            let _ = decode(&b[8..]);
        }

        /// Valid files with bytes overwritten and maybe cut short, resealed:
        /// every header and payload decoder faces hostile content.
        #[test]
        fn mutated_models_never_panic(
            family in 0usize..4,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let files = good_files();
            let mut b = files[family % files.len()].clone();
            crate::mutate(&mut b, &edits, cut, truncate);
            if let Ok(stored) = decode(&reseal(b)) {
                // Whatever decodes is consistent enough to predict with.
                let x = ndarray::Array2::<f64>::zeros((3, stored.model.n_features()));
                let _ = stored.model.predict(x.view());
            }
        }
    }
}
