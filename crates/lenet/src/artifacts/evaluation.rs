//! `evaluation.json`: the final model's results on the test split, written beside it.

use std::path::Path;

use crate::atomic::write_atomically;
use crate::error::{LenetError, Result};

/// What `evaluation.json` holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedEvaluation {
    /// Test error, %.
    pub test_error: f64,
    /// Mean `½‖t − y‖²` on the test split.
    pub test_mse: f64,
    /// Test images.
    pub test_images: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// With `patience`: the epoch whose weights are the model (the lowest validation error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// The GPU adapter of a wgpu run (absent for the CPU backends and in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<crate::backend::Adapter>,
}

impl SavedEvaluation {
    /// Writes it to `path`, crash-safe.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("an evaluation serialises");
        write_atomically(path, |tmp| std::fs::write(tmp, &text))
            .map_err(|e| LenetError::io(path, e))
    }

    /// Reads it from `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LenetError::io(path, e)),
            Ok(text) => Self::from_json(&text, path).map(Some),
        }
    }

    /// From the text of an `evaluation.json` (`path` names it in errors).
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| LenetError::Artifact {
            path: path.to_path_buf(),
            reason: format!("not an evaluation: {e}"),
        })
    }
}
