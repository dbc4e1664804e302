//! The one training configuration ([`TrainingConfig`], saved as `config.json` beside the
//! artifacts), where every setting of a run is defined once (see [`crate::settings`](mod@crate::settings)): the
//! trainer's flags and the studies' `[base]` and `set` tables ([`TrainingOverrides`]),
//! `config.json` and validation all follow from that one list.

use std::path::{Path, PathBuf};

use burn::config::ConfigError;
use serde::{Deserialize, Serialize};

use crate::artifacts::{RunFolder, StartMode};
use crate::data::augment::{self, Augment, Distortions};
use crate::data::{MnistSplits, RunData, Selection};
use crate::error::{self, LenetError};
use crate::model::{LeNetConfig, LeNetOverrides};
use crate::settings;
use crate::weights::{LoadOptions, Names};

crate::settings! {
    /// Everything a training run depends on. Saved as `config.json` beside the artifacts, so
    /// evaluation and inference rebuild the model from files. Every setting is defined here
    /// once (the network's in [`LeNetConfig`]): its doc (the flag's help), type, default, flag
    /// and valid range; [`TrainingOverrides`] is the same list, each setting optional.
    pub struct TrainingConfig / TrainingOverrides {
        nested model: LeNetConfig / LeNetOverrides;
        /// Passes over the training set (with --resume: the new total).
        #[arg(long, value_name = "N")]
        value epochs: usize = 10, valid(|v: &usize| *v >= 1, "at least 1");
        /// Images per SGD step.
        #[arg(long, value_name = "N")]
        value batch_size: usize = 50, valid(|v: &usize| *v >= 1, "at least 1");
        /// SGD learning rate η.
        #[arg(long = "lr", value_name = "ETA", allow_negative_numbers = true)]
        value learning_rate: f64 = 1.0,
            valid(|v: &f64| v.is_finite() && *v > 0.0, "a finite number > 0");
        /// Weight decay λ in E = 1/m Σ ½‖t−y‖² + λ/2 Σ W².
        #[arg(long, allow_negative_numbers = true)]
        value lambda: f64 = 0.0,
            valid(|v: &f64| v.is_finite() && *v >= 0.0, "a finite number >= 0");
        /// Seed of the initial weights, the data subsets and the shuffling.
        #[arg(long)]
        value seed: u64 = 42;
        /// Train on a random subset of this many training images (the paper: 2000).
        #[arg(long, value_name = "N")]
        optional train_size: usize;
        /// Test on a random subset of this many test images (the paper: 1000).
        #[arg(long, value_name = "M")]
        optional test_size: usize;
        /// Deskew every image (training, test, and later eval/predict with this model).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        value deskew: bool = false;
        /// Start from these weights instead of random ones: any model --model reads (.bpk,
        /// .safetensors, PyTorch .pt/.pth, burn 0.13-0.21 .mpk/.mpk.gz, a run folder).
        #[arg(long, value_name = "FILE")]
        optional init_from: PathBuf;
        /// SGD momentum μ (0: plain SGD, the paper's).
        #[arg(long, value_name = "MU")]
        value momentum: f64 = 0.0, valid(|v: &f64| (0.0..1.0).contains(v), "a number in [0, 1)");
        /// How the learning rate changes over the run.
        #[arg(long, value_enum)]
        value schedule: Schedule = Schedule::Constant;
        /// The epochs at the end of the run over which --schedule tail lowers the rate.
        #[arg(long, value_name = "N")]
        value decay_epochs: usize = 10, valid(|v: &usize| *v >= 1, "at least 1");
        /// Random distortions of the training images, new every epoch.
        #[arg(long, value_enum)]
        value augment: Augment = Augment::None;
        /// Largest rotation of --augment affine/both, degrees.
        #[arg(long, value_name = "DEGREES")]
        value rotation: f64 = augment::ROTATION_DEGREES,
            valid(|v: &f64| (0.0..=90.0).contains(v), "a number of degrees in 0..=90");
        /// Largest relative change of size of --augment affine/both (0.1: 0.9x to 1.1x).
        #[arg(long, value_name = "FRACTION")]
        value scaling: f64 = augment::SCALING,
            valid(|v: &f64| (0.0..0.5).contains(v), "a number in [0, 0.5)");
        /// Largest shift of --augment affine/both, pixels.
        #[arg(long, value_name = "PIXELS")]
        value shift: f64 = augment::SHIFT,
            valid(|v: &f64| (0.0..=14.0).contains(v), "a number of pixels in 0..=14");
        /// Standard deviation σ of the Gaussian that smooths --augment elastic/both's random
        /// field, pixels (Simard et al. 2003: 4).
        #[arg(long, value_name = "PIXELS")]
        value elastic_sigma: f64 = augment::ELASTIC_SIGMA,
            valid(|v: &f64| (0.0..=14.0).contains(v), "a number of pixels in 0..=14");
        /// Scale α of --augment elastic/both's field, pixels (Simard et al. 2003: 34).
        #[arg(long, value_name = "PIXELS")]
        value elastic_alpha: f64 = augment::ELASTIC_ALPHA,
            valid(|v: &f64| (0.0..=1000.0).contains(v), "a number in 0..=1000");
        /// Largest change of stroke thickness, pixels: each training image's strokes are
        /// thickened (grey-level dilation) or thinned (erosion) by a random amount up to this,
        /// with any --augment (0: none).
        #[arg(long, value_name = "PIXELS")]
        value thickness: f64 = augment::THICKNESS,
            valid(|v: &f64| (0.0..=2.0).contains(v), "a number of pixels in 0..=2");
        /// Largest blur of the training images: a Gaussian of σ drawn up to this many pixels,
        /// the ink then stretched back to 255, with any --augment (0: none).
        #[arg(long, value_name = "PIXELS")]
        value blur: f64 = augment::BLUR,
            valid(|v: &f64| (0.0..=3.0).contains(v), "a number of pixels in 0..=3");
        /// Lowest resolution of the training images: each digit is seen at a random number of
        /// pixels between this and 20 across MNIST's 20-pixel box (scaled down, then back up as
        /// predict scales up a small digit), with any --augment (0: full resolution only).
        #[arg(long, value_name = "PIXELS")]
        value resolution: f64 = augment::RESOLUTION,
            valid(|v: &f64| *v == 0.0 || (4.0..=20.0).contains(v), "0 or a number of pixels in 4..=20");
        /// How the initial weights are drawn.
        #[arg(long, value_enum)]
        value init: Init = Init::Toolbox;
        /// Validation run: hold out the last N training images and test on them (the test
        /// split is not used).
        #[arg(long, value_name = "N")]
        optional holdout: usize;
        /// Stop once the validation error has not improved for N epochs, and keep the best
        /// epoch's weights as the model (needs --holdout: choosing never looks at the test split).
        #[arg(long, value_name = "N")]
        optional patience: usize, valid(|v: &usize| *v >= 1, "at least 1");
        /// Rename the --init-from file's tensors: FROM is a regular expression, TO its
        /// replacement (repeatable; before the built-in table of other programs' names).
        #[arg(long, value_name = "FROM=TO")]
        value remap: Vec<String> = Vec::new();
        /// Take from --init-from only the tensors whose names match (e.g. 'c1|c3'); the others
        /// keep their random initial values.
        #[arg(long, value_name = "REGEX", requires = "init_from")]
        optional init_only: String;
    }
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
    /// η, then from η down to η/100 along a half cosine over the last `--decay-epochs`
    /// epochs (burn's `SequentialLrScheduler` of a constant and a cosine; it needs η ≤ 1).
    Tail,
}

