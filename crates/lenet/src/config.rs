//! The one training configuration ([`TrainingConfig`], saved as `config.json` beside the
//! artifacts) and the one definition of every setting a user can change
//! ([`TrainingOverrides`]): the trainer's flags (clap, flattened), the studies' `[base]` and
//! `set` tables (serde) and `config.json` (burn `Config`) all come from these two types.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::artifacts::RunFolder;
use crate::data::MnistSplits;
use crate::data::augment::Augment;
use crate::error::{self, LenetError};
use crate::model::{LeNetConfig, Subsampling};
use crate::weights::{LoadOptions, Names};

/// Everything a training run depends on. Saved as `config.json` beside the artifacts, so
/// evaluation and inference rebuild the model from files.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The network.
    pub model: LeNetConfig,
    /// Passes over the training split.
    #[config(default = 10)]
    pub epochs: usize,
    /// Images per SGD step.
    #[config(default = 50)]
    pub batch_size: usize,
    /// SGD learning rate η (constant, as in the paper).
    #[config(default = 1.0)]
    pub learning_rate: f64,
    /// Weight decay λ of the objective.
    #[config(default = 0.0)]
    pub lambda: f64,
    /// Seed of the initial weights, the data subsets and the shuffling.
    #[config(default = 42)]
    pub seed: u64,
    /// Size of the random training subset (`None`: the whole split).
    pub train_size: Option<usize>,
    /// Size of the random test subset (`None`: the whole split).
    pub test_size: Option<usize>,
    /// Deskew every image (training, test and `predict`) before it reaches the network.
    /// An `Option` so that configurations saved before this setting existed (no field: `None`)
    /// still load; use [`TrainingConfig::deskews`].
    pub deskew: Option<bool>,
    /// Weights to start from instead of the random initialisation (`.bpk`, `.safetensors`,
    /// `.pt`).
    pub init_from: Option<String>,
    /// SGD momentum μ (`None`: 0, plain SGD as in the paper). Like every setting added after
    /// the first release, an `Option` so that older `config.json` files still load.
    pub momentum: Option<f64>,
    /// How the learning rate changes over the run (`None`: constant, as in the paper).
    pub schedule: Option<Schedule>,
    /// Random distortions of the training images, new every epoch (`None`: none).
    pub augment: Option<Augment>,
    /// How the initial weights are drawn (`None`: the toolbox's).
    pub init: Option<Init>,
    /// Hold out the last this many training images and test on them instead of the test
    /// split: a validation run, for choosing settings without looking at the test set.
    pub holdout: Option<usize>,
    /// Renaming rules (`FROM=TO`) for the tensors of `init_from`.
    pub remap: Option<Vec<String>>,
    /// Take only the tensors of `init_from` whose names match this regular expression; the
    /// others keep their random initial values.
    pub init_only: Option<String>,
}

/// How the initial weights are drawn: uniform in `±gain·sqrt(6/(fan_in + fan_out))`, biases 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Gain 1, as the MATLAB toolbox the paper's network comes from (and Glorot and Bengio's
    /// bound for tanh units).
    #[default]
    Toolbox,
    /// Gain 4, Glorot and Bengio's (2010) bound for logistic sigmoid units, whose slope at 0 is
    /// ¼: the signal keeps its scale through the layers instead of shrinking ~16x per layer.
    Logistic,
}

impl Init {
    /// The factor on the toolbox's bound.
    pub fn gain(self) -> f64 {
        match self {
            Init::Toolbox => 1.0,
            Init::Logistic => 4.0,
        }
    }
}

/// How the learning rate changes over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// η throughout (the paper's).
    #[default]
    Constant,
    /// From η down to η/100 along a half cosine over all the run's steps (burn's
    /// `CosineAnnealingLrScheduler`; it needs η ≤ 1).
    Cosine,
}

impl Default for TrainingConfig {
    /// The paper's network and the trainer's defaults.
    fn default() -> Self {
        Self::new(LeNetConfig::new())
    }
}

impl TrainingConfig {
    /// Rejects settings no run can use, naming the setting (as on the command line) and its
    /// valid range.
    pub fn validate(&self) -> error::Result<()> {
        self.model.feature_sizes()?;
        if self.epochs == 0 {
            return Err(LenetError::invalid("epochs", 0, "at least 1"));
        }
        if self.batch_size == 0 {
            return Err(LenetError::invalid("batch-size", 0, "at least 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(LenetError::invalid(
                "lr",
                self.learning_rate,
                "a finite number > 0",
            ));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(LenetError::invalid(
                "lambda",
                self.lambda,
                "a finite number >= 0",
            ));
        }
        if !(0.0..1.0).contains(&self.momentum()) {
            return Err(LenetError::invalid(
                "momentum",
                self.momentum(),
                "a number in [0, 1)",
            ));
        }
        self.init_options()?;
        if self.schedule() == Schedule::Cosine && self.learning_rate > 1.0 {
            return Err(LenetError::invalid(
                "lr",
                self.learning_rate,
                "at most 1 with --schedule cosine (burn's cosine scheduler)",
            ));
        }
        Ok(())
    }

