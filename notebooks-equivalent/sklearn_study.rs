//! # The scikit-learn study, re-run end to end with cpuwall
//!
//! `cargo run --release --example sklearn_study` (add `-- --quick` for a
//! small sweep). Writes `reports/sklearn-study/`: the training report, the
//! sweep results and the sweep report with plots, scikit-learn beside it.
//!
//! The study asked one question: when does parallel `predict` pay off for
//! Gaussian NB, logistic regression, linear SVC and a random forest, and how
//! busy are the cores (CPU time / wall time) while it runs? It used
//! `make_classification(n_samples=10000, n_features=10, random_state=0)`,
//! grid search with 5-fold CV, then timed `predict` for 10 to 10^7 rows
//! directly, with joblib threads and with joblib processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use cpuwall::data::count::decades;
use cpuwall::data::split::train_test_split;
use cpuwall::data::synth::study_data;
use cpuwall::exec::BackendKind;
use cpuwall::measure::sweep::{sweep, SweepJob};
use cpuwall::model::ModelKind;
use cpuwall::report::{sweep::write_report, training};
use cpuwall::tune::grid::default_grid;
use cpuwall::tune::train::{train_models, TrainJob};

fn main() -> cpuwall::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let out = PathBuf::from("reports/sklearn-study");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    // ## 1. The data
    //
    // cpuwall's `make_classification` is a bit-exact port (numpy's MT19937
    // included), so seed 0 and the study's split give the study's rows.
    let data = study_data(10_000, 10, 0)?;
    let (train, test) = train_test_split(&data, 0.2, 2020, false)?;
    println!(
        "data: {} training rows, {} test rows, {} features",
        train.n_rows(),
        test.n_rows(),
        train.n_features()
    );

    // ## 2. Grid search with 5-fold cross-validation, refit, save
    //
    // The study's grids: nb {}, lr penalty x C (21 candidates; scikit-learn's
    // default solver failed 14 of them), svc penalty x C (10), rf {}.
    let grids: BTreeMap<ModelKind, _> = ModelKind::all()
        .iter()
        .map(|&k| (k, default_grid(k)))
        .collect();
    let models_dir = out.join("models");
    let job = TrainJob {
        models: &ModelKind::all(),
        grids: &grids,
        folds: 5,
        // GridSearchCV(cv=5) in the notebook: scikit-learn's unshuffled folds.
        shuffle: false,
        seed: 0,
        out_dir: &models_dir,
        votes: None,
    };
    let trained = train_models(
        &job,
        &train,
        Some(&test),
        &|k, n| println!("training {k}: {n} fits"),
        &|| {},
    )?;
    let report = training::markdown(
        &trained,
        "make_classification(10000, 10, random_state=0), split 80/20 (seed 2020)",
        5,
        rayon::current_num_threads(),
    );
    cpuwall::atomic::write_atomic(&out.join("training.md"), report.as_bytes())?;

    // Side by side with scikit-learn's results (reference.json).
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/sklearn-study/reference.json"))
            .map_err(|e| cpuwall::Error::io("reading reference.json", e))?,
    )
    .expect("reference.json is JSON");
    println!("\nmodel  test acc (cpuwall / scikit-learn)  fit s (cpuwall / scikit-learn)");
    for m in &trained {
        let r = &reference["models"][m.model.short()];
        println!(
            "{:<5}  {:.4} / {:.4}                      {:.2} / {:.2}",
            m.model.short(),
            m.test_accuracy.unwrap_or(f64::NAN),
            r["test_accuracy"].as_f64().unwrap_or(f64::NAN),
            m.fit_seconds,
            r["fit_seconds_2cores"].as_f64().unwrap_or(f64::NAN)
        );
    }

    // ## 3. The prediction sweep
    //
    // Every model x backend x batch size. `processes` needs the `cpuwall`
    // binary beside this example (cargo builds it with the package).
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(Path::parent).map(|d| d.join("cpuwall")))
        .filter(|p| p.exists());
    let mut backends = vec![BackendKind::Direct, BackendKind::Threads, BackendKind::Auto];
    if exe.is_some() {
        backends.insert(2, BackendKind::Processes);
    } else {
        println!("(cpuwall binary not found beside the example: skipping the processes backend)");
    }
    let job = SweepJob {
        csv: false,
        models: ModelKind::all(),
        models_dir: models_dir.clone(),
        backends,
        rows: decades(10, if quick { 100_000 } else { 10_000_000 })?,
        min_time: 0.2,
        max_repeats: 1000,
        warmup: Default::default(),
        threads: None,
        workers: None,
        seed: 1,
        out: out.join("sweep.json"),
        exe,
    };
    sweep(
        &job,
        &AtomicBool::new(false),
        &|l| println!("{l}"),
        &mut |r| {
            if let Some(c) = r.cells.last() {
                println!(
                    "{} {} {}: {:.3e} s",
                    c.model, c.backend, c.rows, c.wall_seconds.median
                );
            }
            Ok(())
        },
    )?;
    let results_path = job.out;

    // ## 4. The report
    //
    // Tables, crossovers and findings computed from the results, plots, and
    // scikit-learn's own sweep as the baseline: measured on this machine by
    // `baselines/sklearn_sweep.py --out reports/sklearn-study/sklearn_sweep.csv`
    // (a figure from another machine would compare machines, not libraries).
    let base = out.join("sklearn_sweep.csv");
    let base = if base.exists() {
        Some(base)
    } else {
        println!(
            "(no {}: the report has no scikit-learn columns; run baselines/sklearn_sweep.py --out {} first)",
            base.display(),
            base.display()
        );
        None
    };
    for p in write_report(&[results_path], &out.join("sweep.md"), base.as_deref())? {
        println!("wrote {}", p.display());
    }
    Ok(())
}
