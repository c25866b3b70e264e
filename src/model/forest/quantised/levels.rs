//! Shallow trees walked level by level, sixteen rows to a register.
//!
//! Boosted trees are shallow (XGBoost's depth 6, LightGBM's 31 leaves),
//! where the blocks' three levels at a time leave each row two or three
//! dependent crossings a tree, a table look-up and a branch-free select
//! each. Here a tree is laid out complete to its depth (a leaf above the
//! bottom sends its rows left, through "never right" splits, to its
//! leftmost descendant), and sixteen rows step down one level together:
//! the level's splits come from one or two registers (`vpermd`,
//! `vpermt2d`; a gather below level 5), each row's rank of its split's
//! feature by one gather, and one compare moves all sixteen down. After
//! the last level, one gather fetches each row's leaf value. Four groups
//! of sixteen rows walk each tree together, so that one group's gathers
//! wait while another's are issued.
//!
//! Same ranks, same compares as the blocks: every row reaches the node
//! walk's leaf, and each row's sums take the trees in tree order, so the
//! results are the node walk's bit for bit. Only for trees that add to
//! one class each (boosted trees); measured in docs/forest.md.

use std::ops::Range;

use super::{QuantisedForest, LANES, NEVER_RIGHT};
use crate::model::forest::tree::{Node, LEAF};

/// The deepest tree laid out level by level (a complete tree of depth `d`
/// has `2^d` leaves: 2 KiB of leaf values at 8).
pub const LEVEL_DEPTH: usize = 8;
/// Groups of sixteen rows walking each tree together.
const GROUPS: usize = 4;
/// Rows a pass over the trees takes (a power of two).
const ROWS: usize = GROUPS * LANES;
const ROWS_SHIFT: u32 = ROWS.trailing_zeros();
const _: () = assert!(1 << ROWS_SHIFT == ROWS);
/// Levels whose rows' ranks are picked from their splits' columns loaded
/// whole (below them, gathered).
const PICKED_LEVELS: usize = 3;
/// A split that sends every row left: feature 0, threshold "never right".
const EMPTY: i32 = NEVER_RIGHT as u16 as i32;

/// One tree's place in [`Levels`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct LevelTree {
    depth: u32,
    /// Its `2^depth - 1` splits start at `nodes[nodes..]`, level by level.
    nodes: u32,
    /// Its `2^depth` leaf values start at `leaves[leaves..]`.
    leaves: u32,
    /// The class its leaves add to.
    class: u32,
}

/// Trees laid out complete, level by level.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Levels {
    trees: Vec<LevelTree>,
    /// Each split as `(its feature's slot in a row) << 16 | biased
    /// threshold rank`; then 32 "never right" splits, so that a level's
    /// one or two registers can be loaded whole.
    nodes: Vec<i32>,
    leaves: Vec<f64>,
    /// Slots of a row that splits name: one past the highest.
    slots: usize,
}

impl Levels {
    /// The trees of `q` (built from `nodes`, `roots`, `values`, `k`
    /// classes) laid out level by level; `None` when a tree is deeper than
    /// [`LEVEL_DEPTH`], a leaf adds to more than one class, or a tree's
    /// leaves add to different classes.
    pub(super) fn build(
        q: &QuantisedForest,
        nodes: &[Node],
        roots: &[u32],
        values: &[f64],
        k: usize,
    ) -> Option<Levels> {
        let mut lv = Levels {
            trees: Vec::with_capacity(roots.len()),
            nodes: Vec::new(),
            leaves: Vec::new(),
            slots: 1,
        };
        let mut stack = Vec::new();
        for &root in roots {
            let depth = depth(nodes, root as usize)?;
            let class = tree_class(nodes, root as usize, values, k)?;
            let tree = LevelTree {
                depth: depth as u32,
                nodes: u32::try_from(lv.nodes.len()).ok()?,
                leaves: u32::try_from(lv.leaves.len()).ok()?,
                class: class as u32,
            };
            let (n0, l0) = (lv.nodes.len(), lv.leaves.len());
            lv.nodes.resize(n0 + (1 << depth) - 1, EMPTY);
            lv.leaves.resize(l0 + (1 << depth), 0.0);
            // (node, level, position within its level)
            stack.push((root as usize, 0usize, 0usize));
            while let Some((n, level, p)) = stack.pop() {
                let nd = &nodes[n];
                if nd.feature == LEAF {
                    let v = values[nd.child as usize + class];
                    lv.leaves[l0 + (p << (depth - level))] = v;
                    continue;
                }
                let slot = nd.feature as usize + q.header();
                lv.slots = lv.slots.max(slot + 1);
                let slot = u16::try_from(slot).ok().filter(|&s| s < 1 << 15)? as i32;
                lv.nodes[n0 + (1 << level) - 1 + p] =
                    (slot << 16) | q.threshold_rank(nd) as u16 as i32;
                let child = nd.child as usize;
                stack.push((child, level + 1, 2 * p));
                stack.push((child + 1, level + 1, 2 * p + 1));
            }
            lv.trees.push(tree);
        }
        lv.nodes.extend([EMPTY; 32]);
        Some(lv)
    }

