//! Prediction on the forest: rows tile by tile, trees added to sums (the
//! node walk, or the quantised blocks) or counted as votes (pure leaves),
//! and labels that leave the walk as soon as they are decided. One loop
//! ([`RandomForest::labels_of_tile`]) serves sums and votes alike; what a
//! row has gathered and when it is decided is a [`Tally`].

use std::cmp::Ordering::{Equal, Less};
use std::ops::Range;

use ndarray::{Array2, ArrayView2};

use super::quantised::{QuantisedForest, RankedRows, VOTE_CLASSES as MAX_VOTE_CLASSES};
use super::{RandomForest, BLOCK_ROWS, EXIT_STEP};
use crate::model::argmax;

/// What a tile's rows have gathered so far, for the early-exit loop.
trait Tally {
    /// Add trees `trees` of the first `rows` rows.
    fn add(&mut self, rows: usize, trees: Range<usize>);
    /// Row `i`'s leading class, and whether it is decided with trees `t..`
    /// still to walk: no tree left can change its label.
    fn lead(&mut self, i: usize, t: usize) -> (usize, bool);
    /// Row `i`'s label (its class index) once every tree is walked.
    fn label(&mut self, i: usize) -> usize;
    /// Copy row `from` over row `to`.
    fn move_row(&mut self, from: usize, to: usize);
}

/// Sums of leaf values, for any forest. A row is decided once its lead
/// over every other class exceeds what the trees left could move
/// (`remaining`, plus a margin for rounding far wider than the sums'
/// error): the label is then the one the full sum gives, bit for bit.
struct Sums<'f> {
    forest: &'f RandomForest,
    tile: TileRows,
    acc: &'f mut Vec<f64>,
    k: usize,
    margin: f64,
}

impl Tally for Sums<'_> {
    #[inline(always)]
    fn add(&mut self, rows: usize, trees: Range<usize>) {
        self.forest.add_trees(&mut self.tile, rows, trees, self.acc);
    }
    #[inline(always)]
    fn lead(&mut self, i: usize, t: usize) -> (usize, bool) {
        let (best, lead) = lead(&self.acc[i * self.k..(i + 1) * self.k]);
        // Written so that a NaN lead (non-finite leaf values) counts as
        // decided, its label the first class's as `lead` picks it.
        let bound = self.forest.remaining[t] + self.margin;
        (
            best,
            !matches!(lead.partial_cmp(&bound), Some(Less | Equal)),
        )
    }
    #[inline(always)]
    fn label(&mut self, i: usize) -> usize {
        argmax(&self.acc[i * self.k..(i + 1) * self.k])
    }
    #[inline(always)]
    fn move_row(&mut self, from: usize, to: usize) {
        self.tile.move_row(from, to);
        self.acc
            .copy_within(from * self.k..(from + 1) * self.k, to * self.k);
    }
}

/// Vote counts, for a layout that counts votes (every leaf pure): a tree
/// moves a lead by at most one vote, and a lead that only ties is enough
/// where the tie goes to the leader ([`vote_lead`]).
struct Votes<'f> {
    q: &'f QuantisedForest,
    ranked: RankedRows,
    k: usize,
    trees: usize,
    counts: [u16; MAX_VOTE_CLASSES],
}

impl Votes<'_> {
    #[inline(always)]
    fn lead_of(&mut self, i: usize) -> (usize, u32) {
        self.counts
            .iter_mut()
            .zip(self.ranked.votes(i, self.k))
            .for_each(|(c, v)| *c = v);
        vote_lead(&self.counts[..self.k])
    }
}

impl Tally for Votes<'_> {
    #[inline(always)]
    fn add(&mut self, rows: usize, trees: Range<usize>) {
        self.q.add_votes(&mut self.ranked, rows, trees, self.k);
    }
    #[inline(always)]
    fn lead(&mut self, i: usize, t: usize) -> (usize, bool) {
        let (best, lead) = self.lead_of(i);
        (best, lead > (self.trees - t) as u32 * self.k as u32)
    }
    #[inline(always)]
    fn label(&mut self, i: usize) -> usize {
        self.lead_of(i).0
    }
    #[inline(always)]
    fn move_row(&mut self, from: usize, to: usize) {
        self.ranked.move_row(from, to);
    }
}

