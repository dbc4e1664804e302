//! One step of training and of validation, as burn-train's `Learner` runs them: the network
//! together with the objective it is trained on ([`TrainingModel`]), and its
//! [`TrainStep`]/[`InferenceStep`], which hand the batch to the run's [`Compute`] path.

use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::compute::Compute;
use crate::data::DigitBatch;
use crate::model::LeNet;

/// The objective a network is trained on, beside the network itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// Weight decay λ of `E = 1/m Σ ½‖t − y‖² + λ/2 Σ W²`.
    pub lambda: f64,
    /// How the steps are computed (chosen with the backend: [`crate::backend::compute_for`]).
    pub compute: Compute,
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

impl TrainStep for TrainingModel {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> TrainOutput<ClassificationOutput> {
        let Objective { lambda, compute } = self.objective;
        compute.train_step(&self.net, batch, lambda)
    }
}

impl InferenceStep for TrainingModel {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> ClassificationOutput {
        let Objective { lambda, compute } = self.objective;
        compute.valid_step(&self.net, batch, lambda)
    }
}