    /// Add trees `trees` of the first `rows` rows of `q` (`row_bytes`
    /// each) to their sums in `acc` (`rows x k`), in tree order.
    ///
    /// # Safety
    /// The CPU runs AVX-512 F; `q` points at `rows` rows laid out as the
    /// forest these levels were built with lays them out (every split's
    /// slot within a row); `acc.len() == rows * k` and every tree's class
    /// is below `k`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add(
        &self,
        trees: Range<usize>,
        q: *const i16,
        row_bytes: usize,
        rows: usize,
        k: usize,
        acc: &mut [f64],
    ) {
        debug_assert_eq!(acc.len(), rows * k);
        let trees = &self.trees[trees];
        let slots = row_bytes / 2;
        let used = self.slots.min(slots);
        // The pass's rows slot by slot, each rank in the high half of an
        // i32 (zeros past the last row), and their sums class by class.
        let mut ranks = vec![0i32; used.max(1) * ROWS];
        let mut local = vec![0.0f64; k * ROWS];
        let mut r0 = 0;
        while r0 < rows {
            let n = (rows - r0).min(ROWS);
            for s in 0..used {
                let column = ranks.get_unchecked_mut(s * ROWS..(s + 1) * ROWS);
                for (i, x) in column.iter_mut().enumerate() {
                    *x = if i < n {
                        (*q.add((r0 + i) * slots + s) as i32) << 16
                    } else {
                        0
                    };
                }
            }
            for i in 0..n {
                for c in 0..k {
                    *local.get_unchecked_mut(c * ROWS + i) = *acc.get_unchecked((r0 + i) * k + c);
                }
            }
            let (x, sums) = (ranks.as_ptr(), local.as_mut_ptr());
            if n == ROWS {
                for t in trees {
                    self.tree::<GROUPS>(t, x, sums);
                }
            } else {
                // The last rows: group by group.
                for g in 0..n.div_ceil(LANES) {
                    for t in trees {
                        self.tree::<1>(t, x.add(g * LANES), sums.add(g * LANES));
                    }
                }
            }
            for i in 0..n {
                for c in 0..k {
                    *acc.get_unchecked_mut((r0 + i) * k + c) = *local.get_unchecked(c * ROWS + i);
                }
            }
            r0 += n;
        }
    }

    /// Tree `t` for `G` groups of sixteen rows: group `g`'s ranks of slot
    /// `s` at `x[s * ROWS + g * LANES..]`, its sums of class `c` at
    /// `sums[c * ROWS + g * LANES..]`.
    ///
    /// # Safety
    /// As [`Self::add`]; `x` holds every slot the tree's splits name.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tree<const G: usize>(&self, t: &LevelTree, x: *const i32, sums: *mut f64) {
        use std::arch::x86_64::*;
        let mut w = Walk::<G> {
            at: [_mm512_setzero_si512(); G],
            went: [[0; G]; PICKED_LEVELS],
            splits: self.nodes.as_ptr().add(t.nodes as usize),
            x,
        };
        // One instance per level, so that each is straight-line code.
        let d = t.depth as usize;
        macro_rules! down_to_depth {
            ($($level:literal)*) => {
                $(if d > $level {
                    w.level::<$level>();
                })*
            };
        }
        down_to_depth!(0 1 2 3 4 5 6 7);
        const _: () = assert!(LEVEL_DEPTH == 8);
        let leaves = self.leaves.as_ptr().add(t.leaves as usize);
        let sums = sums.add(t.class as usize * ROWS);
        for (g, at) in w.at.iter().enumerate() {
            let lo = _mm512_i32gather_pd::<8>(_mm512_castsi512_si256(*at), leaves as *const _);
            let hi =
                _mm512_i32gather_pd::<8>(_mm512_extracti64x4_epi64::<1>(*at), leaves as *const _);
            let p = sums.add(g * LANES);
            _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), lo));
            _mm512_storeu_pd(p.add(8), _mm512_add_pd(_mm512_loadu_pd(p.add(8)), hi));
        }
    }
}

