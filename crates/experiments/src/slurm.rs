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

/// `text` as one argument of an `#SBATCH` line: sbatch splits those lines itself (not bash), at
/// spaces, ending at an unquoted `#`; within double quotes a backslash escapes the next
/// character (Slurm 22.05's `_get_argument`, `src/sbatch/opt.c`).
fn directive_argument(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', r"\\").replace('"', r#"\""#))
}

/// A folder as the start of an `--output` pattern: Slurm replaces `%A`, `%a`, `%j`, ... in it,
/// and `%%` stands for `%`.
fn output_pattern(folder: &Path, file: &str) -> String {
    let folder = folder.display().to_string().replace('%', "%%");
    format!("{folder}/{file}")
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
            format!(
                "#SBATCH --job-name={}",
                directive_argument(&format!("lenet-{}", self.study))
            ),
            format!("#SBATCH --array=0-{}", self.runs.saturating_sub(1)),
            format!("#SBATCH --cpus-per-task={}", self.cpus),
            format!("#SBATCH --time={}", directive_argument(&self.time)),
            format!(
                "#SBATCH --output={}",
                directive_argument(&output_pattern(
                    &self.log_dir,
                    &format!("{}-%A_%a.out", self.study)
                ))
            ),
        ];
        if let Some(partition) = &self.partition {
            lines.push(format!(
                "#SBATCH --partition={}",
                directive_argument(partition)
            ));
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
             --job-name={} --output={} --chdir={} --wrap {}",
            quoted(&path.display().to_string()),
            quoted(&format!("lenet-{}-report", self.study)),
            quoted(&output_pattern(
                &self.log_dir,
                &format!("{}-report-%j.out", self.study)
            )),
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
            "#SBATCH --job-name=\"lenet-fig4\"",
            "#SBATCH --array=0-8",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --time=\"2:00:00\"",
            "#SBATCH --partition=\"cpu\"",
            "#SBATCH --output=\"/shared/logs/fig4-%A_%a.out\"",
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

    #[test]
    fn directive_arguments_keep_spaces_quotes_and_percent_signs() {
        assert_eq!(
            directive_argument(r#"/a b/it's "x"\y"#),
            r#""/a b/it's \"x\"\\y""#
        );
        assert_eq!(
            output_pattern(Path::new("/logs 100%"), "s-%A_%a.out"),
            "/logs 100%%/s-%A_%a.out"
        );
    }
}
