//! The forest's own tests: traversals agree bit for bit, early exit keeps
//! the full walk's labels, chained votes count every tree.

use super::predict::vote_lead;
use super::*;
use crate::model::argmax;
use crate::rng::SplitMix64;

fn uniform(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
}

/// Labels from a noisy rule, so trees grow deep and uneven.
fn dataset(n: usize, d: usize, classes: i64, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed);
    let x = Array2::from_shape_fn((n, d), |_| uniform(&mut rng));
    let y = x
        .rows()
        .into_iter()
        .map(|r| {
            let s = r[0] + 0.5 * r[d - 1] + 0.3 * uniform(&mut rng);
            (s * 2.0).rem_euclid(classes as f64) as i64 * 10
        })
        .collect();
    Dataset::new(x, y)
}

fn config(trees: usize, max_depth: Option<usize>) -> ForestConfig {
    ForestConfig {
        n_estimators: trees,
        max_features: MaxFeatures::Sqrt,
        max_depth,
        min_samples_split: 2,
        min_samples_leaf: 1,
        bootstrap: true,
    }
}

/// The full node walk's answers: every tree's probabilities summed in
/// tree order, and their argmax (first class among ties).
fn reference(forest: &RandomForest, x: &Array2<f64>) -> (Vec<i64>, Array2<f64>) {
    let k = forest.classes.len();
    let d = forest.n_features;
    let flat = x.as_standard_layout().to_owned();
    let mut acc = vec![0.0; x.nrows() * k];
    forest.walk_nodes(flat.as_slice().unwrap(), d, &forest.roots, &mut acc);
    let labels = acc
        .chunks_exact(k)
        .map(|a| forest.classes[argmax(a)])
        .collect();
    let trees = forest.n_trees() as f64;
    let probs = Array2::from_shape_fn((x.nrows(), k), |(r, c)| acc[r * k + c] / trees);
    (labels, probs)
}

/// On every ISA this CPU runs, with 12 and 16 rows in flight, each row
/// must reach the same leaves as the full node walk: probabilities
/// equal bit for bit, labels equal (rows leaving early included).
fn assert_traversals_agree(forest: &RandomForest, x: &Array2<f64>) {
    let (labels, probs) = reference(forest, x);
    for isa in crate::isa::available() {
        for lanes in [12, 16] {
            let f = forest.clone().on_isa(isa).with_lanes(lanes);
            assert_eq!(f.n_blocks() > 0, isa >= Isa::Avx2, "{isa}: the layout");
            assert_eq!(f.predict(x.view()), labels, "{isa}, {lanes} lanes: labels");
            let p = f.scores(x.view()).1;
            let differing = p
                .iter()
                .zip(&probs)
                .filter(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differing.count(), 0, "{isa}, {lanes} lanes: probabilities");
        }
    }
}

/// Pure leaves (fully grown trees) are counted as votes when the
/// classes' slots fit in the row's spare room; otherwise, and for leaves
/// that are not pure, the walk adds the leaves' probabilities. Either
/// way every ISA agrees with the node walk.
#[test]
fn pure_leaves_are_counted_as_votes_where_the_row_has_room() {
    for (d, classes, depth, counted) in [
        (10, 2, None, true),     // 3 slots + 10 ranks in 16
        (13, 2, None, true),     // 16 of 16
        (14, 2, None, false),    // 17: no room left
        (40, 4, None, true),     // 13 slots + 40 ranks in 64
        (10, 9, None, false),    // more classes than the exit's bits
        (10, 2, Some(3), false), // leaves not pure
    ] {
        let train = dataset(600, d, classes, d as u64);
        let forest = RandomForest::fit(&config(9, depth), &train, 3).unwrap();
        for isa in crate::isa::available().into_iter().skip(1) {
            let f = forest.clone().on_isa(isa);
            let q = f.quantised.as_ref().expect("a quantised layout");
            assert_eq!(q.counts_votes(), counted, "d = {d}, k = {classes}, {isa}");
            // Votes are counted in the lanes, trees chained, where a
            // lane holds row and block (not split by split: 40
            // features under AVX2).
            let chained = counted && !q.split_by_split();
            assert_eq!(
                q.chains_trees().is_some(),
                chained,
                "d = {d}, k = {classes}, {isa}"
            );
            // `inspect` names the lanes the walk takes: the votes' for
            // labels and probabilities alike, else the sums'.
            let lanes = q.lanes(counted);
            let named = match (counted, chained) {
                // Nine trees: rows are looked at after 5 and 9.
                (true, true) => {
                    assert_eq!(f.checks(), [5, 9]);
                    format!(
                        ", {lanes} rows in flight, votes counted, trees chained (up to 5 a group)"
                    )
                }
                (true, false) => format!(", {lanes} rows in flight, votes counted"),
                (false, _) => format!(", {lanes} rows in flight"),
            };
            assert!(
                f.layout_name().ends_with(&named),
                "{}: {named}",
                f.layout_name()
            );
        }
        let test = dataset(2000, d, classes, 98);
        assert_traversals_agree(&forest, &test.x);
    }
}

