//! The lanes' walk, generic over how a row crosses a block; instantiated
//! once per crossing inside an entry point compiled for its ISA (`add_*`).

use std::arch::x86_64::*;
use std::hint::select_unpredictable;

use super::{Block, QuantisedForest, CHAIN_BLOCK, EXIT_OF_MASK, LANES, LEAF_EXIT};

/// One call's work: trees `roots` of the first `rows` rows of `q`
/// (`row_bytes` each, laid out for `f`'s pick) added to `acc`
/// (`rows x k` sums) from `values`, or, with `votes`, counted in each
/// row's vote slots (`acc` unused).
pub struct Job<'a> {
    pub f: &'a QuantisedForest,
    pub roots: &'a [u32],
    pub q: &'a mut [i16],
    pub row_bytes: usize,
    pub rows: usize,
    pub k: usize,
    pub values: &'a [f64],
    pub acc: &'a mut [f64],
    pub votes: bool,
}

/// How one row crosses one block: the exit it takes.
trait Cross {
    /// # Safety
    /// The crossing's ISA; `block` is a block of the forest, `row` a
    /// quantised row of the layout the forest was built for.
    unsafe fn exit(block: &Block, row: *const u8) -> u32;
    /// Whether the lanes keep row and block in one register ([`Packed`])
    /// rather than two ([`Split`]). The layout's exits to blocks match
    /// (`Pick::absolute_exits`): the step down from the block crossed
    /// where packed (a lane moves on with one add), the next block's
    /// offset where split ([`below`]).
    const PACKED: bool = true;
}

/// The block (offset) or leaf an exit of block `b` leads to.
#[inline(always)]
fn below<C: Cross>(b: u32, exit: u32) -> u32 {
    if C::PACKED {
        select_unpredictable(exit & LEAF_EXIT != 0, exit, b.wrapping_add(exit))
    } else {
        exit
    }
}

struct Shuffle;

impl Cross for Shuffle {
    /// # Safety
    /// The CPU runs AVX2; `row` points at a row of at least 32 readable
    /// bytes of biased ranks (16 features).
    #[inline(always)]
    unsafe fn exit(block: &Block, row: *const u8) -> u32 {
        let idx = _mm_load_si128(block.features.as_ptr() as *const __m128i);
        let lo = _mm_shuffle_epi8(_mm_loadu_si128(row as *const __m128i), idx);
        let hi = _mm_shuffle_epi8(
            _mm_loadu_si128(row.add(16) as *const __m128i),
            _mm_xor_si128(idx, _mm_set1_epi8(-128)),
        );
        let x = _mm_or_si128(lo, hi);
        let t = _mm_load_si128(block.thresholds.as_ptr() as *const __m128i);
        let right = _mm_cmpgt_epi16(x, t);
        // Packed with zeros: the mask's bits 8..16 are clear.
        let mask = _mm_movemask_epi8(_mm_packs_epi16(right, _mm_setzero_si128())) as usize;
        let e = *EXIT_OF_MASK.get_unchecked(mask);
        *block.exits.get_unchecked(e as usize)
    }
}

/// AVX-512 (BW + VL): the row's ranks in one register (two for 64-
/// feature rows), the block's eight u16 feature indices pick eight of
/// them (`vpermw`, `vpermt2w` across two registers). `BYTES`: the row's
/// bytes, 32, 64 or 128.
struct Permute<const BYTES: usize>;

