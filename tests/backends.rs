//! Every backend returns exactly direct's predictions; the process pool
//! survives a dying worker, times out a hung one, and leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cpuwall::data::synth::MakeClassification;
use cpuwall::exec::build::BackendSetup;
use cpuwall::exec::direct::Direct;
use cpuwall::exec::processes::{PoolConfig, ProcessPool};
use cpuwall::exec::threads::Threads;
use cpuwall::exec::worker::FAULT_ENV;
use cpuwall::exec::{Backend, BackendKind};
use cpuwall::measure::run::{measure, Repeats};
use cpuwall::model::params::{ParamSet, ParamValue};
use cpuwall::model::store::{self, ModelHeader};
use cpuwall::model::{fit, forest, logistic, nb, Model, ModelKind, Predictor};
use ndarray::Array2;
use proptest::prelude::*;

fn small_model(kind: ModelKind, classes: usize, seed: u32) -> Model {
    let mut spec = MakeClassification::new(400, 6, seed);
    spec.n_classes = classes;
    spec.n_informative = 3;
    spec.n_clusters_per_class = 1;
    let data = spec.generate().unwrap();
    let mut p = ParamSet::new();
    if kind == forest::KIND {
        p.insert("n_estimators".into(), ParamValue::Num(8.0));
    }
    fit(kind, &p, &data, seed as u64).unwrap()
}

fn save(dir: &Path, model: &Model) -> PathBuf {
    let path = dir.join(format!("{}.cpuwall", model.kind()));
    let header = ModelHeader {
        kind: model.kind(),
        n_features: model.n_features(),
        feature_names: Vec::new(),
        feature_names_generated: None,
        task: model.task(),
        classes: model.classes().to_vec(),
        class_names: Vec::new(),
        params: ParamSet::new(),
        cv_accuracy: None,
        train_rows: 400,
        data_hash: String::new(),
        tool_version: "test".into(),
        created_unix: 0,
        fit_notes: String::new(),
        origin: None,
    };
    store::save(&path, &header, model).unwrap();
    path
}

fn pool(path: &Path, workers: usize, timeout: Duration, env: Vec<(String, String)>) -> ProcessPool {
    ProcessPool::start(PoolConfig {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_cpuwall")),
        model_path: path.to_path_buf(),
        workers,
        timeout,
        env,
    })
    .unwrap()
}

