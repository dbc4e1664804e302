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
    let mut config = TrainingConfig::default();
    settings.apply_to(&mut config);
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

/// Seeds per line a committed curve study runs unless its `few_seeds_reason` says why not.
pub const MIN_SEEDS: usize = 3;

/// One line of a curve study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Legend label.
    pub label: String,
    /// Settings on top of the study's `base`.
    #[serde(default)]
    pub set: Settings,
    /// Seeds of this line instead of the study's (e.g. one seed for an ablation's lines).
    pub seeds: Option<Vec<u64>>,
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
        /// Train on at most this many images (linfa's dense kernel matrix grows as n²).
        max_train: Option<usize>,
        /// Choose C and γ on the first this many training images (their last
        /// `validation_fraction` held out) rather than on all of them.
        select_on: Option<usize>,
        /// Which implementation fits the SVMs.
        #[serde(default)]
        solver: SvmSolver,
    },
    /// The paper's network, trained with these settings.
    Cnn {
        /// Training settings (boxed: every setting is an `Option`, so they outweigh the other
        /// methods' fields).
        #[serde(default)]
        set: Box<Settings>,
    },
}

/// An SVM implementation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SvmSolver {
    /// linfa-svm, one-vs-rest with Platt scaling: a dense n² kernel matrix, so small sets only.
    #[default]
    Linfa,
    /// libsvm (Debian's `libsvm-tools`: `svm-train`, `svm-predict`): SMO with a kernel cache
    /// and shrinking, one-vs-one; scales to full MNIST.
    Libsvm,
}

/// The test error (%) whose first crossing a curve study reports when it names no `levels`,
/// as a measure of speed.
pub const DEFAULT_LEVEL: f64 = 20.0;

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
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    /// File-name-safe name; results go to `<results>/<name>/`.
    pub name: String,
    /// Heading in the report.
    pub title: String,
    /// What the paper claims, in a sentence or two.
    pub claim: String,
    /// Our reading of the measured results against the claim (written after running; the
    /// report places it under the measured numbers).
    pub discussion: String,
    /// A figure's curves or a table's rows.
    pub kind: StudyKind,
}

/// What a study measures.
#[derive(Debug, Clone, PartialEq)]
pub enum StudyKind {
    /// Curves of a figure: the network trained per variant and seed.
    Curves(Box<CurveStudy>),
    /// Rows of a table: classifiers on data protocols.
    Table(TableStudy),
}

/// A figure: one curve per variant, each the mean (and min-max band) over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveStudy {
    /// What to plot.
    pub curve: Curve,
    /// One run per variant and seed.
    pub seeds: Vec<u64>,
    /// Settings shared by all variants.
    pub base: Settings,
    /// The lines.
    pub variants: Vec<Variant>,
    /// Test errors (%) whose first crossing the report gives, in epochs and seconds.
    pub levels: Vec<f64>,
    /// Why some lines run fewer than [`MIN_SEEDS`] seeds (e.g. a long ablation), when they do.
    pub few_seeds_reason: Option<String>,
}

/// A table: classifiers × data protocols.
#[derive(Debug, Clone, PartialEq)]
pub struct TableStudy {
    /// Data protocols.
    pub protocols: Vec<Protocol>,
    /// Classifiers.
    pub classifiers: Vec<Classifier>,
}

/// A definition file as written: both kinds' fields, checked and sorted into a [`Study`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    name: String,
    title: String,
    claim: String,
    #[serde(default)]
    discussion: String,
    curve: Option<Curve>,
    #[serde(default)]
    seeds: Vec<u64>,
    #[serde(default)]
    base: Settings,
    #[serde(default, rename = "variant")]
    variants: Vec<Variant>,
    levels: Option<Vec<f64>>,
    few_seeds_reason: Option<String>,
    #[serde(default, rename = "protocol")]
    protocols: Vec<Protocol>,
    #[serde(default, rename = "classifier")]
    classifiers: Vec<Classifier>,
}

impl Study {
    /// Reads and checks a definition file.
    pub fn load(path: &Path) -> Result<Self> {
        let invalid = |reason: String| ExperimentError::Definition {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        let file: StudyFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        Study::try_from(file).map_err(invalid)
    }

    /// The study's curves, if it is a figure.
    pub fn curves(&self) -> Option<&CurveStudy> {
        match &self.kind {
            StudyKind::Curves(curves) => Some(curves),
            StudyKind::Table(_) => None,
        }
    }

    /// Whether its runs are tested on a validation split of the training set (`holdout` in a
    /// curve study's base) rather than on the test set.
    pub fn on_validation(&self) -> bool {
        self.curves().is_some_and(|c| c.base.holdout.is_some())
    }
}

impl TryFrom<StudyFile> for Study {
    type Error = String;

