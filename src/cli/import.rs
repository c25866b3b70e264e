use std::path::PathBuf;

use clap::Args;

use super::Format;
use crate::error::Result;
use crate::report;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  python tools/export_sklearn.py forest.joblib forest.json   # in your own Python
  cpuwall import forest.json --out models/forest.cpuwall
  cpuwall import model.onnx --out models/lr-onnx.cpuwall
  cpuwall import xgb.json --out models/xgb.cpuwall           # XGBoost save_model (.json / .ubj)
  cpuwall import lgbm.txt --out models/lgbm.cpuwall          # LightGBM save_model
  cpuwall predict --model models/forest.cpuwall --data rows.csv --out labels.csv")]
pub struct ImportArgs {
    /// A scikit-learn model exported by tools/export_sklearn.py (JSON); an
    /// XGBoost model file (save_model: JSON or UBJSON); a LightGBM text model
    /// file; or an ONNX file with a LinearClassifier or TreeEnsembleClassifier
    /// (skl2onnx, onnxmltools). The format is recognised by content.
    pub file: PathBuf,
    /// The model file to write (name it NAME.cpuwall; use it with --model PATH).
    #[arg(long)]
    pub out: PathBuf,
    /// table: one line for people; json: the written model's header.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(a: ImportArgs) -> Result<()> {
    let h = crate::interop::import_to(&a.file, &a.out)?.header;
    match a.format {
        Format::Json => println!("{}", report::model::header_json(&h, &a.out)),
        Format::Table => eprintln!("{}", report::model::imported_line(&h, &a.file, &a.out)),
    }
    Ok(())
}
