//! The four IDX files of MNIST in a folder, raw or gzipped, checked against what the network
//! needs (the IDX format itself is checked by the `idx` crate).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::InMemDataset;

use super::{DigitDataset, DigitItem};
use crate::error::{LenetError, Result};
use crate::mnist::{IMAGE_SIZE, NUM_CLASSES, PIXELS};

/// File names of the four MNIST IDX files (each may also end in `.gz`).
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The file `name` (or `name.gz`) in `dir`.
pub(super) fn find_file(dir: &Path, name: &'static str) -> Result<PathBuf> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    // `exists`, not `is_file`: something unreadable under the right name (a folder, a file
    // without permission) gets an error naming it rather than "missing".
    [raw, gz]
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| LenetError::MissingDataFile {
            dir: dir.to_path_buf(),
            name,
        })
}

/// Loads and cross-checks an IDX image file and its label file.
pub fn load_idx_pair(images_path: &Path, labels_path: &Path) -> Result<DigitDataset> {
    crate::files::check_input(images_path, crate::files::IDX)?;
    crate::files::check_input(labels_path, crate::files::IDX)?;
    let images = idx::parse_images(&idx::read_bytes(images_path)?, images_path)?;
    let labels = idx::parse_labels(&idx::read_bytes(labels_path)?, labels_path)?;
    if (images.rows, images.cols) != (IMAGE_SIZE, IMAGE_SIZE) {
        return Err(LenetError::DataFormat {
            path: images_path.to_path_buf(),
            field: "image size",
            expected: format!("{IMAGE_SIZE}x{IMAGE_SIZE} pixels"),
            found: format!("{}x{} pixels", images.rows, images.cols),
        });
    }
    if images.count != labels.len() {
        return Err(LenetError::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            image_count: images.count,
            label_count: labels.len(),
        });
    }
    if let Some((index, label)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= NUM_CLASSES)
    {
        return Err(LenetError::DataFormat {
            path: labels_path.to_path_buf(),
            field: "label",
            expected: format!("a digit 0-{} at item {index}", NUM_CLASSES - 1),
            found: label.to_string(),
        });
    }
    let items = images
        .pixels
        .chunks_exact(PIXELS)
        .zip(labels)
        .map(|(pixels, label)| DigitItem {
            pixels: pixels.to_vec(),
            label,
        })
        .collect();
    Ok(Arc::new(InMemDataset::new(items)))
}
