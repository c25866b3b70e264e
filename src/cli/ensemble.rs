//! `cpuwall ensemble train|bench|predict|report` and the hidden `ensemble-worker`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Format;
use crate::data::count::{count_arg, positive_arg};
use crate::ensemble::devices::DeviceSpec;
use crate::ensemble::predict::{predict, PredictJob};
use crate::ensemble::train::{self, TrainJob};
use crate::ensemble::StrategyKind;
use crate::error::{Error, Result};
use crate::measure::ensemble::bench_to;
use crate::report::ensemble as out;
use crate::report::progress::{progress_bar, Steps};

#[derive(Debug, Subcommand)]
pub enum EnsembleCommand {
    /// Train the members (candle, Adam) and save them as safetensors.
    Train(TrainArgs),
    /// Time every strategy x predict batch size: the study's table.
    Bench(BenchArgs),
    /// Predict a CIFAR-10 binary file with the ensemble.
    Predict(PredictArgs),
    /// Write the markdown report of saved bench results (beside TensorFlow's figures).
    Report(ReportArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall ensemble report --results results/cnn.json --out reports/cnn.md
  cpuwall ensemble report --results reports/cnn-study/results.json --tensorflow reports/cnn-study/tensorflow.json")]
pub struct ReportArgs {
    /// Results written by `ensemble bench --out` or the cnn_study example.
    #[arg(long)]
    pub results: PathBuf,
    /// TensorFlow's run of the same designs, from baselines/keras_ensembles.py (none: no TensorFlow columns).
    #[arg(long)]
    pub tensorflow: Option<PathBuf>,
    /// The markdown report to write (its two SVG plots land beside it).
    #[arg(long, default_value = "reports/cnn-study/report.md")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct EnsembleArgs {
    #[command(subcommand)]
    pub command: EnsembleCommand,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall ensemble train
  cpuwall ensemble train --data cifar-10-batches-bin --epochs 3 --out ensemble")]
pub struct TrainArgs {
    /// Members of the ensemble (each a small CNN with its own seed).
    #[arg(long, default_value_t = 4)]
    pub members: usize,
    /// Passes over the training images per member.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Adam's learning rate (finite, positive).
    #[arg(long, default_value_t = 1e-3, value_parser = positive_arg, allow_negative_numbers = true)]
    pub learning_rate: f64,
    /// A cifar-10-batches-bin directory (data_batch_*.bin, test_batch.bin).
    #[arg(long, conflicts_with = "synthetic")]
    pub data: Option<PathBuf>,
    /// Synthetic CIFAR-shaped training images (the offline default).
    #[arg(long, value_parser = count_arg, default_value = "6000")]
    pub synthetic: u64,
    /// Directory for the members' weights (member-<i>.safetensors).
    #[arg(long, default_value = train::DEFAULT_DIR)]
    pub out: PathBuf,
    /// Seed of the members' initial weights and of the synthetic images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall ensemble bench
  cpuwall ensemble bench --strategy fused,threads --batch-size 64,500 --out results/cnn.json
  cpuwall ensemble bench --repeat 3 --export-csv cnn-samples.csv --export-markdown cnn.md")]
pub struct BenchArgs {
    #[command(flatten)]
    pub bench: crate::measure::ensemble::BenchOptions,
    /// table: for people; json: one JSON document on stdout (messages go to stderr).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also write the JSON results to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub export: crate::report::export_flags::ExportArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cpuwall ensemble predict --images test_batch.bin
  cpuwall ensemble predict --images test_batch.bin --strategy processes --out predictions.csv")]
pub struct PredictArgs {
    /// A CIFAR-10 binary file (records of 1 label byte + 3072 pixel bytes).
    #[arg(long)]
    pub images: PathBuf,
    /// Ensemble directory (written by `cpuwall ensemble train`).
    #[arg(long, default_value = train::DEFAULT_DIR)]
    pub models: PathBuf,
    /// One strategy: sequential, threads, processes or fused.
    #[arg(long, default_value = "fused")]
    pub strategy: String,
    /// Images per predict batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Device per member: cpu or cuda:N, one for all or one per member.
    #[arg(long, default_value = "cpu")]
    pub devices: String,
    /// Write per-image predictions (index,label,predicted,p0..p9) as CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// table: for people; json: one JSON document on stdout (messages go to stderr).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(a: EnsembleArgs) -> Result<()> {
    let notify = |line: &str| eprintln!("{line}");
    match a.command {
        EnsembleCommand::Train(t) => {
            let job = t.job()?;
            let bar = progress_bar(
                0,
                "{msg} [{bar:30}] {pos}/{len} images ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(indicatif::ProgressBar::hidden);
            bar.set_message(format!("{} members", job.members));
            let trained = train::train(&job, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            print!("{}", out::trained_lines(&trained, &job));
            Ok(())
        }
        EnsembleCommand::Bench(b) => {
            let job = b.bench.job()?;
            b.export.check_paths(&job.paths(b.out.as_deref()))?;
            let quiet = b.format == Format::Json;
            let steps = Steps::new(job.cells() as u64, "cells");
            let results = bench_to(&job, b.out.as_deref(), &notify, |c| {
                if !quiet {
                    steps.step(&out::cell_line(c));
                }
            })?;
            drop(steps);
            let json = || serde_json::to_string_pretty(&results).expect("serialisable");
            b.export.write(
                json,
                || out::raw_csv(&results),
                || out::render_markdown_table(&results.cells),
            )?;
            match b.format {
                Format::Json => println!("{}", json()),
                Format::Table => print!("{}", out::render_table(&results.cells)),
            }
            Ok(())
        }
        EnsembleCommand::Predict(p) => {
            let kinds = StrategyKind::parse_list(&p.strategy)?;
            let [strategy] = kinds.as_slice() else {
                return Err(Error::usage("ensemble predict runs one --strategy"));
            };
            let job = PredictJob {
                images: p.images,
                models: p.models,
                strategy: *strategy,
                batch_size: p.batch_size,
                devices: DeviceSpec::parse_list(&p.devices)?,
                out: p.out,
            };
            let prediction = predict(&job, &notify)?;
            match p.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&out::predict_json(&prediction))
                        .expect("serialisable")
                ),
                Format::Table => print!("{}", out::predict_line(&prediction, job.out.as_deref())),
            }
            Ok(())
        }
        EnsembleCommand::Report(r) => {
            for p in out::write_report(&r.results, r.tensorflow.as_deref(), &r.out)? {
                println!("wrote {}", p.display());
            }
            Ok(())
        }
    }
}

impl TrainArgs {
    pub fn job(&self) -> Result<TrainJob> {
        Ok(TrainJob {
            members: self.members,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            data: self.data.clone(),
            synthetic: self.synthetic,
            out: self.out.clone(),
            seed: self.seed,
        })
    }
}