/// Stumps on feature 0 of `d`, `k` classes: tree t sends a right-going
/// row (x0 > 0) to class `right[t]`, a left-going one to `left[t]`.
fn class_stumps(k: usize, d: usize, right: &[usize], left: &[usize]) -> RandomForest {
    let mut nodes = Vec::new();
    let mut roots = Vec::new();
    for (&r, &l) in right.iter().zip(left) {
        let i = nodes.len() as u32;
        roots.push(i);
        nodes.push(Node {
            threshold: 0.0,
            feature: 0,
            child: i + 1,
        });
        // Class c's leaf values (one 1.0) sit at c * k.
        for class in [l, r] {
            nodes.push(Node {
                threshold: 0.0,
                feature: LEAF,
                child: (class * k) as u32,
            });
        }
    }
    let onehot = (0..k * k).map(|i| (i / k == i % k) as u8 as f64).collect();
    RandomForest::from_checked_parts((0..k as i64).collect(), d, nodes, roots, onehot).unwrap()
}

/// Two-leaf stumps on feature 0 (right when x0 > 0): tree t sends a
/// right-going row to class `right[t]`, a left-going one to the other.
fn stumps(right: &[usize]) -> RandomForest {
    let left: Vec<usize> = right.iter().map(|&c| 1 - c).collect();
    class_stumps(2, 1, right, &left)
}

