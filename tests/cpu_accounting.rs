//! Reported CPU time agrees with the kernel's accounting. One test in this
//! binary, so no other test's threads or children blur the comparison.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cpuwall::clock::{reaped_children_cpu, self_rusage_cpu};
use cpuwall::data::synth::study_data;
use cpuwall::exec::processes::{PoolConfig, ProcessPool};
use cpuwall::exec::threads::Threads;
use cpuwall::measure::run::measure_once;
use cpuwall::model::params::{ParamSet, ParamValue};
use cpuwall::model::store::{self, ModelHeader};
use cpuwall::model::{fit, forest, Predictor};

#[test]
fn reported_cpu_matches_getrusage_for_threads_and_for_workers() {
    let data = study_data(3000, 10, 0).unwrap();
    let mut p = ParamSet::new();
    p.insert("n_estimators".into(), ParamValue::Num(40.0));
    let model = Arc::new(fit(forest::KIND, &p, &data, 0).unwrap());
    let x = study_data(120_000, 10, 1).unwrap().x;
    let mut out = vec![0; x.nrows()];

    // Threads: this process's CPU clock vs getrusage(RUSAGE_SELF). Small
    // chunks: a helper that finishes its last chunk before the caller
    // spins until the next call: CPU the kernel counts and no call owns.
    // With the default two chunks a member, that wait could last a quarter
    // of a call (the test failed about one run in three on a noisy 2-core
    // VM, e.g. 0.522 against 0.557 s).
    let mut threads = Threads::new(model.clone(), 2, Some(1000)).unwrap();
    let before = self_rusage_cpu();
    // Repeat until the job is big enough to compare (release builds are
    // fast, debug builds slow; a fixed count would suit only one).
    let mut ours = 0.0;
    for _ in 0..50 {
        ours += measure_once(&mut threads, x.view(), &mut out)
            .unwrap()
            .own_cpu_seconds;
        if ours > 0.5 {
            break;
        }
    }
    let kernel = (self_rusage_cpu() - before).as_secs_f64();
    assert!(ours > 0.2, "job too small to compare: {ours}");
    assert!(
        (ours - kernel).abs() / kernel < 0.05,
        "threads: ours {ours:.3} s vs kernel {kernel:.3} s"
    );

    // Workers: the CPU they report vs getrusage(RUSAGE_CHILDREN) once reaped.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rf.cpuwall");
    let header = ModelHeader {
        kind: model.kind(),
        n_features: 10,
        feature_names: Vec::new(),
        feature_names_generated: None,
        task: model.task(),
        classes: model.classes().to_vec(),
        class_names: Vec::new(),
        params: p.clone(),
        cv_accuracy: None,
        train_rows: 3000,
        data_hash: String::new(),
        tool_version: "test".into(),
        created_unix: 0,
        fit_notes: String::new(),
        origin: None,
    };
    store::save(&path, &header, &model).unwrap();
    let children_before = reaped_children_cpu();
    let mut pool = ProcessPool::start(PoolConfig {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_cpuwall")),
        model_path: path,
        workers: 2,
        timeout: Duration::from_secs(60),
        env: vec![],
    })
    .unwrap();
    let mut reported = 0.0;
    for _ in 0..50 {
        reported += measure_once(&mut pool, x.view(), &mut out)
            .unwrap()
            .worker_cpu_seconds;
        if reported > 0.5 {
            break;
        }
    }
    drop(pool); // reaps the workers
    let kernel = (reaped_children_cpu() - children_before).as_secs_f64();
    assert!(reported > 0.2, "job too small to compare: {reported}");
    // The kernel also counts start-up and model loading, so it may be a bit higher.
    assert!(
        (reported - kernel).abs() / kernel < 0.05,
        "workers: reported {reported:.3} s vs kernel {kernel:.3} s"
    );
}
