use std::path::PathBuf;

use clap::Args;

use super::Format;
use crate::error::Result;
use crate::model::store;
use crate::report;

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
    let (h, layout) = (&stored.header, report::model::layout(&stored.model));
    match a.format {
        Format::Json => println!("{}", report::model::inspect_json(h, &a.file, &layout)),
        Format::Table => print!("{}", report::model::inspect_table(h, &a.file, &layout)),
    }
    Ok(())
}
