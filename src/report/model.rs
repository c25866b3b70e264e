//! A model file's header for people (`inspect`, `import`) and programs.

use std::path::Path;

use serde_json::Value;

use crate::data::columns::list;
use crate::model::params::describe;
use crate::model::store::{self, ModelHeader};

/// The header as JSON, with the names a file's columns are matched against,
/// the format version and the file's path.
pub fn header_json(h: &ModelHeader, path: &Path) -> String {
    let mut v = serde_json::to_value(h).expect("header serialises");
    let features = h.features();
    v["feature_names"] = features.names.into();
    v["feature_names_generated"] = features.generated.into();
    v["format_version"] = store::FORMAT_VERSION.into();
    v["path"] = path.display().to_string().into();
    serde_json::to_string_pretty(&v).expect("json")
}

/// What `inspect` shows for people: the header's table, then how the model
/// is laid out for prediction ([`crate::model::Predictor::layout`]).
pub fn inspect_table(h: &ModelHeader, path: &Path, layout: &[(&str, Value)]) -> String {
    let mut out = header_table(h, path);
    for (k, v) in layout {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out += &format!("{k:<22} {v}\n");
    }
    out
}

/// What `inspect` shows of the model beyond its header: a regressor's
/// values a row (1, or a multi-output regressor's count), then the model's
/// own layout (the forest's shape and traversal).
pub fn layout(model: &crate::model::Model) -> Vec<(&'static str, Value)> {
    use crate::model::Predictor;
    let mut rows = Vec::new();
    if model.task() == crate::model::Task::Regression {
        rows.push(("outputs", serde_json::json!(model.n_outputs())));
    }
    rows.extend(model.layout());
    rows
}

/// [`header_json`] with a `layout` object (empty for models without one).
pub fn inspect_json(h: &ModelHeader, path: &Path, layout: &[(&str, Value)]) -> String {
    let mut v: Value = serde_json::from_str(&header_json(h, path)).expect("json");
    let map: serde_json::Map<String, Value> = layout
        .iter()
        .map(|(k, v)| (k.replace(' ', "_"), v.clone()))
        .collect();
    v["layout"] = Value::Object(map);
    serde_json::to_string_pretty(&v).expect("json")
}

fn classes(h: &ModelHeader) -> String {
    if h.task == crate::model::Task::Regression {
        "none (a regressor: values, `outputs` a row)".into()
    } else if h.class_names.is_empty() {
        format!("{:?}", h.classes)
    } else {
        format!("{:?} = {:?}", h.classes, h.class_names)
    }
}

/// `inspect`'s table: one `key  value` line per fact.
pub fn header_table(h: &ModelHeader, path: &Path) -> String {
    let origin = h
        .origin
        .clone()
        .unwrap_or_else(|| "trained by cpuwall".into());
    let rows = [
        ("file", path.display().to_string()),
        ("format version", store::FORMAT_VERSION.to_string()),
        ("model", format!("{} ({})", h.kind, h.kind.long())),
        ("features", {
            let f = h.features();
            let how = if f.generated {
                "; generated names: a CSV's columns are taken by position"
            } else {
                ""
            };
            format!("{} ({}{how})", h.n_features, list(&f.names))
        }),
        ("task", h.task.to_string()),
        ("classes", classes(h)),
        ("origin", origin),
        ("parameters", describe(&h.params)),
        (
            match h.task {
                crate::model::Task::Classification => "CV accuracy",
                crate::model::Task::Regression => "CV R²",
            },
            h.cv_accuracy.map_or("-".into(), |v| format!("{v:.4}")),
        ),
        ("training rows", h.train_rows.to_string()),
        ("training data sha256", h.data_hash.clone()),
        ("fit", h.fit_notes.clone()),
        ("written by", format!("cpuwall {}", h.tool_version)),
        ("created (unix)", h.created_unix.to_string()),
    ];
    rows.iter().map(|(k, v)| format!("{k:<22} {v}\n")).collect()
}

/// `import`'s line: what was read, where it went, and what it is.
pub fn imported_line(h: &ModelHeader, from: &Path, to: &Path) -> String {
    format!(
        "{} -> {}: {} ({}), {} features ({}), {}",
        from.display(),
        to.display(),
        h.kind,
        h.origin.as_deref().unwrap_or("imported"),
        h.n_features,
        list(&h.feature_names),
        match h.task {
            crate::model::Task::Classification => format!("classes {}", classes(h)),
            crate::model::Task::Regression => "a regressor".to_string(),
        }
    )
}
