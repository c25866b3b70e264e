//! Models made elsewhere: scikit-learn models (through the JSON that
//! `tools/export_sklearn.py` writes) and ONNX files (the `ai.onnx.ml`
//! operators skl2onnx writes) imported as ordinary `.cpuwall` models, and
//! cpuwall models exported to ONNX.
//!
//! An import is checked like a loaded model file: it is encoded and decoded
//! through `model::store`, so every family's own checks run on it.

pub mod boosted;
pub mod export;
pub mod lightgbm;
pub mod onnx;
pub mod sklearn;
pub mod trees;
pub mod xgboost;

use std::path::Path;

use crate::data::bounded::{self, Limit};
use crate::error::{Error, Result};
use crate::model::store::{self, ModelHeader, StoredModel};
use crate::model::{Model, Predictor};

/// The largest file `import` reads.
pub const MAX_IMPORT_BYTES: u64 = 1 << 30;

/// Most values a multi-output regressor may predict per row, from any source.
pub const MAX_OUTPUTS: usize = 1 << 16;

/// What an importer made of a file.
pub struct Imported {
    pub model: Model,
    /// The training features' names, when the source knows them.
    pub feature_names: Option<Vec<String>>,
    /// The source's names of the classes, when they are not integers
    /// (cpuwall predicts 0..k-1 for them).
    pub class_names: Vec<String>,
    /// Where the model came from, for `inspect` ("scikit-learn 1.9.1
    /// RandomForestClassifier via tools/export_sklearn.py").
    pub origin: String,
}

/// Read `path` (scikit-learn exchange JSON or ONNX) into a stored model
/// whose header says where it came from.
pub fn import(path: &Path) -> Result<StoredModel> {
    let limit = Limit {
        what: "model to import",
        max: MAX_IMPORT_BYTES,
        not_found: "file not found; give a JSON file from tools/export_sklearn.py, an XGBoost .json/.ubj, a LightGBM .txt or an .onnx file",
    };
    let refuse_pickle = |b: &[u8]| {
        match b {
        // Pickle protocol 2+ starts with 0x80; joblib's zlib files with 0x78.
        [0x80, 2..=5, ..] | [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..] => Err(
            "a pickle or joblib file: cpuwall never unpickles; run `python tools/export_sklearn.py MODEL OUT.json` in your Python first, then import OUT.json".to_string(),
        ),
        _ => Ok(()),
    }
    };
    let bytes = bounded::read(path, &limit, &refuse_pickle)?;
    import_bytes(path, &bytes)
}

/// The model in `bytes` (scikit-learn exchange JSON or ONNX), as a stored
/// model; `path` names where they came from (a file, or what the Python
/// package converted in memory) in errors and in the header's origin.
pub fn import_bytes(path: &Path, bytes: &[u8]) -> Result<StoredModel> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let ext = |e: &str| path.extension().is_some_and(|x| x.eq_ignore_ascii_case(e));
    // XGBoost's UBJSON: an object whose first key's length has a UBJSON
    // integer marker (text JSON has a quote there).
    let ubjson = ext("ubj")
        || (bytes.first() == Some(&b'{')
            && matches!(
                bytes.get(1),
                Some(b'L' | b'U' | b'i' | b'l' | b'I' | b'$' | b'#')
            ));
    if ubjson {
        let doc = xgboost::ubjson(bytes).map_err(|e| Error::data(path, e))?;
        return stored(path, bytes, xgboost_imported(path, &doc)?);
    }
    // ONNX is protobuf, never text that starts like JSON; and a `.json`
    // file is answered as JSON whatever it holds.
    let json = matches!(first, Some(b'{' | b'[' | b'"')) || ext("json");
    let imported = if json {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            Error::data(
                path,
                "not UTF-8 JSON; expected tools/export_sklearn.py's output or an XGBoost model",
            )
        })?;
        if text.contains("\"learner\"") {
            let doc: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Error::data(path, format!("not a whole XGBoost JSON model ({e})")))?;
            xgboost_imported(path, &doc)?
        } else {
            sklearn::from_json(path, text)?
        }
    } else if let Some(text) = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| lightgbm::is_lightgbm(t))
    {
        let (model, names) = lightgbm::from_text(text)
            .map_err(|e| Error::data(path, format!("LightGBM model: {e}")))?;
        Imported {
            model: Model::new(model),
            feature_names: names.filter(|n| !generated_lightgbm(n)),
            class_names: Vec::new(),
            origin: "a LightGBM model file".into(),
        }
    } else {
        onnx::from_bytes(path, bytes)?
    };
    stored(path, bytes, imported)
}

