//! MNIST-format data: the labelled images ([`DigitItem`]), the two splits loaded from IDX
//! files or downloaded ([`MnistSplits`]), the paper's random subsets, deskewing, the splits a
//! run selects ([`Selection`], [`RunData`]), batches of tensors, and images of any size turned
//! into MNIST form ([`image`]).

pub mod augment;
mod batch;
pub mod deskew;
mod download;
mod files;
pub mod image;
pub mod photo;
mod pixels;
mod selection;

use std::path::Path;
use std::sync::Arc;

use burn::data::dataset::transform::{PartialDataset, ShuffledDataset};
use burn::data::dataset::{Dataset, InMemDataset};
use rayon::prelude::*;

use crate::error::{LenetError, Result};
pub use batch::{DigitBatch, DigitBatcher, scaled_pixels};
pub use files::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, load_idx_pair};
pub use selection::{RunData, Selection};

/// One labelled image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitItem {
    /// [`PIXELS`](crate::mnist::PIXELS) grey levels, row-major, 0 = background.
    pub pixels: Vec<u8>,
    /// The digit, `0..NUM_CLASSES`.
    pub label: u8,
}

/// A shareable dataset of digits.
pub type DigitDataset = Arc<dyn Dataset<DigitItem>>;

/// The training and test splits.
#[derive(Clone)]
pub struct MnistSplits {
    /// Training images.
    pub train: DigitDataset,
    /// Test images.
    pub test: DigitDataset,
}

impl std::fmt::Debug for MnistSplits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MnistSplits")
            .field("train", &self.train.len())
            .field("test", &self.test.len())
            .finish()
    }
}

impl MnistSplits {
    /// Loads MNIST from `dir` when given, else downloads it (see [`Self::download`]).
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::download(),
        }
    }

    /// Loads the four IDX files (raw or `.gz`) from a folder, validating each.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let find = |name| files::find_file(dir, name);
        let train = load_idx_pair(&find(TRAIN_IMAGES)?, &find(TRAIN_LABELS)?)?;
        let test = load_idx_pair(&find(TEST_IMAGES)?, &find(TEST_LABELS)?)?;
        Ok(Self { train, test })
    }

    /// Downloads the four MNIST files (gzipped) from the CVDF mirror burn's own MNIST dataset
    /// uses, into `$XDG_CACHE_HOME/lenet-burn/mnist` (or `~/.cache/...`), unless they are already
    /// there, then loads them like [`Self::from_dir`].
    pub fn download() -> Result<Self> {
        let dir = download::mnist_cache_dir()?;
        download::fetch_missing(&dir)?;
        Self::from_dir(&dir)
    }

    /// The splits with every image deskewed (see [`deskew`]).
    pub fn deskewed(self) -> Result<Self> {
        let deskew_all = |dataset: DigitDataset| -> Result<DigitDataset> {
            let items = all_items(&dataset)?
                .into_par_iter()
                .map(|item| DigitItem {
                    pixels: deskew::deskew(&item.pixels),
                    label: item.label,
                })
                .collect();
            Ok(Arc::new(InMemDataset::new(items)))
        };
        Ok(Self {
            train: deskew_all(self.train)?,
            test: deskew_all(self.test)?,
        })
    }

    /// The training split's last `n` images as the test split, the rest as the training split
    /// (a validation split for choosing settings; the real test split is set aside).
    pub fn hold_out(self, n: usize) -> Result<Self> {
        let len = self.train.len();
        if n == 0 || n >= len {
            return Err(LenetError::invalid(
                "holdout",
                n,
                format!("1..{len} (fewer than the training images)"),
            ));
        }
        Ok(Self {
            train: Arc::new(PartialDataset::new(self.train.clone(), 0, len - n)),
            test: Arc::new(PartialDataset::new(self.train, len - n, len)),
        })
    }

    /// Keeps a random subset of each split (the paper's protocol is 2000 / 1000), drawn with
    /// `seed`. `None` keeps the whole split.
    pub fn subset(self, train: Option<usize>, test: Option<usize>, seed: u64) -> Result<Self> {
        Ok(Self {
            train: random_subset(self.train, train, seed, "train-size")?,
            test: random_subset(self.test, test, seed ^ 0x7e57, "test-size")?,
        })
    }
}

/// Every item of a dataset, in order.
pub fn all_items(dataset: &DigitDataset) -> Result<Vec<DigitItem>> {
    dataset
        .get_many((0..dataset.len()).collect())
        .map_err(LenetError::Dataset)
}

fn random_subset(
    dataset: DigitDataset,
    size: Option<usize>,
    seed: u64,
    name: &'static str,
) -> Result<DigitDataset> {
    let Some(size) = size else {
        return Ok(dataset);
    };
    if size == 0 || size > dataset.len() {
        return Err(LenetError::invalid(
            name,
            size,
            format!("1..={} (the size of the split)", dataset.len()),
        ));
    }
    let shuffled = ShuffledDataset::new(dataset, seed);
    Ok(Arc::new(PartialDataset::new(shuffled, 0, size)))
}
