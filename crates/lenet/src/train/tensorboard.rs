//! [`TensorBoardLogger`]: a burn-train metric logger that writes a run's curves and settings
//! into its folder as TensorBoard event files ([`crate::tensorboard`]), so that
//! `tensorboard --logdir runs/` shows every run beside the others.
//!
//! What it writes, with the number of training images seen as the step (the x-axis of the
//! paper's Fig. 7, and one axis for every curve, which a resumed run needs):
//! - every epoch, at the images seen by its end: `loss/train`, `error/train`, `loss/test` and
//!   `error/test` (`loss/validation` and `error/validation` for a `--holdout` run) and
//!   `learning_rate` (the epoch's mean), the numbers the dashboard and the epoch lines show;
//! - every [`BATCH_EVERY`] training batches: `loss/train_batch`, that batch's objective;
//! - at the start, the HParams plugin's session (every setting of `config.json`), and at the end
//!   whether the run completed, so that the HParams tab lists a study's runs with their settings
//!   and final errors.
//!
//! A resumed run writes a new file that starts with a restart marker at the first image after
//! its checkpoint: TensorBoard drops what the interrupted run had logged past it, so each point
//! is there once. A failure to write (a full disk) is said once and stops the logging, never
//! the training.

use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, NumericEntry};

use super::recorder::{LEARNING_RATE, MetricNames};
use crate::config::TrainingConfig;
use crate::metric::ErrorRateMetric;
use crate::tensorboard::{EventWriter, HParam, RunStatus};

/// A training batch's loss is logged every this many batches.
pub const BATCH_EVERY: usize = 25;

/// A run's event file, shared by its logger and [`crate::train()`], which records the end.
#[derive(Debug, Clone)]
pub struct TensorBoard {
    writer: Arc<Mutex<Option<EventWriter>>>,
}

impl TensorBoard {
    /// [`Self::create`], or `None` after saying why on stderr: the events are never worth
    /// stopping a run for.
    pub fn open(
        dir: &Path,
        config: &TrainingConfig,
        train_images: usize,
        resumed_after: Option<usize>,
    ) -> Option<Self> {
        Self::create(dir, config, train_images, resumed_after)
            .map_err(|error| {
                eprintln!("warning: {}: no TensorBoard events: {error}", dir.display())
            })
            .ok()
    }

    /// A new event file in the run folder `dir` for a run of `config` (resumed after
    /// `resumed_after` epochs of `train_images` images), its settings already written.
    pub fn create(
        dir: &Path,
        config: &TrainingConfig,
        train_images: usize,
        resumed_after: Option<usize>,
    ) -> std::io::Result<Self> {
        let mut writer = EventWriter::create(dir)?;
        if let Some(epoch) = resumed_after {
            writer.restart_at(step(epoch, train_images) + 1)?;
        }
        writer.session_start(&hparams(config))?;
        writer.flush()?;
        Ok(Self {
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Runs `write` on the file; on an error says so once and writes nothing more.
    fn with(&self, write: impl FnOnce(&mut EventWriter) -> std::io::Result<()>) {
        let mut writer = self.writer.lock().expect("event writer poisoned");
        if let Some(file) = writer.as_mut()
            && let Err(error) = write(file).and_then(|()| file.flush())
        {
            eprintln!(
                "warning: {}: {error}; no more TensorBoard events for this run",
                file.path().display()
            );
            *writer = None;
        }
    }

    /// Records how the run ended.
    pub fn end(&self, status: RunStatus) {
        self.with(|file| file.session_end(status));
    }
}

/// The images seen by the end of `epoch`.
fn step(epoch: usize, train_images: usize) -> i64 {
    (epoch * train_images) as i64
}

/// Every setting of `config.json` for the HParams tab (a setting left unset, or an empty list,
/// is not listed).
fn hparams(config: &TrainingConfig) -> Vec<(String, HParam)> {
    crate::settings::by_name(config)
        .into_iter()
        .filter_map(|(name, value)| {
            let value = match value {
                serde_json::Value::Null => return None,
                serde_json::Value::Array(list) if list.is_empty() => return None,
                serde_json::Value::Bool(b) => HParam::Bool(b),
                serde_json::Value::Number(n) => HParam::Number(n.as_f64()?),
                serde_json::Value::String(s) => HParam::Text(s),
                other => HParam::Text(other.to_string()),
            };
            Some((name, value))
        })
        .collect()
}

/// Writes a run's metrics as TensorBoard events; see the module documentation.
pub struct TensorBoardLogger {
    file: TensorBoard,
    names: MetricNames,
    train_images: usize,
    /// "test", or "validation" for a `--holdout` run.
    test_split: &'static str,
    /// Training images and batches of the epoch so far.
    images: usize,
    batches: usize,
    /// The epoch's values by name, per split.
    train: Vec<(String, f64)>,
    test: Vec<(String, f64)>,
}

impl TensorBoardLogger {
    /// A logger into `file` for a run over `train_images` training images, `validation` when
    /// its test split is a validation split.
    pub fn new(file: TensorBoard, train_images: usize, validation: bool) -> Self {
        Self {
            file,
            names: MetricNames::default(),
            train_images,
            test_split: if validation { "validation" } else { "test" },
            images: 0,
            batches: 0,
            train: Vec::new(),
            test: Vec::new(),
        }
    }

    fn finish_epoch(&mut self, epoch: usize) {
        let value = |values: &[(String, f64)], name: &str| {
            values
                .iter()
                .find(|(n, _)| n == name)
                .map_or(f64::NAN, |&(_, v)| v)
        };
        let loss = super::recorder::loss_name();
        let (train, test) = (
            std::mem::take(&mut self.train),
            std::mem::take(&mut self.test),
        );
        let (test_loss, test_error) = (
            format!("loss/{}", self.test_split),
            format!("error/{}", self.test_split),
        );
        let scalars = [
            ("loss/train", value(&train, &loss)),
            ("error/train", value(&train, ErrorRateMetric::NAME)),
            (test_loss.as_str(), value(&test, &loss)),
            (test_error.as_str(), value(&test, ErrorRateMetric::NAME)),
            ("learning_rate", value(&train, LEARNING_RATE)),
        ];
        let at = step(epoch, self.train_images);
        self.file.with(|file| file.scalars(at, &scalars));
        self.images = 0;
        self.batches = 0;
    }
}

impl MetricLogger for TensorBoardLogger {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        let values = self.names.read(&update, split);
        match split {
            Split::Valid => self.test.extend(values.finals),
            _ => self.train.extend(values.finals),
        }
        if let Some(loss) = values.batch_loss {
            self.images += values.batch_images;
            self.batches += 1;
            if self.batches.is_multiple_of(BATCH_EVERY) {
                let at = step(epoch - 1, self.train_images) + self.images as i64;
                self.file
                    .with(|file| file.scalars(at, &[("loss/train_batch", loss)]));
            }
        }
    }

    fn read_numeric(
        &mut self,
        _name: &str,
        _epoch: usize,
        _split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        // The run's recorder answers burn-train's questions; this logger only writes.
        Err("the TensorBoard logger keeps no values".into())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.names.define(&definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if summary.split == Split::Valid {
            self.finish_epoch(summary.epoch_number);
        }
    }
}
