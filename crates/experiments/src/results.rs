//! What a study leaves behind: `result.json` (read back by the report), CSV files, and the
//! statistics over seeds (mean with a min-max band).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, Result};
use crate::provenance::Provenance;
use crate::study::{Curve, Settings};

/// File of a study's results inside its results folder.
pub const RESULT_FILE: &str = "result.json";
/// File of a study's per-x statistics (curve studies) or rows (table studies).
pub const SUMMARY_FILE: &str = "summary.csv";
/// Folder of the per-run CSV files.
pub const RUNS_DIR: &str = "runs";

/// Mean, minimum and maximum over seeds at one x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Epoch or samples seen.
    pub x: f64,
    /// Mean over seeds.
    pub mean: f64,
    /// Smallest value over seeds.
    pub min: f64,
    /// Largest value over seeds.
    pub max: f64,
}

impl Band {
    /// Statistics of `values` at `x` (NaN for none).
    pub fn of(x: f64, values: &[f64]) -> Self {
        let n = values.len() as f64;
        Self {
            x,
            mean: values.iter().sum::<f64>() / n,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// Per-seed curves (same x for every seed) to one band per x; curves are cut to the shortest.
pub fn bands(xs: &[f64], curves: &[Vec<f64>]) -> Vec<Band> {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0).min(xs.len());
    (0..len)
        .map(|i| {
            let values: Vec<f64> = curves.iter().map(|c| c[i]).collect();
            Band::of(xs[i], &values)
        })
        .collect()
}

/// At most about `max` of `points`, evenly spaced, the last one always kept (the final value).
pub fn thinned(points: Vec<Band>, max: usize) -> Vec<Band> {
    if points.len() <= max || max == 0 {
        return points;
    }
    let stride = points.len().div_ceil(max);
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % stride == stride - 1 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

/// Exponential moving average `s_i = 0.99 s_{i−1} + 0.01 v_i`, started at the first value:
/// the smoothing of the training-error curve in DeepLearnToolbox's `cnntrain`, the MATLAB code
/// the paper's network and Fig. 7 match.
pub fn smoothed(values: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    for &v in values {
        let next = match out.last() {
            Some(&prev) => 0.99 * prev + 0.01 * v,
            None => v,
        };
        out.push(next);
    }
    out
}

/// One training run of a curve study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Seed of the run.
    pub seed: u64,
    /// Test error after the last epoch, %.
    pub final_test_error: f64,
    /// Mean objective over the last epoch's training batches.
    pub final_train_loss: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Seconds of each epoch (training and test pass; empty in results saved before it was
    /// recorded).
    #[serde(default)]
    pub epoch_seconds: Vec<f64>,
    /// Its per-epoch CSV, relative to the study's results folder.
    pub csv: String,
}

/// One line (variant) of a curve study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Legend label.
    pub label: String,
    /// The variant's settings on top of the base.
    pub settings: Settings,
    /// Every seed's run.
    pub runs: Vec<RunSummary>,
    /// The plotted curve: test error (%) per epoch, or smoothed training MSE per samples seen.
    pub points: Vec<Band>,
}

impl Line {
    /// Final test error over seeds.
    pub fn final_error(&self) -> Band {
        let values: Vec<f64> = self.runs.iter().map(|r| r.final_test_error).collect();
        Band::of(0.0, &values)
    }

    /// The first x where the mean curve is at or below `level`.
    pub fn first_x_at_or_below(&self, level: f64) -> Option<f64> {
        self.points.iter().find(|p| p.mean <= level).map(|p| p.x)
    }

    /// Mean over seeds of the seconds from the start to the end of `epoch` (`None` when the
    /// runs did not record their epochs' times).
    pub fn seconds_to_epoch(&self, epoch: usize) -> Option<f64> {
        let times: Vec<f64> = self
            .runs
            .iter()
            .map(|r| {
                (r.epoch_seconds.len() >= epoch).then(|| r.epoch_seconds[..epoch].iter().sum())
            })
            .collect::<Option<_>>()?;
        (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64)
    }

    /// Largest rise of the mean curve from one point to the next, over the second half of the
    /// curve: how much it oscillates once it should have settled.
    pub fn late_oscillation(&self) -> f64 {
        let half = self.points.len() / 2;
        self.points[half..]
            .windows(2)
            .map(|w| w[1].mean - w[0].mean)
            .fold(0.0, f64::max)
    }
}

/// One cell group of a table study: a classifier on a protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// The protocol's label.
    pub protocol: String,
    /// The classifier's name.
    pub classifier: String,
    /// The paper's error, %.
    pub paper_error: Option<f64>,
    /// The paper's preprocessing column.
    pub paper_preprocessing: String,
    /// Whether we deskewed.
    pub deskew: bool,
    /// Test error per seed, %.
    pub errors: Vec<f64>,
    /// Seeds, in the order of `errors`.
    pub seeds: Vec<u64>,
    /// Hyper-parameters chosen per seed, in words.
    pub chosen: Vec<String>,
    /// Wall time of all seeds, seconds.
    pub seconds: f64,
    /// Why it was not run, when it was not.
    pub skipped: Option<String>,
}

impl TableRow {
    /// Test error over seeds (`None` when skipped).
    pub fn error(&self) -> Option<Band> {
        (!self.errors.is_empty()).then(|| Band::of(0.0, &self.errors))
    }
}

/// Everything a study measured, saved as `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyResult {
    /// The study's name.
    pub name: String,
    /// Heading.
    pub title: String,
    /// The paper's claim.
    pub claim: String,
    /// Our reading of the results.
    pub discussion: String,
    /// Curve studies: what was plotted.
    pub curve: Option<Curve>,
    /// Curve studies: test errors (%) whose first crossing the report gives (from the
    /// definition, like the title).
    #[serde(default)]
    pub levels: Vec<f64>,
    /// How, where and from what it ran.
    pub provenance: Provenance,
    /// Curve studies: the lines.
    pub lines: Vec<Line>,
    /// Table studies: the rows.
    pub table: Vec<TableRow>,
    /// Figure file stem inside the results folder (`<stem>.png`, `<stem>.svg`).
    pub figure: Option<String>,
    /// Curve studies: whether the runs were tested on a validation split of the training set
    /// (`holdout` in the study's base) instead of the test set (from the definition, like the
    /// title).
    #[serde(skip)]
    pub validation: bool,
}

