//! TensorBoard's own reader on run folders (system tier: Python with the `tensorboard`
//! package, which `.ci/run` installs and names in `LENET_PYTHON`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What TensorBoard finds in each of `folders` (`tensorboard_dump.py`): by folder, its
/// `scalars` (tag: [[step, value]]) and its `hparams` summaries (tag: the decoded message).
pub fn tensorboard_dump(folders: &[PathBuf]) -> serde_json::Value {
    let python = std::env::var("LENET_PYTHON").unwrap_or_else(|_| "python3".into());
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lenet/tests/support/tensorboard_dump.py");
    let out = Command::new(&python)
        .arg(script)
        .args(folders)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (run .ci/run, which installs tensorboard)"));
    assert!(
        out.status.success(),
        "{python} with tensorboard failed (.ci/run installs it and sets LENET_PYTHON): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

/// The points of `tag` in one folder's dump: (step, value).
pub fn curve(run: &serde_json::Value, tag: &str) -> Vec<(i64, f64)> {
    run["scalars"][tag]
        .as_array()
        .unwrap_or_else(|| panic!("no scalar {tag}: {run}"))
        .iter()
        .map(|point| (point[0].as_i64().unwrap(), point[1].as_f64().unwrap()))
        .collect()
}
