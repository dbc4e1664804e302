//! A study spread over machines: its runs split into shards ([`Shard`]), each shard's finished
//! runs saved one file each ([`FinishedRun`]), and the study's result assembled from those
//! files once all are there ([`assemble`]), by whichever process looks last (`experiments
//! report`, or an unsharded `experiments run`).
//!
//! A curve study's runs are its (variant, seed) pairs in definition order; run `i` belongs to
//! shard `i mod N`, the same split on every machine. A table study is one run (its baselines
//! share each protocol's features and neighbour search), done by shard 0.

use std::path::{Path, PathBuf};

use lenet::TrainingConfig;
use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, Result};
use crate::provenance::Provenance;
use crate::results::{self, Line, RUNS_DIR, RunSummary, StudyResult};
use crate::study::{CurveStudy, Study, StudyKind, Variant, slug};

/// Which of a study's runs a process does: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// From 0.
    pub index: usize,
    /// At least 1.
    pub count: usize,
}

impl Shard {
    /// Every run.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// `I/N` as `--shard` takes it.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{text:?}: expected I/N, with 0 <= I < N (e.g. 0/4)");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            index.trim().parse().map_err(|_| bad())?,
            count.trim().parse().map_err(|_| bad())?,
        );
        Self::new(index, count).ok_or_else(bad)
    }

    /// Shard `index` of `count`, if `index < count`.
    pub fn new(index: usize, count: usize) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    /// The shard a scheduler gave this process, from its environment: a Slurm job array's
    /// task (`SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job's
    /// completion (`JOB_COMPLETION_INDEX` of `JOB_COMPLETIONS`, which the Job's manifest sets
    /// to its `completions`); `None` outside both.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        for (index, count) in [
            ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"),
            ("JOB_COMPLETION_INDEX", "JOB_COMPLETIONS"),
        ] {
            let Some(i) = var(index) else { continue };
            let n = var(count).ok_or_else(|| ExperimentError::Shard {
                reason: format!("{index} is set but {count} is not"),
            })?;
            return Self::parse(&format!("{i}/{n}"))
                .map(Some)
                .map_err(|reason| ExperimentError::Shard {
                    reason: format!("{index}/{count}: {reason}"),
                });
        }
        Ok(None)
    }

    /// Whether run `i` of a study is this shard's.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count == self.index
    }
}

/// A run's name in a study: its CSV and its [`FinishedRun`] file are named after it.
pub fn run_name(label: &str, seed: u64) -> String {
    format!("{}-seed{seed}", slug(label))
}

/// A curve study's runs in definition order (the order shards are drawn from): each variant
/// with each of its seeds, and the run's name.
pub fn curve_runs(curves: &CurveStudy) -> impl Iterator<Item = (&Variant, u64, String)> {
    curves.variants.iter().flat_map(move |variant| {
        curves
            .seeds_of(variant)
            .iter()
            .map(move |&seed| (variant, seed, run_name(&variant.label, seed)))
    })
}

/// The names of a study's runs, in definition order.
pub fn run_names(study: &Study) -> Vec<String> {
    match &study.kind {
        StudyKind::Curves(curves) => curve_runs(curves).map(|(_, _, name)| name).collect(),
        StudyKind::Table(_) => vec!["table".into()],
    }
}

/// One finished run of a curve study, as its shard saved it (`runs/<name>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedRun {
    /// The variant's label.
    pub variant: String,
    /// The run's full configuration: a run whose definition changed is run again.
    pub config: serde_json::Value,
    /// What the study's result keeps of it.
    pub summary: RunSummary,
    /// The curve's x values (epochs, or samples seen).
    pub xs: Vec<f64>,
    /// The curve's values at them.
    pub values: Vec<f64>,
    /// Where and from what it ran; its `wall_seconds` is the run's.
    pub provenance: Provenance,
}

impl FinishedRun {
    /// The file of run `name` in a study's results folder `dir`.
    pub fn path(dir: &Path, name: &str) -> PathBuf {
        dir.join(RUNS_DIR).join(format!("{name}.json"))
    }

    /// Saves it atomically (a reader never sees half a file).
    pub fn save(&self, dir: &Path, name: &str) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a run serialises") + "\n";
        results::write_atomically(&Self::path(dir, name), json.as_bytes())
    }

    /// The saved run `name`, if it finished with the configuration `config`. A setting added
    /// since it was saved counts at its default (a new setting's default changes nothing), so
    /// a study resumed across an upgrade keeps the runs it finished.
    pub fn load_if_current(dir: &Path, name: &str, config: &TrainingConfig) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(dir, name)).ok()?;
        let run: Self = serde_json::from_str(&text).ok()?;
        let saved: TrainingConfig = serde_json::from_value(run.config.clone()).ok()?;
        (saved == *config).then_some(run)
    }
}

/// A curve study's result from its finished runs in `dir`, or the names of the runs not
/// finished yet (nothing written).
pub fn assemble(
    curves: &CurveStudy,
    dir: &Path,
    base: StudyResult,
    max_points: usize,
) -> Result<std::result::Result<StudyResult, Vec<String>>> {
    let mut missing = Vec::new();
    let mut lines = Vec::new();
    let mut provenances: Vec<Provenance> = Vec::new();
    for variant in &curves.variants {
        let (mut runs, mut values, mut xs) = (Vec::new(), Vec::new(), Vec::new());
        for &seed in curves.seeds_of(variant) {
            let name = run_name(&variant.label, seed);
            let config = curves.variant_config(variant, seed)?;
            match FinishedRun::load_if_current(dir, &name, &config) {
                Some(run) => {
                    xs = run.xs;
                    values.push(run.values);
                    runs.push(run.summary);
                    provenances.push(run.provenance);
                }
                None => missing.push(name),
            }
        }
        lines.push(Line {
            label: variant.label.clone(),
            settings: variant.set.clone(),
            runs,
            points: results::thinned(results::bands(&xs, &values), max_points),
        });
    }
    if !missing.is_empty() {
        return Ok(Err(missing));
    }
    let distinct = |field: fn(&Provenance) -> &str| {
        let mut seen: Vec<&str> = Vec::new();
        for p in &provenances {
            if !seen.contains(&field(p)) {
                seen.push(field(p));
            }
        }
        seen.join("; ")
    };
    let provenance = Provenance {
        git_revision: distinct(|p| &p.git_revision),
        machine: distinct(|p| &p.machine),
        backend: distinct(|p| &p.backend),
        wall_seconds: provenances.iter().map(|p| p.wall_seconds).sum(),
    };
    Ok(Ok(StudyResult {
        lines,
        figure: Some(base.name.clone()),
        provenance,
        ..base
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_split_every_run_once_and_come_from_schedulers() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        // Every run in exactly one of 3 shards.
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        for run in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(run)).count(), 1);
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
        assert_eq!(
            Shard::from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_COUNT", "5")
            ]))
            .unwrap(),
            Shard::new(2, 5)
        );
        assert_eq!(
            Shard::from_env(env(&[
                ("JOB_COMPLETION_INDEX", "0"),
                ("JOB_COMPLETIONS", "2")
            ]))
            .unwrap(),
            Shard::new(0, 2)
        );
        let lone = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")]));
        assert!(lone.unwrap_err().to_string().contains("JOB_COMPLETIONS"));
    }
}
