//! Study definitions: the TOML files under `experiments/`, one per figure or table of the paper.
//!
//! A *curve study* (Figures 4-7) trains the network once per variant and seed and plots a curve
//! per variant; a *table study* (Table 1) runs classifiers on data protocols and reports final
//! test errors.

use std::path::{Path, PathBuf};

use lenet::TrainingConfig;
use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, Result};

/// Training settings; any left out keep the trainer's defaults (or the study's `base`): the
/// library's one definition of the settings, read from TOML with the names of `config.json`.
pub use lenet::TrainingOverrides as Settings;

/// The training configuration of `settings` with `seed`, validated.
pub fn training_config(settings: &Settings, seed: u64) -> lenet::Result<TrainingConfig> {
    let mut config = settings.apply(TrainingConfig::default());
    config.seed = seed;
    config.validate()?;
    Ok(config)
}

/// What a curve study plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Curve {
    /// Test error (%) against epoch (Figures 4-6).
    TestError,
    /// Training MSE against the number of training samples seen (Figure 7).
    TrainMse,
}

/// One line of a curve study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Legend label.
    pub label: String,
    /// Settings on top of the study's `base`.
    #[serde(default)]
    pub set: Settings,
}

/// A data protocol of a table study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Row-group label.
    pub label: String,
    /// Random training subset size (absent: all 60 000).
    pub train_size: Option<usize>,
    /// Random test subset size (absent: all 10 000).
    pub test_size: Option<usize>,
    /// Seeds: each draws its own subsets, validation split and initial weights.
    pub seeds: Vec<u64>,
    /// Settings for the network on this protocol (on top of the classifier's).
    #[serde(default)]
    pub cnn: Settings,
    /// Classifiers not run on this protocol, each with the reason shown in the report.
    #[serde(default)]
    pub skip: Vec<Skip>,
}

/// A classifier left out of a protocol, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skip {
    /// The classifier's name.
    pub classifier: String,
    /// Why (shown in the report).
    pub reason: String,
}

/// The kind of a classifier of Table 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Method {
    /// k nearest neighbours (Euclidean); `k` is chosen on a validation split when several
    /// are given.
    NearestNeighbour {
        /// Candidate k.
        k: Vec<usize>,
        /// Fraction of the training set held out to choose k.
        #[serde(default = "default_validation")]
        validation_fraction: f64,
    },
    /// One-vs-rest SVMs with an RBF kernel exp(−γ‖x−y‖²) on pixels in [0, 1]; C and γ chosen
    /// on a validation split.
    Svm {
        /// Candidate C.
        c: Vec<f64>,
        /// Candidate γ.
        gamma: Vec<f64>,
        /// Fraction of the training set held out to choose C and γ.
        #[serde(default = "default_validation")]
        validation_fraction: f64,
        /// Train on at most this many images (the dense kernel matrix grows as n²).
        max_train: Option<usize>,
    },
    /// The paper's network, trained with these settings.
    Cnn {
        /// Training settings.
        #[serde(default)]
        set: Settings,
    },
}

fn default_validation() -> f64 {
    0.2
}

/// One classifier of a table study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classifier {
    /// Row label.
    pub name: String,
    /// The paper's error for it, %.
    pub paper_error: Option<f64>,
    /// The paper's preprocessing column.
    #[serde(default)]
    pub paper_preprocessing: String,
    /// Deskew training and test images first.
    #[serde(default)]
    pub deskew: bool,
    /// How it classifies.
    pub model: Method,
}

/// One study: a figure or a table of the paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Study {
    /// File-name-safe name; results go to `<results>/<name>/`.
    pub name: String,
    /// Heading in the report.
    pub title: String,
    /// What the paper claims, in a sentence or two.
    pub claim: String,
    /// Our reading of the measured results against the claim (written after running; the
    /// report places it under the measured numbers).
    #[serde(default)]
    pub discussion: String,
    /// Curve studies: what to plot.
    pub curve: Option<Curve>,
    /// Curve studies: seeds, one run per variant and seed.
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// Curve studies: settings shared by all variants.
    #[serde(default)]
    pub base: Settings,
    /// Curve studies: the lines.
    #[serde(default, rename = "variant")]
    pub variants: Vec<Variant>,
    /// Table studies: data protocols.
    #[serde(default, rename = "protocol")]
    pub protocols: Vec<Protocol>,
    /// Table studies: classifiers.
    #[serde(default, rename = "classifier")]
    pub classifiers: Vec<Classifier>,
}