/// A lead equal to what the trees left could take back does not decide
/// a row: 4 votes against 1 after five of eight trees (lead 3, three
/// trees left) ends 4:4, and a tie goes to the first class.
#[test]
fn a_lead_no_larger_than_the_trees_left_does_not_decide_a_row() {
    let f = stumps(&[1, 1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(f.decidable_from, 5, "after 5 trees a 5:0 lead beats 3");
    let x = Array2::from_shape_vec((2, 1), vec![1.0, -1.0]).unwrap();
    assert_traversals_agree(&f, &x);
    assert_eq!(f.predict(x.view()), vec![0, 0]);
    // A lead that does beat the trees left: 5:0 after five of eight.
    let f = stumps(&[1, 1, 1, 1, 1, 0, 0, 0]);
    assert_traversals_agree(&f, &x);
    assert_eq!(f.predict(x.view()), vec![1, 0]);
}

/// Two classes' votes counted with the trees chained: groups end where
/// the labels look for decided rows, cut at 127 trees (the most a
/// group holds), and each row's counts are its trees' votes. 300
/// stumps, class 1 to the right in every third: 100 votes against 200
/// whichever way a row goes, decided from tree 151, so the first
/// group is cut into 127 and 24 trees.
#[test]
fn chained_trees_count_every_trees_vote() {
    let right: Vec<usize> = (0..300).map(|t| (t % 3 == 0) as usize).collect();
    let f = stumps(&right);
    assert_eq!(f.decidable_from, 151);
    assert_eq!(f.checks()[..3], [151, 159, 167]);
    assert_eq!(*f.checks().last().unwrap(), 300);
    // Rows on both sides, more than the lanes, not a multiple of them.
    let x0: Vec<f64> = (0..37)
        .map(|i| if i % 4 == 0 { 1.0 } else { -1.0 })
        .collect();
    let x = Array2::from_shape_vec((37, 1), x0.clone()).unwrap();
    for isa in crate::isa::available().into_iter().skip(1) {
        let f = f.clone().on_isa(isa);
        let q = f.quantised.as_ref().expect("a quantised layout");
        assert_eq!(q.chains_trees(), Some(127), "{isa}");
        assert!(f
            .layout_name()
            .ends_with("trees chained (up to 127 a group)"));
        let p = f.scores(x.view()).1;
        for (i, &v) in x0.iter().enumerate() {
            let (ones, label) = if v > 0.0 { (100.0, 0) } else { (200.0, 1) };
            // One row alone walks (row, tree) pairs, unchained.
            assert_eq!(f.predict(x.slice(ndarray::s![i..i + 1, ..])), vec![label]);
            assert_eq!(
                [p[[i, 0]], p[[i, 1]]],
                [(300.0 - ones) / 300.0, ones / 300.0],
                "{isa}, row {i}"
            );
        }
        assert_eq!(
            f.predict(x.view()),
            x0.iter().map(|&v| (v <= 0.0) as i64).collect::<Vec<_>>()
        );
    }
    assert_traversals_agree(&f, &x);
}

/// More classes' votes counted with the trees chained: each class but
/// the first counts in its own bits of the lane, above the block's,
/// so the more classes the fewer trees a group holds. Five classes of
/// 80 stumps (5 KB of blocks, 13 bits): 18 bits left make four 4-bit
/// counts, 15 trees a group, so the first group (to tree 41, where a
/// row can first be decided) is cut in three; four and three classes
/// of about 40 stumps: groups up to the looks. Every row's
/// probabilities are its trees' votes exactly, in a batch and one row
/// at a time, on every ISA and lane count.
#[test]
fn chained_trees_count_every_classes_votes() {
    // Five classes' 21 vote slots and 40 ranks fill 64 of AVX-512's
    // 64: only AVX-512 counts them.
    for (k, d, trees, most) in [(5, 40, 80, 15), (4, 1, 40, 21), (3, 1, 41, 21)] {
        // Trees vote unevenly, so each count differs from the others.
        let right: Vec<usize> = (0..trees).map(|t| (t * t + t / 3) % k).collect();
        let left: Vec<usize> = (0..trees).map(|t| (3 * t + 1) % (k - 1)).collect();
        let f = class_stumps(k, d, &right, &left);
        let counts = |side: &[usize]| -> Vec<f64> {
            (0..k)
                .map(|c| side.iter().filter(|&&v| v == c).count() as f64)
                .collect()
        };
        let (on_right, on_left) = (counts(&right), counts(&left));
        assert!(on_left[k - 1] == 0.0 && on_right.iter().filter(|&&n| n > 0.0).count() > 2);
        let x0: Vec<f64> = (0..37)
            .map(|i| if i % 4 == 0 { 1.0 } else { -1.0 })
            .collect();
        let x = Array2::from_shape_fn((37, d), |(i, j)| if j == 0 { x0[i] } else { 0.5 });
        for isa in crate::isa::available().into_iter().skip(1) {
            let f = f.clone().on_isa(isa);
            let q = f.quantised.as_ref().expect("a quantised layout");
            let chained = k <= 4 || isa >= Isa::Avx512;
            assert_eq!(q.chains_trees(), chained.then_some(most), "k = {k}, {isa}");
            let p = f.scores(x.view()).1;
            for (i, &v) in x0.iter().enumerate() {
                let votes = if v > 0.0 { &on_right } else { &on_left };
                let want: Vec<f64> = votes.iter().map(|n| n / trees as f64).collect();
                assert_eq!(p.row(i).to_vec(), want, "k = {k}, {isa}, row {i}");
                let label = argmax(votes) as i64;
                assert_eq!(f.predict(x.slice(ndarray::s![i..i + 1, ..])), vec![label]);
            }
        }
        assert_traversals_agree(&f, &x);
    }
}

/// A row counted as decided keeps its label whichever classes the
/// trees left vote for (argmax's first-class tie rule included), and a
/// row not counted as decided can still change: every count vector of
/// up to four classes, five votes each, with up to four trees left.
#[test]
fn a_row_is_decided_exactly_when_no_votes_left_can_change_its_label() {
    fn spreads(k: usize, left: u16) -> Vec<Vec<u16>> {
        if k == 1 {
            return vec![vec![left]];
        }
        (0..=left)
            .flat_map(|v| {
                spreads(k - 1, left - v).into_iter().map(move |mut rest| {
                    rest.insert(0, v);
                    rest
                })
            })
            .collect()
    }
    for k in 2..=4 {
        for counts in spreads(k, 5 * k as u16)
            .into_iter()
            .filter(|c| c.iter().all(|&v| v <= 5))
        {
            for left in 0..=4u16 {
                let (best, lead) = vote_lead(&counts);
                assert_eq!(best, argmax(&counts), "{counts:?}");
                let stays = spreads(k, left).iter().all(|more| {
                    let total: Vec<u16> = counts.iter().zip(more).map(|(a, b)| a + b).collect();
                    argmax(&total) == best
                });
                let decided = lead > left as u32 * k as u32;
                assert_eq!(decided, stays, "{counts:?} with {left} trees left");
            }
        }
    }
}

/// Many trees, so most rows leave early, and rows near the boundary
/// walk to the end: labels equal the full walk's on every ISA.
#[test]
fn rows_leaving_early_keep_the_full_walks_labels() {
    for (d, classes) in [(10, 2), (6, 4), (20, 3)] {
        let train = dataset(800, d, classes, 40 + d as u64);
        let forest = RandomForest::fit(&config(64, None), &train, 5).unwrap();
        assert!(forest.decidable_from < 64);
        let test = dataset(3000, d, classes, 41);
        assert_traversals_agree(&forest, &test.x);
    }
}

#[test]
fn quantised_and_node_by_node_traversals_agree() {
    for (d, classes, depth) in [
        (1, 2, None),
        (3, 3, None),
        (8, 2, None),
        (9, 2, None), // ranks from both halves of a row
        (10, 4, Some(2)),
        (16, 2, None),
        (17, 3, None), // more than 16 features: split by split on AVX2
        (32, 2, None), // AVX-512's widest one-register permute
        (64, 3, None), // AVX-512's widest two-register permute
        (65, 2, None), // split by split on every ISA
        (40, 4, None),
        (12, 6, None), // more classes than the unrolled sums
    ] {
        let train = dataset(600, d, classes, d as u64);
        let forest = RandomForest::fit(&config(7, depth), &train, 3).unwrap();
        // Rows of up to 16 features are picked from on AVX2, 64 on AVX-512.
        for isa in crate::isa::available().into_iter().skip(1) {
            let wide = if isa == Isa::Avx512 { 64 } else { 16 };
            let f = forest.clone().on_isa(isa);
            assert_eq!(f.split_by_split(), d > wide, "d = {d}, {isa}");
        }
        // Rows past a whole tile, and a partial last group.
        let test = dataset(forest.tile_rows() + 13, d, classes, 99);
        assert_traversals_agree(&forest, &test.x);
        // Fewer rows than lanes in flight, and one row.
        assert_traversals_agree(&forest, &test.x.slice(ndarray::s![..5, ..]).to_owned());
        assert_traversals_agree(&forest, &test.x.slice(ndarray::s![..1, ..]).to_owned());
    }
}

/// Rows on the thresholds themselves, just either side, and the values
/// f64 orders oddly: every one must fall on the node walk's side.
#[test]
fn rows_on_and_around_every_threshold_agree() {
    for d in [10, 20] {
        rows_on_and_around_thresholds(d);
    }
}

fn rows_on_and_around_thresholds(d: usize) {
    let train = dataset(400, d, 3, 5);
    let forest = RandomForest::fit(&config(9, None), &train, 4).unwrap();
    let thresholds: Vec<(usize, f64)> = forest
        .nodes
        .iter()
        .filter(|nd| nd.feature != LEAF)
        .map(|nd| (nd.feature as usize, nd.threshold))
        .collect();
    let mut rng = SplitMix64::new(8);
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MAX,
        f64::MIN,
    ];
    let mut x = dataset(3 * thresholds.len(), d, 3, 6).x;
    for (r, mut row) in x.rows_mut().into_iter().enumerate() {
        let (f, t) = thresholds[r / 3];
        row[f] = match r % 3 {
            0 => t,
            1 => t.next_down(),
            _ => t.next_up(),
        };
        let g = rng.below(d);
        if rng.below(4) == 0 {
            row[g] = specials[rng.below(specials.len())];
        }
    }
    assert_traversals_agree(&forest, &x);
}

#[test]
fn single_leaf_trees_and_special_values() {
    let train = dataset(300, 5, 2, 1);
    let stumps = RandomForest::fit(&config(3, Some(0)), &train, 1).unwrap();
    assert_eq!(stumps.n_nodes(), 3, "max_depth 0: every tree is one leaf");
    let deep = RandomForest::fit(&config(5, None), &train, 2).unwrap();
    let mut x = dataset(40, 5, 2, 7).x;
    for (i, v) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MAX]
        .into_iter()
        .enumerate()
    {
        x.row_mut(i * 3).fill(v);
        x[[i * 3 + 1, i]] = v;
    }
    for forest in [&stumps, &deep] {
        assert_traversals_agree(forest, &x);
    }
}