impl<const BYTES: usize> Cross for Permute<BYTES> {
    /// # Safety
    /// The CPU runs AVX-512 F, BW and VL; `row` points at a row of at
    /// least the layout's row bytes (up to 64 features).
    #[inline(always)]
    unsafe fn exit(block: &Block, row: *const u8) -> u32 {
        let idx = _mm_load_si128(block.features.as_ptr() as *const __m128i);
        let picked = match BYTES {
            32 => {
                let x = _mm256_loadu_si256(row as *const __m256i);
                _mm256_castsi256_si128(_mm256_permutexvar_epi16(_mm256_castsi128_si256(idx), x))
            }
            64 => {
                let x = _mm512_loadu_si512(row as *const __m512i);
                _mm512_castsi512_si128(_mm512_permutexvar_epi16(_mm512_castsi128_si512(idx), x))
            }
            _ => {
                let a = _mm512_loadu_si512(row as *const __m512i);
                let b = _mm512_loadu_si512(row.add(64) as *const __m512i);
                _mm512_castsi512_si128(_mm512_permutex2var_epi16(a, _mm512_castsi128_si512(idx), b))
            }
        };
        let t = _mm_load_si128(block.thresholds.as_ptr() as *const __m128i);
        // Compared in a vector register, packed and moved out, as AVX2 does
        // (a compare into a mask register is slower: docs/forest.md).
        let right = _mm_cmpgt_epi16(picked, t);
        let mask = _mm_movemask_epi8(_mm_packs_epi16(right, _mm_setzero_si128())) as usize;
        let e = *EXIT_OF_MASK.get_unchecked(mask);
        *block.exits.get_unchecked(e as usize)
    }
}

struct Path;

impl Cross for Path {
    /// Split-by-split lanes keep row and block apart: the three loads a
    /// crossing needs take the registers packing would free (docs/forest.md).
    const PACKED: bool = false;

    /// The three splits on the row's path only, one after another.
    ///
    /// # Safety
    /// The CPU runs AVX2; `row` points at a row holding every feature the
    /// block names.
    #[inline(always)]
    unsafe fn exit(block: &Block, row: *const u8) -> u32 {
        let features = block.features.as_ptr() as *const u16;
        let ranks = row as *const i16;
        let mut p = 0usize;
        for _ in 0..3 {
            let f = features.add(p).read_unaligned() as usize;
            let right = *ranks.add(f) > *block.thresholds.get_unchecked(p);
            p = 2 * p + 1 + right as usize;
        }
        *block.exits.get_unchecked(p - 7)
    }
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

/// Count a leaf's vote in its row's slot (the exit's low six bits: the
/// class's slot `c * k`, 0 for a block, which adds 0).
///
/// This read-modify-write is a large share of a step; chained trees
/// (`chain`) avoid it where pure leaves allow. The alternatives
/// measured and dropped are in docs/forest.md.
///
/// # Safety
/// `row` is a row of a layout that counts votes.
#[inline(always)]
unsafe fn vote(row: *mut u8, exit: u32) {
    let slot = row.add(2 * (exit & 63) as usize) as *mut u16;
    slot.write_unaligned(slot.read_unaligned().wrapping_add((exit >> 31) as u16));
}

/// [`add_leaf`] for `K` classes.
///
/// # Safety
/// As [`add_leaf`].
#[inline(always)]
unsafe fn add_leaf_k<const K: usize>(acc: &mut [f64], r: usize, values: &[f64], leaf: u32) {
    let leaf = (leaf & !LEAF_EXIT) as usize;
    let probs = values.as_ptr().add(leaf);
    let sums = acc.as_mut_ptr().add(r * K);
    for c in 0..K {
        *sums.add(c) += *probs.add(c);
    }
}

/// # Safety
/// The CPU runs AVX2; `job` is a shuffle layout's (at most 16 features)
/// with its rows padded as [`QuantisedForest`] lays them out.
#[target_feature(enable = "avx2")]
pub unsafe fn add_shuffle(job: Job<'_>) {
    match job.f.lanes(job.votes) {
        16 => tile::<Shuffle, 16>(job),
        _ => tile::<Shuffle, 12>(job),
    }
}

/// # Safety
/// The CPU runs AVX2; `job` is a split-by-split layout's, its rows laid
/// out as [`QuantisedForest`] lays them out.
#[target_feature(enable = "avx2")]
pub unsafe fn add_path(job: Job<'_>) {
    match job.f.lanes(job.votes) {
        16 => tile::<Path, 16>(job),
        _ => tile::<Path, 12>(job),
    }
}

/// `$walk::<Permute<BYTES>, G>($job)` for rows of `$bytes` (32, 64 or
/// 128) and `$lanes` lanes (16, else 12).
macro_rules! by_width {
    ($walk:ident, $bytes:expr, $lanes:expr, $job:expr) => {
        match ($bytes, $lanes) {
            (32, 16) => $walk::<Permute<32>, 16>($job),
            (32, _) => $walk::<Permute<32>, 12>($job),
            (64, 16) => $walk::<Permute<64>, 16>($job),
            (64, _) => $walk::<Permute<64>, 12>($job),
            (_, 16) => $walk::<Permute<128>, 16>($job),
            (bytes, _) => {
                debug_assert_eq!(bytes, 128);
                $walk::<Permute<128>, 12>($job)
            }
        }
    };
}

/// # Safety
/// The CPU runs AVX-512 F, BW and VL; `job` is a permute layout's (at most
/// 64 features), its rows laid out as [`QuantisedForest`] lays them out.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn add_permute(job: Job<'_>) {
    let lanes = job.f.lanes(job.votes);
    by_width!(tile, job.row_bytes, lanes, job)
}

