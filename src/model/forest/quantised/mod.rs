//! The forest's quantised layout: each feature's split thresholds become
//! ranks (a row's value becomes the count of cuts below it, once per row
//! and feature), each tree is cut into 64-byte blocks of three levels, and
//! [`LANES`] rows cross blocks at once with AVX2 or AVX-512 (the layout is
//! chosen for the process's ISA; `CPUWALL_ISA=scalar` walks node by node
//! instead). Lossless: every path takes every row to the node walk's leaf,
//! and sums are added in tree order, so results are the node walk's bit
//! for bit. Pure leaves' votes are counted in the lanes, with the trees
//! chained between looks at decided rows ([`Chain`]). How and why, and
//! what was tried and dropped: `docs/forest.md`.

use std::ops::Range;

use super::cut_tree::{CutTree, LOCKSTEP};
use super::tree::{Node, LEAF};
use crate::isa::Isa;

/// Marks an exit that is a leaf; the low bits are its value offset.
pub const LEAF_EXIT: u32 = 1 << 31;
/// Trees a chained group may hold at most ([`Chain`]; fewer where the
/// vote counts' bits are fewer).
const CHAIN_TREES: usize = 127;
/// The bits of a chained lane's low half that hold its block's byte
/// offset, unless a narrower offset leaves room for more trees' votes
/// ([`Chain`]): a mask the walk takes as an immediate.
pub const CHAIN_BLOCK: u32 = (1 << 24) - 1;
/// Rows in flight at once at most (refilled as they finish; each crossing
/// takes its own count, see `simd::tile`).
pub const LANES: usize = 16;
/// Quantised rows that go through every tree before the next rows start
/// (bytes), so that each tree's blocks are fetched once per tile and then
/// served from L1/L2: 16,384 rows of up to 16 features, 4,096 of 40
/// (other sizes measured: docs/forest.md).
const TILE_BYTES: usize = 512 << 10;
/// The tile for forests whose trees average more than [`BIG_TREE_BYTES`]
/// of blocks (deep regression trees: ~6,300 leaves, 135 KiB of blocks a
/// tree, against the study's classifier's 600 and 13 KiB): a tree streamed
/// in from L3 is paid for over 4x the rows. Measured on the Zen 4, 100
/// such trees, 1e6 rows x 20 features, one core: 512 KiB tiles 3.18-3.46 s,
/// 2 MiB 2.18-2.31 s, 8 MiB 1.95-2.50 s, 128 KiB 6.19-6.39 s; the
/// classifier's forest at 2 or 8 MiB gained nothing for sure (580-705 ms
/// and 653-776 ms against 611-623 ms), so it keeps 512 KiB.
const BIG_TILE_BYTES: usize = 2 << 20;
const BIG_TREE_BYTES: usize = 64 << 10;
/// Features up to which a row's ranks fit two 16-byte registers.
pub const SHUFFLE_FEATURES: usize = 16;
/// Features up to which a row's ranks fit two 64-byte registers.
pub const PERMUTE_FEATURES: usize = 64;
/// Distinct cuts a feature may have: ranks 0..=65535 are u16, and a cut of
/// rank 65,535 would leave no rank above it for "right".
const MAX_CUTS: usize = u16::MAX as usize;
/// A block slot that never sends a row right: no biased rank exceeds it.
const NEVER_RIGHT: i16 = i16::MAX;

/// A rank as the signed compare orders it.
fn bias(rank: u16) -> i16 {
    (rank ^ 0x8000) as i16
}

/// Exit (0..8) for each "went right" mask of a block's slots. Slot 7 holds
/// no split (never right); the table covers all 256 masks anyway.
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

/// One block, one cache line. `features`: with [`Shuffle`], 16 byte-shuffle
/// indices (feature `f`'s two bytes `2(f % 8)`, `2(f % 8) + 1`, with the top
/// bit set when `f >= 8`: it is then taken from the row's second half);
/// with [`Path`], 8 little-endian u16 feature indices.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Block {
    thresholds: [i16; 8],
    features: [u8; 16],
    exits: [u32; 8],
}

const BLOCK_BYTES: usize = std::mem::size_of::<Block>();
const _: () = assert!(BLOCK_BYTES == 64);

impl Block {
    const EMPTY: Block = Block {
        thresholds: [NEVER_RIGHT; 8],
        features: [0; 16],
        exits: [LEAF_EXIT; 8],
    };
}

