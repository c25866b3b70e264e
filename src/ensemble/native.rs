//! cpuwall's own CPU inference for one or more members: NHWC activations,
//! im2col + one GEMM per layer (the `gemm` crate that candle also uses,
//! with its AVX-512 kernels enabled and picked at run time), bias folded
//! into the GEMM (the output is preloaded with it), ReLU and 2x2 max-pool
//! applied in one pass over each conv output while it is still in cache.
//!
//! A `NativeNet` over several members is the fused graph: conv1 of all
//! members is one convolution with the members' output channels stacked
//! (they all read the same input), so the input is unpacked and im2col'd
//! once; conv2, conv3 and the dense layers are one GEMM per member over the
//! whole block of images. Over one member it is that member alone.
//!
//! Images are processed in blocks of a few so every intermediate stays in
//! the core's L2; blocks run in parallel on the current rayon pool when
//! asked.

use std::cell::RefCell;

use super::team::Team;
use super::weights::MemberWeights;
use crate::data::cifar::{CLASSES, PIXELS, SIDE};

/// Images per block (bounded by L2: conv2's im2col is 195 KB per image).
const BLOCK: usize = 4;

const C1: usize = 32; // conv1 output channels per member
const C2: usize = 64;
const C3: usize = 64;
const S1: usize = SIDE - 2; // 30: conv1 output side
const P1: usize = S1 / 2; // 15
const S2: usize = P1 - 2; // 13
const P2: usize = S2 / 2; // 6
/// conv2 outputs the pool reads: 12 x 12 of the 13 x 13 (the pool drops the
/// last row and column, so they are never computed).
const U2: usize = 2 * P2;
const S3: usize = P2 - 2; // 4
const K1: usize = 9 * 3;
const K2: usize = 9 * C1;
const K3: usize = 9 * C2;
const FLAT: usize = S3 * S3 * C3; // 1024
const HIDDEN: usize = 64;

/// Multiply-adds per image per member (conv1, conv2, conv3, fc1, fc2).
pub const MACS_PER_IMAGE: u64 =
    (S1 * S1 * C1 * K1 + S2 * S2 * C2 * K2 + S3 * S3 * C3 * K3 + FLAT * HIDDEN + HIDDEN * CLASSES)
        as u64;

struct MemberMats {
    w2: Vec<f32>, // [K2 x C2]
    b2: Vec<f32>,
    w3: Vec<f32>, // [K3 x C3]
    b3: Vec<f32>,
    f1: Vec<f32>, // [FLAT x HIDDEN], rows in NHWC flatten order
    fb1: Vec<f32>,
    f2: Vec<f32>, // [HIDDEN x CLASSES]
    fb2: Vec<f32>,
}

pub struct NativeNet {
    members: usize,
    w1: Vec<f32>, // [K1 x C1*members], member m's channels at m*C1..
    b1: Vec<f32>,
    mats: Vec<MemberMats>,
    /// conv1 through the AVX-512 direct kernel (else im2col + GEMM).
    direct_conv1: bool,
}

/// `[o][c][kh][kw]` conv weights as a `[(kh*3+kw)*cin + c] x out` matrix.
fn conv_matrix(w: &[f32], out: usize, cin: usize, cols: usize, col0: usize, dst: &mut [f32]) {
    for o in 0..out {
        for c in 0..cin {
            for k in 0..9 {
                dst[(k * cin + c) * cols + col0 + o] = w[(o * cin + c) * 9 + k];
            }
        }
    }
}

