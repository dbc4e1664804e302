//! Real training on real MNIST (`../shared/data/mnist`, or `LENET_MNIST_DIR`), backend
//! agreement, and resume.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use lenet::backend::Backend;
use lenet::data::{DigitBatch, DigitBatcher, MnistSplits};
use lenet::inference;
use lenet::loss;
use lenet::model::{LeNet, LeNetConfig};
use lenet::training::{self, RunOptions, StartMode, TrainingConfig};

/// The MNIST folder beside the checkout. Missing data is a failure, never a skip.
fn mnist_dir() -> PathBuf {
    let dir = std::env::var_os("LENET_MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
        });
    assert!(
        dir.join("train-images-idx3-ubyte.gz").is_file()
            || dir.join("train-images-idx3-ubyte").is_file(),
        "MNIST not found in {}: put ../shared/data/mnist beside the checkout or set LENET_MNIST_DIR",
        dir.display()
    );
    dir
}

fn mnist() -> &'static MnistSplits {
    static DATA: OnceLock<MnistSplits> = OnceLock::new();
    DATA.get_or_init(|| MnistSplits::from_dir(&mnist_dir()).expect("real MNIST loads"))
}

#[test]
fn real_mnist_has_the_official_sizes() {
    let data = mnist();
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    // The first training image is a 5, the first test image a 7 (LeCun's files).
    assert_eq!(data.train.get(0).unwrap().label, 5);
    assert_eq!(data.test.get(0).unwrap().label, 7);
}

fn quiet_run(dir: &Path, start: StartMode) -> RunOptions {
    let mut options = RunOptions::new(dir);
    options.dashboard = false;
    options.start = start;
    options
}

#[test]
fn a_short_run_on_real_mnist_learns_far_better_than_chance() {
    // Plain SGD on MSE + sigmoid sits on a plateau for ~400 steps (8 epochs of 2000 images)
    // before it learns; 20 epochs take a few seconds on flex.
    let config = TrainingConfig::new(LeNetConfig::new())
        .with_epochs(20)
        .with_train_size(Some(2000))
        .with_test_size(Some(1000));
    let data = mnist()
        .clone()
        .subset(config.train_size, config.test_size, config.seed)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let outcome = training::train(
        &config,
        &data,
        &device,
        &quiet_run(dir.path(), StartMode::Fresh),
    )
    .unwrap();

    // Guessing scores 90 % error; 1000 test images make < 40 % impossible by luck.
    let error = outcome.test.error_rate();
    assert!(error < 40.0, "test error {error:.1} %");
    assert_eq!(outcome.test.total, 1000);
    assert_eq!(outcome.epochs.len(), 20);
    assert!(outcome.epochs[19].train_loss < 0.5 * outcome.epochs[0].train_loss);
    // The learner's last test error and our own evaluation agree.
    assert!((outcome.epochs[19].test_error - error).abs() < 1e-9);

    // The artifacts rebuild the same model from files.
    for file in ["config.json", "model.bpk", "checkpoint/model-20.bpk"] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    let (saved_config, model) = inference::load_model(dir.path(), &device).unwrap();
    assert_eq!(saved_config.model, config.model);
    assert_eq!(
        inference::evaluate(&model, &data.test, &device).unwrap(),
        outcome.test
    );

    // A second fresh run into the same folder is refused: nothing saved is lost.
    let again = training::train(
        &config,
        &data,
        &device,
        &quiet_run(dir.path(), StartMode::Fresh),
    );
    let message = again.err().expect("must refuse").to_string();
    assert!(message.contains("--overwrite"), "{message}");
}

/// The first `n` real test images as one batch on `device`.
fn test_batch(n: usize, device: &Device) -> DigitBatch {
    let items = (0..n).map(|i| mnist().test.get(i).unwrap()).collect();
    DigitBatcher.batch(items, device)
}

/// The same weights (trained briefly on flex) on another device.
fn same_weights(model: &LeNet, config: &LeNetConfig, device: &Device) -> LeNet {
    config.init(device).load_record(model.clone().into_record())
}