/// One tile: its rows through every tree, by [`walk_trees`] when they
/// are fewer than the lanes, else by [`walk`] with `G` lanes (the
/// forest's [`QuantisedForest::lanes`]: 12 for AVX2's crossings, whose
/// shuffles were 0-5% slower with 16; 16 for AVX-512's but where AMD's
/// cores count votes in narrow rows).
///
/// # Safety
/// As [`walk`].
#[inline(always)]
unsafe fn tile<C: Cross, const G: usize>(job: Job<'_>) {
    // The lanes read exits as the layout wrote them.
    debug_assert_eq!(C::PACKED, !job.f.pick.absolute_exits());
    match (job.rows < LANES, job.votes) {
        (true, false) => walk_trees::<C, false>(job),
        (true, true) => walk_trees::<C, true>(job),
        (false, false) if C::PACKED => walk::<C, Packed<G>, G, false>(job),
        (false, false) => walk::<C, Split<G>, G, false>(job),
        (false, true) if C::PACKED => walk::<C, Packed<G>, G, true>(job),
        (false, true) => walk::<C, Split<G>, G, true>(job),
    }
}

/// The lanes' rows and blocks between steps of [`walk`]'s main loop: lane
/// `l` starts on row `l` at the root; a lane that reaches a leaf takes the
/// next row not yet started, at the root again.
trait Lanes<const G: usize> {
    /// `row_bytes` a row, rows up to byte offset `end` (a multiple of
    /// `row_bytes`, below 2^32) to walk.
    fn start(root: u32, row_bytes: usize, end: usize) -> Self;
    /// Lane `l`'s row (byte offset) and block.
    fn at(&self, l: usize) -> (usize, u32);
    /// Lane `l` goes on to `next`, or to the next row when `leaf`.
    fn advance(&mut self, l: usize, leaf: bool, next: u32);
    /// Whether a row is still to start.
    fn more(&self) -> bool;
    /// Every lane's row and block.
    fn rows_and_blocks(&self) -> ([usize; G], [u32; G]);
}

/// Row and block in one register (row's byte offset in the high half):
/// with 12 or 16 lanes, rows and blocks apart take 24 or 32 registers
/// and most of them live on the stack, a load and a store each a step
/// (docs/forest.md).
struct Packed<const G: usize> {
    lane: [u64; G],
    /// The next row to start, with the root: what a lane at a leaf takes.
    fresh: u64,
    /// `row_bytes` in the high half.
    step: u64,
    /// `end` in the high half.
    end: u64,
}

impl<const G: usize> Lanes<G> for Packed<G> {
    #[inline(always)]
    fn start(root: u32, row_bytes: usize, end: usize) -> Self {
        let mut lane = [0u64; G];
        for (l, x) in lane.iter_mut().enumerate() {
            *x = ((l * row_bytes) as u64) << 32 | root as u64;
        }
        Packed {
            lane,
            fresh: ((G * row_bytes) as u64) << 32 | root as u64,
            step: (row_bytes as u64) << 32,
            end: (end as u64) << 32,
        }
    }

    #[inline(always)]
    fn at(&self, l: usize) -> (usize, u32) {
        ((self.lane[l] >> 32) as usize, self.lane[l] as u32)
    }

