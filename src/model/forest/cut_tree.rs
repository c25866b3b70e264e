//! A feature's sorted cuts as a static 9-ary search tree (an "S+ tree"), to
//! rank a row's values for the quantised forest: how many cuts are strictly
//! below `x`, with one node's 8 compares (two 4-wide on AVX2) and a
//! popcount per level instead of one compare per halving. A NaN is below
//! no key and ranks 0, as the binary search gives it. Layout, descent and
//! the measured record: `docs/forest.md`.

use crate::isa::Isa;

/// Keys per node.
const KEYS: usize = 8;
/// Children per node.
const FANOUT: usize = KEYS + 1;
/// Values ranked at once (their descents interleave, so one's loads and
/// compares overlap another's).
pub const LOCKSTEP: usize = 16;

#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node([f64; KEYS]);

#[derive(Debug, Clone, PartialEq)]
pub struct CutTree {
    /// Every layer's nodes, root layer first.
    nodes: Vec<Node>,
    /// Node index where each layer starts (root first; the last is the
    /// cuts' layer).
    layers: Vec<usize>,
}

impl CutTree {
    /// The tree of `cuts` (ascending, distinct, not NaN).
    pub fn new(cuts: &[f64]) -> Self {
        debug_assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        let bottom = cuts.len().div_ceil(KEYS).max(1);
        // Leaf positions under one node of each layer, bottom layer first.
        let mut spans = vec![KEYS];
        let mut widths = vec![bottom];
        while *widths.last().expect("a layer") > 1 {
            let below = *widths.last().expect("a layer");
            widths.push(below.div_ceil(FANOUT));
            spans.push(spans.last().expect("a layer") * FANOUT);
        }
        let key = |i: usize| cuts.get(i).copied().unwrap_or(f64::INFINITY);
        let mut nodes = Vec::with_capacity(widths.iter().sum());
        let mut layers = Vec::with_capacity(widths.len());
        for level in (0..widths.len()).rev() {
            layers.push(nodes.len());
            for j in 0..widths[level] {
                let node = if level == 0 {
                    std::array::from_fn(|k| key(j * KEYS + k))
                } else {
                    // Key k: the first cut under child k + 1.
                    let child = spans[level - 1];
                    std::array::from_fn(|k| key((j * FANOUT + k + 1) * child))
                };
                nodes.push(Node(node));
            }
        }
        CutTree { nodes, layers }
    }

    /// How many cuts are below `x` (NaN: none), on the portable path.
    pub fn rank(&self, x: f64) -> usize {
        let mut j = 0;
        let (last, upper) = self.layers.split_last().expect("a layer");
        for &start in upper {
            j = j * FANOUT + below(&self.nodes[start + j].0, x);
        }
        j * KEYS + below(&self.nodes[last + j].0, x)
    }

    /// [`CutTree::rank`] of each of `xs`, on the kernels of `isa` (which the
    /// CPU must run; scalar otherwise). AVX-512 machines run the AVX2 kernel:
    /// two 4-wide compares beat one 8-wide compare into a mask register
    /// (docs/forest.md).
    pub fn ranks(&self, isa: Isa, xs: &[f64; LOCKSTEP]) -> [usize; LOCKSTEP] {
        #[cfg(target_arch = "x86_64")]
        if isa >= Isa::Avx2 && isa.supported() {
            // SAFETY: the CPU runs AVX2 (checked above).
            return unsafe { simd::ranks_avx2(self, xs) };
        }
        let _ = isa;
        std::array::from_fn(|i| self.rank(xs[i]))
    }
}

