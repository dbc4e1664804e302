//! `experiments slurm`: the `sbatch` script of a Slurm job array that runs a study, one array
//! task per run (each task its shard, from `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`,
//! see [`crate::shard`]), and the command that submits it with a dependent job that merges the
//! shards (`experiments report`) once every task has succeeded.

use std::path::{Path, PathBuf};

/// What the script needs: absolute paths, since array tasks start on other machines (the
/// folders must be on a filesystem they share).
#[derive(Debug, Clone)]
pub struct JobArray {
    /// The study's name (the job's name and log files).
    pub study: String,
    /// How many runs the study has: one array task each.
    pub runs: usize,
    /// The `experiments` binary.
    pub program: PathBuf,
    /// The folder the tasks start in.
    pub folder: PathBuf,
    /// `experiments run`'s arguments after `run` (the definition, data, folders, backend).
    pub run_args: Vec<String>,
    /// `experiments report`'s arguments after `report` (the folders).
    pub report_args: Vec<String>,
    /// Where Slurm writes each task's output.
    pub log_dir: PathBuf,
    /// `--partition`, if any.
    pub partition: Option<String>,
    /// `--time` of each task.
    pub time: String,
    /// `--cpus-per-task` (the threads a run uses).
    pub cpus: usize,
}

/// `text` quoted for bash (single quotes).
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn command(program: &Path, subcommand: &str, args: &[String]) -> String {
    std::iter::once(quoted(&program.display().to_string()))
        .chain(std::iter::once(subcommand.to_string()))
        .chain(args.iter().map(|a| quoted(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

impl JobArray {
    /// The `sbatch` script.
    pub fn script(&self) -> String {
        let mut lines = vec![
            "#!/bin/bash".to_string(),
            format!(
                "# The study {} as a Slurm job array: one task per run ({} runs), each running its",
                self.study, self.runs
            ),
            "# shard of the study (from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT); its"
                .into(),
            "# finished runs go to the results folder, which every node must see. Written by"
                .into(),
            "# `experiments slurm`, which also prints how to submit it with the merging job."
                .into(),
            format!("#SBATCH --job-name=lenet-{}", self.study),
            format!("#SBATCH --array=0-{}", self.runs.saturating_sub(1)),
            format!("#SBATCH --cpus-per-task={}", self.cpus),
            format!("#SBATCH --time={}", self.time),
            format!(
                "#SBATCH --output={}/{}-%A_%a.out",
                self.log_dir.display(),
                self.study
            ),
        ];
        if let Some(partition) = &self.partition {
            lines.push(format!("#SBATCH --partition={partition}"));
        }
        lines.extend([
            "set -euo pipefail".to_string(),
            format!("cd {}", quoted(&self.folder.display().to_string())),
            format!(
                "export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"",
                self.cpus
            ),
            format!("exec {}", command(&self.program, "run", &self.run_args)),
        ]);
        lines.join("\n") + "\n"
    }

    /// The shell command that submits the script at `path`, then the merging job, which runs
    /// once every task has succeeded.
    pub fn submit_command(&self, path: &Path) -> String {
        let report = command(&self.program, "report", &self.report_args);
        format!(
            "job=$(sbatch --parsable {}) && sbatch --dependency=afterok:\"${{job%%;*}}\" \
             --job-name=lenet-{}-report --output={} --chdir={} --wrap {}",
            quoted(&path.display().to_string()),
            self.study,
            quoted(
                &self
                    .log_dir
                    .join(format!("{}-report-%j.out", self.study))
                    .display()
                    .to_string()
            ),
            quoted(&self.folder.display().to_string()),
            quoted(&report)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_an_array_of_one_task_per_run_and_the_merge_waits_for_it() {
        let array = JobArray {
            study: "fig4".into(),
            runs: 9,
            program: "/opt/lenet/experiments".into(),
            folder: "/shared/lenet".into(),
            run_args: vec![
                "experiments/fig4 it's.toml".into(),
                "--results".into(),
                "/shared/r".into(),
            ],
            report_args: vec!["--results".into(), "/shared/r".into()],
            log_dir: "/shared/logs".into(),
            partition: Some("cpu".into()),
            time: "2:00:00".into(),
            cpus: 4,
        };
        let script = array.script();
        for line in [
            "#SBATCH --array=0-8",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --time=2:00:00",
            "#SBATCH --partition=cpu",
            "#SBATCH --output=/shared/logs/fig4-%A_%a.out",
            "cd '/shared/lenet'",
            "exec '/opt/lenet/experiments' run 'experiments/fig4 it'\\''s.toml' '--results' '/shared/r'",
        ] {
            assert!(
                script.lines().any(|l| l == line),
                "{line:?} not in\n{script}"
            );
        }
        let submit = array.submit_command(Path::new("/shared/fig4.sbatch"));
        assert!(submit.starts_with(
            "job=$(sbatch --parsable '/shared/fig4.sbatch') && sbatch --dependency=afterok:"
        ));
        assert!(
            submit.contains("--wrap ''\\''/opt/lenet/experiments'\\'' report"),
            "{submit}"
        );
    }
}