    #[inline(always)]
    fn advance(&mut self, l: usize, leaf: bool, next: u32) {
        // `next` steps down from the lane's block (where it is a block:
        // at a leaf the lane takes `fresh`). Adding the step, rather than
        // masking out the block and or-ing in an offset, saves an
        // instruction and the mask's register. Split lanes keep offsets
        // (docs/forest.md).
        let moved = self.lane[l].wrapping_add(next as u64);
        self.lane[l] = select_unpredictable(leaf, self.fresh, moved);
        // A select, not `leaf * step`: this chain runs through every
        // lane's step (a multiply made it 4 cycles a lane).
        self.fresh += select_unpredictable(leaf, self.step, 0);
    }

    #[inline(always)]
    fn more(&self) -> bool {
        // The root in the low half: below `end` exactly when the row is.
        self.fresh < self.end
    }

    #[inline(always)]
    fn rows_and_blocks(&self) -> ([usize; G], [u32; G]) {
        (
            std::array::from_fn(|l| self.at(l).0),
            std::array::from_fn(|l| self.at(l).1),
        )
    }
}

impl<const G: usize> Packed<G> {
    /// [`Lanes::advance`] by exit `next`, returning the low half the lane
    /// moved to (its block, or at a leaf the leaf exit, plus what `next`
    /// added above the block's bits: a chained group's votes).
    #[inline(always)]
    fn step(&mut self, l: usize, next: u32) -> u32 {
        let moved = self.lane[l].wrapping_add(next as u64);
        let leaf = next & LEAF_EXIT != 0;
        self.lane[l] = select_unpredictable(leaf, self.fresh, moved);
        self.fresh += select_unpredictable(leaf, self.step, 0);
        moved as u32
    }
}

/// Rows and blocks in registers of their own.
struct Split<const G: usize> {
    row: [usize; G],
    block: [u32; G],
    next_row: usize,
    root: u32,
    row_bytes: usize,
    end: usize,
}

impl<const G: usize> Lanes<G> for Split<G> {
    #[inline(always)]
    fn start(root: u32, row_bytes: usize, end: usize) -> Self {
        Split {
            row: std::array::from_fn(|l| l * row_bytes),
            block: [root; G],
            next_row: G * row_bytes,
            root,
            row_bytes,
            end,
        }
    }

    #[inline(always)]
    fn at(&self, l: usize) -> (usize, u32) {
        (self.row[l], self.block[l])
    }

    #[inline(always)]
    fn advance(&mut self, l: usize, leaf: bool, next: u32) {
        self.row[l] = select_unpredictable(leaf, self.next_row, self.row[l]);
        // A select, as in `Packed::advance`.
        self.next_row += select_unpredictable(leaf, self.row_bytes, 0);
        self.block[l] = select_unpredictable(leaf, self.root, next);
    }

    #[inline(always)]
    fn more(&self) -> bool {
        self.next_row < self.end
    }

    #[inline(always)]
    fn rows_and_blocks(&self) -> ([usize; G], [u32; G]) {
        (self.row, self.block)
    }
}

/// Add each (row, leaf exit)'s class probabilities to the row's sums,
/// in the order given (each row's trees in tree order). A fixed class
/// count lets the adds unroll (two classes: ~15% of the walk's time went
/// to the general loop's bookkeeping).
///
/// # Safety
/// As [`add_leaf`], for every pair.
#[inline(always)]
unsafe fn add_leaves(
    acc: &mut [f64],
    k: usize,
    values: &[f64],
    leaves: impl Iterator<Item = (usize, u32)>,
) {
    match k {
        2 => leaves.for_each(|(r, leaf)| add_leaf_k::<2>(acc, r, values, leaf)),
        3 => leaves.for_each(|(r, leaf)| add_leaf_k::<3>(acc, r, values, leaf)),
        4 => leaves.for_each(|(r, leaf)| add_leaf_k::<4>(acc, r, values, leaf)),
        _ => leaves.for_each(|(r, leaf)| add_leaf(acc, r, k, values, leaf)),
    }
}