fn rows(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut r = cpuwall::rng::SplitMix64::new(seed);
    Array2::from_shape_fn((n, d), |_| {
        (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 6.0 - 3.0
    })
}

fn alive(pid: u32) -> bool {
    // A reaped process is gone from /proc; a zombie would still be listed.
    Path::new(&format!("/proc/{pid}")).exists()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn every_backend_predicts_exactly_what_direct_predicts(
        classes in 2usize..4,
        n in prop_oneof![Just(0usize), Just(1usize), 2usize..40, 40usize..3000],
        threads in 1usize..4,
        workers in 1usize..5,
        chunk in prop_oneof![Just(None), (1usize..500).prop_map(Some)],
        seed in 0u32..1000,
    ) {
        // Every registered family, so a new one cannot skip this property.
        for kind in ModelKind::all() {
        let model = Arc::new(small_model(kind, classes, seed));
        let x = rows(n, 6, seed as u64);
        let mut expected = vec![0; n];
        Direct::new(model.clone()).predict(x.view(), &mut expected).unwrap();

        let mut got = vec![-1; n];
        Threads::new(model.clone(), threads, chunk).unwrap().predict(x.view(), &mut got).unwrap();
        prop_assert_eq!(&got, &expected);

        let dir = tempfile::tempdir().unwrap();
        let path = save(dir.path(), &model);
        let mut p = pool(&path, workers, Duration::from_secs(30), vec![]);
        let mut got = vec![-1; n];
        p.predict(x.view(), &mut got).unwrap();
        prop_assert_eq!(&got, &expected);
        // Warm pool, a different batch: still right.
        let x2 = rows(n / 2 + 1, 6, seed as u64 + 1);
        let mut exp2 = vec![0; x2.nrows()];
        model.predict_into(x2.view(), &mut exp2);
        let mut got2 = vec![-1; x2.nrows()];
        p.predict(x2.view(), &mut got2).unwrap();
        prop_assert_eq!(got2, exp2);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Every thread's CPU is read on its own clock around its share of the
    /// job, so no backend can report more CPU than the threads and
    /// processes it ran on could burn in the wall time.
    #[test]
    fn cpu_per_wall_never_exceeds_the_threads_and_processes_used(
        n in prop_oneof![Just(1usize), 2usize..200, 200usize..20_000],
        threads in 1usize..4,
        workers in 1usize..3,
        chunk in prop_oneof![Just(None), (1usize..2000).prop_map(Some)],
        seed in 0u32..1000,
    ) {
        let model = Arc::new(small_model(forest::KIND, 3, seed));
        let dir = tempfile::tempdir().unwrap();
        let path = save(dir.path(), &model);
        let setup = BackendSetup {
            threads,
            workers,
            chunk_rows: chunk,
            threads_from: Some(1000),
            exe: PathBuf::from(env!("CARGO_BIN_EXE_cpuwall")),
            ..BackendSetup::new(model.clone(), path, String::new()).unwrap()
        };
        let x = rows(n, 6, seed as u64);
        let mut out = vec![0; n];
        for kind in BackendKind::LOCAL {
            let limit = match kind {
                BackendKind::Direct => 1,
                BackendKind::Threads | BackendKind::Auto => threads,
                _ => 1 + workers,
            } as f64;
            let mut b = kind.build(&setup).unwrap();
            let m = measure(b.as_mut(), x.view(), &mut out, Repeats::fixed(6)).unwrap();
            prop_assert!(
                m.cpu_per_wall <= limit + 0.05,
                "{kind}: CPU/wall {} on {limit} threads/processes ({n} rows)",
                m.cpu_per_wall
            );
            prop_assert!(m.cpu_per_wall > 0.0);
        }
    }
}

#[test]
fn a_worker_killed_mid_job_is_replaced_and_its_rows_redone() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(forest::KIND, 3, 5);
    let path = save(dir.path(), &model);
    let marker = dir.path().join("died");
    let env = vec![(
        FAULT_ENV.to_string(),
        format!("die-once:{}", marker.display()),
    )];
    let mut p = pool(&path, 2, Duration::from_secs(30), env);
    let x = rows(5000, 6, 9);
    let mut got = vec![-1; 5000];
    p.predict(x.view(), &mut got).unwrap();
    assert!(
        marker.exists(),
        "no worker died: the fault was not injected"
    );
    assert_eq!(p.replaced, 1);
    assert_eq!(got, model.predict(x.view()));
    let pids = p.pids();
    drop(p);
    assert!(pids.iter().all(|&pid| !alive(pid)), "workers left behind");
}

#[test]
fn a_hung_worker_hits_the_timeout_with_a_clear_error_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(nb::KIND, 2, 1);
    let path = save(dir.path(), &model);
    let env = vec![(FAULT_ENV.to_string(), "hang".to_string())];
    let mut p = pool(&path, 2, Duration::from_millis(500), env);
    let pids = p.pids();
    let x = rows(100, 6, 2);
    let mut out = vec![0; 100];
    let t = std::time::Instant::now();
    let err = p.predict(x.view(), &mut out).unwrap_err().to_string();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(err.contains("did not answer within the timeout"), "{err}");
    drop(p);
    assert!(
        pids.iter().all(|&pid| !alive(pid)),
        "hung workers left behind"
    );
}

#[test]
fn wrong_feature_count_is_refused_before_any_work() {
    let model = Arc::new(small_model(logistic::KIND, 2, 3));
    let x = rows(10, 5, 1);
    let mut out = vec![0; 10];
    let err = Direct::new(model)
        .predict(x.view(), &mut out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the input has 5 features but the model was trained on 6"),
        "{err}"
    );
}

#[test]
fn a_worker_gone_between_calls_is_replaced_when_sent_its_next_job() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(logistic::KIND, 2, 4);
    let path = save(dir.path(), &model);
    let env = vec![(FAULT_ENV.to_string(), "gone-after:1".to_string())];
    let mut p = pool(&path, 1, Duration::from_secs(30), env);
    let x = rows(300, 6, 3);
    let mut got = vec![-1; 300];
    p.predict(x.view(), &mut got).unwrap();
    assert_eq!(p.replaced, 0);
    let first = p.pids()[0];
    // The worker closed its input before answering: this send finds no
    // reader (EPIPE, not SIGPIPE) and goes to a fresh worker.
    got.fill(-1);
    p.predict(x.view(), &mut got).unwrap();
    assert_eq!(p.replaced, 1);
    assert_ne!(p.pids()[0], first);
    assert_eq!(got, model.predict(x.view()));
}

