//! Interleaved timings of the speed targets (the linear models at memory
//! speed, the forest against scikit-learn), as ratios within one run.
//!
//! This machine's memory bandwidth drifts by up to 3x within seconds (other
//! tenants on the host), so two criterion benchmarks timed a few seconds
//! apart can disagree about which is faster. Here every contender of a group
//! runs once per round, round after round; each gets the median (and min) of
//! its rounds, and the ratios compare medians taken over the same rounds.
//!
//! `cargo bench --bench interleaved [-- GROUP...]`, groups: `floor` (NB/LR/SVC
//! direct at 1e6 rows vs the memory floor and scikit-learn), `rf` (the
//! forest's labels on each ISA the CPU runs, its probabilities and threads
//! at 1e6 rows, vs scikit-learn), `rf40` (the same for a 40-feature 4-class forest, 2e5
//! rows), `threads` (direct vs threads at 1e7 rows).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use cpuwall::data::synth::study_data;
use cpuwall::data::synth::MakeClassification;
use cpuwall::exec::direct::Direct;
use cpuwall::exec::threads::Threads;
use cpuwall::exec::Backend;
use cpuwall::measure::floor;
use cpuwall::measure::stats::Spread;
use cpuwall::model::forest::RandomForest;
use cpuwall::model::params::ParamSet;
use cpuwall::model::{fit, forest, logistic, nb, svc, Model, ModelKind, Predictor};
use cpuwall::tune::train::{model_path, train_default};
use ndarray::Array2;

/// scikit-learn's direct predict at 1e6 rows, as the reference sweep's
/// baseline measured it on this machine
/// (`reports/sklearn-study/sklearn_sweep.csv`, `baselines/sklearn_sweep.py`).
fn sklearn_1e6(kind: ModelKind) -> f64 {
    let csv = include_str!("../reports/sklearn-study/sklearn_sweep.csv");
    csv.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[0] == kind.to_string() && f[1] == "direct" && f[2] == "1000000")
        .map_or(f64::NAN, |f| f[4].parse().unwrap_or(f64::NAN))
}

fn model(kind: ModelKind) -> Arc<Model> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-models");
    let path = model_path(&dir, kind);
    if !path.exists() {
        train_default(kind, &dir).expect("train");
    }
    Arc::new(cpuwall::model::store::load(&path).expect("load").model)
}

type Contender<'a> = (String, Box<dyn FnMut() + 'a>);

