//! The fused CPU path: the whole forward and backward pass of [`LeNet`] on the host, for the
//! CPU backends (flex, ndarray).
//!
//! burn runs the network as ~100 small tensor operations per step, each allocating its output
//! and each paying burn-autodiff's bookkeeping; for a network this small that overhead, not the
//! arithmetic, is most of the time. This path reads the 3 898 parameters once per step, runs
//! every image's forward and backward pass as direct convolutions over reused buffers
//! ([`kernels`]), in parallel over the batch (rayon, one task per thread), and hands the
//! gradients back to burn as [`GradientsParams`], so the model stays a burn `Module` trained
//! by burn-train's `Learner` and optimizer (SGD, checkpoints, resume, the dashboard).
//! Tests check it against the composed burn operations (outputs and every gradient within
//! 1e-5).

pub mod kernels;

use std::cell::RefCell;

use burn::module::{Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rayon::prelude::*;

use crate::loss;
use crate::mnist::NUM_CLASSES;
use crate::model::{LeNet, LeNetConfig, Subsampling};
use kernels::{Dims, HostNet, PIXELS, Scratch};

impl Dims {
    /// The sizes of the network `config` describes (`None` if it is invalid).
    pub fn of(config: &LeNetConfig) -> Option<Self> {
        let sizes = config.feature_sizes().ok()?;
        Some(Self {
            c1: config.c1,
            c3: config.c3,
            k: config.kernel_size,
            h1: sizes.c1,
            w1p: sizes.c1.div_ceil(kernels::LANES) * kernels::LANES,
            h2: sizes.s2,
            h3: sizes.c3,
            h4: sizes.s4,
            paper: config.subsampling == Subsampling::Paper,
        })
    }
}

/// A parameter's values on the host.
///
/// Read through a fresh copy (`× 1`, outside autodiff): burn-ndarray hands a tensor's buffer
/// over without copying only when nothing else holds it, and copies a shared one (a
/// parameter's value is shared with the module) element by element through its dynamic-rank
/// iterator, which at batch 10 cost a quarter of ndarray's training step (`perf`: ndarray's
/// `next_for`, 13 % of an epoch's samples). The copy is one vectorised pass.
pub(crate) fn host_values<const D: usize>(param: &Param<Tensor<D>>) -> Vec<f32> {
    param
        .val()
        .inner()
        .mul_scalar(1.0)
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 parameters")
}

fn bias_values(bias: &Option<Param<Tensor<1>>>) -> Vec<f32> {
    bias.as_ref().map(host_values).unwrap_or_default()
}

impl HostNet {
    /// A copy of `model`'s parameters in the kernels' layouts.
    pub fn from_model(model: &LeNet) -> Self {
        let [c3, c1, k, _] = model.c3.weight.dims();
        let [fc_inputs, _] = model.fc.weight.dims();
        let h4 = ((fc_inputs / c3) as f64).sqrt() as usize;
        let config = LeNetConfig::new()
            .with_c1(c1)
            .with_c3(c3)
            .with_kernel_size(k)
            .with_subsampling(if model.s2.bias.is_some() {
                Subsampling::Paper
            } else {
                Subsampling::Mean
            });
        let dims = Dims::of(&config).expect("a model built from a valid configuration");
        debug_assert_eq!(dims.h4, h4);
        let mut net = HostNet::zeros(dims);
        net.w1 = host_values(&model.c1.weight);
        net.b1 = model.c1.bias.as_ref().map(host_values).unwrap_or(net.b1);
        net.b2 = bias_values(&model.s2.bias);
        net.b3 = model.c3.bias.as_ref().map(host_values).unwrap_or(net.b3);
        net.b4 = bias_values(&model.s4.bias);
        net.bf = model.fc.bias.as_ref().map(host_values).unwrap_or(net.bf);
        let w3 = host_values(&model.c3.weight);
        let kk = k * k;
        for o in 0..c3 {
            for ci in 0..c1 {
                for pos in 0..kk {
                    net.w3[o * kk * c1 + pos * c1 + ci] = w3[(o * c1 + ci) * kk + pos];
                }
            }
        }
        let wf = host_values(&model.fc.weight);
        let positions = h4 * h4;
        for c in 0..c3 {
            for pos in 0..positions {
                let from = (c * positions + pos) * NUM_CLASSES;
                let to = (pos * c3 + c) * NUM_CLASSES;
                net.wf[to..to + NUM_CLASSES].copy_from_slice(&wf[from..from + NUM_CLASSES]);
            }
        }
        net
    }

    /// These values (gradients of `model`'s parameters) in burn's layouts, as the
    /// [`GradientsParams`] an optimizer takes, on `device` (without autodiff).
    pub fn into_gradients(self, model: &LeNet, device: &Device) -> GradientsParams {
        let d = self.dims;
        let kk = d.k * d.k;
        let mut w3 = vec![0.0; self.w3.len()];
        for o in 0..d.c3 {
            for ci in 0..d.c1 {
                for pos in 0..kk {
                    w3[(o * d.c1 + ci) * kk + pos] = self.w3[o * kk * d.c1 + pos * d.c1 + ci];
                }
            }
        }
        let positions = d.h4 * d.h4;
        let mut wf = vec![0.0; self.wf.len()];
        for c in 0..d.c3 {
            for pos in 0..positions {
                let to = (c * positions + pos) * NUM_CLASSES;
                let from = (pos * d.c3 + c) * NUM_CLASSES;
                wf[to..to + NUM_CLASSES].copy_from_slice(&self.wf[from..from + NUM_CLASSES]);
            }
        }
        let mut grads = GradientsParams::new();
        let mut put = |id: ParamId, values: Vec<f32>, shape: Vec<usize>| {
            let data = TensorData::new(values, shape.clone());
            match shape.len() {
                1 => grads.register(id, Tensor::<1>::from_data(data, device)),
                2 => grads.register(id, Tensor::<2>::from_data(data, device)),
                _ => grads.register(id, Tensor::<4>::from_data(data, device)),
            }
        };
        put(model.c1.weight.id, self.w1, vec![d.c1, 1, d.k, d.k]);
        put(model.c3.weight.id, w3, vec![d.c3, d.c1, d.k, d.k]);
        put(model.fc.weight.id, wf, vec![d.fc_inputs(), NUM_CLASSES]);
        for (bias, values) in [
            (&model.c1.bias, self.b1),
            (&model.s2.bias, self.b2),
            (&model.c3.bias, self.b3),
            (&model.s4.bias, self.b4),
            (&model.fc.bias, self.bf),
        ] {
            if let Some(bias) = bias {
                let len = values.len();
                put(bias.id, values, vec![len]);
            }
        }
        grads
    }
}

thread_local! {
    /// Each thread's buffers, kept from step to step.
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Runs `work` with this thread's buffers for a network of sizes `dims`.
fn with_scratch<R>(dims: Dims, work: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        let scratch = match slot.take() {
            Some(scratch) if scratch.dims() == dims => slot.insert(scratch),
            _ => slot.insert(Scratch::new(dims)),
        };
        work(scratch)
    })
}

