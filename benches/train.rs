//! How long does the study's grid search take per model on the study's
//! data (8000 rows, 5-fold CV, default grids, all cores)? Names:
//! `train/<model>/grid-search`.

use std::time::Duration;

use cpuwall::data::npy;
use cpuwall::data::Dataset;
use cpuwall::model::ModelKind;
use cpuwall::tune::grid::{default_grid, expand};
use cpuwall::tune::search::{grid_search, SearchSpec};
use criterion::{criterion_group, criterion_main, Criterion};

fn fixture_train() -> Dataset {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn-study");
    Dataset::new(
        npy::read_features(&dir.join("X_train.npy")).expect("X"),
        npy::read_labels(&dir.join("y_train.npy")).expect("y"),
    )
}

fn bench_train(c: &mut Criterion) {
    let data = fixture_train();
    let mut g = c.benchmark_group("train");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    for kind in ModelKind::all() {
        let candidates = expand(&default_grid(kind));
        let spec = SearchSpec {
            kind,
            candidates: &candidates,
            folds: 5,
            shuffle: true,
            seed: 0,
            votes: None,
        };
        g.bench_function(format!("{kind}/grid-search"), |b| {
            b.iter(|| grid_search(&spec, &data, &|| {}).expect("search"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_train);
criterion_main!(benches);
