use std::path::PathBuf;

use clap::Args;

use super::models_dir;
use crate::atomic::{refuse_overwriting_inputs, write_atomic};
use crate::error::Result;
use crate::tune::train::resolve_model;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall export rf --onnx rf.onnx
  cpuwall export models/forest.cpuwall --onnx forest.onnx
  python -c \"import onnxruntime as o, numpy as n; s = o.InferenceSession('rf.onnx'); print(s.run(None, {'X': n.zeros((1, 10))})[0])\"")]
pub struct ExportArgs {
    /// lr, svc, rf, linreg, rfr (the file in --models-dir, trained if missing) or a model file path.
    pub model: String,
    /// The ONNX file to write: input X (rows x features; float64 for trees,
    /// float32 for linear models); outputs label and probabilities for a
    /// classifier, prediction (float32, rows x outputs) for a regressor.
    #[arg(long)]
    pub onnx: PathBuf,
    /// Where nb/lr/svc/rf model files live (default: ./models).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
}

pub fn run(a: ExportArgs) -> Result<()> {
    let dir = models_dir(&a.models_dir)?;
    let path = crate::tune::train::model_file(&a.model, &dir);
    refuse_overwriting_inputs(&[("--onnx", &a.onnx)], &[("MODEL", &path)])?;
    let resolved = resolve_model(&a.model, &dir)?;
    let kind = resolved.stored.header.kind;
    let bytes = crate::interop::export::stored_to_onnx(&resolved.stored)?;
    write_atomic(&a.onnx, &bytes)?;
    eprintln!(
        "{} ({kind}) -> {} ({} bytes, ONNX ai.onnx.ml)",
        resolved.path.display(),
        a.onnx.display(),
        bytes.len()
    );
    Ok(())
}
