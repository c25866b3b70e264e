//! The row kernel behind the linear models and binary naive Bayes: one score
//! per row and output, `bias + sum_j term_j(x_j)`, where a term is either
//! `a_j x_j` (linear) or `(a_j x_j + b_j) x_j` (the two Gaussian quadratics
//! of binary naive Bayes folded into one).
//!
//! One summation order, everywhere: the terms go into 8 lanes (`j mod 8`),
//! block after block (the first block's terms start the lanes), padding the
//! last block with `+0.0` terms; then the lanes fold as `(l + l+4)`,
//! `(l + l+2)`, `(l + l+1)`, and the bias is added last. That is what one AVX-512 register does, so on CPUs with AVX-512 a
//! row is a couple of vector loads, multiplies and one horizontal fold
//! (`predict` dispatches at run time), and elsewhere the scalar code below
//! performs the same additions in the same order. Without fused
//! multiply-add on either path, every row's score is the same bit for bit on
//! every CPU, in every backend and at every position in a batch.
//!
//! On CPUs with AVX2 but not AVX-512 the 8 lanes are two 4-wide registers
//! (the last block loaded masked, lanes past `d` as +0.0): the same terms,
//! sums and fold.
//!
//! Binary problems score 8 rows at a time: their lane sums fold together in
//! one register network (`fold8`), are compared with 0 in one instruction
//! and 8 labels are stored at once. Rows are prefetched 16 KiB ahead.
//!
//! The measured record of these kernels: `docs/kernels.md`.

use ndarray::ArrayView2;

use super::map_rows;
use crate::isa::Isa;

pub const LANES: usize = 8;

/// Coefficients laid out for the kernel: per output, `blocks` blocks of 8,
/// zero-padded past `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowKernel {
    d: usize,
    blocks: usize,
    outputs: usize,
    a: Vec<f64>,
    /// Quadratic form only: the linear coefficients (empty for linear).
    b: Vec<f64>,
    bias: Vec<f64>,
}

fn pad(values: &[f64], outputs: usize, d: usize, blocks: usize) -> Vec<f64> {
    let mut out = vec![0.0; outputs * blocks * LANES];
    for o in 0..outputs {
        out[o * blocks * LANES..o * blocks * LANES + d]
            .copy_from_slice(&values[o * d..(o + 1) * d]);
    }
    out
}

/// `acc[l] + acc[l+4]`, then `+2`, then `+1`: the fold every path uses.
#[inline(always)]
fn fold(acc: &[f64; LANES]) -> f64 {
    let a4 = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    let a2 = [a4[0] + a4[2], a4[1] + a4[3]];
    a2[0] + a2[1]
}

impl RowKernel {
    /// `outputs` linear scores: `coef` is `outputs x d`, one bias each.
    pub fn linear(coef: &[f64], bias: &[f64], d: usize) -> Self {
        let outputs = bias.len();
        assert_eq!(coef.len(), outputs * d, "coefficients must be outputs x d");
        let blocks = d.div_ceil(LANES);
        RowKernel {
            d,
            blocks,
            outputs,
            a: pad(coef, outputs, d, blocks),
            b: Vec::new(),
            bias: bias.to_vec(),
        }
    }

