//! Real training on real MNIST (`../shared/data/mnist`, or `LENET_MNIST_DIR`), backend
//! agreement, and resume.

use std::path::Path;
use std::sync::OnceLock;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use lenet::artifacts::{Kind, RunFolder, StartMode};
use lenet::data::{DigitBatch, DigitBatcher, MnistSplits, RunData};
use lenet::loss;
use lenet::train::{self, Progress, RunOptions, TrainingOutcome};
use lenet::weights::{self, WeightFormat};
use lenet::{Backend, LeNet, LeNetConfig, TrainedModel, TrainingConfig};

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

#[test]
fn real_mnist_has_the_official_sizes() {
    let data = mnist();
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    // The first training image is a 5, the first test image a 7 (LeCun's files).
    assert_eq!(data.train.get(0).unwrap().label, 5);
    assert_eq!(data.test.get(0).unwrap().label, 7);
}

/// A run on flex into `dir`, a line per epoch.
fn train_on_flex(
    config: &TrainingConfig,
    data: &RunData,
    dir: &Path,
    start: StartMode,
) -> lenet::Result<TrainingOutcome> {
    let options = RunOptions::new(dir)
        .with_progress(Progress::EpochLines)
        .with_start(start);
    train::train(config, data, &Device::flex(), &options)
}