/// LightGBM names unnamed columns `Column_0, Column_1, ...`.
fn generated_lightgbm(names: &[String]) -> bool {
    names
        .iter()
        .enumerate()
        .all(|(i, n)| *n == format!("Column_{i}"))
}

fn xgboost_imported(path: &Path, doc: &serde_json::Value) -> Result<Imported> {
    if !xgboost::is_xgboost(doc) {
        return Err(Error::data(
            path,
            "UBJSON or JSON without XGBoost's 'learner' and 'version': not an XGBoost model",
        ));
    }
    let (model, names) =
        xgboost::from_doc(doc).map_err(|e| Error::data(path, format!("XGBoost model: {e}")))?;
    Ok(Imported {
        model: Model::new(model),
        feature_names: names,
        class_names: Vec::new(),
        origin: "an XGBoost model file".into(),
    })
}

/// Import `file` and save it as the model file `out` (`NAME.cpuwall`),
/// which may not be the file read.
pub fn import_to(file: &Path, out: &Path) -> Result<StoredModel> {
    crate::atomic::refuse_overwriting_inputs(&[("--out", out)], &[("FILE", file)])?;
    if crate::data::extension(out) != store::EXTENSION {
        return Err(Error::usage(format!(
            "--out {}: name the model file NAME.{}",
            out.display(),
            store::EXTENSION
        )));
    }
    let stored = import(file)?;
    store::save(out, &stored.header, &stored.model)?;
    Ok(stored)
}

/// The imported model as a stored one, through the model file's own checks.
fn stored(path: &Path, bytes: &[u8], im: Imported) -> Result<StoredModel> {
    let model = im.model;
    let n = model.n_features();
    // No names (ONNX, an estimator fitted on an array): generated ones.
    let generated = im.feature_names.is_none();
    let names = im
        .feature_names
        .unwrap_or_else(|| crate::data::columns::default_names(n));
    if names.len() != n {
        return Err(Error::data(
            path,
            format!(
                "{} feature names for {n} features; they must match",
                names.len()
            ),
        ));
    }
    crate::data::columns::check_unique(path, &names)?;
    // Two classes under one name could not be told apart in any answer.
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = im.class_names.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(Error::data(
            path,
            format!("class name '{twice}' is given to two classes; class names must be distinct"),
        ));
    }
    let header = ModelHeader {
        kind: model.kind(),
        n_features: n,
        feature_names: names,
        feature_names_generated: Some(generated),
        task: model.task(),
        classes: model.classes().to_vec(),
        class_names: im.class_names,
        params: Default::default(),
        cv_accuracy: None,
        train_rows: 0,
        data_hash: String::new(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        fit_notes: String::new(),
        origin: Some(format!(
            "imported from {} ({}, sha256 {})",
            im.origin,
            path.display(),
            &crate::data::hex(&sha2::Digest::finalize(
                <sha2::Sha256 as sha2::Digest>::new_with_prefix(bytes)
            ))[..16]
        )),
    };
    store::decode(&store::encode(&header, &model))
        .map_err(|p| Error::data(path, format!("the imported model is not valid: {p}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/import")
                .join(name),
        )
        .unwrap()
    }

    /// Decode as `import` does, then predict a few rows with whatever came
    /// out: a typed error or a working model, never a panic.
    fn check(bytes: &[u8]) {
        let p = Path::new("fuzz");
        let im = if bytes.first() == Some(&b'{') {
            std::str::from_utf8(bytes)
                .ok()
                .map(|t| sklearn::from_json(p, t))
        } else {
            Some(onnx::from_bytes(p, bytes))
        };
        if let Some(Ok(im)) = im {
            if let Ok(s) = stored(p, bytes, im) {
                let x = ndarray::Array2::<f64>::zeros((3, s.model.n_features().min(64)));
                if x.ncols() == s.model.n_features() {
                    let _ = s.model.predict(x.view());
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(300)))]

        /// Fixture files of every family with bytes overwritten, maybe cut.
        #[test]
        fn mutated_imports_never_panic(
            file in prop::sample::select(vec![
                "nb-multi.json", "lr-binary.json", "svc-multi.json", "rf-binary.json",
                "lr-multi.onnx", "svc-binary.onnx", "rf-multi.onnx",
            ]),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut b = fixture(file);
            crate::mutate(&mut b, &edits, cut, truncate);
            check(&b);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            check(&b);
        }
    }
}