/// Keys of a node below `x`.
#[inline]
fn below(keys: &[f64; KEYS], x: f64) -> usize {
    keys.iter().filter(|&&k| k < x).count()
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    use super::{CutTree, FANOUT, KEYS, LOCKSTEP};

    /// The descent of [`CutTree::rank`] for `LOCKSTEP` values, with `count`
    /// giving the keys below `x` of the node at `keys`.
    ///
    /// # Safety
    /// `count` is sound to call for every node of `t` (its ISA runs here);
    /// `t`'s layers are complete (every child index it computes exists).
    #[inline(always)]
    unsafe fn descend(
        t: &CutTree,
        xs: &[f64; LOCKSTEP],
        count: impl Fn(*const f64, f64) -> usize,
    ) -> [usize; LOCKSTEP] {
        let mut j = [0usize; LOCKSTEP];
        let base = t.nodes.as_ptr() as *const f64;
        let (last, upper) = t.layers.split_last().expect("a layer");
        for &start in upper {
            for (j, &x) in j.iter_mut().zip(xs) {
                *j = *j * FANOUT + count(base.add((start + *j) * KEYS), x);
            }
        }
        for (j, &x) in j.iter_mut().zip(xs) {
            *j = *j * KEYS + count(base.add((last + *j) * KEYS), x);
        }
        j
    }

    /// # Safety
    /// AVX2 (and POPCNT, which every AVX2 CPU has).
    #[target_feature(enable = "avx2,popcnt")]
    pub unsafe fn ranks_avx2(t: &CutTree, xs: &[f64; LOCKSTEP]) -> [usize; LOCKSTEP] {
        descend(t, xs, |keys, x| {
            let v = _mm256_set1_pd(x);
            let lo = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_load_pd(keys), v);
            let hi = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_load_pd(keys.add(4)), v);
            let m = _mm256_movemask_pd(lo) | (_mm256_movemask_pd(hi) << 4);
            (m as u32).count_ones() as usize
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count by definition.
    fn count(cuts: &[f64], x: f64) -> usize {
        cuts.iter().filter(|&&c| c < x).count()
    }

    fn values_around(cuts: &[f64]) -> Vec<f64> {
        let mut xs = vec![
            f64::NAN,
            f64::NEG_INFINITY,
            f64::INFINITY,
            -0.0,
            0.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
        ];
        for &c in cuts {
            if c.is_finite() {
                xs.extend([c, c.next_down(), c.next_up()]);
            } else {
                xs.push(c);
            }
        }
        xs
    }

    #[test]
    fn every_size_and_every_value_on_and_around_a_cut_counts_the_cuts_below() {
        // Sizes across layer boundaries: 1 node, 9 leaves (two layers), 81
        // and 729 leaves (three and four), and one past each.
        for n in [0usize, 1, 7, 8, 9, 71, 72, 73, 648, 649, 5832, 5833, 9000] {
            let cuts: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 100.0).collect();
            let tree = CutTree::new(&cuts);
            let xs = values_around(&cuts);
            for isa in crate::isa::available() {
                for chunk in xs.chunks(LOCKSTEP) {
                    let mut batch = [f64::NAN; LOCKSTEP];
                    batch[..chunk.len()].copy_from_slice(chunk);
                    let got = tree.ranks(isa, &batch);
                    for (&x, &r) in batch.iter().zip(&got) {
                        assert_eq!(r, count(&cuts, x), "{n} cuts, x = {x}, {isa}");
                        assert_eq!(tree.rank(x), r, "{n} cuts, x = {x}");
                    }
                }
            }
        }
    }

    #[test]
    fn infinite_cuts_and_nan_rank_as_the_comparison_says() {
        let cuts = [f64::NEG_INFINITY, -1.5, 0.0, 2.0, 7.25, f64::INFINITY];
        let tree = CutTree::new(&cuts);
        for x in values_around(&cuts) {
            assert_eq!(tree.rank(x), count(&cuts, x), "x = {x}");
        }
        assert_eq!(tree.rank(f64::NAN), 0);
        assert_eq!(
            tree.rank(f64::INFINITY),
            5,
            "+inf is above every cut but itself"
        );
        assert_eq!(tree.rank(f64::NEG_INFINITY), 0);
    }
}