impl NativeNet {
    pub fn new(members: &[&MemberWeights]) -> Self {
        let m = members.len();
        assert!(m > 0, "a net needs at least one member");
        let mut w1 = vec![0f32; K1 * C1 * m];
        let mut b1 = Vec::with_capacity(C1 * m);
        let mut mats = Vec::with_capacity(m);
        for (i, w) in members.iter().enumerate() {
            conv_matrix(w.get("conv1.weight"), C1, 3, C1 * m, i * C1, &mut w1);
            b1.extend_from_slice(w.get("conv1.bias"));
            let mut w2 = vec![0f32; K2 * C2];
            conv_matrix(w.get("conv2.weight"), C2, C1, C2, 0, &mut w2);
            let mut w3 = vec![0f32; K3 * C3];
            conv_matrix(w.get("conv3.weight"), C3, C2, C3, 0, &mut w3);
            // candle flattens conv3's output NCHW (c*16 + h*4 + w); ours is NHWC.
            let fc1 = w.get("fc1.weight");
            let mut f1 = vec![0f32; FLAT * HIDDEN];
            for o in 0..HIDDEN {
                for c in 0..C3 {
                    for hw in 0..S3 * S3 {
                        f1[(hw * C3 + c) * HIDDEN + o] = fc1[o * FLAT + c * S3 * S3 + hw];
                    }
                }
            }
            let fc2 = w.get("fc2.weight");
            let mut f2 = vec![0f32; HIDDEN * CLASSES];
            for o in 0..CLASSES {
                for i in 0..HIDDEN {
                    f2[i * CLASSES + o] = fc2[o * HIDDEN + i];
                }
            }
            mats.push(MemberMats {
                w2,
                b2: w.get("conv2.bias").to_vec(),
                w3,
                b3: w.get("conv3.bias").to_vec(),
                f1,
                fb1: w.get("fc1.bias").to_vec(),
                f2,
                fb2: w.get("fc2.bias").to_vec(),
            });
        }
        NativeNet {
            members: m,
            w1,
            b1,
            mats,
            direct_conv1: crate::isa::current() == crate::isa::Isa::Avx512,
        }
    }

    /// The same net on the portable im2col + GEMM conv1 path.
    pub fn without_avx512(mut self) -> Self {
        self.direct_conv1 = false;
        self
    }

    pub fn members(&self) -> usize {
        self.members
    }

    /// Per-member softmax probabilities of `images` (`n x 3072` bytes, CIFAR
    /// layout) into `out` (`n x members x 10`). With a team, the images are
    /// split into one contiguous part per team thread; without, this thread
    /// does all of them.
    pub fn forward(&self, images: &[u8], out: &mut [f32], team: Option<&Team>) {
        let n = images.len() / PIXELS;
        assert_eq!(images.len(), n * PIXELS, "whole images only");
        let per_image = self.members * CLASSES;
        assert_eq!(out.len(), n * per_image, "output size");
        if n == 0 {
            return;
        }
        let run = |imgs: &[u8], out: &mut [f32]| {
            SCRATCH.with(|s| {
                let s = &mut s.borrow_mut();
                for (x, o) in imgs
                    .chunks(BLOCK * PIXELS)
                    .zip(out.chunks_mut(BLOCK * per_image))
                {
                    self.forward_block(x, o, s);
                }
            })
        };
        let parts = team.map_or(1, |t| t.size()).min(n);
        match team {
            Some(team) if parts > 1 => {
                let ranges = crate::exec::chunks::split_even(n, parts);
                let out_ptr = SharedOut(out.as_mut_ptr());
                team.run(&|i| {
                    let Some(r) = ranges.get(i) else { return };
                    // SAFETY: the ranges are disjoint and within `out`, which
                    // outlives `team.run`; each part is written by one thread.
                    let o = unsafe {
                        std::slice::from_raw_parts_mut(
                            out_ptr.get().add(r.start * per_image),
                            r.len() * per_image,
                        )
                    };
                    run(&images[r.start * PIXELS..r.end * PIXELS], o);
                });
            }
            _ => run(images, out),
        }
    }

