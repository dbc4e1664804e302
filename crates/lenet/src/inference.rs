//! Using a trained network: loading it from an artifact folder, evaluating it, predicting.

use std::path::Path;

use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::*;

use burn::data::dataloader::batcher::Batcher;

use crate::data::{DigitBatcher, DigitDataset, DigitItem, NUM_CLASSES};
use crate::error::{LenetError, Result};
use crate::loss;
use crate::model::{LeNet, LeNetConfig};
use crate::training::{CONFIG_FILE, EVAL_BATCH_SIZE, MODEL_FILE, TrainingConfig};
use crate::weights;

/// Results of a network on a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean squared-error term `1/m Σ ½‖t − y‖²` (no weight decay).
    pub mse: f64,
    /// Misclassified images.
    pub errors: usize,
    /// Images evaluated.
    pub total: usize,
    /// `confusion[true class][predicted class]` counts.
    pub confusion: [[usize; NUM_CLASSES]; NUM_CLASSES],
}

impl Evaluation {
    /// Error rate in percent (the paper's equation 18).
    pub fn error_rate(&self) -> f64 {
        100.0 * self.errors as f64 / self.total as f64
    }

    /// Error rate in percent among the images of each true class (`NaN` for an absent class).
    pub fn class_error_rates(&self) -> [f64; NUM_CLASSES] {
        std::array::from_fn(|class| {
            let row = &self.confusion[class];
            let total: usize = row.iter().sum();
            100.0 * (total - row[class]) as f64 / total as f64
        })
    }
}

/// Loads `config.json` and `model.bpk` from an artifact folder onto `device`.
pub fn load_model(artifact_dir: &Path, device: &Device) -> Result<(TrainingConfig, LeNet)> {
    load_model_file(&artifact_dir.join(MODEL_FILE), device)
}

/// Loads a model file (`.bpk`, `.safetensors`, `.pt`/`.pth`; see [`crate::weights`]),
/// rebuilding the network from the `config.json` beside it, or, for a file without one (from
/// PyTorch, say), as the paper's default network; a file of another shape is then refused,
/// naming the tensor. A folder stands for the `model.bpk` inside it.
pub fn load_model_file(path: &Path, device: &Device) -> Result<(TrainingConfig, LeNet)> {
    let path = if path.is_dir() {
        path.join(MODEL_FILE)
    } else {
        path.to_path_buf()
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    let config = if folder.join(CONFIG_FILE).is_file() {
        TrainingConfig::load_from(folder)?
    } else {
        TrainingConfig::new(LeNetConfig::new())
    };
    config.model.feature_sizes()?;
    let model = weights::load(config.model.init(device), &path)?;
    Ok((config, model))
}

/// Evaluates `model` on every image of `dataset`.
pub fn evaluate(model: &LeNet, dataset: &DigitDataset, device: &Device) -> Result<Evaluation> {
    let loader = DataLoaderBuilder::new(DigitBatcher)
        .batch_size(EVAL_BATCH_SIZE)
        .set_device(device.clone())
        .build(dataset.clone());
    let mut sum_mse = 0.0;
    let mut total = 0;
    let mut confusion = [[0; NUM_CLASSES]; NUM_CLASSES];
    for batch in loader.iter() {
        let batch = batch.map_err(|e| LenetError::Training(e.to_string()))?;
        let [n] = batch.targets.dims();
        let outputs = model.forward(batch.images);
        let mse = loss::squared_error(outputs.clone(), batch.targets.clone()).into_scalar::<f64>();
        let predicted = host_ints(outputs.argmax(1).reshape([n]));
        let targets = host_ints(batch.targets);
        for (t, p) in targets.into_iter().zip(predicted) {
            confusion[t][p] += 1;
        }
        sum_mse += mse * n as f64;
        total += n;
    }
    let correct: usize = (0..NUM_CLASSES).map(|c| confusion[c][c]).sum();
    Ok(Evaluation {
        mse: sum_mse / total.max(1) as f64,
        errors: total - correct,
        total,
        confusion,
    })
}

fn host_ints(tensor: Tensor<1, Int>) -> Vec<usize> {
    tensor
        .into_data()
        .try_into_vec_as::<i64>()
        .expect("integer classes")
        .into_iter()
        .map(|v| v as usize)
        .collect()
}

/// Predicts the class of each item, with the 10 output activations.
pub fn predict_items(
    model: &LeNet,
    items: Vec<DigitItem>,
    device: &Device,
) -> Vec<(usize, Vec<f32>)> {
    if items.is_empty() {
        return Vec::new();
    }
    predict(model, DigitBatcher.batch(items, device).images)
}

/// Classes predicted for a batch, with the output activations.
///
/// # Shapes
/// - `images`: `[batch, 1, 28, 28]`
/// - returns one `(class, [10 activations])` per image
pub fn predict(model: &LeNet, images: Tensor<4>) -> Vec<(usize, Vec<f32>)> {
    let [batch, _, _, _] = images.dims();
    let outputs = model.forward(images);
    let values: Vec<f32> = outputs
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 outputs");
    values
        .chunks(values.len() / batch.max(1))
        .map(|row| {
            let class = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            (class, row.to_vec())
        })
        .collect()
}
