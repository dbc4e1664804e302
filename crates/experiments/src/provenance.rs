//! Where and from what a study's numbers came: git revision, machine, backend, wall time.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Recorded with every study result and shown in the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