#[test]
fn thousands_of_levels_do_not_exhaust_the_stack() {
    // One tree, a chain of 20000 splits: split i (node 2i) tests feature
    // 0 against i; its left child (node 2i+1) is a leaf of class i % 2,
    // its right child the next split, and the last one's a final leaf.
    let depth = 20_000usize;
    let mut nodes = Vec::new();
    let mut values = Vec::new();
    for i in 0..depth {
        nodes.push(Node {
            threshold: i as f64,
            feature: 0,
            child: 2 * i as u32 + 1,
        });
        nodes.push(Node {
            threshold: 0.0,
            feature: LEAF,
            child: values.len() as u32,
        });
        values.extend([(1 - i % 2) as f64, (i % 2) as f64]);
    }
    nodes.push(Node {
        threshold: 0.0,
        feature: LEAF,
        child: values.len() as u32,
    });
    values.extend([1.0, 0.0]);
    let forest = RandomForest::from_parts(vec![0, 1], 2, nodes, vec![0], values);
    forest.validate().unwrap();
    let forest = forest.with_traversal();
    assert!(forest.n_blocks() > depth / 3);
    // Rows that stop at every depth, from the first split to the last.
    let x = Array2::from_shape_fn(
        (60, 2),
        |(r, c)| {
            if c == 0 {
                r as f64 * 340.5 - 1.0
            } else {
                0.0
            }
        },
    );
    let labels = forest.predict(x.view());
    assert!(labels.contains(&0) && labels.contains(&1));
    assert_traversals_agree(&forest, &x);
}

