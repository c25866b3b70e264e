//! Random-forest traversal three levels at a time (AVX-512).
//!
//! Each tree is cut into blocks: a node and the two levels below it, seven
//! split slots in breadth-first order (`p` → `2p+1`, `2p+2`) with eight exits.
//! A row crosses a block in a handful of instructions: one permute picks the
//! seven features it needs from the row (held in two registers, up to 16
//! features), one compare against the seven thresholds gives a 7-bit mask, a
//! 256-entry table turns the mask into the exit taken, and the exit names the
//! next block or a leaf. Where a leaf sits above the third level, its slot
//! and the slots under it have threshold +inf ("always left"), so the leaf
//! comes out at the leftmost exit below it.
//!
//! A block is two cache lines: the 7 thresholds (+inf in the unused lane),
//! the 8 exits and the 7 feature indices as bytes. Exits and a row's state
//! are byte offsets, so a step does no index arithmetic. (With three
//! separate arrays, features as 8-byte indices and block numbers as states,
//! the same traversal was 20-35% slower: 1.39 against 1.15-1.19 µs a row.)
//!
//! The decisions are exactly the node-by-node ones (`x > threshold` goes
//! right, NaN goes left, the same f64 comparison), and the leaves' class
//! probabilities are summed in the same tree order, so the result is the
//! same bit for bit as the scalar walk in `forest.rs`, which CPUs without
//! AVX-512 and forests with more than 16 features use.
//!
//! [`LANES`] rows are in flight at once, one block per step each; a row that
//! reaches its leaf hands its lane to the next row. The rows are independent,
//! so the CPU overlaps their chains of dependent loads, and every decision is
//! a select, never a branch (a row's way through a tree is a coin flip).

use super::tree::{Node, LEAF};

/// Marks an exit that is a leaf; the low bits are its value offset.
pub const LEAF_EXIT: u32 = 1 << 31;
/// Rows in flight at once (refilled as they finish, large blocks). 10-14
/// measured alike, 8 about 10% slower.
pub const LANES: usize = 12;
/// Features a row may have for this traversal (two 8-lane registers).
pub const MAX_FEATURES: usize = 16;
/// Rows that go through every tree before the next rows start: enough that
/// each tree's blocks are fetched once per tile and then served from L1/L2
/// (a whole forest, ~4 MB for 100 trees of 1000 nodes, does not fit in L2).
pub const TILE_ROWS: usize = 4096;

/// Exit (0..8) for each "went right" mask of a block's slots. Lane 7 holds
/// no split (threshold +inf, never right), so bit 7 is always clear; the
/// table covers all 256 masks anyway so that no mask needs clearing first.
const EXIT_OF_MASK: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut p = 0;
        let mut level = 0;
        while level < 3 {
            p = 2 * p + 1 + ((mask >> p) & 1);
            level += 1;
        }
        table[mask] = (p - 7) as u8;
        mask += 1;
    }
    table
};

/// One block: two cache lines. Exits and roots are byte offsets of blocks
/// (`index * 128`), so a row's state is an address offset as it stands.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Block {
    thresholds: [f64; 8],
    exits: [u32; 8],
    features: [u8; 8],
}

const BLOCK_BYTES: usize = std::mem::size_of::<Block>();
const _: () = assert!(BLOCK_BYTES == 128);

impl Block {
    const EMPTY: Block = Block {
        thresholds: [f64::INFINITY; 8],
        exits: [LEAF_EXIT; 8],
        features: [0; 8],
    };
}

/// A forest laid out as blocks. Block 0 is a sink that rows which already
/// reached a leaf step through (its result is never used).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockedForest {
    blocks: Vec<Block>,
    roots: Vec<u32>,
}

#[derive(Clone, Copy)]
enum Slot {
    Empty,
    Node(usize),
}

impl BlockedForest {
    /// Lay out `nodes` (every tree's root index in `roots`; internal nodes
    /// go left to `child`, right to `child + 1`; a leaf's `child` is its
    /// value offset). `None` when the forest does not fit the layout.
    pub fn build(nodes: &[Node], roots: &[u32], n_features: usize) -> Option<Self> {
        if n_features == 0 || n_features > MAX_FEATURES {
            return None;
        }
        let mut f = BlockedForest {
            blocks: vec![Block::EMPTY],
            roots: Vec::with_capacity(roots.len()),
        };
        // Exits still to fill: (block, exit, node below it). Iterative, so
        // a degenerate tree thousands of levels deep cannot exhaust the stack.
        let mut pending: Vec<(usize, usize, usize)> = Vec::new();
        for &root in roots {
            // (A one-leaf tree is a block of "always left" slots.)
            let r = f.block(nodes, root as usize, &mut pending)?;
            f.roots.push(r);
            while let Some((b, e, n)) = pending.pop() {
                f.blocks[b].exits[e] = f.block(nodes, n, &mut pending)?;
            }
        }
        Some(f)
    }