/// `$step` for every lane (`G`: 12 or 16, written out), round after
/// round while `$lanes` have a row left to start.
macro_rules! rounds {
    ($lanes:ident, $step:ident) => {
        while $lanes.more() {
            if G == 16 {
                $step!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            } else {
                $step!(0 1 2 3 4 5 6 7 8 9 10 11);
            }
        }
    };
}

/// The rows still in flight when no row is left to start (lane `l` on
/// row offset `row[l]` at `state[l]`), lockstep until each reaches its
/// leaf: a lane past `end` (a dummy row) is done from the start, a done
/// lane steps through the sink (block 0) and keeps its state, and `on(s,
/// exit)` is a lane's state after taking `exit` from state `s`, at
/// `block(s)`.
///
/// # Safety
/// As the walk's: every `row[l]` within `q`, every state a block's.
#[inline(always)]
unsafe fn drain<'b, C: Cross, const G: usize>(
    row: &[usize; G],
    state: &mut [u32; G],
    end: usize,
    base: *const u8,
    block: impl Fn(u32) -> &'b Block,
    on: impl Fn(u32, u32) -> u32,
) {
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
            let next = C::exit(block(select_unpredictable(done, 0, s)), base.add(row[l]));
            state[l] = select_unpredictable(done, s, on(s, next));
            all_done &= state[l];
        }
        if all_done & LEAF_EXIT != 0 {
            break;
        }
    }
}

/// Fewer rows than lanes (a single row, when serving): the lanes walk
/// (row, tree) pairs, so one row's trees are in flight together instead
/// of one tree at a time with most lanes idle. Each pair's leaf is kept
/// and the sums taken in tree order afterwards, as [`walk`] does.
///
/// # Safety
/// As [`walk`].
#[inline(always)]
unsafe fn walk_trees<C: Cross, const VOTES: bool>(job: Job<'_>) {
    let Job {
        f,
        roots,
        q,
        row_bytes,
        rows,
        k,
        values,
        acc,
        votes: _,
    } = job;
    const G: usize = LANES;
    let base = q.as_mut_ptr() as *mut u8;
    let blocks = f.blocks.as_ptr() as *const u8;
    let block = |b: u32| &*(blocks.add(b as usize) as *const Block);
    let trees = roots.len();
    let pairs = rows * trees;
    // Pair i = row i / trees, tree i % trees.
    let mut leaves = vec![0u32; pairs];
    let (mut next, mut next_row, mut next_tree) = (0usize, 0usize, 0usize);
    let mut pair = [0usize; G];
    let mut row = [0usize; G];
    // A lane whose state is a leaf exit has no pair left.
    let mut state = [LEAF_EXIT; G];
    let mut take = |l: usize, pair: &mut [usize; G], row: &mut [usize; G], state: &mut [u32; G]| {
        if next < pairs {
            pair[l] = next;
            row[l] = next_row * row_bytes;
            state[l] = roots[next_tree];
            next += 1;
            next_tree += 1;
            if next_tree == trees {
                next_tree = 0;
                next_row += 1;
            }
        } else {
            state[l] = LEAF_EXIT;
        }
    };
    for l in 0..G {
        take(l, &mut pair, &mut row, &mut state);
    }
    loop {
        let mut busy = false;
        for l in 0..G {
            let s = state[l];
            if s & LEAF_EXIT != 0 {
                continue;
            }
            busy = true;
            let exit = C::exit(block(s), base.add(row[l]));
            if exit & LEAF_EXIT != 0 {
                *leaves.get_unchecked_mut(pair[l]) = exit;
                take(l, &mut pair, &mut row, &mut state);
            } else {
                state[l] = below::<C>(s, exit);
            }
        }
        if !busy {
            break;
        }
    }
    if VOTES {
        for (r, row) in leaves.chunks_exact(trees).enumerate() {
            row.iter()
                .for_each(|&leaf| vote(base.add(r * row_bytes), leaf));
        }
        return;
    }
    let by_row = leaves.chunks_exact(trees).enumerate();
    add_leaves(
        acc,
        k,
        values,
        by_row.flat_map(|(r, row)| row.iter().map(move |&leaf| (r, leaf))),
    );
}

