//! How fast is prediction, per model and backend, and how close is the hot
//! loop to reading the input once? Names: `predict/<model>/<backend>/<rows>`,
//! `baseline/<what>/<rows>`, `latency/<model>/1row`. Rows/s via Throughput.
//! 1e7-row cases run only with CPUWALL_BENCH_1E7=1 (they need ~1 GB).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cpuwall::data::count::format_count;
use cpuwall::data::split::train_test_split;
use cpuwall::data::synth::study_data;
use cpuwall::exec::build::BackendSetup;
use cpuwall::exec::{Backend, BackendKind};
use cpuwall::measure::floor;
use cpuwall::model::nb::GaussianNb;
use cpuwall::model::{forest, Model, ModelKind, Predictor};
use cpuwall::tune::train::{model_path, train_default};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-models")
}

/// The study's default model of each kind (trained once, then reused).
fn model(kind: ModelKind) -> (PathBuf, Arc<Model>) {
    let dir = models_dir();
    let path = model_path(&dir, kind);
    if !path.exists() {
        train_default(kind, &dir).expect("train");
    }
    let stored = cpuwall::model::store::load(&path).expect("load");
    (path, Arc::new(stored.model))
}

fn sizes() -> Vec<usize> {
    let mut v = vec![10, 100, 1_000, 10_000, 100_000, 1_000_000];
    if std::env::var("CPUWALL_BENCH_1E7").is_ok() {
        v.push(10_000_000);
    }
    v
}

fn worker_exe() -> PathBuf {
    // target/release/deps/predict-xxxx -> target/release/cpuwall
    let me = std::env::current_exe().expect("exe");
    me.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("cpuwall")
}

fn bench_predict(c: &mut Criterion) {
    let max = *sizes().last().expect("sizes");
    let x: Array2<f64> = study_data(max, 10, 1).expect("data").x;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for kind in ModelKind::all() {
        let (path, m) = model(kind);
        let mut g = c.benchmark_group(format!("predict/{kind}"));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300));
        let setup = BackendSetup {
            threads,
            workers: threads,
            exe: worker_exe(),
            ..BackendSetup::new(m.clone(), path, String::new()).expect("setup")
        };
        let mut kinds = vec![BackendKind::Direct, BackendKind::Threads];
        if worker_exe().exists() {
            kinds.push(BackendKind::Processes);
        }
        let mut backends: Vec<(&str, Box<dyn Backend>)> = kinds
            .iter()
            .map(|k| (k.as_str(), k.build(&setup).expect("backend")))
            .collect();
        for &rows in &sizes() {
            if kind == forest::KIND && rows > 1_000_000 {
                continue;
            }
            let xs = x.slice(ndarray::s![..rows, ..]);
            let mut out = vec![0i64; rows];
            g.throughput(Throughput::Elements(rows as u64));
            for (name, b) in backends.iter_mut() {
                g.bench_with_input(
                    BenchmarkId::new(*name, format_count(rows as u64)),
                    &rows,
                    |bch, _| bch.iter(|| b.predict(black_box(xs), &mut out).expect("predict")),
                );
            }
        }
        g.finish();
    }
}

/// The floors: passes reading the same array, and a hand-written NB loop.
fn bench_baselines(c: &mut Criterion) {
    let rows = 1_000_000;
    let x: Array2<f64> = study_data(rows, 10, 1).expect("data").x;
    let flat = x.as_slice().expect("contiguous");
    let data = study_data(10_000, 10, 0).expect("data");
    let (train, _) = train_test_split(&data, 0.2, 2020, false).expect("split");
    let nb = GaussianNb::fit(
        &cpuwall::model::nb::NbConfig {
            var_smoothing: 1e-9,
        },
        &train,
    )
    .expect("fit");
    // One output buffer for every pass, allocated once (as a server keeps
    // one): a fresh 8 MB per call would time its page faults instead.
    let mut out = vec![0i64; rows];
    let mut g = c.benchmark_group("baseline");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(rows as u64));
    // A scalar pass over the rows (what the first baseline was): its
    // dependent per-row additions make it compute-bound, so it is no floor.
    g.bench_function("scalar_row_sums/1e6", |b| {
        b.iter(|| {
            for (o, row) in out.iter_mut().zip(flat.chunks_exact(10)) {
                *o = (row.iter().sum::<f64>() > 0.0) as i64;
            }
            black_box(&out);
        })
    });
    // The memory floor: the same 80 MB read and 8 MB of labels written, with
    // the least arithmetic there is, without and with the row kernel's
    // software prefetch.
    for (name, prefetch) in [("stream/1e6", false), ("stream_prefetched/1e6", true)] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(floor::stream(flat, 10, &mut out, prefetch)))
        });
    }
    let (theta, var, prior) = (nb.theta.clone(), nb.var.clone(), nb.class_prior.clone());
    g.bench_function("nb_hand_loop/1e6", |b| {
        let k0: f64 = prior[0].ln()
            - 0.5
                * var[..10]
                    .iter()
                    .map(|v| (2.0 * std::f64::consts::PI * v).ln())
                    .sum::<f64>();
        let k1: f64 = prior[1].ln()
            - 0.5
                * var[10..]
                    .iter()
                    .map(|v| (2.0 * std::f64::consts::PI * v).ln())
                    .sum::<f64>();
        b.iter(|| {
            for (o, row) in out.iter_mut().zip(flat.chunks_exact(10)) {
                let (mut s0, mut s1) = (k0, k1);
                for j in 0..10 {
                    s0 -= (row[j] - theta[j]).powi(2) / (2.0 * var[j]);
                    s1 -= (row[j] - theta[10 + j]).powi(2) / (2.0 * var[10 + j]);
                }
                *o = (s1 > s0) as i64;
            }
            black_box(&out);
        })
    });
    g.bench_function("nb_direct/1e6", |b| {
        b.iter(|| {
            nb.predict_into(x.view(), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

/// One row at a time, as an online service calls it.
fn bench_latency(c: &mut Criterion) {
    let x: Array2<f64> = study_data(1, 10, 1).expect("data").x;
    let mut g = c.benchmark_group("latency");
    g.sample_size(20).measurement_time(Duration::from_secs(1));
    for kind in ModelKind::all() {
        let (_, m) = model(kind);
        let mut out = [0i64; 1];
        g.bench_function(format!("{kind}/1row"), |b| {
            b.iter(|| m.predict_into(black_box(x.view()), &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_baselines, bench_latency, bench_predict);
criterion_main!(benches);
