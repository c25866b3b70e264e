//! Interleaved timings for the issue-3 targets, as ratios within one run.
//!
//! This machine's memory bandwidth drifts by up to 3x within seconds (other
//! tenants on the host), so two criterion benchmarks timed a few seconds
//! apart can disagree about which is faster. Here every contender of a group
//! runs once per round, round after round; each gets the median (and min) of
//! its rounds, and the ratios compare medians taken over the same rounds.
//!
//! `cargo bench --bench interleaved [-- GROUP...]`, groups: `floor` (NB/LR/SVC
//! direct at 1e6 rows vs the memory floor and scikit-learn), `rf` (direct at
//! 1e6 rows vs scikit-learn), `threads` (direct vs threads at 1e7 rows).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use cpuwall::data::synth::study_data;
use cpuwall::exec::direct::Direct;
use cpuwall::exec::threads::Threads;
use cpuwall::exec::Backend;
use cpuwall::measure::floor;
use cpuwall::measure::stats::Spread;
use cpuwall::model::{forest, logistic, nb, svc, Classifier, Model, ModelKind};
use cpuwall::tune::train::{model_path, train_default};

/// scikit-learn's direct predict at 1e6 rows on the study's 2-core machine
/// (`sklearn_sweep.csv`).
fn sklearn_1e6(kind: ModelKind) -> f64 {
    match kind {
        nb::KIND => 0.244,
        logistic::KIND => 0.028,
        svc::KIND => 0.056,
        forest::KIND => 5.52,
        _ => f64::NAN,
    }
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

fn rf_group() {
    let rows = 1_000_000;
    let x = study_data(rows, 10, 1).expect("data").x;
    let m = model(forest::KIND);
    let mut out = vec![0i64; rows];
    let mut contenders: Vec<Contender<'_>> = vec![(
        "rf direct".into(),
        Box::new(|| m.predict_into(x.view(), &mut out)),
    )];
    let spreads = rounds(5, &mut contenders);
    print("rf direct at 1e6 rows, 5 rounds", &contenders, &spreads);
    println!(
        "rf: {:.1}x faster than scikit-learn's 5.52 s",
        5.52 / spreads[0].median
    );
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
    if run("threads") {
        threads_group();
    }
}