/// Each of `G` rows in flight takes the next row as soon as it
/// reaches a leaf. Leaves are logged as (row, leaf) and added after each
/// tree, so every row sums its trees in tree order.
///
/// # Safety
/// AVX2; `q` holds at least `rows + LANES + 1` quantised rows of
/// `row_bytes` bytes for `C`'s layout; `acc.len() == rows * k`; every
/// leaf offset + k within `values`.
#[inline(always)]
unsafe fn walk<C: Cross, L: Lanes<G>, const G: usize, const VOTES: bool>(job: Job<'_>) {
    let Job {
        f,
        roots,
        q,
        row_bytes,
        rows,
        k,
        values,
        acc,
        votes: _,
    } = job;
    const { assert!((G == 12 || G == 16) && G <= LANES) };
    // Rows from `rows` on are dummies that idle lanes walk; a lane's row
    // is a byte offset into `q`, used as it stands. A tile of at most `G`
    // rows starts with its lanes past the rows done and goes straight to
    // the drain.
    let base = q.as_mut_ptr() as *mut u8;
    let blocks = f.blocks.as_ptr() as *const u8;
    let block = |b: u32| &*(blocks.add(b as usize) as *const Block);
    let end = rows * row_bytes;
    // Row offsets travel as u32 (the log, `Packed`'s high half): callers
    // pass one tile, 512 KB.
    assert!(end <= u32::MAX as usize, "a tile of rows under 4 GB");
    let shift = row_bytes.trailing_zeros();
    // Leaves reached, in order: the row's byte offset and the exit.
    // (Counting votes, only the drain's leaves are logged.)
    let logged = if VOTES { 2 * G } else { rows + 2 * G };
    let mut log_row: Vec<u32> = vec![0; logged];
    let mut log_leaf: Vec<u32> = vec![0; logged];
    for &root in roots {
        let mut lanes = L::start(root, row_bytes, end);
        let mut n = 0usize;
        // One step of lane `l`; the lanes are written out (a loop over
        // them spends its own bookkeeping and keeps every lane's state in
        // memory). One block a step: two a step measured slower
        // (docs/forest.md).
        macro_rules! step {
            ($($l:literal)*) => {$({
                let (r, b) = lanes.at($l);
                let next = C::exit(block(b), base.add(r));
                let leaf = next & LEAF_EXIT != 0;
                if VOTES {
                    vote(base.add(r), next);
                } else {
                    // Written every step, kept (n moves on) at a leaf.
                    *log_row.get_unchecked_mut(n) = r as u32;
                    *log_leaf.get_unchecked_mut(n) = next;
                    n += leaf as usize;
                }
                lanes.advance($l, leaf, next);
            })*};
        }
        rounds!(lanes, step);
        let (row, mut state) = lanes.rows_and_blocks();
        drain::<C, G>(&row, &mut state, end, base, block, below::<C>);
        for l in 0..G {
            if row[l] < end {
                *log_row.get_unchecked_mut(n) = row[l] as u32;
                *log_leaf.get_unchecked_mut(n) = state[l];
                n += 1;
            }
        }
        if VOTES {
            for (&r, &leaf) in log_row[..n].iter().zip(&log_leaf[..n]) {
                vote(base.add(r as usize), leaf);
            }
            continue;
        }
        let log = log_row[..n].iter().zip(&log_leaf[..n]);
        add_leaves(
            acc,
            k,
            values,
            log.map(|(&r, &leaf)| ((r >> shift) as usize, leaf)),
        );
    }
}

/// One chained group's walk (see `quantised::Chain`): the first `rows`
/// rows of `q` (`row_bytes` each) from the group's first root `root`
/// through every tree of the group, each row's last low half (its leaf
/// exit plus its votes above the block's bits, `block_mask`) written to
/// `last` at the row's byte offset.
pub struct ChainJob<'a> {
    pub blocks: &'a [Block],
    /// The bits of a lane's low half that hold its block's byte offset.
    pub block_mask: u32,
    pub root: u32,
    pub q: &'a [i16],
    pub row_bytes: usize,
    pub rows: usize,
    pub lanes: usize,
    pub last: &'a mut [u32],
}