/// How a block picks a row's ranks (chosen per ISA and row width when the
/// forest is laid out; `Path` and `Permute` blocks are alike, naming u16
/// features, and differ in how a row crosses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// AVX2, up to 16 features: two byte shuffles pick the seven ranks.
    Shuffle,
    /// AVX-512, up to 64 features: one `vpermw` (`vpermt2w`) picks them
    /// from the row's ranks in one register (two).
    Permute,
    /// Wider rows: the three splits on the row's path, one after another.
    Path,
}

impl Pick {
    /// Whether an exit to a block holds that block's byte offset rather
    /// than the step down to it: where rows cross split by split, whose
    /// lanes keep row and block apart (the one crossing whose
    /// `simd::Cross::PACKED` is false; `simd::tile` checks they agree).
    fn absolute_exits(self) -> bool {
        self == Pick::Path
    }
}

/// A forest laid out as quantised blocks. Block 0 is a sink that rows which
/// already reached a leaf step through (its result is never used).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantisedForest {
    blocks: Vec<Block>,
    roots: Vec<u32>,
    /// Every feature's distinct cuts, ascending, one feature after another.
    cuts: Vec<f64>,
    /// Feature `f`'s cuts are `cuts[cut_start[f]..cut_start[f + 1]]`.
    cut_start: Vec<usize>,
    /// Feature `f`'s cuts as a search tree, to rank many rows.
    cut_trees: Vec<CutTree>,
    pick: Pick,
    isa: Isa,
    /// `Some` when rows count their trees' votes ([`Votes`]).
    votes: Option<Votes>,
    /// Rows in flight, summing leaves and counting votes (12 or 16; see
    /// [`Self::lanes`]).
    lanes: [usize; 2],
    /// `Some` when the votes are counted with the trees chained
    /// ([`Chain`]).
    chain: Option<Chain>,
    /// `Some` when the trees are shallow, add to one class each and the
    /// CPU runs AVX-512: sums are then added level by level ([`Levels`]).
    levels: Option<Levels>,
}

/// Classes up to which the votes fit the exit's low six bits (`c * k < 64`).
pub const VOTE_CLASSES: usize = 8;

#[derive(Clone, Copy)]
enum Slot {
    Empty,
    Node(usize),
}

impl QuantisedForest {
    /// Lay out `nodes` (every tree's root index in `roots`; internal nodes
    /// go left to `child`, right to `child + 1`; a leaf's `child` is its
    /// value offset; thresholds are not NaN), for the kernels of `isa`.
    /// `None` when the forest does not fit the layout or `isa` has no
    /// quantised traversal ([`Self::runs_on`]).
    pub fn build(
        nodes: &[Node],
        roots: &[u32],
        values: &[f64],
        k: usize,
        n_features: usize,
        isa: Isa,
    ) -> Option<Self> {
        if n_features == 0 || n_features > u16::MAX as usize - 1 || !Self::runs_on(isa) {
            return None;
        }
        let mut per_feature: Vec<Vec<f64>> = vec![Vec::new(); n_features];
        for nd in nodes.iter().filter(|nd| nd.feature != LEAF) {
            per_feature[nd.feature as usize].push(nd.threshold);
        }
        let mut cuts = Vec::new();
        let mut cut_start = vec![0];
        let mut cut_trees = Vec::with_capacity(n_features);
        for mut c in per_feature {
            c.sort_by(f64::total_cmp);
            // `==`, not bits: -0.0 and 0.0 split every x alike.
            c.dedup_by(|a, b| a == b);
            if c.len() > MAX_CUTS {
                return None;
            }
            cut_trees.push(CutTree::new(&c));
            cuts.extend(c);
            cut_start.push(cuts.len());
        }
        let pick = match isa {
            Isa::Avx512 if n_features <= PERMUTE_FEATURES => Pick::Permute,
            _ if n_features <= SHUFFLE_FEATURES => Pick::Shuffle,
            _ => Pick::Path,
        };
        let mut f = QuantisedForest {
            blocks: vec![Block::EMPTY],
            roots: Vec::with_capacity(roots.len()),
            cuts,
            cut_start,
            cut_trees,
            pick,
            isa,
            votes: None,
            lanes: [12, 12],
            chain: None,
            levels: None,
        };
        if pick == Pick::Permute {
            let narrow_amd = f.row_bytes(n_features) <= 64 && crate::isa::amd();
            f.lanes = [16, if narrow_amd { 12 } else { 16 }];
        }
        f.votes = f.votes_for(nodes, roots, values, k, n_features);
        // Exits still to fill: (block, exit, node below it). Iterative, so
        // a degenerate tree thousands of levels deep cannot exhaust the stack.
        let mut pending: Vec<(usize, usize, usize)> = Vec::new();
        for &root in roots {
            // (A one-leaf tree is a block of "never right" slots.)
            let r = f.block(nodes, values, root as usize, &mut pending)?;
            f.roots.push(r);
            while let Some((b, e, n)) = pending.pop() {
                let below = f.block(nodes, values, n, &mut pending)?;
                // A block comes after the block above it, so the step down
                // is positive (and a multiple of 64, as offsets are).
                f.blocks[b].exits[e] = if f.pick.absolute_exits() {
                    below
                } else {
                    below - (b * BLOCK_BYTES) as u32
                };
            }
        }
        // AMD's only: measured there (Zen 4); Intel's gathers are not
        // measured here, so its cores keep the blocks.
        if crate::isa::amd() {
            f = f.with_levels(nodes, roots, values, k);
        }
        Some(f)
    }

