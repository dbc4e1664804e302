//! The fused CPU path: the whole forward and backward pass of [`LeNet`] on the host, for the
//! CPU backends (flex, ndarray).
//!
//! burn runs the network as ~100 small tensor operations per step, each allocating its output
//! and each paying burn-autodiff's bookkeeping; for a network this small that overhead, not the
//! arithmetic, is most of the time. This path reads the 3 898 parameters once per step, runs
//! every image's forward and backward pass as direct convolutions over reused buffers (the
//! `lenet-kernels` crate), in parallel over the batch (rayon, one task per thread), and hands
//! the gradients back to burn as [`GradientsParams`], so the model stays a burn `Module`
//! trained by burn-train's `Learner` and optimizer (SGD, checkpoints, resume, the dashboard).
//! This module is the bridge: parameters from burn to the kernels' layouts, gradients back.
//! Tests check it against the composed burn operations (outputs and every gradient within
//! 1e-5).

use burn::module::{Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
pub(crate) use lenet_kernels::{HostNet, forward, objective, train_step};

use crate::mnist::NUM_CLASSES;
use crate::model::{LeNet, LeNetConfig, Subsampling};
use lenet_kernels::{Dims, pass};

/// The kernels' sizes of the network `config` describes (`None` if it is invalid).
fn dims(config: &LeNetConfig) -> Option<Dims> {
    let sizes = config.feature_sizes().ok()?;
    Some(Dims {
        c1: config.c1,
        c3: config.c3,
        k: config.kernel_size,
        h1: sizes.c1,
        w1p: sizes.c1.div_ceil(pass::LANES) * pass::LANES,
        h2: sizes.s2,
        h3: sizes.c3,
        h4: sizes.s4,
        paper: config.subsampling == Subsampling::Paper,
    })
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

/// A copy of `model`'s parameters in the kernels' layouts.
pub(crate) fn host_net(model: &LeNet) -> HostNet {
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
    let dims = dims(&config).expect("a model built from a valid configuration");
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

/// `host` (gradients of `model`'s parameters in the kernels' layouts) in burn's layouts, as
/// the [`GradientsParams`] an optimizer takes, on `device` (without autodiff).
pub(crate) fn gradients(host: HostNet, model: &LeNet, device: &Device) -> GradientsParams {
    let d = host.dims;
    let kk = d.k * d.k;
    let mut w3 = vec![0.0; host.w3.len()];
    for o in 0..d.c3 {
        for ci in 0..d.c1 {
            for pos in 0..kk {
                w3[(o * d.c1 + ci) * kk + pos] = host.w3[o * kk * d.c1 + pos * d.c1 + ci];
            }
        }
    }
    let positions = d.h4 * d.h4;
    let mut wf = vec![0.0; host.wf.len()];
    for c in 0..d.c3 {
        for pos in 0..positions {
            let to = (c * positions + pos) * NUM_CLASSES;
            let from = (pos * d.c3 + c) * NUM_CLASSES;
            wf[to..to + NUM_CLASSES].copy_from_slice(&host.wf[from..from + NUM_CLASSES]);
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
    put(model.c1.weight.id, host.w1, vec![d.c1, 1, d.k, d.k]);
    put(model.c3.weight.id, w3, vec![d.c3, d.c1, d.k, d.k]);
    put(model.fc.weight.id, wf, vec![d.fc_inputs(), NUM_CLASSES]);
    for (bias, values) in [
        (&model.c1.bias, host.b1),
        (&model.s2.bias, host.b2),
        (&model.c3.bias, host.b3),
        (&model.s4.bias, host.b4),
        (&model.fc.bias, host.bf),
    ] {
        if let Some(bias) = bias {
            let len = values.len();
            put(bias.id, values, vec![len]);
        }
    }
    grads
}