/// Run every contender once per round; the spread of each one's seconds.
fn rounds(rounds: usize, contenders: &mut [Contender<'_>]) -> Vec<Spread> {
    let mut seconds = vec![Vec::new(); contenders.len()];
    for (_, f) in contenders.iter_mut() {
        f(); // warm-up: page faults, caches, thread pools
    }
    for _ in 0..rounds {
        for (i, (_, f)) in contenders.iter_mut().enumerate() {
            let t = Instant::now();
            f();
            seconds[i].push(t.elapsed().as_secs_f64());
        }
    }
    seconds.iter().map(|s| Spread::of(s)).collect()
}

fn print(title: &str, contenders: &[Contender<'_>], spreads: &[Spread]) {
    println!("\n{title}");
    println!(
        "{:<28} {:>12} {:>12} {:>12}",
        "contender", "median", "min", "max"
    );
    for ((name, _), s) in contenders.iter().zip(spreads) {
        println!(
            "{:<28} {:>9.3} ms {:>9.3} ms {:>9.3} ms",
            name,
            s.median * 1e3,
            s.min * 1e3,
            s.max * 1e3
        );
    }
}

fn floor_group() {
    let rows = 1_000_000;
    let x = study_data(rows, 10, 1).expect("data").x;
    let flat = x.as_slice().expect("contiguous");
    let kinds = [nb::KIND, logistic::KIND, svc::KIND];
    let models: Vec<_> = kinds.iter().map(|&k| model(k)).collect();
    let mut out = vec![vec![0i64; rows]; 2 + kinds.len()];
    let mut outs = out.iter_mut();
    let (o1, o2) = (outs.next().unwrap(), outs.next().unwrap());
    let mut contenders: Vec<Contender<'_>> = vec![
        (
            "floor: stream".into(),
            Box::new(|| {
                black_box(floor::stream(flat, 10, o1, false));
            }),
        ),
        (
            "floor: stream, prefetched".into(),
            Box::new(|| {
                black_box(floor::stream(flat, 10, o2, true));
            }),
        ),
    ];
    for ((kind, m), o) in kinds.iter().zip(&models).zip(outs) {
        let xv = x.view();
        contenders.push((
            format!("{kind} direct"),
            Box::new(move || m.predict_into(xv, o)),
        ));
    }
    let spreads = rounds(21, &mut contenders);
    print(
        "direct at 1e6 x 10 rows, 21 interleaved rounds",
        &contenders,
        &spreads,
    );
    let floor = spreads[0].median.min(spreads[1].median);
    for (i, kind) in kinds.iter().enumerate() {
        let s = spreads[2 + i].median;
        println!(
            "{kind}: {:.2}x the faster floor, {:.1}x faster than scikit-learn's {:.3} s",
            s / floor,
            sklearn_1e6(*kind) / s,
            sklearn_1e6(*kind)
        );
    }
}

/// A forest's labels on every ISA this CPU runs (`scalar` is the node
/// walk), its probabilities and the threads backend on the process's ISA,
/// on the same rows, in ns per row x tree. Returns the spreads of
/// [direct labels on the process's ISA, threads].
fn forest_contenders(name: &str, m: Arc<Model>, x: &Array2<f64>, rounds_n: usize) -> Vec<Spread> {
    let rows = x.nrows();
    let forest = m.downcast_ref::<RandomForest>().expect("a forest");
    let trees = forest.n_trees() as f64;
    let isas = cpuwall::isa::available();
    let current = cpuwall::isa::current();
    let per_isa: Vec<RandomForest> = isas.iter().map(|&i| forest.clone().on_isa(i)).collect();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut threads = Threads::new(m.clone(), cores, None).expect("pool");
    let mut outs = vec![vec![0i64; rows]; isas.len() + 1];
    let (threads_out, isa_outs) = outs.split_last_mut().expect("outputs");
    let xv = x.view();
    let mut contenders: Vec<Contender<'_>> = Vec::new();
    for ((isa, f), o) in isas.iter().zip(&per_isa).zip(isa_outs.iter_mut()) {
        contenders.push((
            format!("{name} labels, direct, {isa} ({})", f.layout_name()),
            Box::new(move || f.predict_into(xv, o)),
        ));
    }
    contenders.push((
        format!("{name} probabilities, direct, {current}"),
        Box::new(|| {
            black_box(m.scores(xv));
        }),
    ));
    contenders.push((
        format!("{name} labels, threads ({cores}), {current}"),
        Box::new(|| {
            threads.predict(xv, threads_out).expect("threads");
        }),
    ));
    let spreads = rounds(rounds_n, &mut contenders);
    print(
        &format!(
            "{name} at {rows} rows x {} features, {} trees, {rounds_n} interleaved rounds",
            x.ncols(),
            trees
        ),
        &contenders,
        &spreads,
    );
    for ((c, _), s) in contenders.iter().zip(&spreads) {
        println!(
            "{c}: {:.2} ns per row x tree",
            s.median * 1e9 / (rows as f64 * trees)
        );
    }
    let at = |isa| isas.iter().position(|&i| i == isa).expect("an ISA here");
    let direct = spreads[at(current)].median;
    let threads_s = spreads[spreads.len() - 1].median;
    println!(
        "{name}: {current} labels {:.2}x the node walk (scalar), probabilities {:.2}x the labels' time, threads {:.2}x direct",
        spreads[at(cpuwall::isa::Isa::Scalar)].median / direct,
        spreads[isas.len()].median / direct,
        direct / threads_s
    );
    drop(contenders);
    for (isa, o) in isas.iter().zip(&outs) {
        assert_eq!(o, &outs[isas.len()], "{isa} labels differ from threads'");
    }
    vec![spreads[at(current)], spreads[spreads.len() - 1]]
}

fn rf_group() {
    let x = study_data(1_000_000, 10, 1).expect("data").x;
    let spreads = forest_contenders("rf", model(forest::KIND), &x, 5);
    let sk = sklearn_1e6(forest::KIND);
    println!(
        "rf: direct {:.1}x faster than scikit-learn's {sk:.2} s (reports/sklearn-study), threads {:.1}x",
        sk / spreads[0].median,
        sk / spreads[1].median
    );
}

/// A wider forest: 40 features (blocks crossed split by split), 4 classes,
/// trained here on make_classification(10000 x 40, seed 0).
fn rf40_group() {
    let mut spec = MakeClassification::new(10_000, 40, 0);
    spec.n_classes = 4;
    spec.n_informative = 8;
    spec.n_redundant = 4;
    let data = spec.generate().expect("data");
    let m = Arc::new(fit(forest::KIND, &ParamSet::new(), &data, 0).expect("fit"));
    let mut rows = MakeClassification::new(200_000, 40, 1);
    rows.n_classes = 4;
    rows.n_informative = 8;
    rows.n_redundant = 4;
    let x = rows.generate().expect("rows").x;
    forest_contenders("rf 40 features 4 classes", m, &x, 5);
}

fn threads_group() {
    let rows = 10_000_000;
    let x = study_data(rows, 10, 1).expect("data").x;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    for kind in [nb::KIND, logistic::KIND, svc::KIND] {
        let m = model(kind);
        let mut direct = Direct::new(m.clone());
        let mut threads = Threads::new(m, cores, None).expect("pool");
        let (mut o1, mut o2) = (vec![0i64; rows], vec![0i64; rows]);
        let xv = x.view();
        let mut contenders: Vec<Contender<'_>> = vec![
            (
                format!("{kind} direct"),
                Box::new(|| {
                    direct.predict(xv, &mut o1).expect("direct");
                }),
            ),
            (
                format!("{kind} threads ({cores})"),
                Box::new(|| {
                    threads.predict(xv, &mut o2).expect("threads");
                }),
            ),
        ];
        let spreads = rounds(9, &mut contenders);
        print(
            &format!("{kind} at 1e7 rows, 9 interleaved rounds"),
            &contenders,
            &spreads,
        );
        println!(
            "{kind}: threads speedup {:.2}x (medians)",
            spreads[0].median / spreads[1].median
        );
    }
}

fn main() {
    // cargo bench passes `--bench`; anything else names groups.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |g: &str| wanted.is_empty() || wanted.iter().any(|w| w == g);
    if run("floor") {
        floor_group();
    }
    if run("rf") {
        rf_group();
    }
    if run("rf40") {
        rf40_group();
    }
    if run("threads") {
        threads_group();
    }
}