    /// The same layout adding sums level by level where its trees allow
    /// ([`Levels::build`]) and it was built for AVX-512 without votes,
    /// whatever this CPU's vendor (tests run it on every AVX-512 CPU).
    pub fn with_levels(mut self, nodes: &[Node], roots: &[u32], values: &[f64], k: usize) -> Self {
        if self.isa == Isa::Avx512 && self.votes.is_none() {
            self.levels = Levels::build(&self, nodes, roots, values, k);
        }
        self
    }

    /// Whether sums are added level by level ([`Levels`]).
    pub fn walks_levels(&self) -> bool {
        self.levels.is_some()
    }

    /// The same layout without its levels: sums added through the blocks
    /// (tests compare the two).
    #[cfg(test)]
    pub fn without_levels(mut self) -> Self {
        self.levels = None;
        self
    }

    /// The same layout counting its votes with its trees chained in groups
    /// ending at `checks` (ascending tree counts, the last all trees; a
    /// group longer than the counts' bits hold, or than [`CHAIN_TREES`],
    /// is cut), when it counts votes, its lanes keep row and block in one
    /// register, and its blocks' offsets leave room above them for at
    /// least three trees' votes of each class; else unchanged.
    pub fn chained(mut self, checks: &[usize]) -> Self {
        self.chain = self.chain_for(checks);
        self
    }

    /// The most trees a chained group holds, when the votes are counted
    /// with the trees chained ([`Chain`]).
    pub fn chains_trees(&self) -> Option<usize> {
        let chain = self.chain.as_ref()?;
        let starts = std::iter::once(0).chain(chain.ends.iter().copied());
        chain.ends.iter().zip(starts).map(|(b, a)| b - a).max()
    }

    /// u16 slots before a row's ranks (the vote counts).
    fn header(&self) -> usize {
        self.votes.as_ref().map_or(0, |v| v.header)
    }

    /// Whether rows count their trees' votes (pure leaves, see [`Votes`]).
    pub fn counts_votes(&self) -> bool {
        self.votes.is_some()
    }

    /// Rows in flight when a tile's rows are at least that many, summing
    /// leaves' probabilities or counting votes (`votes`): 12 for AVX2's
    /// crossings; 16 for AVX-512's, but 12 for votes on AMD's cores in rows
    /// of up to 64 bytes (32 features). Chosen by measurement per vendor
    /// and row width, on runs alone (docs/forest.md).
    pub fn lanes(&self, votes: bool) -> usize {
        self.lanes[votes as usize]
    }

    /// The same layout walked with `lanes` rows in flight (12 or 16), so
    /// that tests run both counts whatever CPU they are on.
    #[cfg(test)]
    pub fn with_lanes(mut self, lanes: usize) -> Self {
        assert!(lanes == 12 || lanes == 16);
        self.lanes = [lanes; 2];
        self
    }

    /// Feature `f`'s cuts.
    fn cuts(&self, f: usize) -> &[f64] {
        &self.cuts[self.cut_start[f]..self.cut_start[f + 1]]
    }