fn outputs(model: &LeNet, device: &Device) -> Vec<f32> {
    let batch = test_batch(100, device);
    model
        .forward(batch.images)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Gradients of the objective w.r.t. C1's and FC's weights on 20 real images.
fn gradients(model: &LeNet, config: &LeNetConfig, device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let mut model = same_weights(model, config, &ad);
    model.weight_decay = 1e-3;
    let batch = test_batch(20, &ad);
    let out = model.forward(batch.images);
    let grads = loss::objective(&model, out, batch.targets).backward();
    let c1 = model.c1.weight.grad(&grads).unwrap().flatten::<1>(0, 3);
    let fc = model.fc.weight.grad(&grads).unwrap().flatten::<1>(0, 1);
    Tensor::cat(vec![c1, fc], 0)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}

fn reference_model() -> (LeNetConfig, LeNet) {
    let config = LeNetConfig::new();
    let device = Device::flex();
    device.seed(3);
    (config.clone(), config.init(&device))
}

#[test]
fn flex_and_ndarray_give_the_same_outputs_and_gradients() {
    let (config, model) = reference_model();
    let flex = Backend::Flex.device();
    let ndarray = Backend::Ndarray.device();
    let a = outputs(&model, &flex);
    let b = outputs(&same_weights(&model, &config, &ndarray), &ndarray);
    let diff = max_diff(&a, &b);
    assert!(diff < 1e-5, "outputs differ by {diff:e}");
    let diff = max_diff(
        &gradients(&model, &config, &flex),
        &gradients(&model, &config, &ndarray),
    );
    assert!(diff < 1e-5, "gradients differ by {diff:e}");
}

/// Tolerance for wgpu (lavapipe here, a GPU elsewhere): f32 with another summation order.
const WGPU_TOLERANCE: f32 = 1e-4;

#[test]
fn wgpu_gives_the_same_outputs_and_gradients_within_tolerance() {
    let (config, model) = reference_model();
    let flex = Backend::Flex.device();
    let wgpu = Backend::Wgpu.device();
    let a = outputs(&model, &flex);
    let b = outputs(&same_weights(&model, &config, &wgpu), &wgpu);
    let diff = max_diff(&a, &b);
    assert!(diff < WGPU_TOLERANCE, "outputs differ by {diff:e}");
    let diff = max_diff(
        &gradients(&model, &config, &flex),
        &gradients(&model, &config, &wgpu),
    );
    assert!(diff < WGPU_TOLERANCE, "gradients differ by {diff:e}");
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let config = TrainingConfig::new(LeNetConfig::new())
        .with_epochs(2)
        .with_train_size(Some(1000))
        .with_test_size(Some(500));
    let data = mnist()
        .clone()
        .subset(config.train_size, config.test_size, config.seed)
        .unwrap();
    let device = Device::flex();

    let straight = tempfile::tempdir().unwrap();
    let whole = training::train(
        &config,
        &data,
        &device,
        &quiet_run(straight.path(), StartMode::Fresh),
    )
    .unwrap();

    // Stop after epoch 1, then resume to epoch 2 from the checkpoint.
    let stopped = tempfile::tempdir().unwrap();
    let first = config.clone().with_epochs(1);
    training::train(
        &first,
        &data,
        &device,
        &quiet_run(stopped.path(), StartMode::Fresh),
    )
    .unwrap();
    let resumed = training::train(
        &config,
        &data,
        &device,
        &quiet_run(stopped.path(), StartMode::Resume),
    )
    .unwrap();

    assert_eq!(resumed.resumed_after, Some(1));
    assert_eq!(resumed.epochs.len(), 1);
    assert_eq!(resumed.epochs[0].epoch, 2);
    let diff = max_diff(
        &outputs(&whole.model, &device),
        &outputs(&resumed.model, &device),
    );
    assert!(diff < 1e-6, "resumed model differs by {diff:e}");
    assert_eq!(resumed.test, whole.test);
    assert!((resumed.epochs[0].train_loss - whole.epochs[1].train_loss).abs() < 1e-9);
}

fn small_config() -> TrainingConfig {
    TrainingConfig::new(LeNetConfig::new())
        .with_epochs(1)
        .with_train_size(Some(500))
        .with_test_size(Some(200))
}

fn small_data(config: &TrainingConfig) -> MnistSplits {
    mnist()
        .clone()
        .subset(config.train_size, config.test_size, config.seed)
        .unwrap()
}

#[test]
fn a_diverging_run_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint() {
    let good = small_config();
    let data = small_data(&good);
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    training::train(
        &good,
        &data,
        &device,
        &quiet_run(dir.path(), StartMode::Fresh),
    )
    .unwrap();
    let finished_model = std::fs::read(dir.path().join("model.bpk")).unwrap();

    // Continue with a learning rate that, with weight decay, multiplies the weights by -999
    // per step: they overflow to infinity within an epoch.
    let bad = good
        .clone()
        .with_epochs(3)
        .with_learning_rate(1000.0)
        .with_lambda(1.0);
    let result = training::train(
        &bad,
        &data,
        &device,
        &quiet_run(dir.path(), StartMode::Resume),
    );
    let message = result.err().expect("must diverge").to_string();
    assert!(
        message.contains("diverged") && message.contains("epoch 2, batch"),
        "{message}"
    );
    assert!(
        message.contains("checkpoint of epoch 1 is kept"),
        "{message}"
    );
    assert_eq!(lenet::checkpoint::last_checkpoint(dir.path()), Some(1));
    lenet::checkpoint::check_restorable(dir.path(), 1, &good.model, &device).unwrap();
    let model = std::fs::read(dir.path().join("model.bpk")).unwrap();
    assert!(
        model == finished_model,
        "a diverged run must not replace model.bpk"
    );
}

/// Overwrites `path` with its first `keep` bytes.
fn truncate(path: &Path, keep: usize) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..keep.min(bytes.len())]).unwrap();
}