    /// Checks everything that can be checked before any work, naming the field.
    fn try_from(file: StudyFile) -> std::result::Result<Self, String> {
        let safe = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if file.name.is_empty() || !file.name.chars().all(safe) {
            return Err(format!(
                "name: expected letters, digits, '_' or '-', found {:?}",
                file.name
            ));
        }
        let kind = match (file.classifiers.is_empty(), file.variants.is_empty()) {
            (false, false) => {
                return Err("give either [[variant]] or [[classifier]], not both".into());
            }
            (true, true) => {
                return Err("no [[variant]] (curve study) or [[classifier]] (table study)".into());
            }
            (true, false) => {
                let curve = file
                    .curve
                    .ok_or("curve: expected \"test_error\" or \"train_mse\"")?;
                let curves = CurveStudy {
                    curve,
                    seeds: file.seeds,
                    base: file.base,
                    variants: file.variants,
                    levels: file.levels.unwrap_or_else(|| vec![DEFAULT_LEVEL]),
                    few_seeds_reason: file.few_seeds_reason,
                };
                curves.check()?;
                StudyKind::Curves(Box::new(curves))
            }
            (false, true) => {
                let table = TableStudy {
                    protocols: file.protocols,
                    classifiers: file.classifiers,
                };
                table.check()?;
                StudyKind::Table(table)
            }
        };
        Ok(Study {
            name: file.name,
            title: file.title,
            claim: file.claim,
            discussion: file.discussion,
            kind,
        })
    }
}

impl CurveStudy {
    /// The training configuration of `variant` with `seed`.
    pub fn variant_config(&self, variant: &Variant, seed: u64) -> lenet::Result<TrainingConfig> {
        training_config(&self.base.then(&variant.set), seed)
    }

    /// The seeds of `variant`: its own, or the study's.
    pub fn seeds_of<'a>(&'a self, variant: &'a Variant) -> &'a [u64] {
        variant.seeds.as_deref().unwrap_or(&self.seeds)
    }

    /// The fewest seeds any line runs (below [`MIN_SEEDS`] a committed study says why in
    /// `few_seeds_reason`).
    pub fn fewest_seeds(&self) -> usize {
        self.variants
            .iter()
            .map(|v| self.seeds_of(v).len())
            .min()
            .unwrap_or(0)
    }

    fn check(&self) -> std::result::Result<(), String> {
        check_seeds("seeds", &self.seeds)?;
        if let Some(level) = self.levels.iter().find(|l| !(0.0..=100.0).contains(*l)) {
            return Err(format!(
                "levels: expected test errors in 0..=100 %, found {level}"
            ));
        }
        check_names("variant", self.variants.iter().map(|v| &v.label))?;
        for variant in &self.variants {
            if let Some(seeds) = &variant.seeds {
                check_seeds(&format!("variant {:?}: seeds", variant.label), seeds)?;
            }
            self.variant_config(variant, 0)
                .map_err(|e| format!("variant {:?}: {e}", variant.label))?;
        }
        match &self.few_seeds_reason {
            Some(reason) if reason.trim().is_empty() => {
                Err("few_seeds_reason: expected a reason, found an empty text".into())
            }
            Some(_) if self.fewest_seeds() >= MIN_SEEDS => Err(format!(
                "few_seeds_reason: given, but every line runs at least {MIN_SEEDS} seeds; remove it"
            )),
            _ => Ok(()),
        }
    }
}

impl TableStudy {
    fn check(&self) -> std::result::Result<(), String> {
        if self.protocols.is_empty() {
            return Err("no [[protocol]]".into());
        }
        check_names("protocol", self.protocols.iter().map(|p| &p.label))?;
        check_names("classifier", self.classifiers.iter().map(|c| &c.name))?;
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
                    select_on,
                    ..
                } => {
                    let positive =
                        |v: &[f64]| !v.is_empty() && v.iter().all(|x| x.is_finite() && *x > 0.0);
                    if !positive(c) || !positive(gamma) {
                        return fail("c and gamma: expected lists of finite numbers > 0".into());
                    }
                    if *max_train == Some(0) {
                        return fail("max_train: expected at least 1".into());
                    }
                    if select_on.is_some_and(|n| n < 10) {
                        return fail("select_on: expected at least 10 images".into());
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

    /// Why `classifier` is not run on `protocol`, if it is not.
    pub fn skip_reason(protocol: &Protocol, classifier: &Classifier) -> Option<String> {
        protocol
            .skip
            .iter()
            .find(|s| s.classifier == classifier.name)
            .map(|s| s.reason.clone())
    }
}

/// A file-name-safe form of a label: lowercase letters and digits, `-` between words.
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == '.' {
            out.push('p');
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Two labels whose runs would share a file name ([`slug`]), or a label that names none: `what`
/// is `variant`, `protocol` or `classifier`.
fn check_names<'a>(
    what: &str,
    labels: impl IntoIterator<Item = &'a String>,
) -> std::result::Result<(), String> {
    let mut names = std::collections::HashMap::new();
    for label in labels {
        let name = slug(label);
        if name.is_empty() {
            return Err(format!(
                "{what} {label:?}: the label needs a letter or digit (its runs are named after it)"
            ));
        }
        match names.insert(name.clone(), label) {
            Some(other) if other == label => {
                return Err(format!("{what} {label:?}: label used twice"));
            }
            Some(other) => {
                return Err(format!(
                    "{what}s {other:?} and {label:?}: both name the runs {name}-*; make them \
                     differ in a letter or digit"
                ));
            }
            None => {}
        }
    }
    Ok(())
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
