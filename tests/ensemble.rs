//! The CNN ensemble: every strategy gives sequential's probabilities, a
//! dying or silent member process is reported and cleaned up, the CLI
//! trains, benchmarks and predicts, and bad input gets one clear line.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_succeeds, cpuwall};
use cpuwall::data::cifar::{self, CLASSES};
use cpuwall::ensemble::devices::DeviceSpec;
use cpuwall::ensemble::net::initial_weights;
use cpuwall::ensemble::processes::{Processes, Settings, FAULT_ENV};
use cpuwall::ensemble::weights::{member_path, Provenance};
use cpuwall::ensemble::{Ensemble, Strategy, StrategyKind};

/// An untrained (seeded) ensemble of `members` written to `dir`, with
/// non-zero biases so every layer's layout matters.
fn tiny_ensemble(dir: &Path, members: usize) -> Ensemble {
    for m in 0..members {
        let mut w = initial_weights(Provenance {
            member: m,
            members,
            seed: 5,
            epochs: 0,
            batch_size: 1,
            train_images: 0,
            data: "test".into(),
        });
        for t in [1, 3, 5, 7, 9] {
            for (k, v) in w.tensors[t].iter_mut().enumerate() {
                *v = 0.02 * ((k + m) % 5) as f32 - 0.04;
            }
        }
        w.save(&member_path(dir, m)).unwrap();
    }
    Ensemble::load(dir, &[DeviceSpec::Cpu]).unwrap()
}

fn settings() -> Settings {
    let mut s = Settings::new(PathBuf::from(env!("CARGO_BIN_EXE_cpuwall")));
    s.segment = 4;
    s.timeout = Duration::from_secs(30);
    s
}

fn run(
    kind: StrategyKind,
    e: &Ensemble,
    s: &Settings,
    images: &cifar::Images,
    batch: usize,
) -> Vec<f32> {
    let mut out = vec![f32::NAN; images.len() * e.len() * CLASSES];
    kind.build(e, s)
        .unwrap()
        .run(&images.pixels, batch, &mut out)
        .unwrap();
    out
}

#[test]
fn every_strategy_gives_sequentials_probabilities_at_every_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let e = tiny_ensemble(dir.path(), 3);
    let images = cifar::synthetic(11, 9);
    let s = settings();
    for batch in [1, 3, 4, 64] {
        let reference = run(StrategyKind::Sequential, &e, &s, &images, batch);
        assert!(reference.iter().all(|p| p.is_finite() && *p >= 0.0));
        // Members really differ, so slot mix-ups cannot pass.
        assert!((reference[0] - reference[CLASSES]).abs() > 1e-6);
        for kind in [
            StrategyKind::Threads,
            StrategyKind::Processes,
            StrategyKind::Fused,
        ] {
            let got = run(kind, &e, &s, &images, batch);
            let worst = got
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-5,
                "{} at batch {batch}: max diff {worst}",
                kind.name()
            );
        }
    }
}

#[test]
fn no_images_is_an_empty_answer_for_every_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let e = tiny_ensemble(dir.path(), 2);
    let empty = cifar::Images {
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for kind in StrategyKind::ALL {
        assert!(run(kind, &e, &settings(), &empty, 4).is_empty());
    }
}

fn fault_run(fault: &str, timeout: Duration) -> (String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let e = tiny_ensemble(dir.path(), 3);
    let images = cifar::synthetic(12, 1);
    let mut s = settings();
    s.timeout = timeout;
    s.env.push((FAULT_ENV.into(), fault.into()));
    let mut out = vec![0f32; 12 * 3 * CLASSES];
    let mut strategy = Processes::new(&e, s).unwrap();
    let t = Instant::now();
    let err = strategy.run(&images.pixels, 2, &mut out).unwrap_err();
    let took = t.elapsed();
    assert_eq!(strategy.last_pids.len(), 3);
    // Reaped processes are gone from /proc; an orphan or a zombie would be listed.
    for pid in &strategy.last_pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "member process {pid} left behind"
        );
    }
    (err.to_string(), took)
}

