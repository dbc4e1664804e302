//! A trained network: loading it with its configuration ([`TrainedModel`]), its results on a
//! dataset ([`TrainedModel::evaluate`], [`Evaluation`]), its predictions
//! ([`TrainedModel::predict`]). [`TrainedModel`] is the one way to run a trained network on
//! images: it applies the preprocessing the network was trained with, and computes by its
//! backend's [`Compute`] path.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use burn::prelude::*;

use crate::artifacts::{RunFolder, SavedEvaluation};
use crate::backend;
use crate::compute::{Compute, InferenceNet};
use crate::config::TrainingConfig;
use crate::data::{DigitDataset, MnistSplits, deskew, scaled_pixels};
use crate::error::{LenetError, Result};
use crate::loss;
use crate::mnist::NUM_CLASSES;
use crate::model::LeNet;
use crate::weights::{self, LoadOptions, WeightFile};

/// Images per batch when evaluating a dataset (it does not change the results).
pub const EVAL_BATCH_SIZE: usize = 1000;

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
    fn new() -> Self {
        Self {
            mse: 0.0,
            errors: 0,
            total: 0,
            confusion: [[0; NUM_CLASSES]; NUM_CLASSES],
        }
    }

    /// Adds a batch: outputs `[n, 10]` row-major and the true classes.
    fn add(&mut self, outputs: &[f32], targets: &[usize]) {
        for (row, &target) in outputs.chunks_exact(NUM_CLASSES).zip(targets) {
            self.confusion[target][argmax(row)] += 1;
            // A running mean of ½‖t − y‖².
            self.total += 1;
            self.mse += (loss::half_squared_error(row, target) - self.mse) / self.total as f64;
        }
        let correct: usize = (0..NUM_CLASSES).map(|c| self.confusion[c][c]).sum();
        self.errors = self.total - correct;
    }

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

    /// The per-class errors and the confusion matrix as text, for a terminal.
    pub fn report(&self) -> String {
        let mut text = String::from("per-class error:\n");
        for (class, rate) in self.class_error_rates().iter().enumerate() {
            let _ = writeln!(text, "  {class}: {rate:5.2}%");
        }
        text.push_str("\nconfusion matrix (rows: true class, columns: predicted):\n      ");
        text.extend((0..NUM_CLASSES).map(|c| format!("{c:>5}")));
        for (class, row) in self.confusion.iter().enumerate() {
            let cells: String = row.iter().map(|n| format!("{n:>5}")).collect();
            let _ = write!(text, "\n  {class:>3} {cells}");
        }
        text
    }

    /// The confusion matrix as CSV: a header, then one row per true class.
    pub fn confusion_csv(&self) -> String {
        let header: Vec<String> = (0..NUM_CLASSES).map(|c| c.to_string()).collect();
        let mut text = format!("true\\predicted,{}\n", header.join(","));
        for (class, row) in self.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(usize::to_string).collect();
            let _ = writeln!(text, "{class},{}", cells.join(","));
        }
        text
    }
}

/// The index of the largest value, the first one on a tie (as burn's `argmax`).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// The network's answer for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The class with the largest output.
    pub class: usize,
    /// The ten output activations, in `(0, 1)`.
    pub outputs: [f32; NUM_CLASSES],
}

/// An answer whose top output leads the second by less than this is marked unsure. Chosen with
/// the shipped model on 2000 validation photos and 2000 validation 8x8 cells
/// (`experiments/beyond_mnist/unsure.py`; the README there, "How sure", has the table): the
/// largest margin that flags at most 2 % of the right answers (1.85 %), which flags 73 % of the
/// misreads. No score on the outputs alone came near the aim of 90 % at 2 %.
pub const UNSURE_MARGIN: f32 = 0.5;

impl Prediction {
    /// The class with the second largest output (the first of equals), and how far the top
    /// output leads it.
    fn lead(&self) -> (usize, f32) {
        let mut rest = self.outputs;
        rest[self.class] = f32::NEG_INFINITY;
        let second = argmax(&rest);
        (second, self.outputs[self.class] - self.outputs[second])
    }

    /// The class with the second largest output (the first of equals).
    pub fn runner_up(&self) -> usize {
        self.lead().0
    }

    /// How far the top output leads the second, in `(0, 1)`: how sure the network is.
    pub fn margin(&self) -> f32 {
        self.lead().1
    }

    /// The two classes the network hesitates between (its answer first), when its margin is
    /// below [`UNSURE_MARGIN`].
    pub fn unsure_between(&self) -> Option<[usize; 2]> {
        let (second, margin) = self.lead();
        (margin < UNSURE_MARGIN).then_some([self.class, second])
    }
}

