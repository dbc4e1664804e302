//! MNIST-format data: loading (local IDX files or burn-dataset's downloader), the paper's random
//! subsets, batching into tensors, and a training loader whose shuffle depends only on
//! `(seed, epoch)`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::transform::{PartialDataset, ShuffledDataset};
use burn::data::dataset::{Dataset, DatasetError, InMemDataset};
use burn::prelude::*;

use crate::deskew::deskew;
use crate::error::{LenetError, Result};

/// Side of the square input images, in pixels.
pub const IMAGE_SIZE: usize = 28;
/// Number of digit classes.
pub const NUM_CLASSES: usize = 10;

/// File names of the four MNIST IDX files (each may also end in `.gz`).
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// See [`TRAIN_IMAGES`].
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// One labelled image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitItem {
    /// `IMAGE_SIZE * IMAGE_SIZE` grey levels, row-major, 0 = background.
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
    /// Loads MNIST from `dir` when given, else through burn-dataset's downloader.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::download(),
        }
    }

    /// Loads the four IDX files (raw or `.gz`) from a folder, validating each.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let find = |name| find_file(dir, name);
        let train = load_idx_pair(&find(TRAIN_IMAGES)?, &find(TRAIN_LABELS)?)?;
        let test = load_idx_pair(&find(TEST_IMAGES)?, &find(TEST_LABELS)?)?;
        Ok(Self { train, test })
    }

    /// Downloads MNIST with burn-dataset (cached under the user's cache folder).
    ///
    /// burn-dataset panics when it cannot download; the panic is caught and turned into
    /// [`LenetError::Download`], which tells the user about `--data-dir`.
    pub fn download() -> Result<Self> {
        use burn::data::dataset::vision::MnistDataset;
        let train = quietly(MnistDataset::train)?;
        let test = quietly(MnistDataset::test)?;
        let convert = |dataset: MnistDataset| -> Result<DigitDataset> {
            let items = (0..dataset.len())
                .map(|i| {
                    let item = dataset.get(i).map_err(|e| LenetError::Download {
                        reason: e.to_string(),
                    })?;
                    let pixels = item.image.iter().flatten().map(|&p| p as u8).collect();
                    Ok(DigitItem {
                        pixels,
                        label: item.label,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(InMemDataset::new(items)))
        };
        Ok(Self {
            train: convert(train)?,
            test: convert(test)?,
        })
    }

    /// The splits with every image deskewed (see [`crate::deskew`]).
    pub fn deskewed(self) -> Result<Self> {
        let deskew_all = |dataset: DigitDataset| -> Result<DigitDataset> {
            let items = all_items(&dataset)?.iter().map(deskew).collect();
            Ok(Arc::new(InMemDataset::new(items)))
        };
        Ok(Self {
            train: deskew_all(self.train)?,
            test: deskew_all(self.test)?,
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
        .map_err(|e| LenetError::Training(format!("reading the dataset: {e}")))
}

/// Runs a constructor that panics on failure, turning the panic into an error without printing
/// a backtrace.
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        let reason = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into());
        LenetError::Download { reason }
    })
}

fn find_file(dir: &Path, name: &'static str) -> Result<PathBuf> {
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
    let pixels_per_image = IMAGE_SIZE * IMAGE_SIZE;
    let items = images
        .pixels
        .chunks_exact(pixels_per_image)
        .zip(labels)
        .map(|(pixels, label)| DigitItem {
            pixels: pixels.to_vec(),
            label,
        })
        .collect();
    Ok(Arc::new(InMemDataset::new(items)))
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
        return Err(LenetError::InvalidSetting {
            name,
            value: size.to_string(),
            expected: format!("1..={} (the size of the split)", dataset.len()),
        });
    }
    let shuffled = ShuffledDataset::new(dataset, seed);
    Ok(Arc::new(PartialDataset::new(shuffled, 0, size)))
}