    /// Append the block whose top split is `top`; exits that continue into
    /// another block go to `pending`. Returns the block's byte offset.
    fn block(
        &mut self,
        nodes: &[Node],
        top: usize,
        pending: &mut Vec<(usize, usize, usize)>,
    ) -> Option<u32> {
        let index = self.blocks.len();
        let offset = u32::try_from(index * BLOCK_BYTES)
            .ok()
            .filter(|o| o & LEAF_EXIT == 0)?;
        self.blocks.push(Block::EMPTY);
        // Slots 0..7 are splits, 7..15 the exits (exit e = slot - 7).
        let mut slots = [Slot::Empty; 15];
        slots[0] = Slot::Node(top);
        for p in 0..7 {
            match slots[p] {
                Slot::Node(n) if nodes[n].feature != LEAF => {
                    self.blocks[index].thresholds[p] = nodes[n].threshold;
                    // < 16 (checked in `build`).
                    self.blocks[index].features[p] = nodes[n].feature as u8;
                    let child = nodes[n].child as usize;
                    slots[2 * p + 1] = Slot::Node(child);
                    slots[2 * p + 2] = Slot::Node(child + 1);
                }
                // A leaf (or nothing) passes straight down the left side.
                other => slots[2 * p + 1] = other,
            }
        }
        for e in 0..8 {
            match slots[7 + e] {
                Slot::Empty => {} // unreachable: every +inf slot goes left
                Slot::Node(n) if nodes[n].feature == LEAF => {
                    let value = nodes[n].child;
                    if value & LEAF_EXIT != 0 {
                        return None;
                    }
                    self.blocks[index].exits[e] = LEAF_EXIT | value;
                }
                Slot::Node(n) => pending.push((index, e, n)),
            }
        }
        Some(offset)
    }