impl Study {
    /// Reads and checks a definition file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        let study: Study = toml::from_str(&text).map_err(|e| ExperimentError::Definition {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        study
            .check()
            .map_err(|reason| ExperimentError::Definition {
                path: path.to_path_buf(),
                reason,
            })?;
        Ok(study)
    }

    /// Whether this is a table study (else a curve study).
    pub fn is_table(&self) -> bool {
        !self.classifiers.is_empty()
    }

    /// The training configuration of `variant` with `seed`.
    pub fn variant_config(&self, variant: &Variant, seed: u64) -> lenet::Result<TrainingConfig> {
        training_config(&self.base.then(&variant.set), seed)
    }

    /// Checks everything that can be checked before any work, naming the field.
    fn check(&self) -> std::result::Result<(), String> {
        let safe = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if self.name.is_empty() || !self.name.chars().all(safe) {
            return Err(format!(
                "name: expected letters, digits, '_' or '-', found {:?}",
                self.name
            ));
        }
        match (self.is_table(), self.variants.is_empty()) {
            (true, false) => {
                return Err("give either [[variant]] or [[classifier]], not both".into());
            }
            (false, true) => {
                return Err("no [[variant]] (curve study) or [[classifier]] (table study)".into());
            }
            _ => {}
        }
        if self.is_table() {
            self.check_table()
        } else {
            self.check_curves()
        }
    }

    fn check_curves(&self) -> std::result::Result<(), String> {
        if self.curve.is_none() {
            return Err("curve: expected \"test_error\" or \"train_mse\"".into());
        }
        check_seeds("seeds", &self.seeds)?;
        let mut labels = std::collections::HashSet::new();
        for variant in &self.variants {
            if !labels.insert(&variant.label) {
                return Err(format!("variant {:?}: label used twice", variant.label));
            }
            self.variant_config(variant, 0)
                .map_err(|e| format!("variant {:?}: {e}", variant.label))?;
        }
        Ok(())
    }

    fn check_table(&self) -> std::result::Result<(), String> {
        if self.protocols.is_empty() {
            return Err("no [[protocol]]".into());
        }
        for protocol in &self.protocols {
            check_seeds(
                &format!("protocol {:?}: seeds", protocol.label),
                &protocol.seeds,
            )?;
            for skip in &protocol.skip {
                if !self.classifiers.iter().any(|c| c.name == skip.classifier) {
                    return Err(format!(
                        "protocol {:?}: skip names no classifier: {:?}",
                        protocol.label, skip.classifier
                    ));
                }
            }
        }
        for classifier in &self.classifiers {
            let fail = |what: String| Err(format!("classifier {:?}: {what}", classifier.name));
            match &classifier.model {
                Method::NearestNeighbour {
                    k,
                    validation_fraction,
                } => {
                    if k.is_empty() || k.contains(&0) {
                        return fail("k: expected a list of numbers >= 1".into());
                    }
                    check_fraction(*validation_fraction, k.len() > 1).or_else(&fail)?;
                }
                Method::Svm {
                    c,
                    gamma,
                    validation_fraction,
                    max_train,
                } => {
                    let positive =
                        |v: &[f64]| !v.is_empty() && v.iter().all(|x| x.is_finite() && *x > 0.0);
                    if !positive(c) || !positive(gamma) {
                        return fail("c and gamma: expected lists of finite numbers > 0".into());
                    }
                    if *max_train == Some(0) {
                        return fail("max_train: expected at least 1".into());
                    }
                    check_fraction(*validation_fraction, c.len() * gamma.len() > 1)
                        .or_else(&fail)?;
                }
                Method::Cnn { set } => {
                    for protocol in &self.protocols {
                        training_config(&set.then(&protocol.cnn), 0)
                            .map_err(|e| format!("classifier {:?}: {e}", classifier.name))?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_seeds(field: &str, seeds: &[u64]) -> std::result::Result<(), String> {
    let mut unique = seeds.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if seeds.is_empty() || unique.len() != seeds.len() {
        return Err(format!(
            "{field}: expected a list of distinct seeds, found {seeds:?}"
        ));
    }
    Ok(())
}

fn check_fraction(fraction: f64, needed: bool) -> std::result::Result<(), String> {
    if needed && !(fraction > 0.0 && fraction < 1.0) {
        return Err(format!(
            "validation_fraction: expected a number in (0, 1), found {fraction}"
        ));
    }
    Ok(())
}

/// Every `*.toml` definition in a folder, sorted by name.
pub fn definitions_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| ExperimentError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| ExperimentError::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}
