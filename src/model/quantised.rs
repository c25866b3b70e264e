//! Random-forest traversal on quantised thresholds, three levels per step
//! (AVX2 and AVX-512; `CPUWALL_ISA=scalar` walks node by node instead).
//!
//! **Lossless quantisation.** For each feature, the forest's split
//! thresholds on it are sorted and made distinct (`cuts`). A row's value `x`
//! becomes its rank `q(x)`, the number of cuts strictly below it, once per
//! row and feature (shared by every tree; [`CutTree`] searches 8 cuts a
//! step). For the cut of
//! rank `j`, `x > cut[j]` exactly when `q(x) > j`: the cuts below `x` are a
//! prefix of the sorted list. So a node compares two u16 ranks and decides
//! exactly as the f64 comparison would: NaN is below no cut (rank 0) and
//! goes left at every node as in the node walk; +inf is above every finite
//! cut; -0.0 and 0.0 are one cut, since they compare equal to every `x`.
//! Ranks are stored biased (`rank ^ 0x8000` as i16) so that the CPU's signed
//! 16-bit compare orders them as unsigned. A feature with more than 65,535
//! distinct cuts does not fit (rank 65,535 is kept for "never right"); such
//! forests are walked node by node.
//!
//! **Blocks.** Each tree is cut into blocks of three levels: seven split
//! slots in breadth-first order (`p` → `2p+1`, `2p+2`) with eight exits.
//! A block is one 64-byte cache line: 8 threshold ranks (16 bytes), 16 bytes
//! naming the features, 8 exits (the next blocks, or [`LEAF_EXIT`] | the
//! leaf's value offset; a next block as the byte step down to it from this
//! block, or for [`Pick::Path`] as its byte offset). Where a leaf sits above the
//! third level, its slot and those under it never go right, so the leaf
//! comes out at the leftmost exit below it. The f64 layout this replaces
//! needed two cache lines per block (`Block` of 8 f64 thresholds).
//!
//! **Crossing a block**, one row: with at most 16 features ([`Shuffle`]) a
//! row's ranks are 32 bytes; two byte shuffles pick the seven ranks the block
//! needs (the feature bytes are the shuffle's indices), one 16-bit compare
//! against the block's ranks and a pack + movemask give a 7-bit "went right"
//! mask, a 256-entry table the exit. With more features ([`Path`]) the row
//! takes the block's three splits on its path one after another, each a
//! 16-bit load and compare (an AVX2 gather of the seven ranks instead was
//! 1.2-1.5x slower on a 40-feature forest: a ymm gather issues once per 9
//! cycles on this Zen 5).
//!
//! **AVX-512** ([`Pick::Permute`], up to 64 features): the block names its
//! features as u16 indices, one `vpermw` picks the eight ranks from the
//! row's ranks held in one 32- or 64-byte register (`vpermt2w` from two for
//! 33-64 features) in place of AVX2's two shuffles, an xor and an or; the
//! compare, pack and movemask follow as on AVX2 (a compare into a mask
//! register and `kmovd` out was slower, see the kernel). The
//! layout is chosen for the process's ISA ([`crate::isa::current`],
//! `CPUWALL_ISA`); every path takes every row to the same leaf.
//!
//! **Rows in flight.** [`LANES`] rows cross blocks at once; a row that
//! reaches its leaf hands its lane to the next row, so no row waits for the
//! deepest of a group, and every decision is a select, never a branch (a
//! row's way through a tree is a coin flip). Leaves are logged and their
//! class probabilities added after each tree, so each row sums its trees in
//! tree order: the result is the node walk's, bit for bit. With fewer rows
//! than lanes (one row, serving) the lanes walk (row, tree) pairs instead.
//!
//! **Chained trees.** Pure leaves' votes ([`Votes`]) are counted in the
//! lanes rather than in the rows: a copy of the blocks ([`Chain`]) turns
//! each leaf into a step to the next tree's root that also adds the leaf's
//! vote above the block's bits (a count a class but the first), so a row
//! walks the trees between two looks at which rows are decided without
//! leaving its lane, and only its final counts are stored. The per-step
//! vote this replaces (a read-modify-write in the row) was ~25% of a step;
//! on an Emerald Rapids Xeon VM (1e6 rows, three sequential alternating
//! rounds) the study forest's labels took 0.80x the time (536 against 670
//! ms), the 40-feature 4-class forest's 0.79x (1,389 against 1,761 ms, 7
//! trees a group).
//!
//! **Measured** on a 2-core AMD EPYC VM (Zen 5, AVX2 without AVX-512, ~2.8
//! GHz by a chain of dependent adds; `cargo bench --bench interleaved -- rf`):
//! the study's forest (100 trees of ~1,000 nodes, mean leaf depth 9.0, 3.6
//! block crossings per row and tree) takes 11-13 ns per row and tree against
//! 39 ns node by node. Callgrind counts ~123 instructions per row and tree
//! (~34 per crossing: the pick and compare ~10, the lane's bookkeeping the
//! rest; ranking 8; leaf sums 5), run at ~3.7 instructions per cycle: the
//! instruction count, not memory, is the limit. Tried and dropped: four
//! levels per block (128 bytes, 256-bit compares: 3.6% fewer instructions,
//! no faster), 6 to 24 lanes (alike), a fixed row sequence per lane instead
//! of the shared queue (1.45x slower), split-by-split crossing for narrow
//! rows too (18 against 12-13 ns). On the 2-core AVX-512 Xeon VM (the
//! study's forest imported from scikit-learn, 1e6 rows, `cpuwall predict
//! --backend direct`, three alternating rounds): blocks of four and five
//! levels crossed by one `vpermw` of 16 or 32 ranks and one compare, 693-712
//! and 772-830 ms against three levels' 660-693 ms (the trees are sparse
//! below their first levels: 12,547 blocks of 128 bytes and 10,112 of 256
//! against 16,785 of 64, so few crossings are saved and the blocks no
//! longer fit the caches as well). 16 lanes instead of 12 were 4-6%
//! faster on AVX-512 (24: alike) and up to 5% slower on AVX2: each crossing
//! takes its own count (`simd::tile`). Blocks of seven splits grown along
//! the subtrees with the most leaves (each block's shape, one of up to 256,
//! riding in its feature indices' top bits, which `vpermw` ignores, so the
//! movemask of the packed compare and indices indexes the shape's exit
//! table): 8% fewer blocks; on the Xeon VM 2.5% faster (465 against 476
//! ms); on a Zen 4 EPYC VM (both binaries on one core each at the same
//! time, rounds swapped) 7% slower with 16 lanes, 0.98x (0.93-1.02, four
//! rounds) with 12: too little for a second layout. Blocks of up to fifteen
//! splits grown the same way (192 bytes: sixteen u16 features and
//! thresholds, and for each of sixteen exits the splits on its path and
//! the way it leaves each, `care` and `want`; the exit is the one with
//! `right & care == want`, sixteen compares of the broadcast "went right"
//! bits): 2.48 crossings per row and tree against 3.45 (ten of the study
//! forest's trees, 20,000 rows, simulated), 11,293 blocks (2.2 MB) against
//! 16,785 (1.1 MB); on an Emerald Rapids Xeon VM (one core, sequential
//! alternating runs, 1e6 rows) 1.17x the time (748 against 640 ms) with the
//! compare into a mask register and `vpbroadcastw`, 1.27x (819) with a
//! movemask and `pext`, 1.36x (870) broadcasting through memory; 8, 16 or
//! 24 lanes alike. At seven splits in that layout, 946 ms: the time follows
//! the crossings, ~8.8 cycles each against ~5.4 for a three-level block
//! (Intel issues compares into a mask register and broadcasts from a
//! general register on one port, port 5, as it does `vpermw`).

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
/// served from L1/L2: 16,384 rows of up to 16 features, 4,096 of 40. (A
/// 40-feature forest of 2,600 nodes a tree: 32 KB tiles 1.2x slower than
/// 512 KB, 2 MB 1.1x faster; 10 features: 4,096 to 65,536 rows alike, and
/// on an Emerald Rapids Xeon VM 32 KB to 1 MB alike, 645-680 ms a call.)
const TILE_BYTES: usize = 512 << 10;
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
}

