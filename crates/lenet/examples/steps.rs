//! Training steps one by one, for comparing them with another implementation
//! (`experiments/pytorch/step_equality.py` runs the identical PyTorch network beside it).
//!
//! ```sh
//! cargo run --example steps -- MNIST_DIR OUT_DIR [STEPS] [composed|fused]
//! ```
//!
//! Writes `OUT_DIR/init.safetensors` (the paper's network with its seeded initialisation, in
//! PyTorch's names and layout), then runs `STEPS` (default 500) plain-SGD steps (lr 1, batch
//! 50, the paper's objective) on the training images in file order, no shuffling, no
//! distortions, through the same `TrainStep` the trainer's `Learner` runs (on flex, by the path
//! given: the backend's own, fused, when none is). Writes each step's objective to
//! `OUT_DIR/losses.json` and the weights after the last step to `OUT_DIR/final.safetensors`.

use std::path::PathBuf;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::train::TrainStep;
use lenet::data::{DigitBatcher, MnistSplits};
use lenet::train::{Objective, TrainingModel};
use lenet::weights::{self, WeightFormat};
use lenet::{Compute, LeNetConfig};

const BATCH: usize = 50;
const LEARNING_RATE: f64 = 1.0;
const SEED: u64 = 42;

fn main() {
    lenet::atomic::end_quietly_when_stdout_closes(); // `| head` ends it quietly
    let usage = "usage: steps MNIST_DIR OUT_DIR [STEPS] [composed|fused]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mnist = PathBuf::from(args.first().expect(usage));
    let out = PathBuf::from(args.get(1).expect(usage));
    let steps: usize = args.get(2).map_or(500, |s| s.parse().expect(usage));
    let compute = match args.get(3).map(String::as_str) {
        None | Some("fused") => Compute::Fused,
        Some("composed") => Compute::Composed,
        Some(_) => panic!("{usage}"),
    };
    std::fs::create_dir_all(&out).expect("the output folder");

    let device = Device::flex().autodiff();
    let net = LeNetConfig::new().init_seeded(&device, SEED);
    weights::save(
        &net,
        &out.join("init.safetensors"),
        WeightFormat::Safetensors,
    )
    .expect("init.safetensors");
    let train = MnistSplits::from_dir(&mnist).expect("MNIST").train;
    assert!(
        steps * BATCH <= train.len(),
        "at most {} steps",
        train.len() / BATCH
    );

    let mut model = TrainingModel {
        net,
        objective: Objective {
            lambda: 0.0,
            compute,
        },
    };
    let mut optimizer = SgdConfig::new().init();
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let items = (step * BATCH..(step + 1) * BATCH)
            .map(|i| train.get(i).expect("a training image"))
            .collect();
        let output = TrainStep::step(&model, DigitBatcher.batch(items, &device));
        let loss = output
            .item
            .loss
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32")[0];
        losses.push(loss);
        let grads: GradientsParams = output.grads;
        model = optimizer.step(LEARNING_RATE, model, grads);
    }
    let json = serde_json::json!({ "compute": format!("{compute:?}"), "losses": losses });
    std::fs::write(out.join("losses.json"), json.to_string()).expect("losses.json");
    weights::save(
        &model.net,
        &out.join("final.safetensors"),
        WeightFormat::Safetensors,
    )
    .expect("final.safetensors");
    println!(
        "{steps} steps ({compute:?}): loss {} -> {}",
        losses[0],
        losses[steps - 1]
    );
}