#[test]
fn a_short_run_on_real_mnist_learns_far_better_than_chance() {
    // Plain SGD on MSE + sigmoid sits on a plateau for ~400 steps (8 epochs of 2000 images)
    // before it learns; 20 epochs take a few seconds on flex.
    let config = TrainingConfig::new()
        .with_epochs(20)
        .with_train_size(Some(2000))
        .with_test_size(Some(1000));
    let data = config.select_data(mnist().clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let outcome = train_on_flex(&config, &data, dir.path(), StartMode::Fresh).unwrap();

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
    let saved = TrainedModel::load(dir.path(), &device).unwrap();
    assert_eq!(saved.config.model, config.model);
    assert_eq!(
        saved.evaluate_preprocessed(&data.splits().test).unwrap(),
        outcome.test
    );

    // A second fresh run into the same folder is refused: nothing saved is lost.
    let again = train_on_flex(&config, &data, dir.path(), StartMode::Fresh);
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

/// Gradients of the objective w.r.t. C1's and FC's weights on 20 real images.
fn gradients(model: &LeNet, config: &LeNetConfig, device: &Device) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let model = same_weights(model, config, &ad);
    let batch = test_batch(20, &ad);
    let out = model.forward(batch.images);
    let grads = loss::objective(&model, out, batch.targets, 1e-3).backward();
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
    let flex = Backend::Flex.device().unwrap();
    let ndarray = Backend::Ndarray.device().unwrap();
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
#[ignore = "system tier: needs a Vulkan driver (Mesa's lavapipe without a GPU); .ci/run installs it and runs it"]
fn wgpu_gives_the_same_outputs_and_gradients_within_tolerance() {
    let (config, model) = reference_model();
    let flex = Backend::Flex.device().unwrap();
    let wgpu = Backend::Wgpu.device().unwrap();
    // The adapter it runs on is known (lavapipe says it is a CPU one).
    let adapter = lenet::backend::wgpu_adapter().expect("the wgpu adapter is reported");
    assert!(
        !adapter.name.is_empty() && !adapter.api.is_empty(),
        "{adapter:?}"
    );
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
    let config = TrainingConfig::new()
        .with_epochs(2)
        .with_train_size(Some(1000))
        .with_test_size(Some(500));
    let data = config.select_data(mnist().clone()).unwrap();
    let device = Device::flex();

    let straight = tempfile::tempdir().unwrap();
    let whole = train_on_flex(&config, &data, straight.path(), StartMode::Fresh).unwrap();

    // Stop after epoch 1, then resume to epoch 2 from the checkpoint.
    let stopped = tempfile::tempdir().unwrap();
    let first = config.clone().with_epochs(1);
    train_on_flex(&first, &data, stopped.path(), StartMode::Fresh).unwrap();
    let resumed = train_on_flex(&config, &data, stopped.path(), StartMode::Resume).unwrap();

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

/// The scalar points of a run folder's event files, read in order as TensorBoard reads them: a
/// restart marker drops the points at or after its step from the files before it.
fn tensorboard_points(dir: &Path) -> Vec<(String, i64, f32)> {
    use lenet::tensorboard::proto::{SessionStatus, ValueKind, What};
    let mut points: Vec<(String, i64, f32)> = Vec::new();
    for file in RunFolder::new(dir).event_files() {
        for event in lenet::tensorboard::read_events(&file).unwrap() {
            match event.what {
                Some(What::SessionLog(log)) if log.status == SessionStatus::Start as i32 => {
                    points.retain(|(_, step, _)| *step < event.step);
                }
                Some(What::Summary(summary)) => {
                    for value in summary.value {
                        if let Some(ValueKind::SimpleValue(v)) = value.value {
                            points.push((value.tag, event.step, v));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    points
}

#[test]
fn a_resumed_runs_tensorboard_curves_have_each_epoch_once() {
    let config = small_config().with_epochs(3);
    let images = config.train_size.unwrap() as i64;
    let data = small_data(&config);
    let dir = tempfile::tempdir().unwrap();
    let first = train_on_flex(&config, &data, dir.path(), StartMode::Fresh).unwrap();
    // Killed before epoch 3's checkpoint was complete: its points are in the event file, its
    // checkpoint is not.
    let run = RunFolder::new(dir.path());
    for kind in [Kind::Model, Kind::Optim, Kind::Scheduler] {
        std::fs::remove_file(run.checkpoint_file(kind, 3)).unwrap();
    }
    let more = config.clone().with_epochs(4);
    let resumed = train_on_flex(&more, &data, dir.path(), StartMode::Resume).unwrap();
    assert_eq!(resumed.resumed_after, Some(2));
    assert_eq!(run.event_files().len(), 2, "one file per start");

    let points = tensorboard_points(dir.path());
    let curve = |tag: &str| -> Vec<(i64, f32)> {
        points
            .iter()
            .filter(|(t, _, _)| t == tag)
            .map(|&(_, step, value)| (step, value))
            .collect()
    };
    // Epochs 1-2 of the first run, 3-4 of the resumed one, each once, at the images seen.
    let expected: Vec<(i64, f32)> = first.epochs[..2]
        .iter()
        .chain(&resumed.epochs)
        .map(|e| (e.epoch as i64 * images, e.test_error as f32))
        .collect();
    assert_eq!(curve("error/test"), expected);
    let losses: Vec<f32> = curve("loss/train").iter().map(|p| p.1).collect();
    let recorded: Vec<f32> = first.epochs[..2]
        .iter()
        .chain(&resumed.epochs)
        .map(|e| e.train_loss as f32)
        .collect();
    assert_eq!(losses, recorded);
    assert!(curve("learning_rate").iter().all(|p| p.1 == 1.0));
    // Batch losses come every 25th batch of an epoch: none in 10 batches of 50 images.
    assert!(curve("loss/train_batch").is_empty());

    // Without TensorBoard, no event file.
    let quiet = tempfile::tempdir().unwrap();
    let options = RunOptions::new(quiet.path())
        .with_progress(Progress::EpochLines)
        .with_tensorboard(false);
    train::train(&small_config(), &data, &Device::flex(), &options).unwrap();
    assert!(RunFolder::new(quiet.path()).event_files().is_empty());
}

#[test]
fn batch_losses_go_to_tensorboard_every_25_batches_at_the_images_seen() {
    let config = small_config().with_batch_size(10).with_epochs(2);
    let data = small_data(&config);
    let dir = tempfile::tempdir().unwrap();
    let outcome = train_on_flex(&config, &data, dir.path(), StartMode::Fresh).unwrap();
    let batches: Vec<(i64, f32)> = tensorboard_points(dir.path())
        .into_iter()
        .filter(|(tag, _, _)| tag == "loss/train_batch")
        .map(|(_, step, value)| (step, value))
        .collect();
    // 500 images at batch 10: 50 batches an epoch, the 25th and 50th of each.
    let expected: Vec<(i64, f32)> = outcome
        .batches
        .iter()
        .enumerate()
        .filter(|(i, _)| (i % 50 + 1) % 25 == 0)
        .map(|(_, b)| (b.samples_seen as i64, b.loss as f32))
        .collect();
    assert_eq!(expected.len(), 4);
    assert_eq!(batches, expected);
}

fn small_config() -> TrainingConfig {
    TrainingConfig::new()
        .with_epochs(1)
        .with_train_size(Some(500))
        .with_test_size(Some(200))
}

fn small_data(config: &TrainingConfig) -> RunData {
    config.select_data(mnist().clone()).unwrap()
}

#[test]
fn a_run_refuses_data_selected_for_another_configuration() {
    let config = small_config();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    // Deskewed images for a run whose config.json would say plain, and another seed's subset.
    for other in [
        config.clone().with_deskew(true),
        config.clone().with_seed(7),
    ] {
        let data = other.select_data(mnist().clone()).unwrap();
        let message = train_on_flex(&config, &data, &run_dir, StartMode::Fresh)
            .err()
            .expect("refused")
            .to_string();
        assert!(message.contains("select_data"), "{message}");
        assert!(!run_dir.exists(), "nothing written: {message}");
    }
}

#[test]
fn a_diverging_run_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint() {
    let good = small_config();
    let data = small_data(&good);
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    train_on_flex(&good, &data, dir.path(), StartMode::Fresh).unwrap();
    let finished_model = std::fs::read(dir.path().join("model.bpk")).unwrap();

    // Continue with a learning rate that, with weight decay, multiplies the weights by -999
    // per step: they overflow to infinity within an epoch.
    let bad = good
        .clone()
        .with_epochs(3)
        .with_learning_rate(1000.0)
        .with_lambda(1.0);
    let result = train_on_flex(&bad, &data, dir.path(), StartMode::Resume);
    let message = result.err().expect("must diverge").to_string();
    assert!(
        message.contains("diverged") && message.contains("epoch 2, batch"),
        "{message}"
    );
    assert!(
        message.contains("checkpoint of epoch 1 is kept"),
        "{message}"
    );
    assert_eq!(
        lenet::artifacts::RunFolder::new(dir.path()).last_checkpoint(),
        Some(1)
    );
    train::check_checkpoint(dir.path(), 1, &good, &device).unwrap();
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
    train_on_flex(&config, &data, dir.path(), StartMode::Fresh).unwrap();
    let resume = |config: &TrainingConfig| {
        let more = config.clone().with_epochs(2);
        match train_on_flex(&more, &data, dir.path(), StartMode::Resume) {
            Ok(_) => panic!("resume should fail"),
            Err(e) => e.to_string(),
        }
    };
    let checkpoint = dir.path().join("checkpoint/model-1.bpk");
    let saved = std::fs::read(&checkpoint).unwrap();

    // A truncated checkpoint: its checksum disagrees, so it is not resumed from.
    truncate(&checkpoint, saved.len() / 2);
    let message = resume(&config);
    assert!(
        message.contains("no complete checkpoint")
            && message.contains("model-1.bpk")
            && message.contains("corrupted"),
        "{message}"
    );
    // Without its checksum (as older versions wrote checkpoints), burn cannot read it.
    let sum = dir.path().join("checkpoint/model-1.bpk.crc32");
    let saved_sum = std::fs::read(&sum).unwrap();
    std::fs::remove_file(&sum).unwrap();
    let message = resume(&config);
    assert!(
        message.contains("model-1.bpk") && message.contains("not a readable checkpoint"),
        "{message}"
    );
    // A file that is not a model at all.
    std::fs::write(&checkpoint, b"definitely not burnpack").unwrap();
    let message = resume(&config);
    assert!(message.contains("model-1.bpk"), "{message}");
    std::fs::write(&sum, saved_sum).unwrap();
    // A checkpoint of another shape (the config says 10 C1 maps, the weights have 6).
    std::fs::write(&checkpoint, &saved).unwrap();
    let mut wider = config.clone();
    wider.model = LeNetConfig::new().with_c1(10);
    let message = resume(&wider);
    assert!(message.contains("does not fit the network"), "{message}");

    // The final model: truncated, not a model, wrong config.
    let model = dir.path().join("model.bpk");
    let model_bytes = std::fs::read(&model).unwrap();
    let load = || match TrainedModel::load(dir.path(), &device) {
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

/// A briefly trained model in `dir` (config.json + model.bpk).
fn trained_model(dir: &Path) -> (TrainingConfig, LeNet) {
    let config = small_config();
    let data = small_data(&config);
    train_on_flex(&config, &data, dir, StartMode::Fresh).unwrap();
    let model = TrainedModel::load(dir, &Device::flex()).unwrap();
    (model.config, model.net)
}

#[test]
fn exported_weights_load_back_identically_in_every_format_and_backend() {
    let dir = tempfile::tempdir().unwrap();
    let (config, model) = trained_model(dir.path());
    let flex = Device::flex();
    let expected = outputs(&model, &flex);
    for (file, format) in [
        ("copy.bpk", WeightFormat::Burnpack),
        ("model.safetensors", WeightFormat::Safetensors),
    ] {
        let path = dir.path().join(file);
        weights::save(&model, &path, format).unwrap();
        for backend in [Backend::Flex, Backend::Ndarray] {
            let device = backend.device().unwrap();
            let loaded = weights::load(config.model.init(&device), &path).unwrap();
            let diff = max_diff(&expected, &outputs(&loaded, &device));
            let tolerance = if backend == Backend::Flex { 0.0 } else { 1e-5 };
            assert!(
                diff <= tolerance,
                "{file} on {backend}: outputs differ by {diff:e}"
            );
        }
    }
}

#[test]
fn safetensors_use_pytorch_names_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = trained_model(dir.path());
    let path = dir.path().join("model.safetensors");
    weights::save(&model, &path, WeightFormat::Safetensors).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut shapes: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    shapes.sort();
    let expected: Vec<(String, Vec<usize>)> = [
        ("c1.bias", vec![6]),
        ("c1.weight", vec![6, 1, 5, 5]),
        ("c3.bias", vec![12]),
        ("c3.weight", vec![12, 6, 5, 5]),
        ("fc.bias", vec![10]),
        ("fc.weight", vec![10, 192]), // nn.Linear's [out, in]; burn holds [in, out]
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(shapes, expected);
    // The values are the transpose of burn's.
    let burn_fc = model
        .fc
        .weight
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let view = file.tensor("fc.weight").unwrap();
    let torch_fc: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(torch_fc[3 * 192 + 5], burn_fc[5 * 10 + 3]);
}

#[test]
fn weights_of_another_shape_or_corrupt_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = trained_model(dir.path());
    let path = dir.path().join("model.safetensors");
    weights::save(&model, &path, WeightFormat::Safetensors).unwrap();
    let wider = LeNetConfig::new().with_c1(10).init(&Device::flex());
    let message = weights::load(wider, &path)
        .expect_err("must refuse")
        .to_string();
    assert!(
        message.contains("c1.weight")
            && message.contains("10, 1, 5, 5")
            && message.contains("6, 1, 5, 5"),
        "{message}"
    );

    std::fs::write(&path, b"not safetensors").unwrap();
    let message = weights::load(LeNetConfig::new().init(&Device::flex()), &path)
        .expect_err("must refuse")
        .to_string();
    assert!(message.contains("model.safetensors"), "{message}");
    let message = weights::load(
        LeNetConfig::new().init(&Device::flex()),
        &dir.path().join("w.onnx"),
    )
    .expect_err("must refuse")
    .to_string();
    assert!(message.contains("w.onnx"), "{message}");
}

#[test]
fn another_burn_app_loads_a_trainer_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    trained_model(dir.path());
    let expected = TrainedModel::load(dir.path(), &Device::flex())
        .unwrap()
        .evaluate_preprocessed(&mnist().test)
        .unwrap();

    // Examples are built by `cargo test` beside the test binaries' folder.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/load_checkpoint");
    assert!(
        example.is_file(),
        "example not built at {}",
        example.display()
    );
    let out = std::process::Command::new(&example)
        .arg(dir.path())
        .arg(mnist_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let correct = expected.total - expected.errors;
    assert!(
        stdout.contains(&format!("({correct}/10000)")),
        "{stdout} vs {expected:?}"
    );
}

#[test]
fn weights_trained_in_pytorch_give_pytorchs_predictions() {
    // Written by experiments/pytorch/train_lenet.py: a torch.save state dict and the outputs
    // PyTorch computed on the first 100 MNIST test images.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/pytorch");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("predictions.json")).unwrap())
            .unwrap();
    let expected_outputs: Vec<f32> = expected["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect();
    let expected_classes: Vec<i64> = expected["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .collect();
    for backend in [Backend::Flex, Backend::Ndarray] {
        let device = backend.device().unwrap();
        let model = weights::load(
            LeNetConfig::new().init(&device),
            &fixture.join("lenet_pytorch.pt"),
        )
        .unwrap();
        // The fused CPU path (what eval and predict run here) gives PyTorch's outputs too.
        let images: Vec<Vec<u8>> = (0..100)
            .map(|i| mnist().test.get(i).unwrap().pixels)
            .collect();
        let loaded = TrainedModel::new(
            TrainingConfig::default(),
            model.clone(),
            "lenet_pytorch.pt".into(),
            &device,
        );
        let fused: Vec<f32> = loaded
            .predict(images)
            .iter()
            .flat_map(|p| p.outputs)
            .collect();
        let diff = max_diff(&fused, &expected_outputs);
        assert!(diff < 1e-5, "{backend} fused: outputs differ by {diff:e}");
        let out = model.forward(test_batch(100, &device).images);
        let classes = out
            .clone()
            .argmax(1)
            .into_data()
            .try_into_vec_as::<i64>()
            .unwrap();
        assert_eq!(classes, expected_classes, "{backend}");
        let diff = max_diff(
            &out.into_data().try_into_vec_as::<f32>().unwrap(),
            &expected_outputs,
        );
        assert!(
            diff < 1e-5,
            "{backend}: outputs differ from PyTorch's by {diff:e}"
        );
    }
}

#[test]
fn patience_stops_a_validation_run_and_keeps_its_best_epoch() {
    // The best epoch is chosen on validation data only: no patience without a holdout.
    let message = TrainingConfig::new()
        .with_patience(Some(2))
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("patience") && message.contains("--holdout"),
        "{message}"
    );

    // Patience 1 stops at the first epoch that does not lower the validation error.
    let config = TrainingConfig::new()
        .with_epochs(30)
        .with_train_size(Some(1000))
        .with_holdout(Some(1000))
        .with_patience(Some(1));
    let data = config.select_data(mnist().clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let outcome = train_on_flex(&config, &data, dir.path(), StartMode::Fresh).unwrap();
    assert!(outcome.stopped_early && !outcome.interrupted);
    let best = outcome.best_epoch.expect("a best epoch");
    let last = outcome.epochs.last().unwrap().epoch;
    assert_eq!(last, best + 1, "stopped one epoch after the best");
    // The model is the best epoch's: evaluated, it gives that epoch's validation error, and
    // so does model.bpk, which evaluation.json says it is.
    assert!((outcome.test.error_rate() - outcome.epochs[best - 1].test_error).abs() < 1e-9);
    let saved = TrainedModel::load(dir.path(), &device).unwrap();
    assert_eq!(
        saved.evaluate_preprocessed(&data.splits().test).unwrap(),
        outcome.test
    );
    assert_eq!(saved.evaluation.unwrap().best_epoch, Some(best));
}