/// A trained network with the configuration it was trained with, on a device: what `eval`,
/// `predict` and other programs use, so that preprocessing (deskewing) follows the
/// configuration everywhere.
#[derive(Debug)]
pub struct TrainedModel {
    /// The configuration it was trained with (the default one for a file without
    /// `config.json`).
    pub config: TrainingConfig,
    /// The network.
    pub net: LeNet,
    /// The weight file it was read from.
    pub path: PathBuf,
    /// Where it runs.
    pub device: Device,
    /// Its results on the test split, when its run saved them (`evaluation.json`).
    pub evaluation: Option<SavedEvaluation>,
    /// Where the network's shape came from.
    pub source: ConfigSource,
    /// How its passes are computed (chosen with the backend).
    compute: Compute,
    /// The network ready to run by that path (on the CPU backends its weights in the fused
    /// layout, read once: predictions then touch no burn tensor).
    inference: InferenceNet,
}

/// What stands for the shipped model's path (on the page, in messages): it is built into the
/// program, from `assets/model/` of the source tree.
pub const SHIPPED_MODEL: &str = "assets/model/model.bpk (built in)";

/// Where a loaded network's configuration came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    /// The `config.json` of this project's run beside the model.
    Saved(PathBuf),
    /// Read from the tensors' shapes, for the reason given (another program's model).
    Inferred(String),
}

impl TrainedModel {
    /// Loads a model (see [`RunFolder::resolve_model`] for the forms `path` takes: a file
    /// in any format [`crate::weights`] reads, a run's folder, `FOLDER@EPOCH`), rebuilding the
    /// network from the `config.json` of its run, or, for another program's model (no
    /// `config.json`, or one that is not this project's), from the shapes of its tensors.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, &LoadOptions::default())
    }

    /// [`Self::load`] with renaming rules for the file's tensors.
    pub fn load_with(path: &Path, device: &Device, options: &LoadOptions) -> Result<Self> {
        let path = RunFolder::resolve_model(path)?;
        let folder = RunFolder::of_model(&path);
        let (config, source) = match saved_config(&folder)? {
            Some(config) => (config, ConfigSource::Saved(folder.config_file())),
            None => {
                let file = WeightFile::read(&path)?.renamed(&options.names);
                let model = file.infer_config()?;
                let reason = if folder.config_file().is_file() {
                    "the config.json beside it is not lenet-burn's"
                } else {
                    "no config.json beside it"
                };
                (
                    TrainingConfig::new().with_model(model),
                    ConfigSource::Inferred(reason.into()),
                )
            }
        };
        config.model.feature_sizes()?;
        let (net, _) = weights::load_with(config.model.init(device), &path, options)?;
        let mut model = Self::new(config, net, path.clone(), device);
        if matches!(source, ConfigSource::Saved(_)) {
            model.evaluation = folder.load_evaluation()?;
        }
        model.source = source;
        Ok(model)
    }

    /// The model this program ships (`assets/model/`: the recipe's network, see its README),
    /// built into the binary, so that it is the default `--model` from any folder and after
    /// `cargo install`. Its path reads [`SHIPPED_MODEL`].
    pub fn shipped(device: &Device) -> Result<Self> {
        const WEIGHTS: &[u8] = include_bytes!("../../../assets/model/model.bpk");
        const CONFIG: &str = include_str!("../../../assets/model/config.json");
        const EVALUATION: &str = include_str!("../../../assets/model/evaluation.json");
        let path = PathBuf::from(SHIPPED_MODEL);
        let config = TrainingConfig::from_json(CONFIG, &path)?;
        let file = WeightFile::from_burnpack_bytes(&path, WEIGHTS)?;
        let (net, _) =
            weights::load_file(config.model.init(device), file, &LoadOptions::default())?;
        let mut model = Self::new(config, net, path.clone(), device);
        model.evaluation = Some(SavedEvaluation::from_json(EVALUATION, &path)?);
        model.source = ConfigSource::Saved(path);
        Ok(model)
    }

    /// A network already in memory, with its configuration, computed by its backend's path
    /// ([`backend::compute_for`]).
    pub fn new(config: TrainingConfig, net: LeNet, path: PathBuf, device: &Device) -> Self {
        let compute = backend::compute_for(device);
        Self {
            inference: compute.inference_net(&net, device),
            compute,
            config,
            net,
            path,
            device: device.clone(),
            evaluation: None,
            source: ConfigSource::Inferred("built in memory".into()),
        }
    }

    /// The same model computed by `compute` instead (to compare the paths).
    pub fn with_compute(mut self, compute: Compute) -> Self {
        self.inference = compute.inference_net(&self.net, &self.device);
        self.compute = compute;
        self
    }

    /// How its passes are computed.
    pub fn compute(&self) -> Compute {
        self.compute
    }

    /// An image (MNIST form) as this network was trained to see it: deskewed when its
    /// configuration says so.
    pub fn preprocess(&self, pixels: Vec<u8>) -> Vec<u8> {
        if self.config.deskew {
            deskew::deskew(&pixels)
        } else {
            pixels
        }
    }

    /// Predictions for images in MNIST form (see [`crate::data::image`]), preprocessed first.
    pub fn predict(&self, images: Vec<Vec<u8>>) -> Vec<Prediction> {
        let images: Vec<Vec<u8>> = images.into_iter().map(|p| self.preprocess(p)).collect();
        self.predict_preprocessed(&images)
    }

    /// Predictions for images already [preprocessed](Self::preprocess).
    pub fn predict_preprocessed(&self, images: &[Vec<u8>]) -> Vec<Prediction> {
        let outputs = self
            .inference
            .outputs(&scaled_pixels(images.iter().map(Vec::as_slice)));
        outputs
            .chunks_exact(NUM_CLASSES)
            .map(|row| Prediction {
                class: argmax(row),
                outputs: row.try_into().expect("ten outputs"),
            })
            .collect()
    }

    /// Results on the test split of `data`, preprocessed as the network was trained.
    pub fn evaluate(&self, data: MnistSplits) -> Result<Evaluation> {
        let data = if self.config.deskew {
            data.deskewed()?
        } else {
            data
        };
        self.evaluate_preprocessed(&data.test)
    }

    /// Results on every image of `dataset`, whose images are already [preprocessed](Self::preprocess)
    /// (as a training run's test split is).
    pub fn evaluate_preprocessed(&self, dataset: &DigitDataset) -> Result<Evaluation> {
        let mut result = Evaluation::new();
        for start in (0..dataset.len()).step_by(EVAL_BATCH_SIZE) {
            let end = (start + EVAL_BATCH_SIZE).min(dataset.len());
            let items = dataset
                .get_many((start..end).collect())
                .map_err(LenetError::Dataset)?;
            let outputs = self.inference.outputs(&scaled_pixels(
                items.iter().map(|item| item.pixels.as_slice()),
            ));
            let targets: Vec<usize> = items.iter().map(|item| usize::from(item.label)).collect();
            result.add(&outputs, &targets);
        }
        Ok(result)
    }

    /// The network in a line: maps, kernels, subsampling and parameters per layer.
    pub fn describe(&self) -> String {
        crate::model::describe(&self.config.model, &self.net)
    }
}

