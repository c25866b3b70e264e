use std::path::PathBuf;

use clap::Args;

use super::Format;
use crate::error::Result;
use crate::model::params::describe;
use crate::model::store;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall inspect models/rf.cpuwall
  cpuwall inspect models/forest.cpuwall --format json")]
pub struct InspectArgs {
    /// A model file written by `cpuwall train`.
    pub file: PathBuf,
    /// table: for people; json: one JSON document on stdout (messages go to stderr).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(a: InspectArgs) -> Result<()> {
    let stored = store::load(&a.file)?;
    let h = &stored.header;
    match a.format {
        Format::Json => {
            let mut v = serde_json::to_value(h).expect("header serialises");
            v["feature_names"] = h.feature_names().into();
            v["format_version"] = store::FORMAT_VERSION.into();
            v["path"] = a.file.display().to_string().into();
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        Format::Table => {
            let rows = [
                ("file", a.file.display().to_string()),
                ("format version", store::FORMAT_VERSION.to_string()),
                ("model", format!("{} ({})", h.kind, h.kind.long())),
                (
                    "features",
                    format!(
                        "{} ({})",
                        h.n_features,
                        crate::data::columns::list(&h.feature_names())
                    ),
                ),
                (
                    "classes",
                    if h.class_names.is_empty() {
                        format!("{:?}", h.classes)
                    } else {
                        format!("{:?} = {:?}", h.classes, h.class_names)
                    },
                ),
                (
                    "origin",
                    h.origin
                        .clone()
                        .unwrap_or_else(|| "trained by cpuwall".into()),
                ),
                ("parameters", describe(&h.params)),
                (
                    "CV accuracy",
                    h.cv_accuracy.map_or("-".into(), |v| format!("{v:.4}")),
                ),
                ("training rows", h.train_rows.to_string()),
                ("training data sha256", h.data_hash.clone()),
                ("fit", h.fit_notes.clone()),
                ("written by", format!("cpuwall {}", h.tool_version)),
                ("created (unix)", h.created_unix.to_string()),
            ];
            for (k, v) in rows {
                println!("{k:<22} {v}");
            }
        }
    }
    Ok(())
}