/// Votes counted in the lanes, with the trees chained in groups (the
/// trees walked between two looks at which rows are decided,
/// [`QuantisedForest::chained`]): a copy of the blocks in which a leaf of
/// any tree but a group's last is not a leaf but a step to the next
/// tree's root, plus the leaf's vote; a group's last tree's leaves are
/// [`LEAF_EXIT`] plus that vote. A lane's low half holds its block's byte
/// offset in bits `0..shift` and above them one `width`-bit count for
/// each class but class 0 (class `c`'s at bit `shift + (c - 1) * width`,
/// so its vote adds `1` there), below [`LEAF_EXIT`]. A lane adds every
/// exit it takes to its low half, so a row walks its group's trees one
/// after another without leaving its lane and arrives at the group's end
/// with its votes counted; class 0's are the rest. A group holds at most
/// `2^width - 1` trees, so no count carries into the next. Counts are the
/// per-tree votes summed, so labels and probabilities are the same bit for
/// bit.
#[derive(Debug, Clone, PartialEq)]
struct Chain {
    blocks: Vec<Block>,
    /// The tree counts at which groups end, ascending, the last all trees.
    ends: Vec<usize>,
    /// Bits of a lane's low half that hold a block's byte offset.
    shift: u32,
    /// Bits of each class's count above them.
    width: u32,
}

