//! Where and from what a study's numbers came: git revision, machine, backend, wall time.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Recorded with every study result and shown in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `git describe`-style revision of the checkout (`+dirty` when it had uncommitted changes).
    pub git_revision: String,
    /// CPU model, cores and memory.
    pub machine: String,
    /// burn backend of the network runs.
    pub backend: String,
    /// Wall time of the whole study, seconds.
    pub wall_seconds: f64,
}

/// The revision of the git checkout holding `dir`, or `"unknown"`.
pub fn git_revision(dir: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}+dirty") } else { rev }
        }
        None => "unknown".into(),
    }
}

/// A one-line description of this machine: CPU model, logical cores, memory.
///
/// Read from `/proc` (Linux), with the core count from std elsewhere; a system-information
/// crate would add a dependency for these two lines of text.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let field = |file: &str, key: &str| {
        std::fs::read_to_string(file).ok().and_then(|text| {
            text.lines()
                .find(|line| line.starts_with(key))
                .and_then(|line| line.split(':').nth(1))
                .map(|value| value.trim().to_string())
        })
    };
    let cpu = field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into());
    let memory = field("/proc/meminfo", "MemTotal")
        .and_then(|kb| kb.trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map(|kb| format!(", {:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores{memory}")
}
