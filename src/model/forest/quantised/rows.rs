//! Rows as the quantised blocks read them: each value replaced by its
//! rank among its feature's cuts (biased to order as signed 16-bit), one
//! feature at a time over a tile, with room for vote counts.

use super::*;

impl QuantisedForest {
    /// `rows` rows of `d` values as biased ranks, `row_bytes / 2` per row
    /// (see [`Self::row_bytes`]); rows from `rows` to `count` are zeros.
    /// One feature at a time over the whole tile, so its search tree stays
    /// in cache (other orders measured slower: docs/forest.md).
    pub(super) fn quantise(&self, block: &[f64], d: usize, count: usize) -> Vec<i16> {
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
}

/// Rows ranked for the traversal ([`QuantisedForest::rank_rows`]); rows
/// still to walk can be gathered to the front ([`RankedRows::move_row`]).
pub struct RankedRows {
    pub(super) q: Vec<i16>,
    /// A chained walk's last lane state of each row, at the row's byte
    /// offset (empty until one needs it).
    pub(super) last: Vec<u32>,
    /// i16 per row.
    pub(super) stride: usize,
    pub(super) rows: usize,
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

/// How many of `cuts` (ascending) are below `x`: a branch-free binary
/// search (each step's outcome is a coin flip). NaN is below none.
#[inline]
pub(super) fn rank(cuts: &[f64], x: f64) -> u16 {
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