    /// The biased rank of split `nd`'s threshold among its feature's cuts.
    fn threshold_rank(&self, nd: &Node) -> i16 {
        let cuts = self.cuts(nd.feature as usize);
        let j = cuts.partition_point(|&c| c < nd.threshold);
        debug_assert!(cuts[j] == nd.threshold);
        bias(j as u16)
    }

    /// Append the block whose top split is `top`; exits that continue into
    /// another block go to `pending`. Returns the block's byte offset.
    fn block(
        &mut self,
        nodes: &[Node],
        values: &[f64],
        top: usize,
        pending: &mut Vec<(usize, usize, usize)>,
    ) -> Option<u32> {
        let index = self.blocks.len();
        let offset = u32::try_from(index * BLOCK_BYTES)
            .ok()
            .filter(|o| o & LEAF_EXIT == 0)?;
        let mut block = Block::EMPTY;
        // Slots 0..7 are splits, 7..15 the exits (exit e = slot - 7).
        let mut slots = [Slot::Empty; 15];
        slots[0] = Slot::Node(top);
        for p in 0..7 {
            match slots[p] {
                Slot::Node(n) if nodes[n].feature != LEAF => {
                    let nd = &nodes[n];
                    block.thresholds[p] = self.threshold_rank(nd);
                    // The row's ranks follow its vote counts.
                    let f = nd.feature as usize + self.header();
                    match self.pick {
                        Pick::Shuffle => {
                            let high = if f >= 8 { 0x80 } else { 0 };
                            let byte = 2 * (f % 8) as u8;
                            block.features[2 * p] = byte | high;
                            block.features[2 * p + 1] = (byte + 1) | high;
                        }
                        Pick::Path | Pick::Permute => {
                            // < 65535 (checked in `build`).
                            block.features[2 * p..2 * p + 2]
                                .copy_from_slice(&(f as u16).to_le_bytes());
                        }
                    }
                    let child = nd.child as usize;
                    slots[2 * p + 1] = Slot::Node(child);
                    slots[2 * p + 2] = Slot::Node(child + 1);
                }
                // A leaf (or nothing) passes straight down the left side.
                other => slots[2 * p + 1] = other,
            }
        }
        for e in 0..8 {
            match slots[7 + e] {
                Slot::Empty => {} // unreachable: every "never right" slot goes left
                Slot::Node(n) if nodes[n].feature == LEAF => {
                    let value = nodes[n].child;
                    if value & LEAF_EXIT != 0 {
                        return None;
                    }
                    block.exits[e] = LEAF_EXIT
                        | match &self.votes {
                            // The class's slot, and its row of `onehot`.
                            Some(v) => {
                                let k = v.onehot.len().isqrt();
                                let probs = &values[value as usize..value as usize + k];
                                (leaf_class(probs)? * k) as u32
                            }
                            None => value,
                        };
                }
                Slot::Node(n) => pending.push((index, e, n)),
            }
        }
        self.blocks.push(block);
        Some(offset)
    }

    pub fn n_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Rows per tile for rows of `d` features (see [`TILE_BYTES`]).
    pub fn tile_rows(&self, d: usize) -> usize {
        let per_tree = self.blocks.len() * BLOCK_BYTES / self.roots.len().max(1);
        let tile = if per_tree > BIG_TREE_BYTES {
            BIG_TILE_BYTES
        } else {
            TILE_BYTES
        };
        (tile / self.row_bytes(d)).max(LANES)
    }

    /// Whether rows take a block's splits one by one (rows too wide for
    /// one register) rather than all seven at once.
    pub fn split_by_split(&self) -> bool {
        self.pick == Pick::Path
    }

    /// Whether the quantised traversal runs on `isa` (AVX2 and wider).
    pub fn runs_on(isa: Isa) -> bool {
        isa >= Isa::Avx2 && isa.supported()
    }

    /// Bytes of one quantised row (its `d` ranks, then zeros), a power of
    /// two so that a row's index is its byte offset shifted: 16 ranks for
    /// [`Pick::Shuffle`], which loads them as two 16-byte registers, 16, 32
    /// or 64 for [`Pick::Permute`] (one 32- or 64-byte register, or two).
    fn row_bytes(&self, d: usize) -> usize {
        match self.pick {
            Pick::Shuffle => 2 * SHUFFLE_FEATURES,
            Pick::Permute => (2 * d).next_power_of_two().max(2 * SHUFFLE_FEATURES),
            Pick::Path => (2 * d).next_power_of_two(),
        }
    }