impl RandomForest {
    /// Add trees `roots` (in order) of the rows of `block` (`d` values
    /// each) to their sums in `acc` (`rows x k`), node by node. Rows descend
    /// each tree in groups of LANES, one level per step and without
    /// branches (leaves loop to themselves), so the CPU overlaps the groups'
    /// memory latencies instead of waiting on one row's chain.
    pub(super) fn walk_nodes(&self, block: &[f64], d: usize, roots: &[u32], acc: &mut [f64]) {
        const LANES: usize = 8;
        let k = self.classes.len();
        let rows = block.len() / d;
        for &root in roots {
            let mut first = 0;
            while first < rows {
                let lanes = LANES.min(rows - first);
                let mut idx = [root as usize; LANES];
                loop {
                    let mut moved = 0usize;
                    for (r, slot) in idx.iter_mut().enumerate().take(lanes) {
                        let nd = &self.walk[*slot];
                        let x = block[(first + r) * d + nd.feature as usize];
                        let next = nd.child as usize + (x > nd.threshold) as usize;
                        moved |= next ^ *slot;
                        *slot = next;
                    }
                    if moved == 0 {
                        break;
                    }
                }
                for (r, slot) in idx.iter().enumerate().take(lanes) {
                    let leaf = self.leaf_value[*slot] as usize;
                    let probs = &self.values[leaf..leaf + k];
                    for (a, p) in acc[(first + r) * k..(first + r + 1) * k]
                        .iter_mut()
                        .zip(probs)
                    {
                        *a += p;
                    }
                }
                first += lanes;
            }
        }
    }

    /// `x`'s rows, tile by tile: `f(first row, the tile's values)`.
    fn for_each_tile(&self, x: ArrayView2<'_, f64>, mut f: impl FnMut(usize, &[f64])) {
        let d = self.n_features;
        let owned;
        let flat = match x.as_slice() {
            Some(s) => s,
            None => {
                owned = x.as_standard_layout().to_owned();
                owned.as_slice().expect("standard layout")
            }
        };
        if d == 0 {
            return;
        }
        let tile = self.tile_rows();
        for (b, block) in flat.chunks(tile * d).enumerate() {
            f(b * tile, block);
        }
    }

    /// A tile's rows as this forest's traversal reads them.
    fn tile_of(&self, block: &[f64]) -> TileRows {
        match &self.quantised {
            Some(q) => TileRows::Ranked(q.rank_rows(block, self.n_features)),
            None => TileRows::Values(block.to_vec(), self.n_features),
        }
    }

    /// Add trees `trees` of the first `rows` rows of `tile` to `acc`.
    fn add_trees(&self, tile: &mut TileRows, rows: usize, trees: Range<usize>, acc: &mut [f64]) {
        let k = self.classes.len();
        let d = self.n_features;
        match (tile, &self.quantised) {
            (TileRows::Ranked(r), Some(q)) => {
                q.add_trees(r, rows, trees, k, &self.values, &mut acc[..rows * k])
            }
            (TileRows::Values(v, _), _) => {
                self.walk_nodes(&v[..rows * d], d, &self.roots[trees], &mut acc[..rows * k])
            }
            (TileRows::Ranked(_), None) => unreachable!("ranked rows come from the layout"),
        }
    }

    /// Labels of `x`'s rows into `out`. Rows leave the walk as soon as
    /// their label is decided ([`Self::labels_of_tile`]), by sums or, on a
    /// layout of pure leaves, by exact vote counts.
    pub(super) fn labels(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) {
        let (k, d, trees) = (self.classes.len(), self.n_features, self.n_trees());
        let mut order: Vec<usize> = Vec::new();
        if let Some(q) = self.quantised.as_ref().filter(|q| q.counts_votes()) {
            self.for_each_tile(x, |first, block| {
                let mut votes = Votes {
                    q,
                    ranked: q.rank_rows(block, d),
                    k,
                    trees,
                    counts: [0; MAX_VOTE_CLASSES],
                };
                self.labels_of_tile(&mut votes, block.len() / d, first, &mut order, out);
            });
            return;
        }
        let mut acc = Vec::new();
        self.for_each_tile(x, |first, block| {
            let rows = block.len() / d;
            acc.clear();
            acc.resize(rows * k, 0.0);
            let mut sums = Sums {
                forest: self,
                tile: self.tile_of(block),
                acc: &mut acc,
                k,
                margin: 1e-9 * trees as f64,
            };
            self.labels_of_tile(&mut sums, rows, first, &mut order, out);
        });
    }

    /// The early-exit loop over one tile of `rows` rows (the first at row
    /// `first` of the batch): trees are added up to the next check, then
    /// every undecided row moves to the front and the decided ones stay
    /// behind with their labels written. Branch-free (whether a row is
    /// decided is a coin flip): every row writes its label (an undecided
    /// row's is overwritten later) and moves to slot `kept`, which only a
    /// row still undecided keeps.
    #[inline(always)]
    fn labels_of_tile<T: Tally>(
        &self,
        tally: &mut T,
        rows: usize,
        first: usize,
        order: &mut Vec<usize>,
        out: &mut [i64],
    ) {
        let trees = self.n_trees();
        order.clear();
        order.extend(0..rows);
        let mut n = rows;
        let mut t = 0;
        while t < trees && n > 0 {
            let next = self.next_check(t);
            tally.add(n, t..next);
            t = next;
            if t == trees {
                break;
            }
            let mut kept = 0;
            for i in 0..n {
                let (best, decided) = tally.lead(i, t);
                out[first + order[i]] = self.classes[best];
                tally.move_row(i, kept);
                order[kept] = order[i];
                kept += (!decided) as usize;
            }
            n = kept;
        }
        for i in 0..n {
            out[first + order[i]] = self.classes[tally.label(i)];
        }
    }

