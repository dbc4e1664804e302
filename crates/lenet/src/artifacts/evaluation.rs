//! `evaluation.json`: the final model's results on the test split, written beside it.

use std::path::Path;

use crate::atomic::write_bytes_atomically;
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
        write_bytes_atomically(path, text.as_bytes()).map_err(|source| LenetError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads it from `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::files::read_input_to_string(path, crate::files::SMALL_TEXT)?;
        Self::from_json(&text, path).map(Some)
    }

    /// From the text of an `evaluation.json` (`path` names it in errors).
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| LenetError::Artifact {
            path: path.to_path_buf(),
            reason: format!("not an evaluation: {e}"),
        })
    }
}