    /// SGD momentum (0 when not set).
    pub fn momentum(&self) -> f64 {
        self.momentum.unwrap_or(0.0)
    }

    /// The learning-rate schedule (constant when not set).
    pub fn schedule(&self) -> Schedule {
        self.schedule.unwrap_or_default()
    }

    /// The training images' distortions (none when not set).
    pub fn augment(&self) -> Augment {
        self.augment.unwrap_or_default()
    }

    /// How `init_from` is read: renaming rules, and the tensors to take.
    pub fn init_options(&self) -> error::Result<LoadOptions> {
        let rules = self.remap.clone().unwrap_or_default();
        let names = Names::with_rules(&rules)
            .map_err(|reason| LenetError::invalid("remap", rules.join(" "), reason))?;
        let only = match &self.init_only {
            Some(pattern) => Some(regex::Regex::new(&format!("^(?:{pattern})")).map_err(|e| {
                LenetError::invalid("init-only", pattern, format!("a regular expression ({e})"))
            })?),
            None => None,
        };
        Ok(LoadOptions { names, only })
    }

    /// The initialisation (the toolbox's when not set).
    pub fn init(&self) -> Init {
        self.init.unwrap_or_default()
    }

    /// [`Self::validate`], and the settings that depend on the data: the batch must fit in
    /// the training split.
    pub fn validate_for(&self, data: &MnistSplits) -> error::Result<()> {
        self.validate()?;
        if self.batch_size > data.train.len() {
            return Err(LenetError::invalid(
                "batch-size",
                self.batch_size,
                format!("1..={} (the number of training images)", data.train.len()),
            ));
        }
        Ok(())
    }

    /// Whether images are deskewed.
    pub fn deskews(&self) -> bool {
        self.deskew.unwrap_or(false)
    }

    /// The data this configuration trains and tests on: its random subsets of `data`,
    /// deskewed when it says so.
    pub fn prepare_data(&self, data: MnistSplits) -> error::Result<MnistSplits> {
        let data = match self.holdout {
            Some(n) => data.hold_out(n)?,
            None => data,
        };
        let data = data.subset(self.train_size, self.test_size, self.seed)?;
        if self.deskews() {
            data.deskewed()
        } else {
            Ok(data)
        }
    }