impl TrainingConfig {
    /// Rejects settings no run can use, naming the setting (as on the command line) and its
    /// valid range: each setting's own range, then what depends on several.
    pub fn validate(&self) -> error::Result<()> {
        self.check_fields()?;
        self.model.feature_sizes()?;
        self.init_options()?;
        if self.patience.is_some() && self.holdout.is_none() {
            return Err(TrainingOverrides::invalid(
                "patience",
                self.patience.unwrap_or_default(),
                "--holdout N beside it (the best epoch is chosen on the validation split, \
                 never on the test split)",
            ));
        }
        if self.schedule != Schedule::Constant && self.learning_rate > 1.0 {
            return Err(TrainingOverrides::invalid(
                "learning_rate",
                self.learning_rate,
                "at most 1 with --schedule cosine or tail (burn's cosine scheduler)",
            ));
        }
        if self.schedule == Schedule::Tail && self.decay_epochs >= self.epochs {
            return Err(TrainingOverrides::invalid(
                "decay_epochs",
                self.decay_epochs,
                format!(
                    "fewer than --epochs ({}) with --schedule tail (or --schedule cosine, \
                     which decays over the whole run)",
                    self.epochs
                ),
            ));
        }
        Ok(())
    }

    /// The distortions of the training images: `augment` at this run's sizes.
    pub fn distortions(&self) -> Distortions {
        Distortions {
            augment: self.augment,
            rotation: self.rotation,
            scaling: self.scaling,
            shift: self.shift,
            elastic_sigma: self.elastic_sigma,
            elastic_alpha: self.elastic_alpha,
            thickness: self.thickness,
            blur: self.blur,
            resolution: self.resolution,
        }
    }

