//! The MPI backend under `mpirun` (MPICH): `cargo test --features mpi --test mpi`.
#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn mpirun(ranks: usize, dir: &Path, args: &[&str]) -> Output {
    Command::new("mpirun")
        .arg("-n")
        .arg(ranks.to_string())
        .arg(env!("CARGO_BIN_EXE_cpuwall"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("mpirun is installed (apt-get install mpich)")
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn predictions_over_two_and_three_ranks_equal_direct() {
    let dir = tempfile::tempdir().unwrap();
    // Multi-output regressors too: two values a row travel per row.
    let mut models = vec!["nb".to_string(), "rf".into(), "linreg".into()];
    for file in ["rf2", "ridge2"] {
        let path = dir.path().join(format!("{file}.cpuwall"));
        let src = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/regression")
            .join(format!("{file}.json"));
        import_to(dir.path(), &src, &path);
        models.push(path.to_str().unwrap().to_string());
    }
    for model in &models {
        for ranks in [2, 3] {
            let v = json(&mpirun(
                ranks,
                dir.path(),
                &[
                    "predict",
                    "--model",
                    model.as_str(),
                    "--rows",
                    "200003",
                    "--backend",
                    "mpi",
                    "--repeat",
                    "1",
                    "--format",
                    "json",
                ],
            ));
            assert_eq!(v["ranks"], ranks);
            assert_valid_results(&v, "predict --backend mpi --format json");
            assert_eq!(
                v["raw"]["wall_seconds"].as_array().map(Vec::len),
                v["runs"].as_u64().map(|n| n as usize)
            );
            assert_eq!(
                v["predictions_identical"], true,
                "{model} on {ranks} ranks: {v}"
            );
            let per_rank = v["per_rank"].as_array().unwrap();
            assert_eq!(per_rank.len(), ranks);
            let rows: u64 = per_rank.iter().map(|r| r["rows"].as_u64().unwrap()).sum();
            assert_eq!(rows, 200_003);
        }
    }
}

#[test]
fn ranks_read_their_own_rows_of_an_npy_file() {
    let dir = tempfile::tempdir().unwrap();
    let x = fixture("X_test.npy");
    let v = json(&mpirun(
        3,
        dir.path(),
        &[
            "predict",
            "--model",
            "lr",
            "--data",
            x.to_str().unwrap(),
            "--backend",
            "mpi",
            "--repeat",
            "1",
            "--format",
            "json",
        ],
    ));
    assert_eq!(v["rows"], 2000);
    assert_eq!(v["predictions_identical"], true);
}

#[test]
fn training_across_ranks_gives_the_single_process_model() {
    let x = fixture("X_test.npy");
    let y = fixture("y_test.npy");
    let common = [
        "train",
        "--data",
        x.to_str().unwrap(),
        "--labels",
        y.to_str().unwrap(),
        "--models",
        "lr,svc,rf",
        "--grid",
        "lr.C=0.01,1",
        "--grid",
        "svc.C=0.1,10",
        "--grid",
        "rf.n_estimators=20",
        "--top-k",
        "3",
        "--across-families",
        "--format",
        "json",
    ];
    let single_dir = tempfile::tempdir().unwrap();
    let mut args = common.to_vec();
    args.extend(["--out", "m"]);
    let out = Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args(&args)
        .current_dir(single_dir.path())
        .output()
        .unwrap();
    let single = json(&out);
    for ranks in [2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = common.to_vec();
        args.extend(["--out", "m", "--mpi"]);
        let multi = json(&mpirun(ranks, dir.path(), &args));
        for m in ["lr", "svc", "rf"] {
            assert_eq!(
                single["models"][m]["best_params"], multi["models"][m]["best_params"],
                "{m} on {ranks} ranks"
            );
            assert_eq!(
                single["models"][m]["cv_accuracy"], multi["models"][m]["cv_accuracy"],
                "{m} on {ranks} ranks"
            );
            let folds = |v: &serde_json::Value| {
                v["models"][m]["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["fold_accuracy"].clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                folds(&single),
                folds(&multi),
                "{m} fold scores on {ranks} ranks"
            );
            // Written once, by rank 0, and predicting like the single-process file.
            let a = cpuwall::model::store::load(&single_dir.path().join(format!("m/{m}.cpuwall")))
                .unwrap();
            let b =
                cpuwall::model::store::load(&dir.path().join(format!("m/{m}.cpuwall"))).unwrap();
            assert_eq!(a.model, b.model, "{m}");
        }
        // The --top-k ensemble (hard vote: svc is among them): its CV
        // estimate from fold predictions that crossed ranks, its members.
        assert_eq!(single["ensemble"], {
            let mut e = multi["ensemble"].clone();
            e["refit_seconds"] = single["ensemble"]["refit_seconds"].clone();
            e["path"] = single["ensemble"]["path"].clone();
            e
        });
        let a = cpuwall::model::store::load(&single_dir.path().join("m/ensemble.cpuwall")).unwrap();
        let b = cpuwall::model::store::load(&dir.path().join("m/ensemble.cpuwall")).unwrap();
        assert_eq!(a.model, b.model, "the ensemble on {ranks} ranks");
        // ... and it predicts over the ranks like any model.
        let v = json(&mpirun(
            ranks,
            dir.path(),
            &[
                "predict",
                "--model",
                "m/ensemble.cpuwall",
                "--rows",
                "20003",
                "--backend",
                "mpi",
                "--repeat",
                "1",
                "--format",
                "json",
            ],
        ));
        assert_eq!(
            v["predictions_identical"], true,
            "the ensemble on {ranks} ranks: {v}"
        );
    }
}

#[test]
fn a_panicking_rank_ends_the_whole_job_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = Command::new("mpirun")
        .args([
            "-n",
            "3",
            env!("CARGO_BIN_EXE_cpuwall"),
            "predict",
            "--model",
            "nb",
            "--rows",
            "1000",
            "--backend",
            "mpi",
        ])
        .env("CPUWALL_TEST_PANIC_RANK", "1")
        .env("RUST_BACKTRACE", "0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    // (The launcher may drop the ranks' last stderr lines when it tears the
    // job down, so the message itself is not asserted here.)
    // No rank of that job is left.
    std::thread::sleep(Duration::from_millis(200));
    let ps = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    let running = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains("cpuwall predict --model nb --rows 1000 --backend mpi"))
        .count();
    assert_eq!(running, 0, "ranks left behind");
}

#[test]
fn a_binary_started_by_another_mpis_launcher_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args([
            "predict",
            "--model",
            "nb",
            "--rows",
            "100",
            "--backend",
            "mpi",
        ])
        .env("OMPI_COMM_WORLD_SIZE", "4")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_fails(&out, 2, "built against a different MPI than the launcher");
}
