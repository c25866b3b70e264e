//! A 3x3 "valid" convolution with bias (stride 1, NCHW) as a candle custom
//! op for training on the CPU: im2col + one GEMM per image forward (bias
//! preloaded), and in the backward pass the weight gradient as
//! `grad x col^T`, the input gradient as `W^T x grad` then col2im, and the
//! bias gradient as a per-channel sum (candle's generic sum over dims 0, 2,
//! 3 of a broadcast add took a third of a training step). Single-threaded on purpose:
//! training runs one member per core (see `cli::ensemble::train`), and
//! threads here would fight candle's for the same cores.
//!
//! Why: candle 0.11's CPU backward of `conv2d` computes the input gradient
//! with a naive transposed convolution and the weight gradient as a
//! convolution whose "kernel" is the whole output map; one epoch of the
//! member net at batch 4 took ~36 s per member that way. Forward results
//! equal candle's `conv2d` (tested, with gradients), and candle's own
//! conv2d still serves inference on every device.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

pub struct Conv3x3;

fn dims(l: &Layout, what: &str) -> Result<(usize, usize, usize, usize)> {
    l.shape()
        .dims4()
        .map_err(|_| candle_core::Error::Msg(format!("conv3x3: {what} must be 4-d")))
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("conv3x3: only f32 is supported")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("conv3x3: inputs must be contiguous"),
    }
}

