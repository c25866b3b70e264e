use std::path::PathBuf;

use clap::Args;

use super::Format;
use crate::atomic::write_atomic;
use crate::error::Result;
use crate::report;
use crate::serve::load::measure_server;
use crate::serve::options::LoadOptions;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall load --url http://127.0.0.1:8080 --model nb --rate 5000 --duration 10s
  cpuwall load --url http://127.0.0.1:8080 --model rf --find-max --p99 10ms --out rf.json
  cpuwall load --url http://127.0.0.1:8080 --model lr --concurrency 1 --format json")]
pub struct LoadArgs {
    #[command(flatten)]
    pub options: LoadOptions,
    /// Write the results (every run) as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// table: for people; json: the results document on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(a: LoadArgs) -> Result<()> {
    let (config, search, label) = a.options.plan()?;
    let results = measure_server(&config, search, &label, &|r, ok| {
        if search.is_some() {
            let row = report::load::rows(std::slice::from_ref(r), &[ok]);
            eprintln!("  {}", row[0].join("  "));
        }
    })?;
    let json = serde_json::to_string_pretty(&results).expect("json");
    if let Some(p) = &a.out {
        write_atomic(p, format!("{json}\n").as_bytes())?;
    }
    match a.format {
        Format::Json => println!("{json}"),
        Format::Table => print!("{}", report::load::table(&results)),
    }
    Ok(())
}