    fn forward_block(&self, images: &[u8], out: &mut [f32], s: &mut Scratch) {
        let b = images.len() / PIXELS;
        let m = self.members;
        s.reserve(b, m);
        let p1_member = b * P1 * P1 * C1;
        s.p1_member = p1_member;
        // conv1 (all members at once) + bias, then ReLU + pool into p1
        // (member-major, so each member's conv2 im2col reads runs of 96).
        for (j, img) in images.chunks_exact(PIXELS).enumerate() {
            let plane = SIDE * SIDE;
            for (p, px) in s.x.chunks_exact_mut(3).enumerate() {
                px[0] = img[p] as f32 / 255.0;
                px[1] = img[plane + p] as f32 / 255.0;
                px[2] = img[2 * plane + p] as f32 / 255.0;
            }
            #[cfg(target_arch = "x86_64")]
            if self.direct_conv1 {
                // SAFETY: direct_conv1 is only set when the CPU runs AVX-512.
                unsafe { avx512::conv1_pool(&s.x, &self.w1, &self.b1, m, &mut s.p1, p1_member, j) };
                continue;
            }
            self.conv1_pool_gemm(j, s);
        }
        for (mm, mat) in self.mats.iter().enumerate() {
            let p1 = &s.p1[mm * p1_member..][..p1_member];
            // conv2: im2col over the block (only the 12 x 12 outputs the
            // pool keeps), one GEMM, then ReLU + pool.
            for j in 0..b {
                for oy in 0..U2 {
                    for ox in 0..U2 {
                        let row = &mut s.col2[((j * U2 + oy) * U2 + ox) * K2..][..K2];
                        for kh in 0..3 {
                            let src = (j * P1 * P1 + (oy + kh) * P1 + ox) * C1;
                            row[kh * 3 * C1..(kh + 1) * 3 * C1]
                                .copy_from_slice(&p1[src..src + 3 * C1]);
                        }
                    }
                }
            }
            let rows2 = b * U2 * U2;
            fill_bias(&mut s.c2[..rows2 * C2], &mat.b2);
            gemm_acc(&mut s.c2, &s.col2, &mat.w2, rows2, C2, K2);
            for j in 0..b {
                for py in 0..P2 {
                    for px in 0..P2 {
                        let r = |y: usize, x: usize| &s.c2[((j * U2 + y) * U2 + x) * C2..][..C2];
                        let (a, bb) = (r(2 * py, 2 * px), r(2 * py, 2 * px + 1));
                        let (c, d) = (r(2 * py + 1, 2 * px), r(2 * py + 1, 2 * px + 1));
                        let dst = &mut s.p2[((j * P2 + py) * P2 + px) * C2..][..C2];
                        for k in 0..C2 {
                            dst[k] = a[k].max(bb[k]).max(c[k]).max(d[k]).max(0.0);
                        }
                    }
                }
            }
            // conv3 + ReLU; its NHWC output rows are the flatten fc1 reads.
            for j in 0..b {
                for oy in 0..S3 {
                    for ox in 0..S3 {
                        let row = &mut s.col3[((j * S3 + oy) * S3 + ox) * K3..][..K3];
                        for kh in 0..3 {
                            let src = ((j * P2 + oy + kh) * P2 + ox) * C2;
                            row[kh * 3 * C2..(kh + 1) * 3 * C2]
                                .copy_from_slice(&s.p2[src..src + 3 * C2]);
                        }
                    }
                }
            }
            let rows3 = b * S3 * S3;
            fill_bias(&mut s.c3[..rows3 * C3], &mat.b3);
            gemm_acc(&mut s.c3, &s.col3, &mat.w3, rows3, C3, K3);
            s.c3[..rows3 * C3].iter_mut().for_each(|v| *v = v.max(0.0));
            fill_bias(&mut s.h[..b * HIDDEN], &mat.fb1);
            gemm_acc(&mut s.h, &s.c3, &mat.f1, b, HIDDEN, FLAT);
            s.h[..b * HIDDEN].iter_mut().for_each(|v| *v = v.max(0.0));
            fill_bias(&mut s.logits[..b * CLASSES], &mat.fb2);
            gemm_acc(&mut s.logits, &s.h, &mat.f2, b, CLASSES, HIDDEN);
            for j in 0..b {
                let dst = &mut out[(j * m + mm) * CLASSES..][..CLASSES];
                softmax(&s.logits[j * CLASSES..][..CLASSES], dst);
            }
        }
    }
}

