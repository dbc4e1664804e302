//! How the network's passes are computed: [`Compute`], chosen once, with the backend
//! ([`crate::backend::compute_for`]), then carried by the training step, the test
//! pass and every prediction, none of which branches on it.
//!
//! Two paths compute the same network and objective (tests check outputs, objective and every
//! gradient within 1e-5):
//! - [`Compute::Composed`]: burn's tensor operations and autodiff ([`LeNet::forward`],
//!   [`crate::loss`]), on any backend;
//! - [`Compute::Fused`]: `crate::fused`, the whole forward and backward pass on the host, what
//!   makes the CPU backends fast.
//!
//! This is the one `match` on the path; everything else calls [`Compute::train_step`],
//! [`Compute::valid_step`] or a `Runner`.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use burn::train::{ClassificationOutput, TrainOutput};

use crate::data::DigitBatch;
use crate::fused::{self, HostNet};
use crate::loss;
use crate::mnist::{IMAGE_SIZE, NUM_CLASSES, PIXELS};
use crate::model::LeNet;

/// How the network's passes are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// burn's composed tensor operations and autodiff (any backend).
    Composed,
    /// `crate::fused` on the host (the CPU backends: flex, ndarray).
    Fused,
}

impl Compute {
    /// One training step on `batch`: the objective `E` with weight decay `lambda`, the
    /// outputs, and the gradient of `E` for every parameter of `net` (on an autodiff device).
    pub fn train_step(
        self,
        net: &LeNet,
        batch: DigitBatch,
        lambda: f64,
    ) -> TrainOutput<ClassificationOutput> {
        match self {
            Compute::Composed => {
                let item = composed_step(net, batch, lambda);
                TrainOutput::new(net, item.loss.backward(), item)
            }
            Compute::Fused => {
                let device = batch.images.device();
                sweep_autodiff_graphs(&device);
                let host = fused::host_net(net);
                let step = fused::train_step(&host, &batch.pixels, &batch.labels, lambda);
                TrainOutput {
                    grads: fused::gradients(step.grads, net, &device.clone().without_autodiff()),
                    item: classification_output(step.loss, step.outputs, batch.targets, &device),
                }
            }
        }
    }

    /// One validation step: the outputs and the objective on `batch`, no gradients.
    pub fn valid_step(self, net: &LeNet, batch: DigitBatch, lambda: f64) -> ClassificationOutput {
        match self {
            Compute::Composed => composed_step(net, batch, lambda),
            Compute::Fused => {
                let device = batch.images.device();
                let host = fused::host_net(net);
                let outputs = fused::forward(&host, &batch.pixels);
                let loss = fused::objective(&host, &outputs, &batch.labels, lambda);
                classification_output(loss, outputs, batch.targets, &device)
            }
        }
    }

    /// `net` made ready to run many batches of images on `device` by this path (through
    /// [`crate::TrainedModel`], which preprocesses the images as the network was trained).
    pub(crate) fn inference_net(self, net: &LeNet, device: &Device) -> InferenceNet {
        match self {
            Compute::Composed => InferenceNet::Composed(Box::new(net.clone()), device.clone()),
            Compute::Fused => InferenceNet::Fused(fused::host_net(net)),
        }
    }
}

/// Makes the calling thread one of rayon's threads, for a program whose parallel work (the
/// fused path's images, the distortions) is started from this thread: it then does its share
/// of that work instead of waiting while rayon's own threads do it. On 2 cores this leaves two
/// threads busy rather than three taking turns, which cost about a tenth of a batch-10 epoch in
/// scheduler calls (waking and parking a thread every step). Call it first thing, before any
/// parallel work; not for a server whose requests come from other threads (they would find one
/// thread fewer). Does nothing if rayon's threads already exist.
pub fn share_this_thread_with_rayon() {
    // An error only means the pool exists already (a test harness, a second call).
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
}

/// A network ready to compute outputs by one [`Compute`] path.
#[derive(Debug, Clone)]
pub(crate) enum InferenceNet {
    /// burn's modules on a device.
    Composed(Box<LeNet>, Device),
    /// The weights in the fused path's host layout, read from burn's once.
    Fused(HostNet),
}

impl InferenceNet {
    /// The network's outputs `[n, 10]` row-major for `n` images given as their input values
    /// (`[n, PIXELS]`, see [`crate::data::scaled_pixels`]).
    pub(crate) fn outputs(&self, pixels: &[f32]) -> Vec<f32> {
        let n = pixels.len() / PIXELS;
        if n == 0 {
            return Vec::new();
        }
        match self {
            InferenceNet::Fused(host) => fused::forward(host, pixels),
            InferenceNet::Composed(net, device) => {
                let images = Tensor::<4>::from_data(
                    TensorData::new(pixels.to_vec(), [n, 1, IMAGE_SIZE, IMAGE_SIZE]),
                    device,
                );
                net.forward(images)
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32 outputs")
            }
        }
    }
}

/// The network's outputs and objective on a batch, by burn's composed operations.
fn composed_step(net: &LeNet, batch: DigitBatch, lambda: f64) -> ClassificationOutput {
    let output = net.forward(batch.images);
    let loss = loss::objective(net, output.clone(), batch.targets.clone(), lambda);
    ClassificationOutput::new(loss, output, batch.targets)
}

/// Outputs computed on the host, as the tensors burn-train's metrics read.
fn classification_output(
    loss: f64,
    outputs: Vec<f32>,
    targets: Tensor<1, Int>,
    device: &Device,
) -> ClassificationOutput {
    let [n] = targets.dims();
    let loss = Tensor::<1>::from_data(TensorData::new(vec![loss as f32], [1]), device);
    let outputs = Tensor::<2>::from_data(TensorData::new(outputs, [n, NUM_CLASSES]), device);
    ClassificationOutput::new(loss, outputs, targets)
}

/// Fused training steps run in this process, counted for [`sweep_autodiff_graphs`] (per
/// process, as burn-autodiff's registry of graphs is).
static FUSED_STEPS: AtomicUsize = AtomicUsize::new(0);

/// How often (in fused steps) burn-autodiff's graphs are swept.
///
/// A sweep costs 15-23 µs (its backward pass, and a visit of every graph), a fifth of a
/// batch-10 step's work outside the kernels; every 16th step it costs 4-6 µs a step,
/// while at most 16 steps' replaced parameters (about 150 KB) wait for it. Every 64th step
/// was no cheaper: the sweep visits every graph, and their number grows with the steps.
const SWEEP_EVERY: usize = 16;

/// Lets burn-autodiff forget the parameters the optimizer has replaced (every
/// [`SWEEP_EVERY`]th call).
///
/// Every SGD step registers the new parameters as autodiff leaves, and burn-autodiff frees the
/// entries of tensors that are gone only when some backward pass runs. The fused step runs none,
/// so without this a run kept every step's old parameters (measured: about 9 KB a step at batch
/// 10, and a study of several 100-epoch runs ran out of memory). A backward pass over one tracked
/// element sweeps them. It runs from the step because burn-train's `Learner` owns the loop; the
/// recipe's epochs got faster with it (6.19 s to 5.25 s), as the graph no longer grows.
fn sweep_autodiff_graphs(device: &Device) {
    if !FUSED_STEPS
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(SWEEP_EVERY)
    {
        return;
    }
    let _ = Tensor::<1>::zeros([1], device)
        .require_grad()
        .sum()
        .backward();
}
