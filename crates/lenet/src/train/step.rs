//! One step of training and of validation, as burn-train's `Learner` runs them: the network
//! together with the objective it is trained on ([`TrainingModel`]), and its
//! [`TrainStep`]/[`InferenceStep`].
//!
//! On the CPU backends a step runs [`crate::fused`]: the parameters are read once, every
//! image's forward and backward pass runs on the host, and the gradients go back to burn's
//! optimizer as [`GradientsParams`]. Elsewhere (wgpu) the step is burn's composed tensor
//! operations and autodiff. Both compute the same objective (tests check it to 1e-5).

use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::data::DigitBatch;
use crate::fused::{self, kernels::HostNet};
use crate::loss;
use crate::mnist::NUM_CLASSES;
use crate::model::LeNet;

/// The objective a network is trained on, beside the network itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// Weight decay λ of `E = 1/m Σ ½‖t − y‖² + λ/2 Σ W²`.
    pub lambda: f64,
    /// Compute steps with [`crate::fused`] (CPU backends) instead of burn's composed
    /// operations.
    pub fused: bool,
}

/// What the `Learner` trains: the network and its objective. The objective is not a
/// parameter, so records (checkpoints) hold the network's tensors only, under `net.`.
#[derive(Module, Debug)]
pub struct TrainingModel {
    /// The network.
    pub net: LeNet,
    /// λ and how steps are computed.
    #[module(skip)]
    pub objective: Objective,
}

impl TrainingModel {
    /// The network's outputs and objective on a batch, by burn's composed operations.
    pub fn composed_step(&self, batch: DigitBatch) -> ClassificationOutput {
        let output = self.net.forward(batch.images);
        let loss = loss::objective(
            &self.net,
            output.clone(),
            batch.targets.clone(),
            self.objective.lambda,
        );
        ClassificationOutput::new(loss, output, batch.targets)
    }
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

/// Lets burn-autodiff forget the parameters the optimizer has replaced.
///
/// Every SGD step registers the new parameters as autodiff leaves, and burn-autodiff frees the
/// entries of tensors that are gone only when some backward pass runs. The fused step runs none,
/// so without this a run kept every step's old parameters (measured: about 9 KB a step at batch
/// 10, and a study of several 100-epoch runs ran out of memory). A backward pass over one tracked
/// element sweeps them. It runs every step because burn-train's `Learner` owns the loop; the
/// recipe's epochs got faster with it (6.19 s to 5.25 s), as the graph no longer grows.
fn sweep_autodiff_graphs(device: &Device) {
    let _ = Tensor::<1>::zeros([1], device)
        .require_grad()
        .sum()
        .backward();
}

impl TrainStep for TrainingModel {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> TrainOutput<ClassificationOutput> {
        if !self.objective.fused {
            let item = self.composed_step(batch);
            return TrainOutput::new(self, item.loss.backward(), item);
        }
        let device = batch.images.device();
        sweep_autodiff_graphs(&device);
        let host = HostNet::from_model(&self.net);
        let step = fused::train_step(&host, &batch.pixels, &batch.labels, self.objective.lambda);
        TrainOutput {
            grads: step
                .grads
                .into_gradients(&self.net, &device.clone().without_autodiff()),
            item: classification_output(step.loss, step.outputs, batch.targets, &device),
        }
    }
}

impl InferenceStep for TrainingModel {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> ClassificationOutput {
        if !self.objective.fused {
            return self.composed_step(batch);
        }
        let device = batch.images.device();
        let host = HostNet::from_model(&self.net);
        let outputs = fused::forward(&host, &batch.pixels);
        let loss = fused::objective(&host, &outputs, &batch.labels, self.objective.lambda);
        classification_output(loss, outputs, batch.targets, &device)
    }
}
