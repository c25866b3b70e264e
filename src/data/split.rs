//! `train_test_split` as scikit-learn does it (`ShuffleSplit` with a
//! `RandomState` permutation; `StratifiedShuffleSplit`-like when stratified).

use super::mt19937::RandomState;
use super::Dataset;
use crate::error::{Error, Result};

/// Split into (train, test). `test_fraction` in (0, 1); the test set gets
/// `ceil(test_fraction * n)` rows as in scikit-learn. Without `stratify`
/// the result equals scikit-learn's `train_test_split(..., random_state=seed)`.
pub fn train_test_split(
    data: &Dataset,
    test_fraction: f64,
    seed: u32,
    stratify: bool,
) -> Result<(Dataset, Dataset)> {
    let n = data.n_rows();
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::usage(format!(
            "test fraction {test_fraction} must be between 0 and 1 (exclusive)"
        )));
    }
    let n_test = (test_fraction * n as f64).ceil() as usize;
    let n_train = n - n_test.min(n);
    if n_test == 0 || n_train == 0 {
        return Err(Error::usage(format!(
            "cannot split {n} rows with test fraction {test_fraction}: one side would be empty"
        )));
    }
    let mut rng = RandomState::new(seed);
    let (train_idx, test_idx) = if stratify {
        stratified_indices(&data.y, n_test, &mut rng)
    } else {
        let perm = rng.permutation(n);
        (perm[n_test..].to_vec(), perm[..n_test].to_vec())
    };
    Ok((data.select(&train_idx), data.select(&test_idx)))
}

/// Per class, a shuffled share of the test rows proportional to the class
/// size (largest remainders get the leftover rows).
fn stratified_indices(y: &[i64], n_test: usize, rng: &mut RandomState) -> (Vec<usize>, Vec<usize>) {
    let mut classes: Vec<i64> = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let n = y.len();
    let members: Vec<Vec<usize>> = classes
        .iter()
        .map(|c| (0..n).filter(|&i| y[i] == *c).collect())
        .collect();
    let exact: Vec<f64> = members
        .iter()
        .map(|m| m.len() as f64 * n_test as f64 / n as f64)
        .collect();
    let mut take: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..classes.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.partial_cmp(&ra).unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut left = n_test - take.iter().sum::<usize>();
    for &c in order.iter().cycle().take(classes.len() * 2) {
        if left == 0 {
            break;
        }
        if take[c] < members[c].len() {
            take[c] += 1;
            left -= 1;
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (c, m) in members.iter().enumerate() {
        let mut m = m.clone();
        rng.shuffle(&mut m);
        test.extend_from_slice(&m[..take[c]]);
        train.extend_from_slice(&m[take[c]..]);
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut test);
    (train, test)
}