impl NativeNet {
    /// conv1 of image `j` (unpacked in `s.x`) as im2col + GEMM + bias, then
    /// ReLU + pool into `s.p1`: the path for CPUs without AVX-512.
    fn conv1_pool_gemm(&self, j: usize, s: &mut Scratch) {
        let m = self.members;
        let c1_all = C1 * m;
        let p1_member = s.p1_member;
        for oy in 0..S1 {
            for ox in 0..S1 {
                let row = &mut s.col1[(oy * S1 + ox) * K1..][..K1];
                for kh in 0..3 {
                    let src = ((oy + kh) * SIDE + ox) * 3;
                    row[kh * 9..kh * 9 + 9].copy_from_slice(&s.x[src..src + 9]);
                }
            }
        }
        fill_bias(&mut s.c1[..S1 * S1 * c1_all], &self.b1);
        gemm_acc(&mut s.c1, &s.col1, &self.w1, S1 * S1, c1_all, K1);
        for py in 0..P1 {
            for px in 0..P1 {
                let r = |y: usize, x: usize| &s.c1[(y * S1 + x) * c1_all..][..c1_all];
                let (a, bb) = (r(2 * py, 2 * px), r(2 * py, 2 * px + 1));
                let (c, d) = (r(2 * py + 1, 2 * px), r(2 * py + 1, 2 * px + 1));
                for mm in 0..m {
                    let dst = &mut s.p1[mm * p1_member + (j * P1 * P1 + py * P1 + px) * C1..][..C1];
                    for (k, v) in dst.iter_mut().enumerate() {
                        let ch = mm * C1 + k;
                        *v = a[ch].max(bb[ch]).max(c[ch]).max(d[ch]).max(0.0);
                    }
                }
            }
        }
    }
}

/// conv1 + bias + ReLU + 2x2 max-pool straight from the NHWC image with
/// AVX-512: no im2col and no conv1 output buffer. Each pool window's four
/// conv positions are computed together in registers (4 positions x 64 or
/// 32 channels = 16 or 8 independent FMA chains), then maxed and stored.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{C1, K1, P1, SIDE};

    /// `x`: one image, NHWC f32 (32 x 32 x 3). `w`: `[27 x 32*members]`,
    /// `bias`: `[32*members]`. Writes image `j` of each member's pooled
    /// block in `p1` (member-major, `p1_member` floats per member).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn conv1_pool(
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        members: usize,
        p1: &mut [f32],
        p1_member: usize,
        j: usize,
    ) {
        let cout = C1 * members;
        assert!(x.len() >= SIDE * SIDE * 3 && w.len() >= K1 * cout && bias.len() >= cout);
        assert!(p1.len() >= (members - 1) * p1_member + (j + 1) * P1 * P1 * C1);
        let mut g = 0;
        while g < members {
            // Two members (64 channels) at a time, then one if odd.
            if g + 1 < members {
                window_group::<4>(x, w, bias, cout, g, p1, p1_member, j);
                g += 2;
            } else {
                window_group::<2>(x, w, bias, cout, g, p1, p1_member, j);
                g += 1;
            }
        }
    }

    /// Channels `g*32 .. g*32 + Z*16` for every pool window.
    ///
    /// # Safety
    /// The CPU runs AVX-512 F; `x` and `out` hold the windows and channels
    /// the caller's shape names (every load and store stays inside them).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn window_group<const Z: usize>(
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        cout: usize,
        g: usize,
        p1: &mut [f32],
        p1_member: usize,
        j: usize,
    ) {
        let xp = x.as_ptr();
        let wp = w.as_ptr().add(g * C1);
        let bp = bias.as_ptr().add(g * C1);
        let mut b = [_mm512_setzero_ps(); Z];
        for z in 0..Z {
            b[z] = _mm512_loadu_ps(bp.add(16 * z));
        }
        for py in 0..P1 {
            for px in 0..P1 {
                let mut acc = [[_mm512_setzero_ps(); Z]; 4];
                for a in acc.iter_mut() {
                    *a = b;
                }
                for kh in 0..3 {
                    for t in 0..9 {
                        let k = kh * 9 + t;
                        let mut wv = [_mm512_setzero_ps(); Z];
                        for z in 0..Z {
                            wv[z] = _mm512_loadu_ps(wp.add(k * cout + 16 * z));
                        }
                        for (pos, a) in acc.iter_mut().enumerate() {
                            let (dy, dx) = (pos / 2, pos % 2);
                            let at = ((2 * py + dy + kh) * SIDE + 2 * px + dx) * 3 + t;
                            let v = _mm512_set1_ps(*xp.add(at));
                            for z in 0..Z {
                                a[z] = _mm512_fmadd_ps(v, wv[z], a[z]);
                            }
                        }
                    }
                }
                for z in 0..Z {
                    let top = _mm512_max_ps(acc[0][z], acc[1][z]);
                    let bottom = _mm512_max_ps(acc[2][z], acc[3][z]);
                    let v = _mm512_max_ps(_mm512_max_ps(top, bottom), _mm512_setzero_ps());
                    // Lanes 16z.. of this group: member g + 16z/32, channel (16z) % 32.
                    let member = g + (16 * z) / C1;
                    let ch = (16 * z) % C1;
                    let off = member * p1_member + (j * P1 * P1 + py * P1 + px) * C1 + ch;
                    _mm512_storeu_ps(p1.as_mut_ptr().add(off), v);
                }
            }
        }
    }
}