impl StudyResult {
    /// Writes `result.json` into `dir` (written to a temporary file first, then renamed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(RESULT_FILE);
        let text = serde_json::to_string_pretty(self).expect("results serialise");
        write_atomically(&path, text.as_bytes())
    }

    /// Reads `result.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(RESULT_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ExperimentError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| ExperimentError::Definition {
            path,
            reason: format!("not a study result: {e}"),
        })
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder (lenet's crash-safe
/// writer), so a reader never sees half a file and an interrupted write leaves the previous
/// one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    lenet::atomic::write_bytes_atomically(path, bytes).map_err(|e| ExperimentError::io(path, e))
}

/// Writes serialisable rows as a CSV file with a header (atomically).
pub fn write_csv<S: Serialize>(path: &Path, rows: impl IntoIterator<Item = S>) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer
            .serialize(row)
            .map_err(|e| ExperimentError::csv(path, e))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ExperimentError::io(path, e.into_error()))?;
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_evenly_spaced_points_and_the_last() {
        let points: Vec<Band> = (1..=6000).map(|x| Band::of(f64::from(x), &[1.0])).collect();
        let thin = thinned(points.clone(), 1500);
        assert_eq!(thin.len(), 1500);
        assert_eq!(thin[0].x, 4.0);
        assert_eq!(thin.last().unwrap().x, 6000.0);
        assert!(thin.windows(2).all(|w| w[1].x - w[0].x == 4.0));
        assert_eq!(thinned(points[..1200].to_vec(), 1500).len(), 1200);
    }

    #[test]
    fn bands_take_mean_min_and_max_over_seeds() {
        let b = bands(
            &[1.0, 2.0],
            &[vec![10.0, 4.0], vec![20.0, 2.0], vec![30.0, 3.0]],
        );
        assert_eq!(
            b[0],
            Band {
                x: 1.0,
                mean: 20.0,
                min: 10.0,
                max: 30.0
            }
        );
        assert_eq!(
            b[1],
            Band {
                x: 2.0,
                mean: 3.0,
                min: 2.0,
                max: 4.0
            }
        );
    }

    #[test]
    fn smoothing_starts_at_the_first_value_and_follows_slowly() {
        let s = smoothed(&[1.0, 0.0, 0.0]);
        assert_eq!(s[0], 1.0);
        assert!((s[1] - 0.99).abs() < 1e-12 && (s[2] - 0.9801).abs() < 1e-12);
    }
}