    /// The tree count after `t` trees at which undecided rows are next
    /// checked: from the first count that can decide a row, then every
    /// `EXIT_STEP` trees, and the last tree.
    pub(super) fn next_check(&self, t: usize) -> usize {
        if t < self.decidable_from {
            self.decidable_from
        } else {
            (t + EXIT_STEP).min(self.n_trees())
        }
    }

    /// Class probabilities of `x`'s rows: every tree's leaf values averaged
    /// (on pure leaves, a class's vote count over the trees: the same
    /// value bit for bit, without float adds).
    pub(super) fn probabilities(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let trees = self.n_trees() as f64;
        let mut out = self.sums(x);
        out.mapv_inplace(|s| s / trees);
        out
    }

    /// Every tree's leaf values of `x`'s rows, summed class by class in
    /// tree order (on pure leaves, vote counts: the same sums exactly).
    pub(crate) fn sums(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let k = self.classes.len();
        let mut out = Array2::zeros((x.nrows(), k));
        let trees = self.n_trees();
        // Sums for one tile (or the whole batch when it is smaller: zeroing
        // a full tile costs a single-row call microseconds).
        let mut acc = Vec::new();
        self.for_each_tile(x, |first, block| {
            let rows = block.len() / self.n_features;
            if let Some(q) = self.quantised.as_ref().filter(|q| q.counts_votes()) {
                // Pure leaves: a class's sum of 1.0s and 0.0s in tree order
                // is its vote count exactly.
                let mut ranked = q.rank_rows(block, self.n_features);
                q.add_votes(&mut ranked, rows, 0..trees, k);
                for r in 0..rows {
                    for (c, v) in ranked.votes(r, k).enumerate() {
                        out[[first + r, c]] = v as f64;
                    }
                }
                return;
            }
            acc.clear();
            acc.resize(rows * k, 0.0);
            self.add_trees(&mut self.tile_of(block), rows, 0..trees, &mut acc);
            for (r, a) in acc.chunks_exact(k).enumerate() {
                for c in 0..k {
                    out[[first + r, c]] = a[c];
                }
            }
        });
        out
    }

    /// Rows per tile of the quantised traversal (the node walk's block when
    /// the forest has no quantised layout).
    pub fn tile_rows(&self) -> usize {
        self.quantised
            .as_ref()
            .map_or(BLOCK_ROWS, |q| q.tile_rows(self.n_features))
    }
}

/// The first most voted class of `votes` (`argmax`'s tie rule, as on the
/// sums) and its lead over every other class, in units where a vote is
/// `k` (the class count) and a tie is broken by one: class `c`'s key is
/// `count * k + (k - 1 - c)`, so the keys are distinct and the largest is
/// the label. A row is decided once its lead exceeds `k` times the trees
/// left: no class can then reach the label's key, tie rule included
/// (two classes: class 0 needs a lead of the trees left, class 1 one
/// more).
#[inline(always)]
pub(super) fn vote_lead(votes: &[u16]) -> (usize, u32) {
    let k = votes.len() as u32;
    let key = |c: usize| votes[c] as u32 * k + (k - 1 - c as u32);
    if let [_, _] = *votes {
        let (a, b) = (key(0), key(1));
        return ((b > a) as usize, a.abs_diff(b));
    }
    let best = argmax(votes);
    let second = (0..votes.len())
        .filter(|&c| c != best)
        .map(key)
        .max()
        .unwrap_or(0);
    (best, key(best) - second)
}

/// The first largest of `sums` and its lead over the largest of the others.
#[inline(always)]
fn lead(sums: &[f64]) -> (usize, f64) {
    if let [a, b] = *sums {
        // `argmax`'s tie rule: the first.
        return ((b > a) as usize, (a - b).abs());
    }
    let best = argmax(sums);
    let second = sums
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != best)
        .fold(f64::NEG_INFINITY, |m, (_, &v)| m.max(v));
    (best, sums[best] - second)
}

/// One tile's rows: ranked for the quantised blocks, or the values
/// themselves for the node walk.
enum TileRows {
    Ranked(RankedRows),
    /// Rows of `d` values.
    Values(Vec<f64>, usize),
}

impl TileRows {
    /// Copy row `from` over row `to`.
    fn move_row(&mut self, from: usize, to: usize) {
        match self {
            TileRows::Ranked(r) => r.move_row(from, to),
            TileRows::Values(v, d) => v.copy_within(from * *d..(from + 1) * *d, to * *d),
        }
    }
}