/// The `config.json` of this project's run in `folder`: `None` when there is none or when it is
/// another program's (valid JSON without our `model` section); an error when it is ours but
/// broken.
fn saved_config(folder: &RunFolder) -> Result<Option<TrainingConfig>> {
    let path = folder.config_file();
    if !path.exists() {
        return Ok(None);
    }
    let text = crate::files::read_input_to_string(&path, crate::files::SMALL_TEXT)?;
    let ours = serde_json::from_str::<serde_json::Value>(&text)
        .map(|json| json.get("model").is_some_and(|m| m.get("c1").is_some()));
    match ours {
        Ok(false) => Ok(None),
        _ => TrainingConfig::from_json(&text, &path).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs that put all their weight on `class`.
    fn sure(class: usize) -> Vec<f32> {
        (0..NUM_CLASSES)
            .map(|c| if c == class { 0.9 } else { 0.1 })
            .collect()
    }

    #[test]
    fn errors_per_class_and_the_confusion_matrix_count_each_image_once() {
        let mut result = Evaluation::new();
        // Class 3: 4 images, one read as 8. Class 8: 1 image, right. Class 0: 2, both wrong.
        let (targets, predicted) = ([3, 3, 3, 3, 8, 0, 0], [3, 3, 8, 3, 8, 6, 9]);
        let outputs: Vec<f32> = predicted.iter().flat_map(|&p| sure(p)).collect();
        result.add(&outputs, &targets);
        assert_eq!((result.total, result.errors), (7, 3));
        assert!((result.error_rate() - 300.0 / 7.0).abs() < 1e-9);
        let rates = result.class_error_rates();
        assert_eq!((rates[3], rates[8], rates[0]), (25.0, 0.0, 100.0));
        assert!(rates[5].is_nan(), "no image of class 5");
        assert_eq!(result.confusion[3][8], 1);
        assert_eq!(result.confusion[0][6] + result.confusion[0][9], 2);
        let csv = result.confusion_csv();
        assert_eq!(csv.lines().count(), 11);
        assert!(
            csv.lines()
                .nth(4)
                .unwrap()
                .starts_with("3,0,0,0,3,0,0,0,0,1,0")
        );
        // ½‖t − y‖² of a right answer: ½(0.1² + 8·0.1²) = 0.05; of a wrong one 0.85.
        assert!((result.mse - (4.0 * 0.05 + 3.0 * 0.85) / 7.0).abs() < 1e-6);
    }

    #[test]
    fn an_answer_with_a_small_lead_is_unsure_between_the_two_first() {
        let mut outputs = [0.01; NUM_CLASSES];
        outputs[4] = 0.60;
        outputs[9] = 0.45;
        let hesitant = Prediction { class: 4, outputs };
        assert_eq!(hesitant.runner_up(), 9);
        assert!((hesitant.margin() - 0.15).abs() < 1e-6);
        assert_eq!(hesitant.unsure_between(), Some([4, 9]));
        outputs[9] = 0.02;
        let sure = Prediction { class: 4, outputs };
        assert_eq!(sure.unsure_between(), None);
    }

    #[test]
    fn argmax_takes_the_first_of_equal_values() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.3]), 0);
    }
}