/// `G` groups of sixteen rows on their way down one tree.
#[cfg(target_arch = "x86_64")]
struct Walk<const G: usize> {
    /// Each row's split within the level it has reached.
    at: [std::arch::x86_64::__m512i; G],
    /// The picked levels' "went right" masks (they pick below).
    went: [[u16; G]; PICKED_LEVELS],
    /// The tree's splits, level by level.
    splits: *const i32,
    /// The rows' ranks, slot by slot ([`Levels::add`]).
    x: *const i32,
}

#[cfg(target_arch = "x86_64")]
impl<const G: usize> Walk<G> {
    /// Group `g`'s ranks of split `i`'s slot.
    #[inline(always)]
    unsafe fn column(&self, i: usize, g: usize) -> std::arch::x86_64::__m512i {
        let slot = (*self.splits.add(i) >> 16) as usize;
        std::arch::x86_64::_mm512_loadu_si512(self.x.add(slot * ROWS + g * LANES) as *const _)
    }

    /// Every group one level down from level `L`. The top
    /// [`PICKED_LEVELS`] hold few splits: each row's rank is picked from
    /// their columns loaded whole, by the decisions above it; below, it is
    /// gathered.
    ///
    /// # Safety
    /// As [`Levels::add`]; the tree is deeper than `L`.
    #[inline(always)]
    unsafe fn level<const L: usize>(&mut self) {
        use std::arch::x86_64::*;
        let first = self.splits.add((1 << L) - 1);
        let a = _mm512_loadu_si512(first as *const _);
        let b = _mm512_loadu_si512(first.add(16) as *const _);
        let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for g in 0..G {
            let at = self.at[g];
            let node = match L {
                0..=4 => _mm512_permutexvar_epi32(at, a),
                5 => _mm512_permutex2var_epi32(a, at, b),
                _ => _mm512_i32gather_epi32::<4>(at, first as *const _),
            };
            let rank = if L < PICKED_LEVELS {
                // The level's splits' columns, paired off by the
                // decisions from the level above up to the root.
                let mut v = [_mm512_setzero_si512(); 1 << (PICKED_LEVELS - 1)];
                for (j, v) in v.iter_mut().enumerate().take(1 << L) {
                    *v = self.column((1 << L) - 1 + j, g);
                }
                for up in (0..L).rev() {
                    for j in 0..1 << up {
                        v[j] = _mm512_mask_blend_epi32(self.went[up][g], v[2 * j], v[2 * j + 1]);
                    }
                }
                v[0]
            } else {
                let slot = _mm512_srli_epi32::<16>(node);
                let row = _mm512_add_epi32(lane, _mm512_set1_epi32((g * LANES) as i32));
                let at_x = _mm512_add_epi32(_mm512_slli_epi32::<ROWS_SHIFT>(slot), row);
                _mm512_i32gather_epi32::<4>(at_x, self.x as *const _)
            };
            // The biased ranks in the high halves: a signed compare of the
            // i32s is the blocks' signed compare of the i16s.
            let right = _mm512_cmpgt_epi32_mask(rank, _mm512_slli_epi32::<16>(node));
            if L < PICKED_LEVELS {
                self.went[L][g] = right;
            }
            let twice = _mm512_add_epi32(at, at);
            self.at[g] = _mm512_mask_sub_epi32(twice, right, twice, _mm512_set1_epi32(-1));
        }
    }
}

/// The depth of the tree at `root` (a leaf: 0), or `None` beyond
/// [`LEVEL_DEPTH`].
fn depth(nodes: &[Node], root: usize) -> Option<usize> {
    let mut deepest = 0;
    let mut stack = vec![(root, 0usize)];
    while let Some((n, d)) = stack.pop() {
        if d > LEVEL_DEPTH {
            return None;
        }
        if nodes[n].feature == LEAF {
            deepest = deepest.max(d);
        } else {
            let child = nodes[n].child as usize;
            stack.push((child, d + 1));
            stack.push((child + 1, d + 1));
        }
    }
    Some(deepest)
}

/// The one class every leaf of the tree at `root` adds to (its other
/// classes' values +0.0, which the blocks add and this layout skips), or
/// `None`.
fn tree_class(nodes: &[Node], root: usize, values: &[f64], k: usize) -> Option<usize> {
    let mut class = None;
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        let nd = &nodes[n];
        if nd.feature != LEAF {
            stack.push(nd.child as usize);
            stack.push(nd.child as usize + 1);
            continue;
        }
        let leaf = values.get(nd.child as usize..nd.child as usize + k)?;
        for (c, &v) in leaf.iter().enumerate() {
            if v.to_bits() == 0 {
                continue;
            }
            match class {
                None => class = Some(c),
                Some(had) if had == c => {}
                Some(_) => return None,
            }
        }
    }
    Some(class.unwrap_or(0))
}