/// A batch of images with their labels.
#[derive(Clone, Debug)]
pub struct DigitBatch {
    /// Pixels scaled to `[0, 1]`, shape `[batch, 1, IMAGE_SIZE, IMAGE_SIZE]`.
    pub images: Tensor<4>,
    /// Digit labels, shape `[batch]`.
    pub targets: Tensor<1, Int>,
}

/// Turns [`DigitItem`]s into a [`DigitBatch`] on a device.
#[derive(Clone, Debug, Default)]
pub struct DigitBatcher;

impl Batcher<DigitItem, DigitBatch> for DigitBatcher {
    fn batch(&self, items: Vec<DigitItem>, device: &Device) -> DigitBatch {
        let n = items.len();
        let pixels: Vec<f32> = items
            .iter()
            .flat_map(|item| item.pixels.iter().map(|&p| f32::from(p) / 255.0))
            .collect();
        let labels: Vec<i64> = items.iter().map(|item| i64::from(item.label)).collect();
        DigitBatch {
            images: Tensor::from_data(
                TensorData::new(pixels, [n, 1, IMAGE_SIZE, IMAGE_SIZE]),
                device,
            ),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

/// A data loader that reshuffles every epoch with a seed derived from `(seed, epoch)` alone.
///
/// burn's `BatchDataLoader` draws each epoch's order from one advancing RNG (forked when the
/// learner moves it to a device), so a run resumed at epoch `k` would replay epoch 1's order.
/// Deriving the order from the epoch number makes a resumed run see the batches an
/// uninterrupted run sees.
pub struct EpochShuffledLoader<I, O> {
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, O>>,
    batch_size: usize,
    seed: u64,
    device: Device,
    next_epoch: Arc<AtomicUsize>,
}

impl<I, O> EpochShuffledLoader<I, O> {
    /// A loader whose first `iter()` yields epoch `first_epoch` (1 for a fresh run).
    pub fn new(
        dataset: Arc<dyn Dataset<I>>,
        batcher: Arc<dyn Batcher<I, O>>,
        batch_size: usize,
        seed: u64,
        first_epoch: usize,
        device: Device,
    ) -> Self {
        Self {
            dataset,
            batcher,
            batch_size,
            seed,
            device,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
        }
    }

    fn with(&self, dataset: Arc<dyn Dataset<I>>, device: Device) -> Self {
        Self {
            dataset,
            batcher: self.batcher.clone(),
            batch_size: self.batch_size,
            seed: self.seed,
            device,
            next_epoch: self.next_epoch.clone(),
        }
    }
}

/// The shuffle seed of one epoch.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<I, O> DataLoader<O> for EpochShuffledLoader<I, O>
where
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        let order = ShuffledDataset::new(self.dataset.clone(), epoch_seed(self.seed, epoch));
        Box::new(EpochIterator {
            dataset: Arc::new(order),
            batcher: self.batcher.clone(),
            batch_size: self.batch_size,
            device: self.device.clone(),
            position: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.dataset.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        Arc::new(self.with(self.dataset.clone(), device.clone()))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        let part = PartialDataset::new(self.dataset.clone(), start, end);
        Arc::new(self.with(Arc::new(part), self.device.clone()))
    }
}

struct EpochIterator<I, O> {
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, O>>,
    batch_size: usize,
    device: Device,
    position: usize,
}

impl<I, O> Iterator for EpochIterator<I, O> {
    type Item = std::result::Result<O, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let len = self.dataset.len();
        if self.position >= len {
            return None;
        }
        let end = (self.position + self.batch_size).min(len);
        let items = self.dataset.get_many((self.position..end).collect());
        self.position = end;
        Some(items.map(|items| self.batcher.batch(items, &self.device)))
    }
}

impl<I, O> DataLoaderIterator<O> for EpochIterator<I, O> {
    fn progress(&self) -> Progress {
        Progress::new(self.position, self.dataset.len(), Some("items".into()))
    }
}