    /// How `init_from` is read: renaming rules, and the tensors to take.
    pub fn init_options(&self) -> error::Result<LoadOptions> {
        let rules = &self.remap;
        let names = Names::with_rules(rules)
            .map_err(|reason| TrainingOverrides::invalid("remap", rules.join(" "), reason))?;
        let only = match &self.init_only {
            Some(pattern) => Some(regex::Regex::new(&format!("^(?:{pattern})")).map_err(|e| {
                TrainingOverrides::invalid(
                    "init_only",
                    pattern,
                    format!("a regular expression ({e})"),
                )
            })?),
            None => None,
        };
        Ok(LoadOptions { names, only })
    }

    /// [`Self::validate`], and the settings that depend on the data: the batch must fit in
    /// the training split.
    pub fn validate_for(&self, data: &MnistSplits) -> error::Result<()> {
        self.validate()?;
        if self.batch_size > data.train.len() {
            return Err(TrainingOverrides::invalid(
                "batch_size",
                self.batch_size,
                format!("1..={} (the number of training images)", data.train.len()),
            ));
        }
        Ok(())
    }

    /// The settings that choose this run's images.
    pub fn selection(&self) -> Selection {
        Selection {
            holdout: self.holdout,
            train_size: self.train_size,
            test_size: self.test_size,
            seed: self.seed,
            deskew: self.deskew,
        }
    }

    /// The data this configuration trains and tests on, from MNIST as loaded: its holdout,
    /// its random subsets, deskewed when it says so.
    pub fn select_data(&self, data: MnistSplits) -> error::Result<RunData> {
        self.selection().apply(data)
    }

    /// A configuration from the text of a `config.json` (`path` names it in errors). Files of
    /// every earlier version load: a setting they lack, or wrote as `null`, takes its default.
    pub fn from_json(text: &str, path: &Path) -> error::Result<Self> {
        let error = |source| LenetError::Config {
            path: path.to_path_buf(),
            source: ConfigError::InvalidFormat(format!("{source}")),
        };
        let json: serde_json::Value = serde_json::from_str(text).map_err(error)?;
        serde_json::from_value(settings::without_nulls(json)).map_err(error)
    }

    /// Loads the configuration saved in a run folder.
    pub fn load_from(artifact_dir: &Path) -> error::Result<Self> {
        let path = RunFolder::new(artifact_dir).config_file();
        let text = crate::files::read_input_to_string(&path, crate::files::SMALL_TEXT)?;
        Self::from_json(&text, &path)
    }
}

