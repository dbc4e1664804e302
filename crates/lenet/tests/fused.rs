//! The fused CPU path computes the same network as burn's composed operations: outputs,
//! objective and every parameter's gradient within 1e-5, for both subsampling variants, with and
//! without λ, at batch 1, 7, 33 and 50, for kernel sizes and map counts other than the paper's; a
//! training run trained, tested and evaluated on one path gives the same test error as on the
//! other; a trained model predicts and evaluates the same on either.

use std::path::Path;
use std::sync::OnceLock;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::module::Param;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::train::{InferenceStep, TrainStep};
use lenet::artifacts::StartMode;
use lenet::data::{DigitBatch, DigitBatcher, MnistSplits};
use lenet::train::{self, Objective, Progress, RunOptions, TrainingModel};
use lenet::{Compute, LeNet, LeNetConfig, Subsampling, TrainedModel, TrainingConfig};

#[path = "support/mnist_dir.rs"]
mod support;
use support::mnist_dir;
#[path = "support/close.rs"]
mod close;
use close::max_diff;

fn mnist() -> &'static MnistSplits {
    static DATA: OnceLock<MnistSplits> = OnceLock::new();
    DATA.get_or_init(|| MnistSplits::from_dir(&mnist_dir()).expect("real MNIST loads"))
}

/// `n` real training images, from the `offset`-th on.
fn batch(n: usize, offset: usize, device: &Device) -> DigitBatch {
    let items = (offset..offset + n)
        .map(|i| mnist().train.get(i).unwrap())
        .collect();
    DigitBatcher.batch(items, device)
}

/// A random bias of `len` values in ±0.5 (the initialisation's are zero, which would not test
/// them).
fn random_bias(len: usize, device: &Device) -> Option<Param<Tensor<1>>> {
    Some(Param::from_tensor(Tensor::<1>::random(
        [len],
        Distribution::Uniform(-0.5, 0.5),
        device,
    )))
}

/// The network of `config` with seeded weights and random biases everywhere.
fn network(config: &LeNetConfig, device: &Device) -> LeNet {
    device.seed(11);
    let mut net = config.init_seeded(device, 5);
    net.c1.bias = random_bias(config.c1, device);
    net.c3.bias = random_bias(config.c3, device);
    net.fc.bias = random_bias(10, device);
    if config.subsampling == Subsampling::Paper {
        net.s2.bias = random_bias(config.c1, device);
        net.s4.bias = random_bias(config.c3, device);
    }
    net
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Every parameter's gradient in `grads`, by name.
fn gradients(net: &LeNet, mut grads: GradientsParams) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    let mut take4 = |name: &str, param: &Param<Tensor<4>>| {
        let grad = grads.remove::<4>(param.id).expect(name);
        out.push((name.to_string(), values(grad)))
    };
    take4("c1.weight", &net.c1.weight);
    take4("c3.weight", &net.c3.weight);
    let grad = grads.remove::<2>(net.fc.weight.id).expect("fc.weight");
    out.push(("fc.weight".into(), values(grad)));
    for (name, bias) in [
        ("c1.bias", &net.c1.bias),
        ("s2.bias", &net.s2.bias),
        ("c3.bias", &net.c3.bias),
        ("s4.bias", &net.s4.bias),
        ("fc.bias", &net.fc.bias),
    ] {
        if let Some(bias) = bias {
            let grad = grads.remove::<1>(bias.id).expect(name);
            out.push((name.to_string(), values(grad)));
        }
    }
    assert!(grads.is_empty(), "a gradient for an unknown parameter");
    out
}

/// Compares one training step and one validation step of both paths.
fn assert_same_steps(config: &LeNetConfig, lambda: f64, batch_size: usize) {
    let case = format!("{config:?}, λ = {lambda}, batch {batch_size}");
    let device = Device::flex().autodiff();
    let net = network(config, &device);
    let model = |compute| TrainingModel {
        net: net.clone(),
        objective: Objective { lambda, compute },
    };
    let (composed, fused) = (model(Compute::Composed), model(Compute::Fused));
    let data = batch(batch_size, 100, &device);

    let a = TrainStep::step(&composed, data.clone());
    let b = TrainStep::step(&fused, data.clone());
    let diff = max_diff(&values(a.item.output), &values(b.item.output));
    assert!(diff < 1e-5, "{case}: outputs differ by {diff:e}");
    let (la, lb) = (values(a.item.loss)[0], values(b.item.loss)[0]);
    assert!((la - lb).abs() < 1e-5, "{case}: objective {la} vs {lb}");
    let (ga, gb) = (gradients(&net, a.grads), gradients(&net, b.grads));
    assert_eq!(ga.len(), gb.len(), "{case}");
    for ((name, a), (_, b)) in ga.iter().zip(&gb) {
        let diff = max_diff(a, b);
        let largest = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            largest > 1e-7,
            "{case}: {name}'s gradient is zero, nothing is compared"
        );
        assert!(diff < 1e-5, "{case}: {name}'s gradient differs by {diff:e}");
    }

    let valid = |compute| TrainingModel {
        net: net.valid(),
        objective: Objective { lambda, compute },
    };
    let data = batch(batch_size, 100, &Device::flex());
    let a = InferenceStep::step(&valid(Compute::Composed), data.clone());
    let b = InferenceStep::step(&valid(Compute::Fused), data);
    let diff = max_diff(&values(a.output), &values(b.output));
    assert!(diff < 1e-5, "{case}: validation outputs differ by {diff:e}");
    let (la, lb) = (values(a.loss)[0], values(b.loss)[0]);
    assert!(
        (la - lb).abs() < 1e-5,
        "{case}: validation objective {la} vs {lb}"
    );
}