/// A boosted-like forest: tree `t` adds to class `t % k` only, grows to
/// at most depth `t % 9` (0 to 8) with random gaps, splits on `d` features at
/// sixteen shared thresholds; `deeper` adds one tree of depth 9 last.
fn one_class_trees(k: usize, d: usize, trees: usize, deeper: bool, seed: u64) -> RandomForest {
    let mut rng = SplitMix64::new(seed);
    let cut = |rng: &mut SplitMix64| (rng.next_u64() % 16) as f64 * 0.25 - 2.0;
    let (mut nodes, mut roots, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let leaf = Node {
        threshold: 0.0,
        feature: LEAF,
        child: 0,
    };
    for t in 0..trees + deeper as usize {
        let (class, max_depth) = if t == trees { (0, 9) } else { (t % k, t % 9) };
        let root = nodes.len();
        roots.push(root as u32);
        nodes.push(leaf);
        let mut queue = std::collections::VecDeque::from([(root, 0usize)]);
        while let Some((n, depth)) = queue.pop_front() {
            // Three splits in four, the root always.
            if depth < max_depth && (depth == 0 || !rng.next_u64().is_multiple_of(4)) {
                let child = nodes.len();
                nodes[n] = Node {
                    threshold: cut(&mut rng),
                    feature: (rng.next_u64() % d as u64) as u32,
                    child: child as u32,
                };
                nodes.extend([leaf, leaf]);
                queue.push_back((child, depth + 1));
                queue.push_back((child + 1, depth + 1));
            } else {
                nodes[n].child = values.len() as u32;
                let v = uniform(&mut rng);
                values.extend((0..k).map(|c| if c == class { v } else { 0.0 }));
            }
        }
    }
    RandomForest::from_checked_parts((0..k as i64).collect(), d, nodes, roots, values).unwrap()
}

/// Shallow trees that add to one class each are walked level by level on
/// AVX-512 (sixteen rows a register): every row reaches the node walk's
/// leaf and sums its trees in tree order, so sums are the node walk's bit
/// for bit, at every row count (a pass's 64 rows, the last rows group by
/// group, fewer rows than a group on the blocks), for rows on the
/// thresholds, rows of every width the layouts pick, and 2 and 3 classes.
#[test]
fn shallow_one_class_trees_walked_level_by_level_sum_as_the_node_walk() {
    if !Isa::Avx512.supported() {
        eprintln!("skipped: this CPU has no AVX-512");
        return;
    }
    for (k, d) in [(2, 5), (3, 20), (2, 40), (3, 70)] {
        let forest = one_class_trees(k, d, 60, false, 7 + d as u64);
        let mut rng = SplitMix64::new(d as u64);
        let x = Array2::from_shape_fn((1000, d), |_| {
            let on = (rng.next_u64() % 16) as f64 * 0.25 - 2.0;
            match rng.next_u64() % 3 {
                0 => on,
                1 => on + 1e-9,
                _ => uniform(&mut rng),
            }
        });
        let flat = x.as_standard_layout().to_owned();
        let levels = forest.clone().on_isa(Isa::Avx512).with_levels(true);
        assert!(levels.walks_levels(), "{k} classes, {d} features");
        let blocks = forest.clone().on_isa(Isa::Avx512).with_levels(false);
        assert!(!blocks.walks_levels());
        for rows in [1, 15, 16, 17, 63, 64, 65, 130, 1000] {
            let mut want = vec![0.0; rows * k];
            let part = &flat.as_slice().unwrap()[..rows * d];
            forest.walk_nodes(part, d, &forest.roots, &mut want);
            let xs = x.slice(ndarray::s![..rows, ..]);
            for f in [&levels, &blocks] {
                let got = f.sums(xs);
                let differing = got
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a.to_bits() != b.to_bits());
                assert_eq!(
                    differing.count(),
                    0,
                    "{k} classes, {d} features, {rows} rows"
                );
                let labels: Vec<i64> = want.chunks_exact(k).map(|a| argmax(a) as i64).collect();
                assert_eq!(
                    f.predict(xs),
                    labels,
                    "{k} classes, {d} features, {rows} rows"
                );
            }
        }
    }
}

/// Trees deeper than eight levels, or leaves that add to two classes, keep
/// the blocks.
#[test]
fn deep_or_many_class_trees_are_not_walked_level_by_level() {
    if !Isa::Avx512.supported() {
        return;
    }
    let deep = one_class_trees(2, 5, 10, true, 1);
    assert!(!deep.on_isa(Isa::Avx512).with_levels(true).walks_levels());
    let shallow = one_class_trees(2, 5, 10, false, 1);
    assert!(shallow
        .clone()
        .on_isa(Isa::Avx512)
        .with_levels(true)
        .walks_levels());
    let mut two = shallow;
    two.values.iter_mut().for_each(|v| *v += 0.5);
    assert!(!two.on_isa(Isa::Avx512).with_levels(true).walks_levels());
    // Averaged forests' leaves hold every class's probability.
    let forest = RandomForest::fit(&config(5, Some(4)), &dataset(400, 4, 3, 5), 1).unwrap();
    assert!(!forest.on_isa(Isa::Avx512).with_levels(true).walks_levels());
}