/// # Safety
/// As [`chain`], on AVX2 with a shuffle layout.
#[target_feature(enable = "avx2")]
pub unsafe fn chain_shuffle(job: ChainJob<'_>) {
    match (job.lanes, job.block_mask == CHAIN_BLOCK) {
        (16, true) => chain::<Shuffle, 16, true>(job),
        (16, false) => chain::<Shuffle, 16, false>(job),
        (_, true) => chain::<Shuffle, 12, true>(job),
        (_, false) => chain::<Shuffle, 12, false>(job),
    }
}

/// # Safety
/// As [`chain`], on AVX-512 F, BW and VL with a permute layout.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn chain_permute(job: ChainJob<'_>) {
    if job.block_mask == CHAIN_BLOCK {
        by_width!(chain_fixed, job.row_bytes, job.lanes, job)
    } else {
        by_width!(chain_masked, job.row_bytes, job.lanes, job)
    }
}

/// [`chain`] with [`CHAIN_BLOCK`] for a mask.
///
/// # Safety
/// As [`chain`].
#[inline(always)]
unsafe fn chain_fixed<C: Cross, const G: usize>(job: ChainJob<'_>) {
    chain::<C, G, true>(job)
}

/// [`chain`] with the job's own mask.
///
/// # Safety
/// As [`chain`].
#[inline(always)]
unsafe fn chain_masked<C: Cross, const G: usize>(job: ChainJob<'_>) {
    chain::<C, G, false>(job)
}

/// [`walk`] through a chained group, counting votes in the lanes: a
/// step adds its exit to the lane (a block's step down; a chained leaf's
/// step to the next tree's root plus its vote, a 1 in its class's count
/// above `block_mask`; the group's last leaf, [`LEAF_EXIT`] plus its
/// vote), so a row's counts ride in its lane and nothing is read back
/// from memory.
/// Each step stores the lane's low half at the row's offset in `last`
/// (a plain store, to memory no row load touches); the row's last store
/// is its final count.
///
/// `FIXED`: the lanes' blocks are masked with [`CHAIN_BLOCK`], an
/// immediate, not the job's `block_mask` (equal to it): a mask in a
/// register makes the AVX2 walk spill (docs/forest.md).
///
/// # Safety
/// `C`'s ISA; `blocks` a chained layout for `C`'s pick, `root` its
/// group's first root; `q` holds at least `rows + LANES + 1` rows;
/// `last` at least as many bytes as `q`.
#[inline(always)]
unsafe fn chain<C: Cross, const G: usize, const FIXED: bool>(job: ChainJob<'_>) {
    const { assert!((G == 12 || G == 16) && G <= LANES && C::PACKED) };
    let ChainJob {
        blocks,
        block_mask,
        root,
        q,
        row_bytes,
        rows,
        lanes: _,
        last,
    } = job;
    let base = q.as_ptr() as *const u8;
    let blocks = blocks.as_ptr() as *const u8;
    debug_assert!(!FIXED || block_mask == CHAIN_BLOCK);
    let block_mask = if FIXED { CHAIN_BLOCK } else { block_mask };
    let block = |b: u32| &*(blocks.add((b & block_mask) as usize) as *const Block);
    let end = rows * row_bytes;
    assert!(end <= u32::MAX as usize, "a tile of rows under 4 GB");
    assert!(
        (rows + LANES + 1) * row_bytes <= 2 * q.len().min(2 * last.len()),
        "room for the idle lanes' rows and their counts"
    );
    let last = last.as_mut_ptr() as *mut u8;
    let mut lanes = Packed::<G>::start(root, row_bytes, end);
    macro_rules! step {
        ($($l:literal)*) => {$({
            let (r, b) = lanes.at($l);
            let next = C::exit(block(b), base.add(r));
            let moved = lanes.step($l, next);
            (last.add(r) as *mut u32).write_unaligned(moved);
        })*};
    }
    rounds!(lanes, step);
    let (row, mut state) = lanes.rows_and_blocks();
    drain::<C, G>(&row, &mut state, end, base, block, u32::wrapping_add);
    for l in 0..G {
        if row[l] < end {
            (last.add(row[l]) as *mut u32).write_unaligned(state[l]);
        }
    }
}