impl TrainingOverrides {
    /// The default configuration with these settings, validated.
    pub fn config(&self) -> error::Result<TrainingConfig> {
        let mut config = TrainingConfig::default();
        self.apply_to(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// The configuration of a run started as `start` in `artifact_dir`: these settings over
    /// the defaults, or, resuming, the run's saved `config.json` with a new `epochs` (the
    /// total) when given. A resumed run's images and steps depend on its saved settings, so
    /// any other setting given with another value is refused by its flag.
    pub fn config_for(
        &self,
        start: StartMode,
        artifact_dir: &Path,
    ) -> error::Result<TrainingConfig> {
        if start != StartMode::Resume {
            return self.config();
        }
        if !RunFolder::new(artifact_dir).config_file().is_file() {
            return Err(LenetError::Artifact {
                path: artifact_dir.to_path_buf(),
                reason: format!(
                    "holds no run to resume (no {}); start it without --resume",
                    crate::artifacts::CONFIG_FILE
                ),
            });
        }
        let mut config = TrainingConfig::load_from(artifact_dir)?;
        let fixed = self.fixed_by_resume(&config);
        if !fixed.is_empty() {
            return Err(LenetError::Artifact {
                path: RunFolder::new(artifact_dir).config_file(),
                reason: format!(
                    "--resume continues with the run's saved configuration; only --epochs can \
                     change, not {}",
                    fixed.join(", ")
                ),
            });
        }
        if let Some(epochs) = self.epochs {
            config.epochs = epochs;
        }
        config.validate()?;
        Ok(config)
    }

    /// The settings given here, other than `epochs`, whose values differ from `saved`'s, by
    /// flag: what a resumed run, which continues with its saved configuration, cannot change.
    /// Repeating a value the run already has is fine.
    pub fn fixed_by_resume(&self, saved: &TrainingConfig) -> Vec<String> {
        self.changes(saved)
            .into_iter()
            .filter(|name| *name != "epochs")
            .map(|name| format!("--{}", settings::flag_of::<Self>(name)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;
    use crate::settings::Overrides;

    fn parse(args: &[&str]) -> TrainingOverrides {
        let command = TrainingOverrides::augment_args(clap::Command::new("trainer"));
        let matches = command
            .try_get_matches_from(std::iter::once("trainer").chain(args.iter().copied()))
            .unwrap();
        TrainingOverrides::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn a_resumed_run_keeps_its_saved_settings_and_takes_only_a_new_epoch_count() {
        let dir = tempfile::tempdir().unwrap();
        let missing = parse(&["--epochs", "5"])
            .config_for(StartMode::Resume, dir.path())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("holds no run to resume"), "{missing}");
        let saved = TrainingConfig::default()
            .with_learning_rate(0.5)
            .with_epochs(3);
        burn::config::Config::save(&saved, RunFolder::new(dir.path()).config_file()).unwrap();

        let resumed = parse(&["--epochs", "5", "--lr", "0.5"])
            .config_for(StartMode::Resume, dir.path())
            .unwrap();
        assert_eq!(
            resumed,
            saved.clone().with_epochs(5),
            "same values may be repeated"
        );
        let changed = parse(&["--lr", "0.1", "--seed", "3"])
            .config_for(StartMode::Resume, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            changed.contains("only --epochs can change, not --lr, --seed"),
            "{changed}"
        );
        // A fresh or overwriting start takes the flags over the defaults, whatever is saved.
        let fresh = parse(&["--lr", "0.1"])
            .config_for(StartMode::Overwrite, dir.path())
            .unwrap();
        assert_eq!(fresh, TrainingConfig::default().with_learning_rate(0.1));
    }

    #[test]
    fn every_setting_of_the_one_list_is_a_flag_a_config_json_field_and_a_table_key() {
        let names = TrainingOverrides::names();
        assert_eq!(names.len(), 30, "{names:?}");
        let defaults = settings::by_name(&TrainingConfig::default());
        let command = TrainingOverrides::augment_args(clap::Command::new("trainer"));
        for name in &names {
            let arg = command.get_arguments().find(|a| a.get_id() == *name);
            let arg = arg.unwrap_or_else(|| panic!("{name} has no flag"));
            assert!(
                arg.get_long().is_some() && arg.get_help().is_some(),
                "{name}"
            );
            assert!(defaults.contains_key(*name), "{name} is not in config.json");
        }
        assert_eq!(
            defaults.len(),
            names.len(),
            "config.json holds only settings"
        );
        // A table naming every setting with config.json's own values is read back and changes
        // nothing: each reaches its field.
        let table: serde_json::Map<_, _> = defaults
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .collect();
        let given = table.len();
        let overrides: TrainingOverrides = serde_json::from_value(table.into()).unwrap();
        assert_eq!(overrides.given().len(), given);
        assert!(overrides.changes(&TrainingConfig::default()).is_empty());
        assert_eq!(overrides.config().unwrap(), TrainingConfig::default());
    }

    #[test]
    fn flags_and_tables_reach_the_configuration_and_are_checked_by_flag() {
        let overrides = parse(&[
            "--lr",
            "0.5",
            "--c1",
            "8",
            "--deskew",
            "--train-size",
            "300",
        ]);
        let config = overrides.config().unwrap();
        assert_eq!((config.learning_rate, config.model.c1), (0.5, 8));
        assert!(config.deskew && config.train_size == Some(300));
        let mut fixed = overrides.fixed_by_resume(&TrainingConfig::default());
        fixed.sort();
        assert_eq!(fixed, ["--c1", "--deskew", "--lr", "--train-size"]);
        assert!(overrides.fixed_by_resume(&config).is_empty());

        // Later settings win; a table's unknown name is refused by name.
        let table: TrainingOverrides =
            serde_json::from_value(serde_json::json!({ "learning_rate": 0.25, "c3": 4 })).unwrap();
        let merged = overrides.then(&table).config().unwrap();
        assert_eq!(
            (merged.learning_rate, merged.model.c3, merged.model.c1),
            (0.25, 4, 8)
        );
        let typo = serde_json::from_value::<TrainingOverrides>(serde_json::json!({ "lr": 1 }));
        let message = typo.unwrap_err().to_string();
        assert!(message.contains("unknown setting `lr`"), "{message}");

        for (args, flag) in [
            (&["--lr", "-1"][..], "invalid lr = -1"),
            (&["--momentum", "1"], "invalid momentum = 1"),
            (&["--batch-size", "0"], "invalid batch-size = 0"),
            (&["--c3", "300"], "invalid c3 = 300"),
            (&["--kernel-size", "20"], "invalid kernel-size = 20"),
            (
                &["--schedule", "cosine", "--lr", "2"],
                "at most 1 with --schedule cosine",
            ),
        ] {
            let message = parse(args).config().unwrap_err().to_string();
            assert!(message.contains(flag), "{args:?}: {message}");
        }
    }
}