    /// A configuration from the text of a `config.json` (`path` names it in errors).
    pub fn from_json(text: &str, path: &Path) -> error::Result<Self> {
        Self::load_binary(text.as_bytes()).map_err(|source| LenetError::Config {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Loads the configuration saved in a run folder.
    pub fn load_from(artifact_dir: &Path) -> error::Result<Self> {
        let path = RunFolder::new(artifact_dir).config_file();
        Self::load(&path).map_err(|source| LenetError::Config { path, source })
    }
}

/// Every setting of a run, each optional: what a command line, a study's table or a resumed
/// run changes in a [`TrainingConfig`]. The one place a setting is defined: clap flattens it
/// into the trainer's flags (the defaults shown in `--help` are [`TrainingConfig::default`]'s,
/// see [`crate::cli::show_defaults`]) and serde reads it from the studies' TOML files, with the
/// field names of `config.json`.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingOverrides {
    /// Passes over the training set (with --resume: the new total).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Images per SGD step.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// SGD learning rate η.
    #[arg(long = "lr", value_name = "ETA", allow_negative_numbers = true)]
    pub learning_rate: Option<f64>,
    /// Weight decay λ in E = 1/m Σ ½‖t−y‖² + λ/2 Σ W².
    #[arg(long, allow_negative_numbers = true)]
    pub lambda: Option<f64>,
    /// Feature maps of C1.
    #[arg(long, value_name = "MAPS")]
    pub c1: Option<usize>,
    /// Feature maps of C3.
    #[arg(long, value_name = "MAPS")]
    pub c3: Option<usize>,
    /// Side of the square convolution kernels.
    #[arg(long, value_name = "K")]
    pub kernel_size: Option<usize>,
    /// Subsampling layers: a plain 2x2 mean, or the paper's formula (3), rescaled:
    /// sigmoid(4·(mean−½) + bias).
    #[arg(long, value_enum)]
    pub subsampling: Option<Subsampling>,
    /// Seed of the initial weights, the data subsets and the shuffling.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train on a random subset of this many training images (the paper: 2000).
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,
    /// Test on a random subset of this many test images (the paper: 1000).
    #[arg(long, value_name = "M")]
    pub test_size: Option<usize>,
    /// Deskew every image (training, test, and later eval/predict with this model).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub deskew: Option<bool>,
    /// Start from these weights instead of random ones: any model --model reads (.bpk,
    /// .safetensors, PyTorch .pt/.pth, burn 0.13-0.21 .mpk/.mpk.gz, a run folder).
    #[arg(long, value_name = "FILE")]
    pub init_from: Option<PathBuf>,
    /// SGD momentum μ (0: plain SGD, the paper's).
    #[arg(long, value_name = "MU")]
    pub momentum: Option<f64>,
    /// How the learning rate changes over the run.
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// Random distortions of the training images, new every epoch.
    #[arg(long, value_enum)]
    pub augment: Option<Augment>,
    /// How the initial weights are drawn.
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// Validation run: hold out the last N training images and test on them (the test split
    /// is not used).
    #[arg(long, value_name = "N")]
    pub holdout: Option<usize>,
    /// Rename the --init-from file's tensors: FROM is a regular expression, TO its
    /// replacement (repeatable; before the built-in table of other programs' names).
    #[arg(long, value_name = "FROM=TO")]
    pub remap: Option<Vec<String>>,
    /// Take from --init-from only the tensors whose names match (e.g. 'c1|c3'); the others
    /// keep their random initial values.
    #[arg(long, value_name = "REGEX", requires = "init_from")]
    pub init_only: Option<String>,
}

impl TrainingOverrides {
    /// `config` with every setting given here replaced.
    pub fn apply(&self, config: TrainingConfig) -> TrainingConfig {
        let model = &config.model;
        let model = LeNetConfig {
            c1: self.c1.unwrap_or(model.c1),
            c3: self.c3.unwrap_or(model.c3),
            kernel_size: self.kernel_size.unwrap_or(model.kernel_size),
            subsampling: self.subsampling.unwrap_or(model.subsampling),
        };
        TrainingConfig {
            model,
            epochs: self.epochs.unwrap_or(config.epochs),
            batch_size: self.batch_size.unwrap_or(config.batch_size),
            learning_rate: self.learning_rate.unwrap_or(config.learning_rate),
            lambda: self.lambda.unwrap_or(config.lambda),
            seed: self.seed.unwrap_or(config.seed),
            train_size: self.train_size.or(config.train_size),
            test_size: self.test_size.or(config.test_size),
            deskew: self.deskew.or(config.deskew),
            init_from: self
                .init_from
                .as_ref()
                .map(|p| p.display().to_string())
                .or(config.init_from),
            momentum: self.momentum.or(config.momentum),
            schedule: self.schedule.or(config.schedule),
            augment: self.augment.or(config.augment),
            init: self.init.or(config.init),
            holdout: self.holdout.or(config.holdout),
            remap: self.remap.clone().or(config.remap),
            init_only: self.init_only.clone().or(config.init_only),
        }
    }

    /// These settings with every one `other` gives replaced by `other`'s.
    pub fn then(&self, other: &TrainingOverrides) -> TrainingOverrides {
        let mut merged = self.given();
        merged.extend(other.given());
        serde_json::from_value(serde_json::Value::Object(merged))
            .expect("settings read back from their own serialisation")
    }

    /// The settings given here, by name.
    fn given(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self).expect("settings serialise") {
            serde_json::Value::Object(map) => {
                map.into_iter().filter(|(_, v)| !v.is_null()).collect()
            }
            _ => unreachable!("a struct serialises to an object"),
        }
    }

    /// The default configuration with these settings, validated.
    pub fn config(&self) -> error::Result<TrainingConfig> {
        let config = self.apply(TrainingConfig::default());
        config.validate()?;
        Ok(config)
    }

    /// The settings given here, other than `epochs`, whose values differ from `saved`'s: what
    /// a resumed run, which continues with its saved configuration, cannot change. Repeating
    /// a value the run already has is fine.
    pub fn fixed_by_resume(&self, saved: &TrainingConfig) -> Vec<String> {
        let mut changed = self.apply(saved.clone());
        changed.epochs = saved.epochs;
        let (changed, saved) = (flat_json(&changed), flat_json(saved));
        self.given()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name != "epochs" && changed.get(name) != saved.get(name))
            .collect()
    }
}

/// A configuration as JSON with the model's fields beside the others (the names
/// [`TrainingOverrides`] gives them).
fn flat_json(config: &TrainingConfig) -> serde_json::Map<String, serde_json::Value> {
    let mut map = match serde_json::to_value(config).expect("a configuration serialises") {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a struct serialises to an object"),
    };
    if let Some(serde_json::Value::Object(model)) = map.remove("model") {
        map.extend(model);
    }
    map
}