/// The forest's quantised traversal (AVX2) must give every backend the
/// labels of the plain node-by-node walk: narrow and wide forests (the
/// shuffle and the split-by-split picks), several class counts, batches from one
/// row to past a tile, rows holding NaN, infinities, -0.0 and the extremes.
#[test]
fn every_backend_labels_forest_rows_as_the_node_walk_does() {
    use cpuwall::model::forest::RandomForest;
    let dir = tempfile::tempdir().unwrap();
    for (d, classes, seed) in [(6, 2, 1u32), (12, 3, 2), (40, 4, 3)] {
        let mut spec = MakeClassification::new(600, d, seed);
        spec.n_classes = classes;
        spec.n_informative = 4;
        spec.n_clusters_per_class = 1;
        let data = spec.generate().unwrap();
        let mut p = ParamSet::new();
        p.insert("n_estimators".into(), ParamValue::Num(12.0));
        let model = Arc::new(fit(forest::KIND, &p, &data, seed as u64).unwrap());
        let walk = model
            .downcast_ref::<RandomForest>()
            .unwrap()
            .clone()
            .node_by_node();
        let sub = dir.path().join(format!("{d}"));
        std::fs::create_dir(&sub).unwrap();
        let path = save(&sub, &model);
        let setup = BackendSetup {
            threads: 2,
            workers: 2,
            chunk_rows: Some(700),
            threads_from: Some(100),
            exe: PathBuf::from(env!("CARGO_BIN_EXE_cpuwall")),
            ..BackendSetup::new(model.clone(), path, String::new()).unwrap()
        };
        let specials = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::MAX,
            f64::MIN,
        ];
        for n in [1, 7, 5000] {
            let mut x = rows(n, d, seed as u64 + n as u64);
            for (i, v) in specials.iter().enumerate().filter(|(i, _)| i * 5 < n) {
                x[[i * 5, i % d]] = *v;
            }
            let expected = walk.predict(x.view());
            for kind in BackendKind::LOCAL {
                let mut got = vec![-1; n];
                kind.build(&setup)
                    .unwrap()
                    .predict(x.view(), &mut got)
                    .unwrap();
                assert_eq!(got, expected, "{kind}, {d} features, {n} rows");
            }
        }
    }
}

/// The Python package's checked call on the threads backend: every chunk of
/// a model that vouches for its rows (lr) and of one that cannot (rf) ends
/// in the same labels as direct; the first bad value is named by its row in
/// the whole batch, wherever its chunk is; finite rows whose scores overflow
/// are predicted.
#[test]
fn threads_predict_finite_names_the_bad_value_and_matches_direct() {
    for kind in [logistic::KIND, forest::KIND] {
        let model = Arc::new(small_model(kind, 3, 5));
        let x = rows(60_000, 6, 9);
        let mut threads = Threads::new(model.clone(), 2, Some(4096)).unwrap();
        let mut want = vec![0; x.nrows()];
        Direct::new(model.clone())
            .predict(x.view(), &mut want)
            .unwrap();
        let mut got = vec![0; x.nrows()];
        let origin = Path::new("X");
        threads.predict_finite(x.view(), &mut got, origin).unwrap();
        assert_eq!(got, want, "{kind}");
        for (r, c) in [(0, 0), (31_234, 2), (59_999, 5)] {
            let mut bad = x.clone();
            bad[[r, c]] = f64::NAN;
            let e = threads
                .predict_finite(bad.view(), &mut got, origin)
                .unwrap_err();
            let want = format!("X: row {} column {} is NaN", r + 1, c + 1);
            assert!(e.to_string().contains(&want), "{kind}: {e}");
        }
        let huge = x.mapv(|v| v * 1e306);
        threads
            .predict_finite(huge.view(), &mut got, origin)
            .unwrap();
    }
}

#[test]
fn every_family_says_what_its_scores_are_without_predicting() {
    for kind in ModelKind::all() {
        for classes in [2, 3] {
            let model = small_model(kind, classes, 3);
            let (scored, _) = model.scores(rows(2, 6, 1).view());
            assert_eq!(model.score_kind(), scored, "{kind} with {classes} classes");
        }
    }
}

#[test]
fn scores_go_through_the_backend_as_labels_do_and_equal_the_models() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ModelKind::all() {
        let model = Arc::new(small_model(kind, 3, 4));
        let x = rows(997, 6, 8);
        let (_, want) = model.scores(x.view());
        // Chunks of 50 rows: every member of the team scores some of them.
        let mut threads = Threads::new(model.clone(), 2, Some(50)).unwrap();
        let (got, cost) = threads.scores(x.view()).unwrap();
        assert_eq!(got, want, "{kind} threads");
        assert!(cost.parallelism >= 1);
        let (got, _) = Direct::new(model.clone()).scores(x.view()).unwrap();
        assert_eq!(got, want, "{kind} direct");
        // Workers return labels only: said, not faked.
        let path = save(dir.path(), &model);
        let mut p = pool(&path, 1, Duration::from_secs(30), Vec::new());
        let e = p.scores(x.view()).unwrap_err().to_string();
        assert!(e.contains("gives labels only"), "{e}");
    }
}
