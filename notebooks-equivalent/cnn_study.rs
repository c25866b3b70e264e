//! # The CNN-ensemble study, re-run end to end with cpuwall
//!
//! `cargo run --release --example cnn_study` (add `-- --quick` for 600
//! images). Writes `reports/cnn-study/`: the trained members, the bench
//! results (JSON) and a markdown report beside TensorFlow's figures.
//!
//! The study averaged the predictions of 4 small CNNs on CIFAR-10's 6000
//! test images and compared three designs: a loop over the members
//! ("sequential"), one process per member streaming results back in
//! segments of 500 ("multiprocessing"), and all members in one graph. It
//! timed them with CPU time at predict batch size 4; the issue re-ran it
//! with TensorFlow 2.21 on a 2-core machine at batch 4, 64 and 500.

use std::path::PathBuf;

use cpuwall::data::cifar;
use cpuwall::ensemble::devices::DeviceSpec;
use cpuwall::ensemble::processes::Settings;
use cpuwall::ensemble::train::{train, TrainJob};
use cpuwall::ensemble::{Ensemble, StrategyKind};
use cpuwall::measure::ensemble::{run_bench, BenchConfig, StudyResults, Training};
use cpuwall::measure::env::Environment;
use cpuwall::report::ensemble::render_table;

fn main() -> cpuwall::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let images = if quick { 600 } else { 6000 };
    let out = PathBuf::from("reports/cnn-study");

    // ## 1. The data
    //
    // CIFAR-10 cannot be downloaded here, so the offline default is the
    // seeded synthetic set: class-dependent gratings and tints plus noise,
    // 32 x 32 x 3, stored exactly like CIFAR-10's binary records (the same
    // reader serves the real `data_batch_N.bin` files: `--data DIR` on
    // `cpuwall ensemble train`). Training and evaluation sets use different
    // seeds, so no image is shared.
    let eval = cifar::synthetic(images, 2);
    println!(
        "data: {} training and {} evaluation images",
        images,
        eval.len()
    );

    // ## 2. Train the members
    //
    // The study's members: Conv(32) -> pool -> Conv(64) -> pool -> Conv(64)
    // -> Dense(64) -> Dense(10), Adam, cross-entropy, one epoch at batch 4.
    // candle defines and trains them (members concurrently, one per core)
    // and writes each as safetensors with a metadata header.
    let models = out.join("members");
    let job = TrainJob {
        synthetic: images as u64,
        out: models.clone(),
        ..TrainJob::default()
    };
    let trained = train(&job, &|_, _| {})?;
    print!(
        "{}",
        cpuwall::report::ensemble::trained_lines(&trained, &job)
    );
    let train_seconds = trained.seconds;

    // ## 3. Run every design at every batch size
    //
    // sequential, threads (members concurrently in one process), processes
    // (one `cpuwall ensemble-worker` per member, segments of 500 streamed
    // back) and fused (one graph). Wall and CPU time of this process and of
    // the member processes, so CPU/wall shows how busy the cores were.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("cpuwall")))
        .filter(|p| p.exists());
    let mut strategies = StrategyKind::ALL.to_vec();
    if exe.is_none() {
        println!("(cpuwall binary not found beside the example: skipping processes)");
        strategies.retain(|k| *k != StrategyKind::Processes);
    }
    let ensemble = Ensemble::load(&models, &[DeviceSpec::Cpu])?;
    let cfg = BenchConfig {
        strategies,
        batch_sizes: vec![4, 64, 500],
        repeats: if quick { 1 } else { 3 },
        processes: Settings::new(exe.unwrap_or_default()),
    };
    let env_start = Environment::capture();
    let cells = run_bench(&ensemble, &eval, &cfg, |c| {
        println!(
            "{:<10} batch {:>3}: {:.3} s, {:.2} cpu/wall",
            c.strategy.name(),
            c.batch_size,
            c.measured.wall_seconds.median,
            c.measured.cpu_per_wall
        )
    })?;
    println!("\n{}", render_table(&cells));

    // ## 4. The report
    let mut environment = env_start;
    environment.load_average_end = cpuwall::measure::env::load_average();
    let roofline = cpuwall::ensemble::roofline::measure(
        cpuwall::measure::ensemble::ROOFLINE_SIZE,
        environment.cores,
    );
    let results = StudyResults::new(
        environment,
        Some(Training {
            seconds: train_seconds,
            members: 4,
            images,
            batch_size: 4,
            epochs: 1,
        }),
        cells,
        Some(roofline),
    );
    // The report is generated from the results file's contents
    // (`cpuwall ensemble report --results ... --out ...` does the same).
    results.save(&out.join("results.json"))?;
    // TensorFlow's figures come from its own run on this machine
    // (`python baselines/keras_ensembles.py --out reports/cnn-study/tensorflow.json`),
    // when that file is there.
    let tf_path = out.join("tensorflow.json");
    let tf = if tf_path.exists() {
        Some(cpuwall::measure::results::tensorflow::TensorflowBaseline::load(&tf_path)?)
    } else {
        println!(
            "(no {}: the report has no TensorFlow columns; run baselines/keras_ensembles.py first)",
            tf_path.display()
        );
        None
    };
    cpuwall::atomic::write_set(&cpuwall::report::ensemble::study_files(
        &results,
        tf.as_ref(),
        &out.join("report.md"),
    ))?;
    println!("wrote {}", out.join("report.md").display());
    Ok(())
}