impl Chain {
    /// The bits of a lane's low half that hold its block.
    fn block_mask(&self) -> u32 {
        (1 << self.shift) - 1
    }

    /// Class `c`'s count (`c >= 1`) in a lane's last low half `last`.
    fn count(&self, last: u32, c: usize) -> u16 {
        let field = (1 << self.width) - 1;
        ((last >> (self.shift + (c as u32 - 1) * self.width)) & field) as u16
    }

    /// Add each of the first `rows` rows' counts from its last lane state
    /// (`ranked.last`) to its vote slots, a group of `trees` trees of `K`
    /// classes.
    fn add_counts<const K: usize>(&self, ranked: &mut RankedRows, rows: usize, trees: u16) {
        let stride = ranked.stride;
        for (i, row) in ranked.q.chunks_exact_mut(stride).take(rows).enumerate() {
            let last = ranked.last[i * stride / 2];
            debug_assert!(last & LEAF_EXIT != 0, "row {i} reached its group's end");
            let mut rest = trees;
            for c in 1..K {
                let n = self.count(last, c);
                row[c * K] = (row[c * K] as u16).wrapping_add(n) as i16;
                rest -= n;
            }
            row[0] = (row[0] as u16).wrapping_add(rest) as i16;
        }
    }

    /// The groups (tree ranges) that make up `trees`, or `None` when its
    /// ends are not a group's.
    fn groups(&self, trees: Range<usize>) -> Option<Vec<Range<usize>>> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        let groups: Vec<Range<usize>> = starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| a..b)
            .filter(|g| trees.start <= g.start && g.end <= trees.end)
            .collect();
        let covers = groups.first().map(|g| g.start) == Some(trees.start)
            && groups.last().map(|g| g.end) == Some(trees.end);
        covers.then_some(groups)
    }
}

