//! The member net in candle: definition, seeded initialisation, training
//! (Adam, categorical cross-entropy) and a reference forward pass. candle's
//! CPU RNG cannot be seeded, so initial weights come from cpuwall's own
//! seeded generator (Keras defaults: Glorot-uniform kernels, zero biases).

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, Linear, Module, Optimizer, VarBuilder, VarMap};

use super::weights::{MemberWeights, Provenance, TENSORS};
use crate::data::cifar::{Images, PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

pub fn candle_err(context: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::Runtime(format!("{context}: {e}"))
}

pub struct CandleMember {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl CandleMember {
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let cfg = Conv2dConfig::default();
        Ok(CandleMember {
            conv1: candle_nn::conv2d(3, 32, 3, cfg, vb.pp("conv1"))?,
            conv2: candle_nn::conv2d(32, 64, 3, cfg, vb.pp("conv2"))?,
            conv3: candle_nn::conv2d(64, 64, 3, cfg, vb.pp("conv3"))?,
            fc1: candle_nn::linear(1024, 64, vb.pp("fc1"))?,
            fc2: candle_nn::linear(64, 10, vb.pp("fc2"))?,
        })
    }

    /// Logits for training on the CPU: the same net with its convolutions
    /// through [`Conv3x3`](super::conv_op::Conv3x3), whose backward pass is
    /// many times faster than candle's CPU conv2d backward, and max-pools
    /// through [`MaxPool2x2`](super::conv_op::MaxPool2x2), whose gradient
    /// is right on odd sides.
    pub fn logits_train(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let conv = |c: &Conv2d, x: &Tensor| -> candle_core::Result<Tensor> {
            let bias = c.bias().expect("member convolutions have biases");
            x.apply_op3(c.weight(), bias, super::conv_op::Conv3x3)
        };
        let pool = |x: Tensor| x.apply_op1(super::conv_op::MaxPool2x2);
        let x = pool(conv(&self.conv1, x)?.relu()?)?;
        let x = pool(conv(&self.conv2, &x)?.relu()?)?;
        let x = conv(&self.conv3, &x)?.relu()?.flatten_from(1)?;
        let x = self.fc1.forward(&x)?.relu()?;
        self.fc2.forward(&x)
    }

    /// Logits for `x` of shape `[n, 3, 32, 32]` (values in [0, 1]).
    pub fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let x = self.conv2.forward(&x)?.relu()?.max_pool2d(2)?;
        let x = self.conv3.forward(&x)?.relu()?.flatten_from(1)?;
        let x = self.fc1.forward(&x)?.relu()?;
        self.fc2.forward(&x)
    }
}

/// A member held as candle variables (for training, or inference on a
/// candle device such as CUDA).
pub struct Trainable {
    pub varmap: VarMap,
    pub net: CandleMember,
    pub device: Device,
}

impl Trainable {
    /// Build from stored weights on `device`.
    pub fn from_weights(w: &MemberWeights, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let net = CandleMember::new(vb).map_err(candle_err("cannot build the member net"))?;
        {
            let data = varmap.data().lock().expect("varmap lock");
            for ((name, shape), values) in TENSORS.iter().zip(&w.tensors) {
                let t = Tensor::from_slice(values, *shape, device)
                    .map_err(candle_err("cannot load weights"))?;
                data[*name]
                    .set(&t)
                    .map_err(candle_err("cannot load weights"))?;
            }
        }
        Ok(Trainable {
            varmap,
            net,
            device: device.clone(),
        })
    }

    pub fn to_weights(&self, provenance: Provenance) -> Result<MemberWeights> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let tensors = TENSORS
            .iter()
            .map(|(name, _)| {
                data[*name]
                    .as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(candle_err("cannot read weights"))
            })
            .collect::<Result<_>>()?;
        Ok(MemberWeights {
            tensors,
            provenance,
        })
    }

    /// Softmax probabilities of `pixels` (`n x 3072` bytes, CIFAR layout),
    /// `n x 10` row-major.
    pub fn probabilities(&self, pixels: &[u8]) -> Result<Vec<f32>> {
        let n = pixels.len() / PIXELS;
        if n == 0 {
            return Ok(Vec::new());
        }
        let x: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
        let x = Tensor::from_vec(x, (n, 3, SIDE, SIDE), &self.device)
            .map_err(candle_err("cannot build the input"))?;
        self.net
            .logits(&x)
            .and_then(|l| candle_nn::ops::softmax(&l, D::Minus1))
            .and_then(|p| p.flatten_all())
            .and_then(|p| p.to_vec1::<f32>())
            .map_err(candle_err("forward pass failed"))
    }
}

/// Keras-default initial weights, seeded: Glorot-uniform kernels, zero biases.
pub fn initial_weights(provenance: Provenance) -> MemberWeights {
    let mut rng = SplitMix64::derive(provenance.seed, provenance.member as u64);
    let tensors = TENSORS
        .iter()
        .map(|(name, shape)| {
            let len: usize = shape.iter().product();
            if name.ends_with(".bias") {
                return vec![0.0; len];
            }
            let receptive: usize = shape[2..].iter().product();
            let (fan_in, fan_out) = (shape[1] * receptive, shape[0] * receptive);
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..len)
                .map(|_| {
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    ((2.0 * u - 1.0) * limit) as f32
                })
                .collect()
        })
        .collect();
    MemberWeights {
        tensors,
        provenance,
    }
}

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 1,
            batch_size: 4,
            learning_rate: 1e-3,
            seed: 0,
        }
    }
}

/// Train one member with Adam (Keras defaults: lr 1e-3, betas 0.9/0.999,
/// eps 1e-7) on shuffled mini-batches. `progress(done_images)` is called
/// after each step.
pub fn train_member(
    train: &Images,
    cfg: &TrainConfig,
    provenance: Provenance,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Result<MemberWeights> {
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::usage("--batch-size and --epochs must be at least 1"));
    }
    if train.is_empty() {
        return Err(Error::usage("no training images"));
    }
    let member = Trainable::from_weights(&initial_weights(provenance.clone()), device)?;
    let mut opt = candle_nn::AdamW::new(
        member.varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: cfg.learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay: 0.0,
        },
    )
    .map_err(candle_err("cannot set up Adam"))?;
    let mut rng = SplitMix64::derive(provenance.seed ^ 0x5EED_0E0C, provenance.member as u64);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut x = Vec::with_capacity(cfg.batch_size * PIXELS);
    let mut done = 0;
    for _ in 0..cfg.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for batch in order.chunks(cfg.batch_size) {
            x.clear();
            for &i in batch {
                x.extend(train.image(i).iter().map(|&p| p as f32 / 255.0));
            }
            let labels: Vec<u32> = batch.iter().map(|&i| train.labels[i] as u32).collect();
            let mut step = || -> candle_core::Result<()> {
                let xt = Tensor::from_slice(&x, (batch.len(), 3, SIDE, SIDE), device)?;
                let yt = Tensor::from_vec(labels.clone(), batch.len(), device)?;
                let logits = if device.is_cpu() {
                    member.net.logits_train(&xt)?
                } else {
                    member.net.logits(&xt)?
                };
                let loss = candle_nn::loss::cross_entropy(&logits, &yt)?;
                opt.backward_step(&loss)
            };
            step().map_err(candle_err("training step failed"))?;
            done += batch.len();
            progress(done);
        }
    }
    member.to_weights(provenance)
}