    pub fn n_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Whether this CPU can run the blocked traversal.
    pub fn usable() -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return true;
        }
        false
    }

    /// Summed tree probabilities of `rows` rows of `d` values in `block` into
    /// `acc` (`rows x k`, zeroed here); `values` are the forest's leaf values.
    /// `None` when the CPU lacks AVX-512 (the caller walks node by node).
    pub fn accumulate(
        &self,
        block: &[f64],
        d: usize,
        k: usize,
        values: &[f64],
        acc: &mut [f64],
    ) -> Option<()> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is present; `block` holds `acc.len() / k`
            // rows of `d <= MAX_FEATURES` values (checked by the caller and
            // in `build`), leaf offsets were taken from a validated forest.
            unsafe { avx512::accumulate(self, block, d, k, values, acc) };
            return Some(());
        }
        let _ = (block, d, k, values, acc);
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::hint::select_unpredictable;

    use super::{Block, BlockedForest, EXIT_OF_MASK, LANES, LEAF_EXIT, MAX_FEATURES};

    /// Rows padded to 16 values, 64-byte aligned, for two aligned loads.
    #[repr(C, align(64))]
    struct PaddedRow([f64; MAX_FEATURES]);

    /// `count` rows (at least the block's) padded to 16 values; rows past the
    /// block's are zeros.
    fn pad_rows(block: &[f64], d: usize, count: usize) -> Vec<PaddedRow> {
        let mut padded: Vec<PaddedRow> =
            (0..count).map(|_| PaddedRow([0.0; MAX_FEATURES])).collect();
        for (r, row) in block.chunks_exact(d).enumerate() {
            padded[r].0[..d].copy_from_slice(row);
        }
        padded
    }

    /// Add the class probabilities of `leaf` (an exit, or its value offset)
    /// to row `r`'s sums.
    ///
    /// # Safety
    /// The leaf's offset + k is within `values`, `(r + 1) * k <= acc.len()`.
    #[inline(always)]
    unsafe fn add_leaf(acc: &mut [f64], r: usize, k: usize, values: &[f64], leaf: u32) {
        let leaf = (leaf & !LEAF_EXIT) as usize;
        let probs = values.get_unchecked(leaf..leaf + k);
        for (a, p) in acc
            .get_unchecked_mut(r * k..(r + 1) * k)
            .iter_mut()
            .zip(probs)
        {
            *a += p;
        }
    }

    /// One row through the block at byte offset `b`: the next block's
    /// offset, or a leaf exit.
    #[inline(always)]
    unsafe fn cross(f: &BlockedForest, b: usize, row: *const f64) -> u32 {
        let block = &*((f.blocks.as_ptr() as *const u8).add(b) as *const Block);
        let idx = _mm512_cvtepu8_epi64(_mm_loadl_epi64(block.features.as_ptr() as *const __m128i));
        let x = _mm512_permutex2var_pd(_mm512_load_pd(row), idx, _mm512_load_pd(row.add(8)));
        let t = _mm512_load_pd(block.thresholds.as_ptr());
        let right = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x, t);
        let e = *EXIT_OF_MASK.get_unchecked(right as usize);
        *block.exits.get_unchecked(e as usize)
    }

    /// Each of `LANES` rows in flight takes the next row as soon as it
    /// reaches a leaf, so no row waits for the deepest of a group (lockstep
    /// groups of 8 kept ~2/3 of their steps busy: the mean leaf is 3 blocks
    /// deep, the deepest of 8 rows 5). Leaves are logged as (row, leaf) and
    /// added after each tree, so every row sums its trees in tree order.
    ///
    /// # Safety
    /// AVX-512F; `block.len() == rows * d`, `acc.len() == rows * k`,
    /// `0 < d <= 16`, every leaf offset + k within `values`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn accumulate(
        f: &BlockedForest,
        block: &[f64],
        d: usize,
        k: usize,
        values: &[f64],
        acc: &mut [f64],
    ) {
        const G: usize = LANES;
        let rows = block.len() / d;
        // Rows from `rows` on are dummies (zeros) that idle lanes walk; a
        // lane's row is a byte offset into `padded`, used as it stands. A
        // block of at most `G` rows starts with its lanes past the rows done
        // and goes straight to the drain: no separate small-block walk.
        let padded = pad_rows(block, d, rows + G + 1);
        acc.iter_mut().for_each(|a| *a = 0.0);
        let base = padded.as_ptr() as *const u8;
        const ROW_BYTES: usize = std::mem::size_of::<PaddedRow>();
        let end = rows * ROW_BYTES;
        let mut log: Vec<u64> = vec![0; rows + 2 * G];
        for &root in &f.roots {
            let mut row = [0usize; G];
            let mut state = [root; G];
            for (l, r) in row.iter_mut().enumerate() {
                *r = l * ROW_BYTES;
            }
            let mut next_row = G * ROW_BYTES;
            let mut n = 0usize;
            while next_row < end {
                for l in 0..G {
                    let r = row[l];
                    let next = cross(f, state[l] as usize, base.add(r) as *const f64);
                    let leaf = next & LEAF_EXIT != 0;
                    *log.get_unchecked_mut(n) = ((r as u64) << 32) | u64::from(next);
                    n += leaf as usize;
                    row[l] = select_unpredictable(leaf, next_row, r);
                    next_row += (leaf as usize) * ROW_BYTES;
                    state[l] = select_unpredictable(leaf, root, next);
                }
            }
            // Drain: the rows still in flight, lockstep through the sink
            // (lanes holding dummy rows are done from the start).
            for l in 0..G {
                if row[l] >= end {
                    state[l] = LEAF_EXIT;
                }
            }
            loop {
                let mut all_done = LEAF_EXIT;
                for l in 0..G {
                    let s = state[l];
                    let done = s & LEAF_EXIT != 0;
                    let b = select_unpredictable(done, 0, s as usize);
                    let next = cross(f, b, base.add(row[l]) as *const f64);
                    state[l] = select_unpredictable(done, s, next);
                    all_done &= state[l];
                }
                if all_done & LEAF_EXIT != 0 {
                    break;
                }
            }
            for l in 0..G {
                if row[l] < end {
                    *log.get_unchecked_mut(n) = ((row[l] as u64) << 32) | u64::from(state[l]);
                    n += 1;
                }
            }
            for &entry in &log[..n] {
                let r = (entry >> 32) as usize / ROW_BYTES;
                if r < rows {
                    add_leaf(acc, r, k, values, entry as u32);
                }
            }
        }
    }
}
