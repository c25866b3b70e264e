//! Stratified k-fold, a port of scikit-learn's `StratifiedKFold` (same
//! fold sizes per class; with `shuffle`, the same `RandomState` draws).

use crate::data::mt19937::RandomState;
use crate::error::{Error, Result};

/// The test fold (0..k) of every row.
pub fn stratified_folds(y: &[i64], k: usize, shuffle: Option<u32>) -> Result<Vec<usize>> {
    if k < 2 {
        return Err(Error::usage(format!(
            "--cv {k}: cross-validation needs at least 2 folds"
        )));
    }
    if y.len() < k {
        return Err(Error::usage(format!(
            "{} training rows are fewer than --cv {k} folds; give more data or fewer folds",
            y.len()
        )));
    }
    // Encode classes in order of first appearance, as scikit-learn does.
    let mut order: Vec<i64> = Vec::new();
    for v in y {
        if !order.contains(v) {
            order.push(*v);
        }
    }
    let mut sorted = order.clone();
    sorted.sort_unstable();
    let mut first_seen: Vec<(usize, i64)> = sorted
        .iter()
        .map(|c| (y.iter().position(|v| v == c).expect("present"), *c))
        .collect();
    first_seen.sort_unstable();
    let code = |v: i64| {
        first_seen
            .iter()
            .position(|(_, c)| *c == v)
            .expect("present")
    };
    let encoded: Vec<usize> = y.iter().map(|&v| code(v)).collect();
    let n_classes = first_seen.len();
    let mut counts = vec![0usize; n_classes];
    for &e in &encoded {
        counts[e] += 1;
    }
    if let Some((c, &n)) = counts.iter().enumerate().find(|(_, &n)| n < k) {
        return Err(Error::usage(format!(
            "class {} has only {n} rows, fewer than --cv {k} folds; give more rows of that class or fewer folds",
            first_seen[c].1
        )));
    }
    let mut y_order = encoded.clone();
    y_order.sort_unstable();
    // allocation[f][c]: rows of class c in test fold f.
    let mut allocation = vec![vec![0usize; n_classes]; k];
    for (f, alloc) in allocation.iter_mut().enumerate() {
        for &c in y_order.iter().skip(f).step_by(k) {
            alloc[c] += 1;
        }
    }
    let mut rng = shuffle.map(RandomState::new);
    let mut folds = vec![0usize; y.len()];
    for c in 0..n_classes {
        let mut for_class: Vec<usize> = (0..k)
            .flat_map(|f| std::iter::repeat_n(f, allocation[f][c]))
            .collect();
        if let Some(r) = rng.as_mut() {
            r.shuffle(&mut for_class);
        }
        let mut it = for_class.into_iter();
        for (i, &e) in encoded.iter().enumerate() {
            if e == c {
                folds[i] = it.next().expect("allocation covers the class");
            }
        }
    }
    Ok(folds)
}

/// The test fold (0..k) of each of `n` rows, as scikit-learn's `KFold`
/// (regression: not stratified): folds of `n / k` rows in order, the first
/// `n % k` one row larger; with `shuffle`, the rows permuted first by the
/// same `RandomState` draws.
pub fn plain_folds(n: usize, k: usize, shuffle: Option<u32>) -> Result<Vec<usize>> {
    if k < 2 {
        return Err(Error::usage(format!(
            "--cv {k}: cross-validation needs at least 2 folds"
        )));
    }
    if n < k {
        return Err(Error::usage(format!(
            "{n} training rows are fewer than --cv {k} folds; give more data or fewer folds"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(seed) = shuffle {
        RandomState::new(seed).shuffle(&mut order);
    }
    let mut folds = vec![0usize; n];
    let mut at = 0;
    for f in 0..k {
        let size = n / k + usize::from(f < n % k);
        for &row in &order[at..at + size] {
            folds[row] = f;
        }
        at += size;
    }
    Ok(folds)
}

/// (train rows, test rows) for fold `f`.
pub fn fold_indices(folds: &[usize], f: usize) -> (Vec<usize>, Vec<usize>) {
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (i, &g) in folds.iter().enumerate() {
        if g == f {
            test.push(i);
        } else {
            train.push(i);
        }
    }
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fold_keeps_the_class_balance() {
        let y: Vec<i64> = (0..100).map(|i| if i % 4 == 0 { 7 } else { 3 }).collect();
        let folds = stratified_folds(&y, 5, Some(0)).unwrap();
        for f in 0..5 {
            let (_, test) = fold_indices(&folds, f);
            assert_eq!(test.len(), 20);
            assert_eq!(test.iter().filter(|&&i| y[i] == 7).count(), 5);
        }
    }

    #[test]
    fn plain_folds_are_kfolds_contiguous_blocks_larger_first() {
        // KFold(3).split(range(8)): tests [0 1 2], [3 4 5], [6 7].
        let folds = plain_folds(8, 3, None).unwrap();
        assert_eq!(folds, [0, 0, 0, 1, 1, 1, 2, 2]);
        let shuffled = plain_folds(8, 3, Some(0)).unwrap();
        let mut sizes = [0; 3];
        shuffled.iter().for_each(|&f| sizes[f] += 1);
        assert_eq!(sizes, [3, 3, 2]);
        assert_ne!(shuffled, folds);
        assert!(plain_folds(2, 3, None).is_err());
    }

    #[test]
    fn too_few_rows_of_a_class_is_an_error() {
        let y = vec![0, 0, 0, 0, 0, 0, 1, 1];
        let err = stratified_folds(&y, 5, None).unwrap_err().to_string();
        assert!(err.contains("class 1 has only 2 rows"), "{err}");
    }
}