/// The output pointer shared by a team's parts (each writes its own range).
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: used only to rebuild disjoint sub-slices, one per thread.
unsafe impl Sync for SharedOut {}
unsafe impl Send for SharedOut {}

impl SharedOut {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Softmax as candle computes it: subtract the max, exponentiate, divide by the sum.
fn softmax(logits: &[f32], out: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = (l - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

/// Every row of the `rows x bias.len()` matrix `dst` set to `bias`.
fn fill_bias(dst: &mut [f32], bias: &[f32]) {
    for row in dst.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

/// `dst[m x n] += lhs[m x k] * rhs[k x n]`, all row-major and contiguous.
fn gemm_acc(dst: &mut [f32], lhs: &[f32], rhs: &[f32], m: usize, n: usize, k: usize) {
    super::conv_op::gemm_strided((m, n, k), dst, true, lhs, (k, 1), rhs, (n, 1));
}

/// Per-thread buffers, grown on demand and reused across calls.
#[derive(Default)]
struct Scratch {
    /// Floats per member in `p1` for the current block.
    p1_member: usize,
    x: Vec<f32>,
    col1: Vec<f32>,
    c1: Vec<f32>,
    p1: Vec<f32>,
    col2: Vec<f32>,
    c2: Vec<f32>,
    p2: Vec<f32>,
    col3: Vec<f32>,
    c3: Vec<f32>,
    h: Vec<f32>,
    logits: Vec<f32>,
}

impl Scratch {
    fn reserve(&mut self, b: usize, m: usize) {
        let grow = |v: &mut Vec<f32>, n: usize| {
            if v.len() < n {
                v.resize(n, 0.0);
            }
        };
        grow(&mut self.x, SIDE * SIDE * 3);
        grow(&mut self.col1, S1 * S1 * K1);
        grow(&mut self.c1, S1 * S1 * C1 * m);
        grow(&mut self.p1, m * b * P1 * P1 * C1);
        grow(&mut self.col2, b * U2 * U2 * K2);
        grow(&mut self.c2, b * U2 * U2 * C2);
        grow(&mut self.p2, b * P2 * P2 * C2);
        grow(&mut self.col3, b * S3 * S3 * K3);
        grow(&mut self.c3, b * S3 * S3 * C3);
        grow(&mut self.h, b * HIDDEN);
        grow(&mut self.logits, b * CLASSES);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Mean over members of `n x members x 10` probabilities, `n x 10`.
pub fn average(member_probs: &[f32], members: usize) -> Vec<f32> {
    member_probs
        .chunks_exact(members * CLASSES)
        .flat_map(|img| {
            (0..CLASSES).map(move |k| {
                let sum: f32 = (0..members).map(|m| img[m * CLASSES + k]).sum();
                sum / members as f32
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cifar;
    use crate::ensemble::net::{initial_weights, Trainable};
    use crate::ensemble::weights::Provenance;

    fn member(i: usize) -> MemberWeights {
        let mut w = initial_weights(Provenance {
            member: i,
            members: 3,
            seed: 11,
            epochs: 0,
            batch_size: 1,
            train_images: 0,
            data: "test".into(),
        });
        // Non-zero biases, so a wrong bias layout cannot hide.
        for (t, name) in [(1, 0.05f32), (3, -0.02), (5, 0.03), (7, 0.01), (9, -0.1)] {
            for (k, v) in w.tensors[t].iter_mut().enumerate() {
                *v = name * ((k % 7) as f32 - 3.0);
            }
        }
        w
    }

    #[test]
    fn the_multiply_add_count_is_the_issues_218_gflop_ensemble() {
        let flops = 2 * MACS_PER_IMAGE * 4 * 6000;
        assert_eq!(MACS_PER_IMAGE, 4_548_608);
        assert!((flops as f64 / 1e9 - 218.4).abs() < 0.1, "{flops}");
    }

    #[test]
    fn one_member_matches_candles_forward() {
        let images = cifar::synthetic(7, 3);
        let w = member(0);
        let reference = Trainable::from_weights(&w, &candle_core::Device::Cpu)
            .unwrap()
            .probabilities(&images.pixels)
            .unwrap();
        let nets = [
            NativeNet::new(&[&w]),
            NativeNet::new(&[&w]).without_avx512(),
        ];
        let team = Team::new(3);
        for (net, team) in nets.iter().flat_map(|n| [(n, None), (n, Some(&team))]) {
            let mut out = vec![0f32; 7 * CLASSES];
            net.forward(&images.pixels, &mut out, team);
            let worst = out
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "max |native - candle| = {worst}");
        }
    }

    #[test]
    fn a_fused_net_equals_its_members_run_alone() {
        let images = cifar::synthetic(9, 4);
        let ws: Vec<MemberWeights> = (0..3).map(member).collect();
        let refs: Vec<&MemberWeights> = ws.iter().collect();
        // Three members: the AVX-512 kernel's two-member group and its odd one.
        let fused = NativeNet::new(&refs);
        let mut together = vec![0f32; 9 * 3 * CLASSES];
        fused.forward(&images.pixels, &mut together, Some(&Team::new(2)));
        for (i, w) in ws.iter().enumerate() {
            let mut alone = vec![0f32; 9 * CLASSES];
            NativeNet::new(&[w])
                .without_avx512()
                .forward(&images.pixels, &mut alone, None);
            for img in 0..9 {
                let a = &alone[img * CLASSES..][..CLASSES];
                let t = &together[(img * 3 + i) * CLASSES..][..CLASSES];
                for (x, y) in a.iter().zip(t) {
                    assert!((x - y).abs() < 1e-6, "member {i} image {img}: {x} vs {y}");
                }
            }
        }
        // Members differ, so equality above is not trivially about one net.
        assert!((together[0] - together[CLASSES]).abs() > 1e-6);
    }

    #[test]
    fn average_is_the_per_class_mean_over_members() {
        let probs = [0.2, 0.8, 0.6, 0.4]; // 1 image, 2 members, if CLASSES were 2
        let mut full = vec![0f32; 2 * CLASSES];
        full[0] = probs[0];
        full[1] = probs[1];
        full[CLASSES] = probs[2];
        full[CLASSES + 1] = probs[3];
        let avg = average(&full, 2);
        assert!((avg[0] - 0.4).abs() < 1e-7 && (avg[1] - 0.6).abs() < 1e-7);
        assert_eq!(avg.len(), CLASSES);
    }
}