/// Images per parallel task: the batch split evenly over the threads.
fn chunk_len(images: usize) -> usize {
    images.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// The network's outputs, `[n, 10]` row-major, for `n` images (`[n, 784]`, values in `[0, 1]`).
pub fn forward(net: &HostNet, images: &[f32]) -> Vec<f32> {
    let n = images.len() / PIXELS;
    let mut outputs = vec![0.0; n * NUM_CLASSES];
    let chunk = chunk_len(n);
    outputs
        .par_chunks_mut(chunk * NUM_CLASSES)
        .zip(images.par_chunks(chunk * PIXELS))
        .for_each(|(outputs, images)| {
            with_scratch(net.dims, |scratch| {
                scratch.forward_images(net, images, outputs)
            })
        });
    outputs
}

/// What one training step computed on the host.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The objective `E` on the batch (data term plus weight decay).
    pub loss: f64,
    /// The network's outputs, `[n, 10]` row-major.
    pub outputs: Vec<f32>,
    /// The gradient of `E` with respect to every parameter, in the kernels' layouts.
    pub grads: HostNet,
}

/// Forward and backward pass of a batch: `images` `[n, 784]`, `targets` `[n]` classes, with
/// weight decay `lambda` (see [`crate::loss`]).
pub fn train_step(net: &HostNet, images: &[f32], targets: &[usize], lambda: f64) -> StepOutput {
    let n = targets.len();
    let mut outputs = vec![0.0; n * NUM_CLASSES];
    let chunk = chunk_len(n);
    let partial: Vec<(f64, HostNet)> = outputs
        .par_chunks_mut(chunk * NUM_CLASSES)
        .zip(images.par_chunks(chunk * PIXELS))
        .zip(targets.par_chunks(chunk))
        .map(|((outputs, images), targets)| {
            with_scratch(net.dims, |scratch| {
                scratch.train_images(net, images, targets, n, outputs)
            })
        })
        .collect();
    let mut loss = 0.0;
    let mut grads = HostNet::zeros(net.dims);
    for (part_loss, mut part_grads) in partial {
        loss += part_loss;
        grads.add_assign(&mut part_grads);
    }
    if lambda != 0.0 {
        for (grad, weights) in [
            (&mut grads.w1, &net.w1),
            (&mut grads.w3, &net.w3),
            (&mut grads.wf, &net.wf),
        ] {
            for (g, w) in grad.iter_mut().zip(weights) {
                *g += lambda as f32 * w;
            }
        }
        loss += decay(net, lambda);
    }
    StepOutput {
        loss,
        outputs,
        grads,
    }
}

/// The decay term `λ/2 Σ W²` over the kernels and the output matrix.
fn decay(net: &HostNet, lambda: f64) -> f64 {
    let squares: f64 = net
        .decayed()
        .iter()
        .flat_map(|w| w.iter())
        .map(|&w| f64::from(w) * f64::from(w))
        .sum();
    lambda / 2.0 * squares
}

/// The objective `E = 1/n Σ ½‖t − y‖² + λ/2 Σ W²` of outputs `[n, 10]` (from [`forward`])
/// against `targets` (`[n]` classes).
pub fn objective(net: &HostNet, outputs: &[f32], targets: &[usize], lambda: f64) -> f64 {
    let squared: f64 = outputs
        .chunks_exact(NUM_CLASSES)
        .zip(targets)
        .map(|(row, &target)| loss::half_squared_error(row, target))
        .sum();
    let data = squared / targets.len().max(1) as f64;
    if lambda == 0.0 {
        data
    } else {
        data + decay(net, lambda)
    }
}