/// Pure leaves as votes. When every leaf's class probabilities are one 1.0
/// and zeros (every leaf of a fully grown classifier), a leaf's exit is
/// [`LEAF_EXIT`] | `c * k` for its class `c`, and each quantised row starts
/// with `header` u16 slots in which the walk counts its votes: class `c`'s
/// count sits at slot `c * k`, and a row adds its exit's low six bits to
/// its own address at every step (a block's byte offset is a multiple of
/// 64, so a step that reaches no leaf adds 0 to slot 0). The ranks follow
/// the header. A vote count is the sum of the leaves' 1.0s and 0.0s exactly,
/// so labels are the node walk's bit for bit, and so are probabilities
/// (count / trees, one division as after the sum). [`QuantisedForest::add_trees`]
/// still works on such a layout, adding the leaves' values from an
/// identity table (`onehot`: row `c` is class `c`'s leaf).
#[derive(Debug, Clone, PartialEq)]
struct Votes {
    /// u16 slots before a row's ranks: `(k - 1) * k + 1`.
    header: usize,
    /// `k x k`, the identity: the leaf values the exits point to.
    onehot: Vec<f64>,
}

impl Votes {
    /// The classes `k`.
    fn classes(&self) -> usize {
        self.onehot.len().isqrt()
    }
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
        Some(f)
    }

    /// [`Votes`] when every leaf of `nodes` is one class's (a 1.0 among
    /// 0.0s), the classes' slots fit the exit and the header fits in the
    /// row's spare slots (so the row is as wide as without it), and a count
    /// cannot overflow a u16.
    fn votes_for(
        &self,
        nodes: &[Node],
        roots: &[u32],
        values: &[f64],
        k: usize,
        d: usize,
    ) -> Option<Votes> {
        let header = (k.checked_sub(1)?) * k + 1;
        let fits = (2..=VOTE_CLASSES).contains(&k)
            && roots.len() <= u16::MAX as usize
            && header + d <= self.row_bytes(d) / 2;
        let pure = nodes
            .iter()
            .filter(|nd| nd.feature == LEAF)
            .all(|nd| leaf_class(&values[nd.child as usize..nd.child as usize + k]).is_some());
        (fits && pure).then(|| Votes {
            header,
            onehot: (0..k * k)
                .map(|i| if i / k == i % k { 1.0 } else { 0.0 })
                .collect(),
        })
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

    fn chain_for(&self, checks: &[usize]) -> Option<Chain> {
        let k = self.votes.as_ref()?.classes();
        let trees = self.roots.len();
        // Offsets run below `blocks * BLOCK_BYTES`, a power of two or less.
        let least = (self.blocks.len() * BLOCK_BYTES)
            .next_power_of_two()
            .trailing_zeros();
        let groups = |shift: u32| {
            let width = 31u32.checked_sub(shift)? / (k as u32 - 1);
            Some((shift, width, CHAIN_TREES.min((1 << width) - 1)))
        };
        // `CHAIN_BLOCK`'s offset where it fits, unless a narrower one
        // holds more trees a group (two classes: 127 trees either way; four
        // classes of the 40-feature study forest, 2.3 MB of blocks: 7
        // trees at 22 bits against 3 at 24, and 0.96x the time).
        let fixed = CHAIN_BLOCK.trailing_ones();
        let (shift, width, most) = match (groups(least)?, groups(fixed)) {
            (narrow, Some(wide)) if least <= fixed && wide.2 >= narrow.2 => wide,
            (narrow, _) => narrow,
        };
        let fits = !self.pick.absolute_exits() && width >= 2 && checks.last() == Some(&trees);
        if !fits {
            return None;
        }
        let mut ends = Vec::new();
        let mut start = 0;
        for &end in checks {
            while end > start + most {
                start += most;
                ends.push(start);
            }
            if end > start {
                ends.push(end);
                start = end;
            }
        }
        let mut blocks = self.blocks.clone();
        for t in 0..trees {
            let first = self.roots[t] as usize / BLOCK_BYTES;
            let stop = self
                .roots
                .get(t + 1)
                .map_or(blocks.len(), |&r| r as usize / BLOCK_BYTES);
            // Tree t + 1 follows in the same group.
            let on = (!ends.contains(&(t + 1))).then(|| self.roots[t + 1]);
            for (b, block) in blocks[first..stop].iter_mut().enumerate() {
                let offset = ((first + b) * BLOCK_BYTES) as u32;
                for e in block.exits.iter_mut().filter(|e| **e & LEAF_EXIT != 0) {
                    // Class c's slot is `c * k`; class 0 counts the rest.
                    let vote = match (*e & !LEAF_EXIT) as usize / k {
                        0 => 0,
                        c => 1 << (shift + (c as u32 - 1) * width),
                    };
                    *e = vote
                        + match on {
                            // Trees are laid out one after another.
                            Some(root) => root - offset,
                            None => LEAF_EXIT,
                        };
                }
            }
        }
        Some(Chain {
            blocks,
            ends,
            shift,
            width,
        })
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
    /// of up to 64 bytes (32 features). On the Xeon VM 16 was 4-6% faster
    /// than 12 (study forest at 1e6 rows: 602-615 against 634-644 ms). On a
    /// Zen 4 EPYC VM (both builds on one core each at the same time, rounds
    /// swapped), 12 against 16: the study forest's labels (votes, 32-byte
    /// rows) 0.86x the time (six rounds; 0.91x in eight alternating rounds
    /// alone), a 24-feature forest's (64 bytes) 0.94x (0.87-1.07, three
    /// rounds), the 40-feature 4-class forest's (128 bytes, two registers
    /// a row) 1.21x; the study forest's probabilities (sums, Python
    /// `predict_proba`, one process, four alternating calls) 1.21x. With
    /// the lanes packed (`simd::Packed`), the study forest's labels with 8
    /// and 10 lanes against 12, four sequential alternating rounds: 1.03x
    /// and 0.98x (noise); 6 against 8, both at once: 1.18x. Running two
    /// builds at once misled on the 24-feature forest (2.4 s a call beside
    /// another process against 1.1 s alone): lane counts are judged on
    /// runs alone.
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
        (TILE_BYTES / self.row_bytes(d)).max(LANES)
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

    /// `rows` rows of `d` values as biased ranks, `row_bytes / 2` per row
    /// (see [`Self::row_bytes`]); rows from `rows` to `count` are zeros.
    /// One feature at a time over the whole tile, so its search tree stays
    /// in cache: on the Zen 4 VM's 40-feature forest (1e6 rows, four
    /// sequential alternating rounds), 64-row chunks through every feature
    /// took 1.04x the time and transposing the tile to columns first 1.08x.
    fn quantise(&self, block: &[f64], d: usize, count: usize) -> Vec<i16> {
        let stride = self.row_bytes(d) / 2;
        let h = self.header();
        let rows = block.len() / d;
        let mut q = vec![0i16; count * stride];
        if rows < LOCKSTEP {
            // A few rows (one, when serving): one search per value.
            for (row, out) in block.chunks_exact(d).zip(q.chunks_exact_mut(stride)) {
                for (f, (&x, o)) in row.iter().zip(&mut out[h..h + d]).enumerate() {
                    *o = bias(rank(self.cuts(f), x));
                }
            }
            return q;
        }
        for (f, tree) in self.cut_trees.iter().enumerate() {
            let column = |r: usize| block[r * d + f];
            let mut r = 0;
            while r < rows {
                let n = LOCKSTEP.min(rows - r);
                let mut xs = [f64::NAN; LOCKSTEP];
                for (i, x) in xs.iter_mut().take(n).enumerate() {
                    *x = column(r + i);
                }
                for (i, rank) in tree.ranks(self.isa, &xs).into_iter().take(n).enumerate() {
                    // At most 65,535 cuts (checked in `build`).
                    q[(r + i) * stride + h + f] = bias(rank as u16);
                }
                r += n;
            }
        }
        q
    }

    /// The rows of `block` (`d` values each) as the traversal reads them,
    /// with room for the idle lanes' dummy rows after them.
    pub fn rank_rows(&self, block: &[f64], d: usize) -> RankedRows {
        let rows = block.len() / d;
        RankedRows {
            q: self.quantise(block, d, rows + LANES + 1),
            last: Vec::new(),
            stride: self.row_bytes(d) / 2,
            rows,
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

    /// One chained group `group` of the first `rows` rows of `ranked`, its
    /// votes added to their slots.
    fn walk_chain(&self, chain: &Chain, ranked: &mut RankedRows, rows: usize, group: Range<usize>) {
        assert!(rows <= ranked.rows);
        let row_bytes = ranked.stride * 2;
        // As many bytes as the ranks (see `simd::chain`).
        ranked.last.resize(ranked.q.len() / 2, 0);
        #[cfg(target_arch = "x86_64")]
        {
            let job = simd::ChainJob {
                blocks: &chain.blocks,
                block_mask: chain.block_mask(),
                root: self.roots[group.start],
                q: &ranked.q,
                row_bytes,
                rows,
                lanes: self.lanes(true),
                last: &mut ranked.last,
            };
            // SAFETY: as in `walk`; `chain.blocks` are this layout's
            // blocks chained (`chain_for`, which leaves split-by-split
            // layouts unchained), `root` is the group's first root, and
            // `last` has as many bytes as `q`.
            unsafe {
                match self.pick {
                    Pick::Shuffle => simd::chain_shuffle(job),
                    Pick::Permute => simd::chain_permute(job),
                    Pick::Path => unreachable!("split by split is never chained"),
                }
            }
        }
        let trees = group.len() as u16;
        // The classes known to the compiler: a loop as short as before
        // there were more than two (callgrind: the generic loop took 77
        // million more instructions on the study forest, 1e5 rows).
        match self.votes.as_ref().map_or(2, Votes::classes) {
            2 => chain.add_counts::<2>(ranked, rows, trees),
            3 => chain.add_counts::<3>(ranked, rows, trees),
            4 => chain.add_counts::<4>(ranked, rows, trees),
            5 => chain.add_counts::<5>(ranked, rows, trees),
            6 => chain.add_counts::<6>(ranked, rows, trees),
            7 => chain.add_counts::<7>(ranked, rows, trees),
            k => {
                debug_assert_eq!(k, VOTE_CLASSES);
                chain.add_counts::<VOTE_CLASSES>(ranked, rows, trees)
            }
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

/// Rows ranked for the traversal ([`QuantisedForest::rank_rows`]); rows
/// still to walk can be gathered to the front ([`RankedRows::move_row`]).
pub struct RankedRows {
    q: Vec<i16>,
    /// A chained walk's last lane state of each row, at the row's byte
    /// offset (empty until one needs it).
    last: Vec<u32>,
    /// i16 per row.
    stride: usize,
    rows: usize,
}

impl RankedRows {
    /// Row `i`'s vote counts, class by class (a layout that counts votes,
    /// `k` classes).
    pub fn votes(&self, i: usize, k: usize) -> impl Iterator<Item = u16> + '_ {
        (0..k).map(move |c| self.q[i * self.stride + c * k] as u16)
    }

    /// Copy row `from` over row `to`.
    pub fn move_row(&mut self, from: usize, to: usize) {
        // Fixed widths copy in a register or two (not a `memmove` call).
        match self.stride {
            16 => self.copy_row::<16>(from, to),
            32 => self.copy_row::<32>(from, to),
            64 => self.copy_row::<64>(from, to),
            s => self.q.copy_within(from * s..(from + 1) * s, to * s),
        }
    }

    #[inline(always)]
    fn copy_row<const S: usize>(&mut self, from: usize, to: usize) {
        let row: [i16; S] = self.q[from * S..(from + 1) * S].try_into().expect("a row");
        self.q[to * S..(to + 1) * S].copy_from_slice(&row);
    }
}

/// The class of a leaf whose probabilities are one 1.0 among 0.0s.
fn leaf_class(probs: &[f64]) -> Option<usize> {
    let one = probs.iter().position(|&p| p == 1.0)?;
    let others_zero = probs.iter().enumerate().all(|(c, &p)| c == one || p == 0.0);
    others_zero.then_some(one)
}

/// How many of `cuts` (ascending) are below `x`: a branch-free binary
/// search (each step's outcome is a coin flip). NaN is below none.
#[inline]
fn rank(cuts: &[f64], x: f64) -> u16 {
    if cuts.is_empty() {
        return 0;
    }
    let mut base = 0usize;
    let mut size = cuts.len();
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        base = std::hint::select_unpredictable(cuts[mid] < x, mid, base);
        size -= half;
    }
    (base + (cuts[base] < x) as usize) as u16
}

#[cfg(target_arch = "x86_64")]
mod simd;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_counts_the_cuts_below_and_nan_is_below_none() {
        let cuts = [-f64::INFINITY, -1.5, 0.0, 2.0, 7.25];
        for (x, want) in [
            (f64::NEG_INFINITY, 0),
            (-2.0, 1),
            (-1.5, 1),
            (-1.0, 2),
            (-0.0, 2),
            (0.0, 2),
            (1e-300, 3),
            (2.0, 3),
            (7.25, 4),
            (f64::MAX, 5),
            (f64::INFINITY, 5),
            (f64::NAN, 0),
        ] {
            assert_eq!(rank(&cuts, x), want, "x = {x}");
            assert_eq!(
                want as usize,
                cuts.iter().filter(|&&c| x > c).count(),
                "x = {x}"
            );
        }
        assert_eq!(rank(&[], 3.0), 0);
        assert_eq!(rank(&[1.0], 3.0), 1);
        assert_eq!(rank(&[1.0], 1.0), 0);
    }

    #[test]
    fn biased_ranks_order_as_unsigned_under_a_signed_compare() {
        for (a, b) in [(0u16, 1u16), (0x7FFF, 0x8000), (1, 65535), (65534, 65535)] {
            assert!(bias(a) < bias(b), "{a} < {b}");
        }
        assert_eq!(bias(u16::MAX), NEVER_RIGHT);
    }

    /// A chained walk takes whole groups: a range of trees that starts or
    /// ends inside one is walked unchained.
    #[test]
    fn a_chains_groups_are_the_ranges_between_its_ends() {
        let chain = Chain {
            blocks: Vec::new(),
            ends: vec![5, 9, 17],
            shift: 24,
            width: 7,
        };
        assert_eq!(chain.groups(0..17), Some(vec![0..5, 5..9, 9..17]));
        assert_eq!(chain.groups(5..9), Some(std::iter::once(5..9).collect()));
        assert_eq!(chain.groups(0..9), Some(vec![0..5, 5..9]));
        assert_eq!(chain.groups(0..8), None);
        assert_eq!(chain.groups(3..9), None);
        assert_eq!(chain.groups(9..9), None);
    }

    /// A chained lane's last low half: the block's offset below `shift`,
    /// then one `width`-bit count a class from class 1, under the exit bit.
    #[test]
    fn a_chained_lanes_counts_are_read_class_by_class_above_its_block() {
        let chain = Chain {
            blocks: Vec::new(),
            ends: vec![6],
            shift: 12,
            width: 2,
        };
        assert_eq!(chain.block_mask(), 0xFFF);
        let last = LEAF_EXIT | (2 << 16) | (1 << 14) | (3 << 12) | 0xFC0;
        let counts: Vec<u16> = (1..4).map(|c| chain.count(last, c)).collect();
        assert_eq!(counts, [3, 1, 2]);
        assert_eq!(chain.count(LEAF_EXIT | 0xFFF, 1), 0, "the block is no vote");
    }

    #[test]
    fn the_exit_table_follows_each_mask_down_three_levels() {
        assert_eq!(EXIT_OF_MASK[0], 0, "always left");
        assert_eq!(EXIT_OF_MASK[0b111_1111], 7, "always right");
        // Right at the root (bit 0), then left at slot 2, right at slot 5.
        assert_eq!(EXIT_OF_MASK[0b010_0001], 5);
        // Bits of slots off the path do not matter.
        assert_eq!(EXIT_OF_MASK[0b111_0100], 0);
    }
}