#[test]
fn broken_checkpoints_models_and_configs_give_clear_errors() {
    let config = small_config();
    let data = small_data(&config);
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    training::train(
        &config,
        &data,
        &device,
        &quiet_run(dir.path(), StartMode::Fresh),
    )
    .unwrap();
    let resume = |config: &TrainingConfig| {
        let more = config.clone().with_epochs(2);
        match training::train(
            &more,
            &data,
            &device,
            &quiet_run(dir.path(), StartMode::Resume),
        ) {
            Ok(_) => panic!("resume should fail"),
            Err(e) => e.to_string(),
        }
    };
    let checkpoint = dir.path().join("checkpoint/model-1.bpk");
    let saved = std::fs::read(&checkpoint).unwrap();

    // A truncated checkpoint.
    truncate(&checkpoint, saved.len() / 2);
    let message = resume(&config);
    assert!(
        message.contains("model-1.bpk") && message.contains("not a readable checkpoint"),
        "{message}"
    );
    // A file that is not a model at all.
    std::fs::write(&checkpoint, b"definitely not burnpack").unwrap();
    let message = resume(&config);
    assert!(message.contains("model-1.bpk"), "{message}");
    // A checkpoint of another shape (the config says 10 C1 maps, the weights have 6).
    std::fs::write(&checkpoint, &saved).unwrap();
    let mut wider = config.clone();
    wider.model = LeNetConfig::new().with_c1(10);
    let message = resume(&wider);
    assert!(message.contains("does not fit the network"), "{message}");

    // The final model: truncated, not a model, wrong config.
    let model = dir.path().join("model.bpk");
    let model_bytes = std::fs::read(&model).unwrap();
    let load = || match inference::load_model(dir.path(), &device) {
        Ok(_) => panic!("loading should fail"),
        Err(e) => e.to_string(),
    };
    truncate(&model, model_bytes.len() - 10);
    assert!(load().contains("model.bpk"), "{}", load());
    std::fs::write(&model, b"\x00\x01 random").unwrap();
    assert!(load().contains("model.bpk"), "{}", load());
    std::fs::write(&model, &model_bytes).unwrap();
    wider.save(dir.path().join("config.json")).unwrap();
    let message = load();
    assert!(
        message.contains("model.bpk") && message.contains("does not fit"),
        "{message}"
    );
    std::fs::write(dir.path().join("config.json"), b"{ not json").unwrap();
    let message = load();
    assert!(message.contains("config.json"), "{message}");
}