#[test]
fn the_paper_network_gives_the_same_outputs_objective_and_gradients() {
    for subsampling in [Subsampling::Mean, Subsampling::Paper] {
        let config = LeNetConfig::new().with_subsampling(subsampling);
        for lambda in [0.0, 0.01] {
            // Odd sizes too: the batch splits unevenly over the threads.
            for batch_size in [1, 7, 33, 50] {
                assert_same_steps(&config, lambda, batch_size);
            }
        }
    }
}

#[test]
fn other_kernel_sizes_and_map_counts_give_the_same_steps() {
    // 4x4 kernels leave 25x25 C1 maps (an odd side: the pool drops a row and a column, and
    // the rows are padded to 32 in the fused layout); 3x3 leave 26x26 and 11x11 C3 maps; 7x7
    // leave 22x22 and 5x5. C3's maps are computed 16 or 8 at a time and its kernel rows
    // (k·c1 values) in whole registers: 20 maps take both widths, and rows of 40 values (8
    // maps, 5x5) run over more than one register group; 3x4 rows of 12 pad to 16.
    for (k, c1, c3, subsampling) in [
        (4, 3, 5, Subsampling::Mean),
        (3, 4, 7, Subsampling::Paper),
        (7, 2, 8, Subsampling::Mean),
        (5, 8, 20, Subsampling::Paper),
    ] {
        let config = LeNetConfig::new()
            .with_kernel_size(k)
            .with_c1(c1)
            .with_c3(c3)
            .with_subsampling(subsampling);
        assert_same_steps(&config, 0.01, 50);
        assert_same_steps(&config, 0.0, 1);
    }
}

#[test]
fn a_training_run_ends_at_the_same_test_error_on_either_path() {
    let config = TrainingConfig::default()
        .with_epochs(1)
        .with_train_size(Some(30_000))
        .with_test_size(Some(5_000));
    let data = config.select_data(mnist().clone()).unwrap();
    let run = |dir: &Path, compute| {
        let options = RunOptions::new(dir)
            .with_start(StartMode::Fresh)
            .with_progress(Progress::EpochLines)
            .with_compute(compute);
        train::train(&config, &data, &Device::flex(), &options).unwrap()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Training steps, test passes and the final evaluation each by one path.
    let (composed, fused) = (
        run(a.path(), Compute::Composed),
        run(b.path(), Compute::Fused),
    );
    let (ea, eb) = (composed.test.error_rate(), fused.test.error_rate());
    assert!(
        (ea - eb).abs() <= 0.1,
        "test error {ea} % (composed) vs {eb} % (fused)"
    );
    // It learned: 600 steps take the network past the plateau at the class prior (90 % error).
    assert!(eb < 30.0, "test error {eb} %");
    let (la, lb) = (composed.epochs[0].train_loss, fused.epochs[0].train_loss);
    assert!((la - lb).abs() < 1e-3, "training loss {la} vs {lb}");
}

#[test]
fn a_trained_model_predicts_and_evaluates_the_same_on_either_path() {
    let config = LeNetConfig::new().with_subsampling(Subsampling::Paper);
    let device = Device::flex();
    let net = network(&config, &device);
    let model = || {
        TrainedModel::new(
            TrainingConfig::new().with_model(config.clone()),
            net.clone(),
            "in memory".into(),
            &device,
        )
    };
    let fused = model();
    assert_eq!(fused.compute(), Compute::Fused, "flex's own path");
    let composed = model().with_compute(Compute::Composed);
    let images: Vec<Vec<u8>> = (0..33)
        .map(|i| mnist().test.get(i).unwrap().pixels)
        .collect();
    let outputs = |model: &TrainedModel| -> Vec<f32> {
        model
            .predict(images.clone())
            .iter()
            .flat_map(|p| p.outputs)
            .collect()
    };
    let diff = max_diff(&outputs(&composed), &outputs(&fused));
    assert!(diff < 1e-5, "predictions differ by {diff:e}");
    let test = MnistSplits {
        train: mnist().train.clone(),
        test: std::sync::Arc::new(burn::data::dataset::InMemDataset::new(
            (0..1500).map(|i| mnist().test.get(i).unwrap()).collect(),
        )),
    };
    let (a, b) = (
        composed.evaluate(test.clone()).unwrap(),
        fused.evaluate(test).unwrap(),
    );
    assert_eq!(a.total, 1500);
    assert_eq!(a.confusion, b.confusion, "the same answer for every image");
    assert!((a.mse - b.mse).abs() < 1e-6, "{} vs {}", a.mse, b.mse);
}