    /// One quadratic score `bias + sum_j (a_j x_j + b_j) x_j`.
    pub fn quadratic(a: &[f64], b: &[f64], bias: f64) -> Self {
        let d = a.len();
        assert_eq!(b.len(), d, "quadratic coefficients must have equal lengths");
        let blocks = d.div_ceil(LANES);
        RowKernel {
            d,
            blocks,
            outputs: 1,
            a: pad(a, 1, d, blocks),
            b: pad(b, 1, d, blocks),
            bias: vec![bias],
        }
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Score of output `o` for one row (`row.len() >= d`), scalar path.
    #[inline]
    pub fn score(&self, row: &[f64], o: usize) -> f64 {
        let row = &row[..self.d];
        let base = o * self.blocks * LANES;
        let mut acc = [0.0f64; LANES];
        for m in 0..self.blocks {
            // The block's 8 values, zero past `d` (whole blocks need no copy).
            let mut padded = [0.0f64; LANES];
            let xs: &[f64; LANES] = match row.get(m * LANES..(m + 1) * LANES) {
                Some(full) => full.try_into().expect("8 values"),
                None => {
                    padded[..self.d - m * LANES].copy_from_slice(&row[m * LANES..]);
                    &padded
                }
            };
            let a: &[f64; LANES] = self.a[base + m * LANES..][..LANES]
                .try_into()
                .expect("8 values");
            let mut t = [0.0f64; LANES];
            if self.b.is_empty() {
                for l in 0..LANES {
                    t[l] = a[l] * xs[l];
                }
            } else {
                let b = &self.b[base + m * LANES..][..LANES];
                for l in 0..LANES {
                    t[l] = (a[l] * xs[l] + b[l]) * xs[l];
                }
            }
            if m == 0 {
                acc = t;
            } else {
                for l in 0..LANES {
                    acc[l] += t[l];
                }
            }
        }
        self.bias[o] + fold(&acc)
    }

    /// The label for one row: one output → `classes[score > 0]`, several →
    /// the class of the largest score (the first on ties); and whether every
    /// score was finite.
    #[inline]
    fn label(&self, row: &[f64], classes: &[i64]) -> (i64, bool) {
        if self.outputs == 1 {
            let s = self.score(row, 0);
            (classes[(s > 0.0) as usize], s.is_finite())
        } else {
            let mut best = 0;
            let mut best_v = self.score(row, 0);
            let mut finite = best_v.is_finite();
            for o in 1..self.outputs {
                let v = self.score(row, o);
                finite &= v.is_finite();
                if v > best_v {
                    best = o;
                    best_v = v;
                }
            }
            (classes[best], finite)
        }
    }

    /// One label per row of `x` into `out` (see [`RowKernel::label`]), on
    /// the process's ISA ([`crate::isa::current`]). Returns whether every
    /// score was finite, which proves every value of `x` was: each score
    /// sums a term of every feature (`a x` or `(a x + b) x`), an infinite or
    /// NaN `x` makes its term infinite or NaN whatever the coefficients
    /// (`0 × ∞` is NaN), and such a term keeps the sum non-finite. A `false`
    /// may also be a finite row whose score overflowed: callers check `x`.
    pub fn predict(&self, x: ArrayView2<'_, f64>, classes: &[i64], out: &mut [i64]) -> bool {
        self.predict_on(crate::isa::current(), x, classes, out)
    }

    /// The kernel's scores themselves, as output words
    /// ([`crate::model::value_word`]), a row's outputs side by side: a
    /// linear regressor's predictions, the same additions as every path's
    /// labels come from. Returns whether every score was finite (see
    /// [`RowKernel::predict`]).
    pub fn values(&self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> bool {
        self.values_on(crate::isa::current(), x, out)
    }

    /// [`RowKernel::values`] on the path of `isa`.
    pub fn values_on(&self, isa: Isa, x: ArrayView2<'_, f64>, out: &mut [i64]) -> bool {
        assert_eq!(
            x.nrows() * self.outputs,
            out.len(),
            "output length must equal the row count times the outputs"
        );
        #[cfg(target_arch = "x86_64")]
        if let (Some(flat), true) = (x.as_slice(), self.d > 0 && isa.supported()) {
            match isa {
                // SAFETY: the CPU runs `isa` (checked above); `flat` holds
                // `out.len() / outputs` rows of `d` values. Several outputs
                // take the AVX2 row loop on AVX-512 CPUs too (the same
                // additions; the 8-rows-at-a-time kernel is one output's).
                Isa::Avx512 if self.outputs == 1 => {
                    return unsafe { avx512::values(self, flat, out) }
                }
                Isa::Avx512 | Isa::Avx2 => return unsafe { avx2::values(self, flat, out) },
                Isa::Scalar => {}
            }
        }
        let _ = isa;
        let mut finite = true;
        let mut copy = Vec::new();
        for (row, o) in x.rows().into_iter().zip(out.chunks_exact_mut(self.outputs)) {
            let r = crate::model::row_slice(&row, &mut copy);
            for (j, w) in o.iter_mut().enumerate() {
                let s = self.score(r, j);
                finite &= s.is_finite();
                *w = crate::model::value_word(s);
            }
        }
        finite
    }

    /// [`RowKernel::predict`] on the path of `isa` (which this CPU must
    /// run: [`Isa::supported`]; a path it lacks falls back to scalar).
    pub fn predict_on(
        &self,
        isa: Isa,
        x: ArrayView2<'_, f64>,
        classes: &[i64],
        out: &mut [i64],
    ) -> bool {
        assert_eq!(
            x.nrows(),
            out.len(),
            "output length must equal the row count"
        );
        assert!(classes.len() >= self.outputs.max(2), "too few classes");
        #[cfg(target_arch = "x86_64")]
        if let (Some(flat), true) = (x.as_slice(), self.d > 0 && isa.supported()) {
            match isa {
                // SAFETY: the CPU runs `isa` (checked above); `flat` holds
                // `out.len()` rows of `d` values.
                Isa::Avx512 => return unsafe { avx512::predict(self, flat, classes, out) },
                Isa::Avx2 => return unsafe { avx2::predict(self, flat, classes, out) },
                Isa::Scalar => {}
            }
        }
        let _ = isa;
        let mut finite = true;
        map_rows(x, out, |row| {
            let (label, f) = self.label(row, classes);
            finite &= f;
            label
        });
        finite
    }
}

/// The same lanes in two 4-wide AVX2 registers (lanes 0-3 and 4-7): each
/// row's terms, sums and fold are the scalar path's, in its order and
/// without fused multiply-add, so scores are bit for bit the same.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{RowKernel, LANES};

    /// Score of output `o` for `row` (exactly `d` values).
    ///
    /// # Safety
    /// The CPU runs AVX2; `row` holds `k.d` values and `o` is one of the
    /// kernel's outputs (the loads read `k`'s padded blocks and `row`).
    #[inline(always)]
    pub(super) unsafe fn score(k: &RowKernel, row: &[f64], o: usize) -> f64 {
        let base = o * k.blocks * LANES;
        let a = k.a.as_ptr().add(base);
        let quad = !k.b.is_empty();
        let full = k.d / LANES;
        let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        for m in 0..k.blocks {
            let xp = row.as_ptr().add(m * LANES);
            let (xl, xh) = if m < full {
                (_mm256_loadu_pd(xp), _mm256_loadu_pd(xp.add(4)))
            } else {
                // The last block: lanes past `d` load as +0.0, as the scalar
                // path pads them, and nothing past the row is read.
                let rest = (k.d - m * LANES) as i64;
                let lane = |l: i64| if l < rest { -1 } else { 0 };
                let ml = _mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3));
                let mh = _mm256_setr_epi64x(lane(4), lane(5), lane(6), lane(7));
                (
                    _mm256_maskload_pd(xp, ml),
                    _mm256_maskload_pd(xp.add(4), mh),
                )
            };
            let (al, ah) = (
                _mm256_loadu_pd(a.add(m * LANES)),
                _mm256_loadu_pd(a.add(m * LANES + 4)),
            );
            let (tl, th) = if quad {
                let b = k.b.as_ptr().add(base + m * LANES);
                let (bl, bh) = (_mm256_loadu_pd(b), _mm256_loadu_pd(b.add(4)));
                (
                    _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(al, xl), bl), xl),
                    _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(ah, xh), bh), xh),
                )
            } else {
                (_mm256_mul_pd(al, xl), _mm256_mul_pd(ah, xh))
            };
            if m == 0 {
                (lo, hi) = (tl, th);
            } else {
                lo = _mm256_add_pd(lo, tl);
                hi = _mm256_add_pd(hi, th);
            }
        }
        // (l + l+4), then (l + l+2), then (l + l+1), then the bias.
        let a4 = _mm256_add_pd(lo, hi);
        let a2 = _mm_add_pd(_mm256_castpd256_pd128(a4), _mm256_extractf128_pd(a4, 1));
        k.bias[o] + _mm_cvtsd_f64(_mm_add_sd(a2, _mm_unpackhi_pd(a2, a2)))
    }

    /// # Safety
    /// The CPU runs AVX2; `flat` holds `out.len()` rows of `k.d` values.
    #[target_feature(enable = "avx2")]
    pub unsafe fn predict(k: &RowKernel, flat: &[f64], classes: &[i64], out: &mut [i64]) -> bool {
        let d = k.d;
        let mut finite = true;
        for (i, label) in out.iter_mut().enumerate() {
            let row = &flat[i * d..(i + 1) * d];
            *label = if k.outputs == 1 {
                let s = score(k, row, 0);
                finite &= s.is_finite();
                classes[(s > 0.0) as usize]
            } else {
                let mut best = 0;
                let mut best_v = score(k, row, 0);
                finite &= best_v.is_finite();
                for o in 1..k.outputs {
                    let v = score(k, row, o);
                    finite &= v.is_finite();
                    if v > best_v {
                        best = o;
                        best_v = v;
                    }
                }
                classes[best]
            };
        }
        finite
    }

    /// # Safety
    /// The CPU runs AVX2; `flat` holds `out.len() / k.outputs` rows of
    /// `k.d` values.
    #[target_feature(enable = "avx2")]
    pub unsafe fn values(k: &RowKernel, flat: &[f64], out: &mut [i64]) -> bool {
        let d = k.d;
        let mut finite = true;
        for (row, o) in flat.chunks_exact(d).zip(out.chunks_exact_mut(k.outputs)) {
            for (j, w) in o.iter_mut().enumerate() {
                let s = score(k, row, j);
                finite &= s.is_finite();
                *w = crate::model::value_word(s);
            }
        }
        finite
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{RowKernel, LANES};

    /// The 8 lane sums of output `o` for the row at `row`, before the fold;
    /// mirrors `RowKernel::score` operation for operation. `B` is the block
    /// count when known at compile time (fully unrolled), 0 for "read it from
    /// the kernel".
    ///
    /// # Safety
    /// The CPU runs AVX-512 F; `row` points at `k.d` readable values and
    /// `o` is one of the kernel's outputs; `B` is 0 or `k.blocks`.
    #[inline(always)]
    unsafe fn lanes<const QUAD: bool, const B: usize>(
        k: &RowKernel,
        tail: __mmask8,
        row: *const f64,
        o: usize,
    ) -> __m512d {
        let blocks = if B > 0 { B } else { k.blocks };
        let base = o * blocks * LANES;
        let mut acc = _mm512_setzero_pd();
        for m in 0..blocks {
            let mask = if m + 1 == blocks { tail } else { 0xff };
            // Masked-off lanes read nothing (no fault past the end) and are 0.
            let x = _mm512_maskz_loadu_pd(mask, row.add(m * LANES));
            let a = _mm512_loadu_pd(k.a.as_ptr().add(base + m * LANES));
            let t = if QUAD {
                let b = _mm512_loadu_pd(k.b.as_ptr().add(base + m * LANES));
                _mm512_mul_pd(_mm512_add_pd(_mm512_mul_pd(a, x), b), x)
            } else {
                _mm512_mul_pd(a, x)
            };
            acc = if m == 0 { t } else { _mm512_add_pd(acc, t) };
        }
        acc
    }

    /// One row's score: its lanes folded, plus the bias.
    ///
    /// # Safety
    /// As [`lanes`].
    #[inline(always)]
    unsafe fn score<const QUAD: bool, const B: usize>(
        k: &RowKernel,
        tail: __mmask8,
        row: *const f64,
        o: usize,
    ) -> f64 {
        let acc = lanes::<QUAD, B>(k, tail, row, o);
        let a4 = _mm256_add_pd(
            _mm512_castpd512_pd256(acc),
            _mm512_extractf64x4_pd::<1>(acc),
        );
        let a2 = _mm_add_pd(_mm256_castpd256_pd128(a4), _mm256_extractf128_pd::<1>(a4));
        let s = _mm_add_sd(a2, _mm_unpackhi_pd(a2, a2));
        *k.bias.get_unchecked(o) + _mm_cvtsd_f64(s)
    }

    /// The same fold for 8 rows at once, lane-parallel: `a[slot]` holds the
    /// lanes of row `[0, 2, 4, 6, 1, 3, 5, 7][slot]`, and the result holds
    /// rows 0..8 in order. Each row's additions are exactly `score`'s.
    ///
    /// # Safety
    /// The CPU runs AVX-512 F.
    #[inline(always)]
    unsafe fn fold8(a: [__m512d; 8]) -> __m512d {
        let (h01, h23) = (half_fold(a[0], a[1]), half_fold(a[2], a[3]));
        let (h45, h67) = (half_fold(a[4], a[5]), half_fold(a[6], a[7]));
        let (q03, q47) = (quarter_fold(h01, h23), quarter_fold(h45, h67));
        // (l + l+1): pairs of neighbours, interleaved across the two.
        _mm512_add_pd(_mm512_unpacklo_pd(q03, q47), _mm512_unpackhi_pd(q03, q47))
    }

    /// (l + l+4) of two rows, their halves side by side: one add for both.
    ///
    /// # Safety
    /// The CPU runs AVX-512 F.
    #[inline(always)]
    unsafe fn half_fold(x: __m512d, y: __m512d) -> __m512d {
        _mm512_add_pd(
            _mm512_shuffle_f64x2::<0x44>(x, y),
            _mm512_shuffle_f64x2::<0xEE>(x, y),
        )
    }

    /// (l + l+2) of four rows held as two `half_fold` results.
    ///
    /// # Safety
    /// The CPU runs AVX-512 F.
    #[inline(always)]
    unsafe fn quarter_fold(x: __m512d, y: __m512d) -> __m512d {
        _mm512_add_pd(
            _mm512_shuffle_f64x2::<0x88>(x, y),
            _mm512_shuffle_f64x2::<0xDD>(x, y),
        )
    }

    /// Rows per prefetch step, and how far ahead of the rows being scored the
    /// prefetches run: one core's hardware prefetchers alone leave a large
    /// batch's read well below memory speed (docs/kernels.md).
    const STEP_ROWS: usize = 32;
    const AHEAD_BYTES: usize = 16 << 10;

    /// Ask for the lines `AHEAD_BYTES` past rows `[first, first + STEP_ROWS)`.
    ///
    /// # Safety
    /// The CPU runs SSE (every x86-64 does); prefetches never fault, so
    /// any `first` is sound: the address is only computed within `flat`'s
    /// allocation or past it by wrapping arithmetic, never dereferenced.
    #[inline(always)]
    unsafe fn prefetch_ahead(flat: &[f64], d: usize, first: usize) {
        let start = (first * d * 8 + AHEAD_BYTES).min(flat.len() * 8);
        let end = (start + STEP_ROWS * d * 8).min(flat.len() * 8);
        let base = flat.as_ptr() as *const i8;
        let mut at = start;
        while at < end {
            _mm_prefetch::<_MM_HINT_T0>(base.add(at));
            at += 64;
        }
    }

    /// # Safety
    /// The CPU runs AVX-512 F; `flat` holds `out.len()` rows of `k.d`
    /// values; `B` is 0 or `k.blocks`.
    /// `VALUES`: one output's scores themselves as output words (a
    /// regressor's; `classes` unused), else labels.
    #[inline(always)]
    unsafe fn run<const QUAD: bool, const B: usize, const VALUES: bool>(
        k: &RowKernel,
        flat: &[f64],
        classes: &[i64],
        out: &mut [i64],
    ) -> bool {
        let d = k.d;
        let p = flat.as_ptr();
        let left = d - (k.blocks - 1) * LANES;
        let tail: __mmask8 = if left >= LANES {
            0xff
        } else {
            (1u8 << left) - 1
        };
        let labels = if VALUES {
            [0, 0]
        } else {
            [classes[0], classes[1]]
        };
        let (neg, pos) = (_mm512_set1_epi64(labels[0]), _mm512_set1_epi64(labels[1]));
        let bias = _mm512_set1_pd(k.bias[0]);
        // Finite scores: a bit per lane of the 8-row path, and the rest.
        let mut finite8: __mmask8 = 0xff;
        let mut finite = true;
        for (step, chunk) in out.chunks_mut(STEP_ROWS).enumerate() {
            let first = step * STEP_ROWS;
            prefetch_ahead(flat, d, first);
            if k.outputs == 1 {
                let mut rows8 = chunk.chunks_exact_mut(8);
                let mut r = first;
                for o8 in &mut rows8 {
                    let row = p.add(r * d);
                    let a = [
                        lanes::<QUAD, B>(k, tail, row, 0),
                        lanes::<QUAD, B>(k, tail, row.add(2 * d), 0),
                        lanes::<QUAD, B>(k, tail, row.add(4 * d), 0),
                        lanes::<QUAD, B>(k, tail, row.add(6 * d), 0),
                        lanes::<QUAD, B>(k, tail, row.add(d), 0),
                        lanes::<QUAD, B>(k, tail, row.add(3 * d), 0),
                        lanes::<QUAD, B>(k, tail, row.add(5 * d), 0),
                        lanes::<QUAD, B>(k, tail, row.add(7 * d), 0),
                    ];
                    let s = _mm512_add_pd(bias, fold8(a));
                    let v = if VALUES {
                        _mm512_castpd_si512(s)
                    } else {
                        // Chosen by mask, not by branch: the sign is a coin flip.
                        let positive = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(s, _mm512_setzero_pd());
                        _mm512_mask_blend_epi64(positive, neg, pos)
                    };
                    _mm512_storeu_si512(o8.as_mut_ptr() as *mut __m512i, v);
                    // s - s is 0 for a finite score and NaN otherwise.
                    finite8 &=
                        _mm512_cmp_pd_mask::<_CMP_ORD_Q>(_mm512_sub_pd(s, s), _mm512_setzero_pd());
                    r += 8;
                }
                for (i, o) in rows8.into_remainder().iter_mut().enumerate() {
                    let s = score::<QUAD, B>(k, tail, p.add((r + i) * d), 0);
                    finite &= s.is_finite();
                    *o = if VALUES {
                        crate::model::value_word(s)
                    } else {
                        labels[(s > 0.0) as usize]
                    };
                }
            } else {
                for (i, o) in chunk.iter_mut().enumerate() {
                    let row = p.add((first + i) * d);
                    let mut best = 0;
                    let mut best_v = score::<QUAD, B>(k, tail, row, 0);
                    finite &= best_v.is_finite();
                    for c in 1..k.outputs {
                        let v = score::<QUAD, B>(k, tail, row, c);
                        finite &= v.is_finite();
                        if v > best_v {
                            best = c;
                            best_v = v;
                        }
                    }
                    *o = classes[best];
                }
            }
        }
        finite && finite8 == 0xff
    }

    /// # Safety
    /// As [`run`].
    #[inline(always)]
    unsafe fn by_width<const QUAD: bool, const VALUES: bool>(
        k: &RowKernel,
        flat: &[f64],
        classes: &[i64],
        out: &mut [i64],
    ) -> bool {
        match k.blocks {
            1 => run::<QUAD, 1, VALUES>(k, flat, classes, out),
            2 => run::<QUAD, 2, VALUES>(k, flat, classes, out),
            3 => run::<QUAD, 3, VALUES>(k, flat, classes, out),
            4 => run::<QUAD, 4, VALUES>(k, flat, classes, out),
            _ => run::<QUAD, 0, VALUES>(k, flat, classes, out),
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; `flat.len() == out.len() * k.d`, `k.d > 0`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn predict(k: &RowKernel, flat: &[f64], classes: &[i64], out: &mut [i64]) -> bool {
        debug_assert_eq!(flat.len(), out.len() * k.d);
        if k.b.is_empty() {
            by_width::<false, false>(k, flat, classes, out)
        } else {
            by_width::<true, false>(k, flat, classes, out)
        }
    }

    /// One output's scores as output words.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `flat.len() == out.len() * k.d`, `k.d > 0`,
    /// `k.outputs == 1`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn values(k: &RowKernel, flat: &[f64], out: &mut [i64]) -> bool {
        debug_assert_eq!(flat.len(), out.len() * k.d);
        if k.b.is_empty() {
            by_width::<false, true>(k, flat, &[], out)
        } else {
            by_width::<true, true>(k, flat, &[], out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn data(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        Array2::from_shape_fn((n, d), |_| {
            (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
        })
    }

    /// The scalar path, row by row (what `CPUWALL_ISA=scalar` runs).
    fn scalar_labels(k: &RowKernel, x: &Array2<f64>, classes: &[i64]) -> Vec<i64> {
        x.rows()
            .into_iter()
            .map(|r| k.label(&r.to_vec(), classes).0)
            .collect()
    }

    #[test]
    fn vector_and_scalar_paths_agree_for_every_width() {
        for d in [1, 3, 7, 8, 9, 10, 16, 17, 33] {
            let x = data(301, d, d as u64);
            let w = data(3, d, 100 + d as u64);
            for (k, classes) in [
                (
                    RowKernel::linear(w.row(0).as_slice().unwrap(), &[0.1], d),
                    vec![4, 9],
                ),
                (
                    RowKernel::linear(w.as_slice().unwrap(), &[0.1, -0.2, 0.05], d),
                    vec![1, 2, 3],
                ),
                (
                    RowKernel::quadratic(
                        w.row(0).as_slice().unwrap(),
                        w.row(1).as_slice().unwrap(),
                        -0.3,
                    ),
                    vec![0, 1],
                ),
            ] {
                for isa in crate::isa::available() {
                    let mut out = vec![0; x.nrows()];
                    k.predict_on(isa, x.view(), &classes, &mut out);
                    assert_eq!(out, scalar_labels(&k, &x, &classes), "d = {d}, {isa}");
                    // Both labels really occur, so a constant answer would fail.
                    assert!(classes.iter().filter(|c| out.contains(c)).count() >= 2);
                }
            }
        }
    }

    /// The AVX2 lanes give the scalar path's scores bit for bit, for every
    /// width, linear and quadratic, rounding-sensitive rows included.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_scores_are_the_scalar_scores_bit_for_bit() {
        if !Isa::Avx2.supported() {
            return;
        }
        for d in [1, 3, 8, 10, 17, 33] {
            let x = data(101, d, d as u64);
            let w = data(3, d, 7 + d as u64).mapv(|v| v * 1e15);
            let kernels = [
                RowKernel::linear(w.as_slice().unwrap(), &[0.1, -0.2, 0.05], d),
                RowKernel::quadratic(
                    w.row(0).as_slice().unwrap(),
                    w.row(1).as_slice().unwrap(),
                    -0.3,
                ),
            ];
            for k in &kernels {
                for r in x.rows() {
                    let row = r.to_vec();
                    for o in 0..k.outputs() {
                        // SAFETY: AVX2 is present (checked above).
                        let v = unsafe { avx2::score(k, &row, o) };
                        assert_eq!(v.to_bits(), k.score(&row, o).to_bits(), "d = {d}");
                    }
                }
            }
        }
    }

    #[test]
    fn scores_follow_the_documented_order() {
        let d = 10;
        let x: Vec<f64> = (0..d).map(|j| 1.0 + j as f64 * 1e-3).collect();
        let w: Vec<f64> = (0..d).map(|j| (j as f64 - 4.5) * 1e15).collect();
        let k = RowKernel::linear(&w, &[0.5], d);
        let t: Vec<f64> = (0..d).map(|j| w[j] * x[j]).collect();
        let lanes = [t[0] + t[8], t[1] + t[9], t[2], t[3], t[4], t[5], t[6], t[7]];
        let expect = 0.5
            + (((lanes[0] + lanes[4]) + (lanes[2] + lanes[6]))
                + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7])));
        assert_eq!(k.score(&x, 0).to_bits(), expect.to_bits());
    }

    /// Rows whose sign depends on the order of the additions (terms of 1e16
    /// cancel around small ones): the vector path must still agree with the
    /// scalar one everywhere, and the order must really matter for some rows.
    #[test]
    fn rounding_sensitive_rows_agree_across_paths() {
        let d = 10;
        let w: Vec<f64> = (0..d).map(|j| [1e16, -1e16, 1.0][j % 3]).collect();
        let mut rng = crate::rng::SplitMix64::new(5);
        let x = Array2::from_shape_fn((203, d), |_| (rng.below(5) as f64) - 2.0);
        let k = RowKernel::linear(&w, &[0.0], d);
        for isa in crate::isa::available() {
            let mut out = vec![0; x.nrows()];
            k.predict_on(isa, x.view(), &[0, 1], &mut out);
            assert_eq!(out, scalar_labels(&k, &x, &[0, 1]), "{isa}");
        }
        let order_matters = x
            .rows()
            .into_iter()
            .filter(|r| {
                let sequential: f64 = r.iter().zip(&w).map(|(x, w)| x * w).sum();
                (sequential > 0.0) != (k.score(&r.to_vec(), 0) > 0.0)
            })
            .count();
        assert!(order_matters > 0, "no row tells the orders apart");
    }

    /// A NaN or infinite value anywhere — any width, any column, any row of
    /// an 8-row group or the remainder, under a zero coefficient too (0 × ∞
    /// is NaN) — makes `predict` report a non-finite score on every ISA;
    /// finite rows report none.
    #[test]
    fn a_non_finite_value_anywhere_is_reported_on_every_path() {
        for d in [1, 3, 8, 10, 17] {
            let x = data(21, d, d as u64);
            let mut w = data(3, d, 50 + d as u64);
            w[[0, d - 1]] = 0.0;
            w[[1, 0]] = 0.0;
            w[[2, d / 2]] = 0.0;
            let kernels = [
                (
                    RowKernel::linear(w.row(0).as_slice().unwrap(), &[0.1], d),
                    2,
                ),
                (
                    RowKernel::linear(w.as_slice().unwrap(), &[0.1, -0.2, 0.05], d),
                    3,
                ),
                (
                    RowKernel::quadratic(
                        w.row(0).as_slice().unwrap(),
                        w.row(1).as_slice().unwrap(),
                        -0.3,
                    ),
                    2,
                ),
            ];
            for (k, n_classes) in &kernels {
                let classes: Vec<i64> = (0..*n_classes).collect();
                for isa in crate::isa::available() {
                    let mut out = vec![0; x.nrows()];
                    assert!(
                        k.predict_on(isa, x.view(), &classes, &mut out),
                        "{isa} d={d}"
                    );
                    for (r, c) in [(0, 0), (5, d - 1), (13, d / 2), (20, 0), (17, d - 1)] {
                        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                            let mut bad = x.clone();
                            bad[[r, c]] = v;
                            let finite = k.predict_on(isa, bad.view(), &classes, &mut out);
                            assert!(!finite, "{isa} d={d} row {r} column {c} {v}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn strided_input_gives_the_same_labels() {
        let x = data(50, 20, 7);
        let view = x.slice(ndarray::s![.., ..;2]);
        let w = data(1, 10, 8);
        let k = RowKernel::linear(w.as_slice().unwrap(), &[0.0], 10);
        let mut strided = vec![0; 50];
        k.predict(view, &[0, 1], &mut strided);
        let mut contiguous = vec![0; 50];
        k.predict(view.to_owned().view(), &[0, 1], &mut contiguous);
        assert_eq!(strided, contiguous);
    }
}
