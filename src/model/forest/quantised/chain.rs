//! Chained trees: pure leaves' votes counted in the lanes. A copy of the
//! blocks turns each leaf into a step to the next tree's root that also
//! adds the leaf's vote above the block's bits (a count for each class
//! but the first), so a row walks the trees between two looks at decided
//! rows without leaving its lane, and only its final counts are stored.

use std::ops::Range;

use super::*;

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
pub(super) struct Chain {
    pub(super) blocks: Vec<Block>,
    /// The tree counts at which groups end, ascending, the last all trees.
    pub(super) ends: Vec<usize>,
    /// Bits of a lane's low half that hold a block's byte offset.
    pub(super) shift: u32,
    /// Bits of each class's count above them.
    pub(super) width: u32,
}

impl Chain {
    /// The bits of a lane's low half that hold its block.
    pub(super) fn block_mask(&self) -> u32 {
        (1 << self.shift) - 1
    }

    /// Class `c`'s count (`c >= 1`) in a lane's last low half `last`.
    pub(super) fn count(&self, last: u32, c: usize) -> u16 {
        let field = (1 << self.width) - 1;
        ((last >> (self.shift + (c as u32 - 1) * self.width)) & field) as u16
    }

    /// Add each of the first `rows` rows' counts from its last lane state
    /// (`ranked.last`) to its vote slots, a group of `trees` trees of `K`
    /// classes.
    pub(super) fn add_counts<const K: usize>(
        &self,
        ranked: &mut RankedRows,
        rows: usize,
        trees: u16,
    ) {
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
    pub(super) fn groups(&self, trees: Range<usize>) -> Option<Vec<Range<usize>>> {
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
pub(super) struct Votes {
    /// u16 slots before a row's ranks: `(k - 1) * k + 1`.
    pub(super) header: usize,
    /// `k x k`, the identity: the leaf values the exits point to.
    pub(super) onehot: Vec<f64>,
}

impl Votes {
    /// The classes `k`.
    pub(super) fn classes(&self) -> usize {
        self.onehot.len().isqrt()
    }
}

impl QuantisedForest {
    /// [`Votes`] when every leaf of `nodes` is one class's (a 1.0 among
    /// 0.0s), the classes' slots fit the exit and the header fits in the
    /// row's spare slots (so the row is as wide as without it), and a count
    /// cannot overflow a u16.
    pub(super) fn votes_for(
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

    pub(super) fn chain_for(&self, checks: &[usize]) -> Option<Chain> {
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
        // holds more trees a group (two classes: 127 trees either way).
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

    /// One chained group `group` of the first `rows` rows of `ranked`, its
    /// votes added to their slots.
    pub(super) fn walk_chain(
        &self,
        chain: &Chain,
        ranked: &mut RankedRows,
        rows: usize,
        group: Range<usize>,
    ) {
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
        // The classes known to the compiler: a loop as short as for two
        // classes (a generic loop costs more: docs/forest.md).
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
}