#[test]
fn a_member_process_that_dies_is_named_with_its_exit_status_and_nothing_is_left() {
    let (msg, took) = fault_run("die:1", Duration::from_secs(30));
    assert!(
        msg.contains("ensemble member 1") && msg.contains("exited with status 101"),
        "{msg}"
    );
    assert!(msg.contains("after 4 of 12 images"), "{msg}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_silent_member_process_times_out_with_a_clear_error() {
    let (msg, took) = fault_run("hang:2", Duration::from_secs(2));
    assert!(
        msg.contains("ensemble member 2") && msg.contains("said nothing for 2 s"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn train_then_bench_then_predict_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("ens");
    let m = models.to_str().unwrap();
    let results = dir.path().join("results.json");
    let out = cpuwall(&[
        "ensemble",
        "train",
        "--members",
        "2",
        "--synthetic",
        "1200",
        "--out",
        m,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_succeeds(&out);
    // One epoch on 1200 synthetic images (batch 4) clearly beats chance
    // (0.1) on the 240 held-out ones.
    let acc: f64 = text
        .rsplit("ensemble accuracy ")
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {text}"));
    assert!(
        acc > 0.3,
        "ensemble accuracy after one epoch: {acc}\n{text}"
    );
    assert!(member_path(&models, 1).exists() && !member_path(&models, 2).exists());

    let out = cpuwall(&[
        "ensemble",
        "bench",
        "--models",
        m,
        "--images",
        "24",
        "--batch-size",
        "4,7",
        "--format",
        "json",
        "--out",
        results.to_str().unwrap(),
    ]);
    assert_succeeds(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 8, "4 strategies x 2 batch sizes");
    for c in cells {
        assert!(
            c["max_abs_diff_vs_sequential"].as_f64().unwrap() <= 1e-5,
            "{c}"
        );
        assert!(c["wall_seconds"]["median"].as_f64().unwrap() > 0.0);
        assert!(c["gflops"].as_f64().unwrap() > 0.0);
        assert_eq!(c["member_accuracy"].as_array().unwrap().len(), 2);
        let ens = c["ensemble_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ens));
        assert_eq!(ens, cells[0]["ensemble_accuracy"].as_f64().unwrap());
    }
    let procs = cells.iter().find(|c| c["strategy"] == "processes").unwrap();
    assert!(procs["worker_cpu_seconds"]["median"].as_f64().unwrap() > 0.0);
    // The report is generated from the saved results file.
    let report = dir.path().join("report.md");
    let out = cpuwall(&[
        "ensemble",
        "report",
        "--results",
        results.to_str().unwrap(),
        "--tensorflow",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cnn-study/tensorflow.json"
        ),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_succeeds(&out);
    let md = std::fs::read_to_string(&report).unwrap();
    // Its two plots land beside it, and the report links them.
    for plot in ["report-wall.svg", "report-gflops.svg"] {
        let svg = std::fs::read_to_string(dir.path().join(plot)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("cpuwall fused"),
            "{plot}"
        );
        assert!(md.contains(&format!("]({plot})")), "{md}");
    }
    let fused_4 = cells
        .iter()
        .find(|c| c["strategy"] == "fused" && c["batch_size"] == 4)
        .unwrap();
    let wall = fused_4["wall_seconds"]["median"].as_f64().unwrap();
    assert!(md.contains("- fused at batch 4: "), "{md}");
    // TensorFlow's one graph at batch 4, from the committed baseline file.
    assert!(md.contains("[TF 5.533 s]"), "{md}");
    assert!(
        md.contains(&format!(
            "{:.0} GFLOP/s",
            fused_4["gflops"].as_f64().unwrap()
        )),
        "{md}"
    );
    assert!(wall > 0.0);

    // predict: a user's CIFAR-10 binary file, labels used for accuracy.
    let images = cifar::synthetic(10, 77);
    let file = dir.path().join("test_batch.bin");
    std::fs::write(&file, images.to_bytes()).unwrap();
    let csv = dir.path().join("pred.csv");
    let out = cpuwall(&[
        "ensemble",
        "predict",
        "--images",
        file.to_str().unwrap(),
        "--models",
        m,
        "--out",
        csv.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_succeeds(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let predicted: Vec<u64> = v["predicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert_eq!(predicted.len(), 10);
    let correct = predicted
        .iter()
        .zip(&images.labels)
        .filter(|(p, &y)| **p == y as u64)
        .count();
    assert_eq!(v["accuracy"].as_f64().unwrap(), correct as f64 / 10.0);
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 11);
    assert!(rows.starts_with("index,label,predicted,p0,"));
}

fn fails_with(args: &[&str], expect: &str) {
    let out = cpuwall(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected '{expect}' in: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn bad_ensemble_input_gets_one_clear_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("ens");
    tiny_ensemble(&models, 2);
    let m = models.to_str().unwrap();
    fails_with(
        &[
            "ensemble",
            "bench",
            "--models",
            m,
            "--strategy",
            "gpu",
            "--images",
            "2",
        ],
        "unknown strategy 'gpu'",
    );
    fails_with(
        &[
            "ensemble",
            "bench",
            "--models",
            m,
            "--batch-size",
            "0",
            "--images",
            "2",
        ],
        "--batch-size '0'",
    );
    fails_with(
        &[
            "ensemble",
            "bench",
            "--models",
            m,
            "--devices",
            "cpu,cpu,cpu",
            "--images",
            "2",
        ],
        "3 devices for 2 members",
    );
    #[cfg(not(feature = "cuda"))]
    fails_with(
        &[
            "ensemble",
            "bench",
            "--models",
            m,
            "--devices",
            "cpu,cuda:0",
            "--images",
            "2",
        ],
        "`cuda` feature",
    );
    let missing = dir.path().join("nope");
    fails_with(
        &[
            "ensemble",
            "bench",
            "--models",
            missing.to_str().unwrap(),
            "--images",
            "2",
        ],
        "no ensemble directory",
    );
    // A corrupted member file is named.
    let bad = dir.path().join("bad");
    tiny_ensemble(&bad, 2);
    std::fs::write(member_path(&bad, 1), b"not weights at all").unwrap();
    fails_with(
        &[
            "ensemble",
            "bench",
            "--models",
            bad.to_str().unwrap(),
            "--images",
            "2",
        ],
        "member-1.safetensors: not a safetensors weights file",
    );
    // A truncated CIFAR file to predict.
    let file = dir.path().join("cut.bin");
    let mut bytes = cifar::synthetic(2, 1).to_bytes();
    bytes.truncate(3073 + 100);
    std::fs::write(&file, bytes).unwrap();
    fails_with(
        &[
            "ensemble",
            "predict",
            "--images",
            file.to_str().unwrap(),
            "--models",
            m,
        ],
        "not a whole number of 3073-byte records",
    );
    // The predictions file is written atomically: a failed run keeps the old one.
    let csv = dir.path().join("keep.csv");
    std::fs::write(&csv, "old\n").unwrap();
    fails_with(
        &[
            "ensemble",
            "predict",
            "--images",
            file.to_str().unwrap(),
            "--models",
            m,
            "--out",
            csv.to_str().unwrap(),
        ],
        "3073-byte records",
    );
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "old\n");
    // A results file that is not one.
    fails_with(
        &["ensemble", "report", "--results", csv.to_str().unwrap()],
        "not an ensemble results file",
    );
}

#[test]
fn training_reads_a_cifar10_binary_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("data_batch_1.bin"),
        cifar::synthetic(40, 1).to_bytes(),
    )
    .unwrap();
    std::fs::write(
        data.join("data_batch_2.bin"),
        cifar::synthetic(24, 2).to_bytes(),
    )
    .unwrap();
    std::fs::write(
        data.join("test_batch.bin"),
        cifar::synthetic(16, 3).to_bytes(),
    )
    .unwrap();
    let models = dir.path().join("ens");
    let out = cpuwall(&[
        "ensemble",
        "train",
        "--members",
        "1",
        "--batch-size",
        "16",
        "--data",
        data.to_str().unwrap(),
        "--out",
        models.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_succeeds(&out);
    assert!(text.contains("accuracy on 16 held-out images"), "{text}");
    assert!(text.contains("64 images"), "{text}");
    let w = cpuwall::ensemble::weights::MemberWeights::load(&member_path(&models, 0)).unwrap();
    assert_eq!(w.provenance.train_images, 64);
    assert_eq!(w.provenance.data, data.display().to_string());
    // A directory without training batches is a clear error.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails_with(
        &[
            "ensemble",
            "train",
            "--data",
            empty.to_str().unwrap(),
            "--out",
            models.to_str().unwrap(),
        ],
        "no data_batch_*.bin files",
    );
}
