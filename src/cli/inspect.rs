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
    let h = store::load(&a.file)?.header;
    match a.format {
        Format::Json => println!("{}", report::model::header_json(&h, &a.file)),
        Format::Table => print!("{}", report::model::header_table(&h, &a.file)),
    }
    Ok(())
}