/// `col[(c*9 + kh*3 + kw) x (oy*wo + ox)] = x[c][oy+kh][ox+kw]`.
fn im2col(x: &[f32], c: usize, h: usize, w: usize, col: &mut [f32]) {
    let (ho, wo) = (h - 2, w - 2);
    for ci in 0..c {
        for kh in 0..3 {
            for kw in 0..3 {
                let row = &mut col[(ci * 9 + kh * 3 + kw) * ho * wo..][..ho * wo];
                for oy in 0..ho {
                    let src = &x[ci * h * w + (oy + kh) * w + kw..][..wo];
                    row[oy * wo..(oy + 1) * wo].copy_from_slice(src);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: add each column entry back to its pixel.
fn col2im_add(col: &[f32], c: usize, h: usize, w: usize, dx: &mut [f32]) {
    let (ho, wo) = (h - 2, w - 2);
    for ci in 0..c {
        for kh in 0..3 {
            for kw in 0..3 {
                let row = &col[(ci * 9 + kh * 3 + kw) * ho * wo..][..ho * wo];
                for oy in 0..ho {
                    let dst = &mut dx[ci * h * w + (oy + kh) * w + kw..][..wo];
                    for (d, s) in dst.iter_mut().zip(&row[oy * wo..(oy + 1) * wo]) {
                        *d += s;
                    }
                }
            }
        }
    }
}

/// `dst[m x n] (+)= lhs[m x k] * rhs[k x n]` (`dst` row-major and
/// contiguous; `lhs`, `rhs` with explicit (row, column) strides), one thread.
pub(super) fn gemm_strided(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(dst.len() >= m * n);
    assert!(lhs.len() >= last(m, k, lhs_rs, lhs_cs));
    assert!(rhs.len() >= last(k, n, rhs_rs, rhs_cs));
    // SAFETY: the asserts bound every element gemm reads or writes through
    // these strides; dst is a distinct (mutable) borrow.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

impl CustomOp3 for Conv3x3 {
    fn name(&self) -> &'static str {
        "cpuwall-conv3x3"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = dims(l1, "input")?;
        let (o, kc, k0, k1) = dims(l2, "kernel")?;
        if kc != c || k0 != 3 || k1 != 3 || h < 3 || w < 3 || l3.dims() != [o] {
            candle_core::bail!(
                "conv3x3: input {:?}, kernel {:?} and bias {:?} do not fit",
                l1.dims(),
                l2.dims(),
                l3.dims()
            )
        }
        let (x, wt, bias) = (
            contiguous(s1, l1)?,
            contiguous(s2, l2)?,
            contiguous(s3, l3)?,
        );
        let (ho, wo, kk) = (h - 2, w - 2, c * 9);
        let mut out = vec![0f32; b * o * ho * wo];
        out.chunks_mut(o * ho * wo)
            .zip(x.chunks(c * h * w))
            .for_each(|(y, xi)| {
                let mut col = vec![0f32; kk * ho * wo];
                im2col(xi, c, h, w, &mut col);
                for (row, &bo) in y.chunks_exact_mut(ho * wo).zip(bias) {
                    row.fill(bo);
                }
                gemm_strided((o, ho * wo, kk), y, true, wt, (kk, 1), &col, (ho * wo, 1));
            });
        Ok((CpuStorage::F32(out), Shape::from((b, o, ho, wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, c, h, w) = x.dims4()?;
        let o = kernel.dim(0)?;
        let (ho, wo, kk) = (h - 2, w - 2, c * 9);
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let wv = kernel.flatten_all()?.to_vec1::<f32>()?;
        let gv = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        // The input gradient only when something upstream trains (not for images).
        let want_dx = x.track_op();
        let per_image: Vec<(Vec<f32>, Vec<f32>)> = (0..b)
            .map(|i| {
                let xi = &xv[i * c * h * w..][..c * h * w];
                let gi = &gv[i * o * ho * wo..][..o * ho * wo];
                let mut col = vec![0f32; kk * ho * wo];
                im2col(xi, c, h, w, &mut col);
                // dW_i [o x kk] = g_i [o x hw] * col^T [hw x kk]
                let mut dw = vec![0f32; o * kk];
                gemm_strided(
                    (o, kk, ho * wo),
                    &mut dw,
                    false,
                    gi,
                    (ho * wo, 1),
                    &col,
                    (1, ho * wo),
                );
                let mut dx = Vec::new();
                if want_dx {
                    // dcol [kk x hw] = W^T [kk x o] * g_i [o x hw]
                    gemm_strided(
                        (kk, ho * wo, o),
                        &mut col,
                        false,
                        &wv,
                        (1, kk),
                        gi,
                        (ho * wo, 1),
                    );
                    dx = vec![0f32; c * h * w];
                    col2im_add(&col, c, h, w, &mut dx);
                }
                (dw, dx)
            })
            .collect();
        let mut dw = vec![0f32; o * kk];
        for (d, _) in &per_image {
            dw.iter_mut().zip(d).for_each(|(a, b)| *a += b);
        }
        let dw = Tensor::from_vec(dw, kernel.shape(), kernel.device())?;
        // db[o] = sum over images and positions of the output gradient.
        let mut db = vec![0f32; o];
        for (k, row) in gv.chunks_exact(ho * wo).enumerate() {
            db[k % o] += row.iter().sum::<f32>();
        }
        let db = Tensor::from_vec(db, bias.shape(), bias.device())?;
        let dx = if want_dx {
            let flat: Vec<f32> = per_image.into_iter().flat_map(|(_, dx)| dx).collect();
            Some(Tensor::from_vec(flat, x.shape(), x.device())?)
        } else {
            None
        };
        Ok((dx, Some(dw), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn seq(n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * scale)
            .collect()
    }

    #[test]
    fn forward_and_gradients_equal_candles_conv2d() {
        let dev = Device::Cpu;
        let (b, c, h, w, o) = (3, 4, 7, 6, 5);
        let x = Var::from_vec(seq(b * c * h * w, 2.0), (b, c, h, w), &dev).unwrap();
        let k = Var::from_vec(seq(o * c * 9, 1.0), (o, c, 3, 3), &dev).unwrap();
        let bias = Var::from_vec(seq(o, 0.5), o, &dev).unwrap();
        let r = Tensor::from_vec(seq(b * o * 5 * 4, 3.0), (b, o, 5, 4), &dev).unwrap();
        let ours = x
            .as_tensor()
            .apply_op3(k.as_tensor(), bias.as_tensor(), Conv3x3)
            .unwrap();
        let theirs = x
            .as_tensor()
            .conv2d(k.as_tensor(), 0, 1, 1, 1)
            .unwrap()
            .broadcast_add(&bias.as_tensor().reshape((1, o, 1, 1)).unwrap())
            .unwrap();
        let diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(diff(&ours, &theirs) < 1e-5);
        let g_ours = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g_theirs = (theirs * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &k, &bias] {
            let (a, b) = (g_ours.get(v).unwrap(), g_theirs.get(v).unwrap());
            assert!(diff(a, b) < 1e-4, "gradient differs by {}", diff(a, b));
        }
    }
}

/// 2x2 max-pool, stride 2, floor sizes (NCHW), as a candle custom op whose
/// backward routes each gradient to the window's maximum (the first one on
/// ties), as Keras does. candle 0.11's own max-pool backward rebuilds the
/// windows by nearest-neighbour upsampling, which misplaces them when a
/// side is odd (conv2's 13x13 output pooled to 6x6): gradient reached the
/// wrong pixels.
pub struct MaxPool2x2;

impl candle_core::CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "cpuwall-maxpool2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = dims(l, "input")?;
        let x = contiguous(s, l)?;
        let (ph, pw) = (h / 2, w / 2);
        let mut out = vec![0f32; b * c * ph * pw];
        for (plane, o) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(ph * pw)) {
            for py in 0..ph {
                for px in 0..pw {
                    let at = |dy: usize, dx: usize| plane[(2 * py + dy) * w + 2 * px + dx];
                    o[py * pw + px] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, c, ph, pw))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, h, w) = x.dims4()?;
        let (ph, pw) = (h / 2, w / 2);
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let gv = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut dx = vec![0f32; xv.len()];
        for ((plane, g), d) in xv
            .chunks_exact(h * w)
            .zip(gv.chunks_exact(ph * pw))
            .zip(dx.chunks_exact_mut(h * w))
        {
            for py in 0..ph {
                for px in 0..pw {
                    let mut best = (2 * py) * w + 2 * px;
                    for (dy, dxo) in [(0, 1), (1, 0), (1, 1)] {
                        let i = (2 * py + dy) * w + 2 * px + dxo;
                        if plane[i] > plane[best] {
                            best = i;
                        }
                    }
                    d[best] += g[py * pw + px];
                }
            }
        }
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn max_pool_on_an_odd_side_routes_gradient_to_each_windows_maximum() {
        let dev = Device::Cpu;
        // 1 x 1 x 5 x 5: windows cover rows/cols 0-1 and 2-3; row/col 4 is dropped.
        let vals: Vec<f32> = (0..25).map(|i| ((i * 7) % 25) as f32).collect();
        let x = Var::from_vec(vals.clone(), (1, 1, 5, 5), &dev).unwrap();
        let y = x.as_tensor().apply_op1(MaxPool2x2).unwrap();
        let reference = x.as_tensor().max_pool2d(2).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            reference.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        let dx = g
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut expected = vec![0f32; 25];
        for (py, px) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let window =
                [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(dy, dx)| (2 * py + dy) * 5 + 2 * px + dx);
            let best = *window
                .iter()
                .max_by(|a, b| vals[**a].total_cmp(&vals[**b]))
                .unwrap();
            expected[best] = 1.0;
        }
        assert_eq!(dx, expected);
    }
}
