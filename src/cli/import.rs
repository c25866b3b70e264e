use std::path::PathBuf;

use clap::Args;

use super::Format;
use crate::atomic::refuse_overwriting_inputs;
use crate::data::columns::list;
use crate::error::{Error, Result};
use crate::model::store;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  python tools/export_sklearn.py forest.joblib forest.json   # in your own Python
  cpuwall import forest.json --out models/forest.cpuwall
  cpuwall import model.onnx --out models/lr-onnx.cpuwall
  cpuwall predict --model models/forest.cpuwall --data rows.csv --out labels.csv")]
pub struct ImportArgs {
    /// A scikit-learn model exported by tools/export_sklearn.py (JSON), or an
    /// ONNX file with skl2onnx's LinearClassifier or TreeEnsembleClassifier.
    pub file: PathBuf,
    /// The model file to write (name it NAME.cpuwall; use it with --model PATH).
    #[arg(long)]
    pub out: PathBuf,
    /// table: one line for people; json: the written model's header.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(a: ImportArgs) -> Result<()> {
    refuse_overwriting_inputs(&[("--out", &a.out)], &[("FILE", &a.file)])?;
    if crate::data::extension(&a.out) != store::EXTENSION {
        return Err(Error::usage(format!(
            "--out {}: name the model file NAME.{}",
            a.out.display(),
            store::EXTENSION
        )));
    }
    let stored = crate::interop::import(&a.file)?;
    store::save(&a.out, &stored.header, &stored.model)?;
    let h = &stored.header;
    match a.format {
        Format::Json => {
            let mut v = serde_json::to_value(h).expect("header serialises");
            v["path"] = a.out.display().to_string().into();
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        Format::Table => eprintln!(
            "{} -> {}: {} ({}), {} features ({}), classes {:?}{}",
            a.file.display(),
            a.out.display(),
            h.kind,
            h.origin.as_deref().unwrap_or("imported"),
            h.n_features,
            list(&h.feature_names),
            h.classes,
            if h.class_names.is_empty() {
                String::new()
            } else {
                format!(" = {}", list(&h.class_names))
            }
        ),
    }
    Ok(())
}
