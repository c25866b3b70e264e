//! `cpuwall predict` as a user runs it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn predict_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .arg("predict")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn on_a_fresh_directory_predict_trains_the_default_model_and_reports_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let out = predict_in(
        dir.path(),
        &[
            "--model",
            "nb",
            "--rows",
            "2e4",
            "--repeat",
            "3",
            "--threads-from",
            "1000",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("trained the default nb model"),
        "{}",
        stderr(&out)
    );
    assert!(dir.path().join("models/nb.cpuwall").exists());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["model"], "nb");
    assert_eq!(v["rows"], 20_000);
    assert_eq!(v["features"], 10);
    assert_eq!(v["predictions_identical"], true);
    for b in ["direct", "threads", "processes", "auto"] {
        let e = &v["backends"][b];
        for key in [
            "wall_seconds",
            "cpu_seconds",
            "worker_cpu_seconds",
            "cpu_per_wall",
            "rows_per_second",
            "speedup_vs_direct",
        ] {
            assert!(e[key].as_f64().is_some(), "{b}.{key} missing: {e}");
        }
    }
    assert!(
        v["backends"]["processes"]["worker_cpu_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Every speedup is direct's median wall over that backend's own median.
    let direct_wall = v["backends"]["direct"]["wall_seconds"].as_f64().unwrap();
    for b in ["direct", "threads", "processes", "auto"] {
        let e = &v["backends"][b];
        let expected = direct_wall / e["wall_seconds"].as_f64().unwrap();
        let got = e["speedup_vs_direct"].as_f64().unwrap();
        assert!(
            (got - expected).abs() <= 1e-12 * expected,
            "{b}: speedup {got}, direct/own wall {expected}"
        );
    }
    // Second run: the model exists now, nothing is trained.
    let out = predict_in(
        dir.path(),
        &[
            "--model",
            "nb",
            "--rows",
            "100",
            "--backend",
            "direct",
            "--repeat",
            "1",
        ],
    );
    assert!(out.status.success());
    assert!(!stderr(&out).contains("trained"));
    // Direct alone is the reference: no claim about other backends.
    assert!(!stdout(&out).contains("identical"), "{}", stdout(&out));
}

#[test]
fn predictions_written_with_out_match_the_test_labels_file_format() {
    let dir = tempfile::tempdir().unwrap();
    let test_csv = fixture("test.csv");
    let out = predict_in(
        dir.path(),
        &[
            "--model",
            "nb",
            "--data",
            test_csv.to_str().unwrap(),
            "--backend",
            "direct,threads",
            "--repeat",
            "1",
            "--out",
            "pred.csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("pred.csv")).unwrap();
    assert_eq!(text.lines().next(), Some("y"));
    assert_eq!(text.lines().count(), 2001);
}

#[test]
fn bad_predict_input_gets_one_clear_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ensure_default_model(d, "lr");
    std::fs::write(d.join("three.csv"), "a,b,c\n1,2,3\n").unwrap();
    assert_fails(
        &predict_in(d, &["--model", "lr", "--data", "three.csv"]),
        2,
        "3 feature columns, but the model's features are 10: the model's features have no names",
    );
    assert_fails(
        &predict_in(d, &["--model", "xgboost", "--rows", "10"]),
        2,
        "unknown model 'xgboost'",
    );
    assert_fails(
        &predict_in(d, &["--model", "lr", "--rows", "0"]),
        2,
        "--rows 0",
    );
    let out = predict_in(d, &["--model", "lr", "--rows", "1e12"]);
    assert_fails(&out, 2, "of memory");
    assert!(stderr(&out).contains("TB"), "{}", stderr(&out));
    assert_fails(
        &predict_in(d, &["--model", "lr", "--data", "missing.csv"]),
        2,
        "file not found",
    );
    assert_fails(
        &predict_in(d, &["--model", "lr", "--rows", "10", "--backend", "gpu"]),
        2,
        "unknown backend 'gpu'",
    );
    assert_fails(
        &predict_in(d, &["--model", "lr", "--rows", "10", "--backend", "mpi"]),
        2,
        "needs a build with the `mpi` feature",
    );
}

/// Predict a few rows once so that `models/<model>.cpuwall` exists in `dir`.
fn ensure_default_model(dir: &std::path::Path, model: &str) {
    let out = predict_in(
        dir,
        &[
            "--model",
            model,
            "--rows",
            "10",
            "--backend",
            "direct",
            "--repeat",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[test]
fn ctrl_c_during_a_process_run_leaves_no_worker_behind() {
    let dir = tempfile::tempdir().unwrap();
    ensure_default_model(dir.path(), "nb");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cpuwall"));
    cmd.args([
        "predict",
        "--model",
        "nb",
        "--rows",
        "3e5",
        "--backend",
        "processes",
        "--workers",
        "2",
        "--repeat",
        "1000000",
    ])
    .current_dir(dir.path())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // Ctrl-C as a terminal delivers it, whatever this test inherited: a
    // shell runs background jobs with SIGINT ignored, and an ignored signal
    // stays ignored across exec (the run would never stop).
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let start = Instant::now();
    let mut workers = Vec::new();
    while workers.len() < 2 && start.elapsed() < Duration::from_secs(20) {
        workers = children_of(pid);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(workers.len(), 2, "workers never started");
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling a child process we own.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    let gone = Instant::now();
    while workers
        .iter()
        .any(|w| std::path::Path::new(&format!("/proc/{w}")).exists())
        && gone.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for w in &workers {
        let stat = std::fs::read_to_string(format!("/proc/{w}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "worker {w} still running: {stat}"
        );
    }
}

#[test]
fn warmup_is_a_duration_or_a_number_of_passes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ensure_default_model(d, "nb");
    let timed = |warmup: &str| {
        let t = Instant::now();
        let out = predict_in(
            d,
            &[
                "--model",
                "nb",
                "--rows",
                "100",
                "--backend",
                "direct",
                "--repeat",
                "1",
                "--min-time",
                "1ms",
                "--warmup",
                warmup,
            ],
        );
        assert!(out.status.success(), "--warmup {warmup}: {}", stderr(&out));
        t.elapsed()
    };
    // A duration is a floor on the passes before timing starts.
    assert!(timed("1500ms") >= Duration::from_millis(1500));
    // Passes: none at all, or a few.
    timed("0");
    timed("3");
    assert_fails(
        &predict_in(d, &["--model", "nb", "--rows", "10", "--warmup", "soon"]),
        2,
        "neither a duration (300ms, 0.5s) nor a number of passes (5)",
    );
    assert_fails(
        &Command::new(env!("CARGO_BIN_EXE_cpuwall"))
            .args(["sweep", "--warmup", "later"])
            .current_dir(d)
            .output()
            .unwrap(),
        2,
        "--warmup",
    );
}

#[test]
fn piped_output_carries_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ensure_default_model(d, "nb");
    let out = Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args(["predict", "--model", "nb", "--rows", "100", "--repeat", "1"])
        .args(["--min-time", "1ms", "--warmup", "0"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .current_dir(d)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("predictions identical across backends: yes"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b') && !stderr(&out).contains('\x1b'),
        "{text}"
    );
}