    /// The ISA the layout was built for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// How rows cross a block: `shuffle` (AVX2), `permute` (AVX-512) or
    /// `split by split` (rows too wide for one register).
    pub fn crossing(&self) -> &'static str {
        match self.pick {
            Pick::Shuffle => "shuffle",
            Pick::Permute => "permute",
            Pick::Path => "split by split",
        }
    }

    /// Add trees `trees` (in tree order) of the first `rows` rows of
    /// `ranked` to their sums in `acc` (`rows x k`, not zeroed here);
    /// `values` are the forest's leaf values.
    pub fn add_trees(
        &self,
        ranked: &mut RankedRows,
        rows: usize,
        trees: Range<usize>,
        k: usize,
        values: &[f64],
        acc: &mut [f64],
    ) {
        assert!(acc.len() == rows * k);
        // With votes, the exits point into the identity table.
        let values = self.votes.as_ref().map_or(values, |v| &v.onehot);
        self.walk(ranked, rows, trees, k, values, acc, false);
    }

    /// Count trees `trees`' votes of the first `rows` rows of `ranked` in
    /// their vote slots ([`RankedRows::votes`]); only for a layout that
    /// [counts votes](Self::counts_votes).
    pub fn add_votes(&self, ranked: &mut RankedRows, rows: usize, trees: Range<usize>, k: usize) {
        let v = self.votes.as_ref().expect("a layout that counts votes");
        // Fewer rows than lanes (serving) walk (row, tree) pairs, unchained.
        let chained = self.chain.as_ref().filter(|_| rows >= LANES);
        match chained.and_then(|c| Some((c, c.groups(trees.clone())?))) {
            Some((chain, groups)) => {
                for g in groups {
                    self.walk_chain(chain, ranked, rows, g);
                }
            }
            None => self.walk(ranked, rows, trees, k, &v.onehot, &mut [], true),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        ranked: &mut RankedRows,
        rows: usize,
        trees: Range<usize>,
        k: usize,
        values: &[f64],
        acc: &mut [f64],
        votes: bool,
    ) {
        assert!(rows <= ranked.rows);
        #[cfg(target_arch = "x86_64")]
        if let Some(levels) = self.levels.as_ref().filter(|_| !votes && rows >= LANES) {
            // SAFETY: the levels were built only for AVX-512 (`build`),
            // which this CPU runs, from this layout's splits (every
            // feature within a row); `q` holds at least `rows` rows;
            // `acc` holds `rows * k` sums and every tree's class is one of
            // the forest's `k`.
            unsafe { levels.add(trees, ranked.q.as_ptr(), ranked.stride * 2, rows, k, acc) };
            return;
        }
        let roots = &self.roots[trees];
        #[cfg(target_arch = "x86_64")]
        {
            let row_bytes = ranked.stride * 2;
            let job = simd::Job {
                f: self,
                roots,
                q: &mut ranked.q,
                row_bytes,
                rows,
                k,
                values,
                acc,
                votes,
            };
            // SAFETY: the CPU runs `self.isa` (AVX2 or AVX-512: `build`
            // refuses others) and the pick was chosen for it; `q` holds
            // `ranked.rows + LANES + 1 >= rows + LANES + 1` rows of
            // `row_bytes` laid out for the pick (the vote slots first when
            // the layout has them, which `votes` needs); the forest was
            // validated (every feature < d, so every block's features
            // index within a row; every leaf offset + k within `values`);
            // `acc` holds `rows * k` sums unless the walk counts votes.
            unsafe {
                match self.pick {
                    Pick::Shuffle => simd::add_shuffle(job),
                    Pick::Path => simd::add_path(job),
                    Pick::Permute => simd::add_permute(job),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (roots, k, values, acc, votes);
    }
}

/// The class of a leaf whose probabilities are one 1.0 among 0.0s.
fn leaf_class(probs: &[f64]) -> Option<usize> {
    let one = probs.iter().position(|&p| p == 1.0)?;
    let others_zero = probs.iter().enumerate().all(|(c, &p)| c == one || p == 0.0);
    others_zero.then_some(one)
}

#[cfg(target_arch = "x86_64")]
mod chain;
mod levels;
mod rows;
mod simd;

use chain::{Chain, Votes};
use levels::Levels;
pub use rows::RankedRows;
#[cfg(test)]
mod tests;
