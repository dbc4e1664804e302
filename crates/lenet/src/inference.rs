//! Using a trained network: loading it from an artifact folder, evaluating it, predicting.

use std::path::Path;

use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::*;
use burn::store::ModuleRecord;

use crate::data::{DigitBatcher, DigitDataset};
use crate::error::{LenetError, Result};
use crate::loss;
use crate::metric::count_errors;
use crate::model::LeNet;
use crate::training::{EVAL_BATCH_SIZE, MODEL_FILE, TrainingConfig};

/// Results of a network on a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean squared-error term `1/m Σ ½‖t − y‖²` (no weight decay).
    pub mse: f64,
    /// Misclassified images.
    pub errors: usize,
    /// Images evaluated.
    pub total: usize,
}

impl Evaluation {
    /// Error rate in percent (the paper's equation 18).
    pub fn error_rate(&self) -> f64 {
        100.0 * self.errors as f64 / self.total as f64
    }
}

/// Loads `config.json` and `model.bpk` from an artifact folder onto `device`.
pub fn load_model(artifact_dir: &Path, device: &Device) -> Result<(TrainingConfig, LeNet)> {
    let config = TrainingConfig::load_from(artifact_dir)?;
    config.model.feature_sizes()?;
    let path = artifact_dir.join(MODEL_FILE);
    let artifact_error = |reason: String| LenetError::Artifact {
        path: path.clone(),
        reason,
    };
    let record = ModuleRecord::load(&path).map_err(|e| artifact_error(e.to_string()))?;
    let model = config
        .model
        .init(device)
        .try_load_record(record)
        .map_err(|e| artifact_error(format!("does not fit the configured network: {e}")))?;
    Ok((config, model))
}

/// Evaluates `model` on every image of `dataset`.
pub fn evaluate(model: &LeNet, dataset: &DigitDataset, device: &Device) -> Result<Evaluation> {
    let loader = DataLoaderBuilder::new(DigitBatcher)
        .batch_size(EVAL_BATCH_SIZE)
        .set_device(device.clone())
        .build(dataset.clone());
    let mut sum_mse = 0.0;
    let mut errors = 0;
    let mut total = 0;
    for batch in loader.iter() {
        let batch = batch.map_err(|e| LenetError::Training(e.to_string()))?;
        let [n] = batch.targets.dims();
        let outputs = model.forward(batch.images);
        let mse: f64 =
            loss::squared_error(outputs.clone(), batch.targets.clone()).into_scalar::<f64>();
        let wrong = count_errors(outputs, batch.targets).into_scalar::<i64>();
        sum_mse += mse * n as f64;
        errors += wrong as usize;
        total += n;
    }
    Ok(Evaluation {
        mse: sum_mse / total.max(1) as f64,
        errors,
        total,
    })
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
