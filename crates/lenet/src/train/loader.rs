//! The training loader: reshuffles every epoch with a seed derived from `(seed, epoch)` alone,
//! so a resumed run sees the batches an uninterrupted run sees.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::transform::{PartialDataset, ShuffledDataset};
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;
use rayon::prelude::*;

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
    transform: Option<ItemTransform<I>>,
}

/// Changes an item before it is batched (data augmentation), given a seed that depends only
/// on the run's seed, the epoch and the item's place in the epoch: repeatable, and new each
/// epoch.
pub type ItemTransform<I> = Arc<dyn Fn(&mut I, u64) + Send + Sync>;

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
            transform: None,
        }
    }

    /// This loader with every item passed through `transform` first.
    pub fn with_transform(mut self, transform: ItemTransform<I>) -> Self {
        self.transform = Some(transform);
        self
    }

    fn with(&self, dataset: Arc<dyn Dataset<I>>, device: Device) -> Self {
        Self {
            dataset,
            batcher: self.batcher.clone(),
            batch_size: self.batch_size,
            seed: self.seed,
            device,
            next_epoch: self.next_epoch.clone(),
            transform: self.transform.clone(),
        }
    }
}

/// The shuffle seed of one epoch.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The seed the transform gets for the item at `place` in epoch `epoch`'s order.
fn transform_seed(seed: u64, epoch: usize, place: usize) -> u64 {
    epoch_seed(seed, epoch).rotate_left(17) ^ (place as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)
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
            seed: self.seed,
            epoch,
            transform: self.transform.clone(),
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

/// The fewest items one parallel task transforms. Distorting an image takes a few
/// microseconds, and at batch 10 the other thread is asleep between steps: waking it cost the
/// training thread more than the half of ten distortions it took over (`perf` of the recipe:
/// that thread did 9 in 10 of the distortions anyway; wake-ups 615 samples before, 493 after).
///
/// Making the next batch ahead while the current one trains (as a rayon task, or on a thread
/// of its own) gains nothing measurable on 2 cores: the step's second thread sleeps between
/// steps either way, and a third thread only takes turns with the two
/// (`experiments/bench/RESULTS.md`, "The distortions and the loader").
const MIN_TRANSFORMS_PER_TASK: usize = 16;

struct EpochIterator<I, O> {
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<I, O>>,
    batch_size: usize,
    device: Device,
    position: usize,
    /// The run's seed and this epoch's number, for the transform's seeds.
    seed: u64,
    epoch: usize,
    transform: Option<ItemTransform<I>>,
}

impl<I: Send, O> Iterator for EpochIterator<I, O> {
    type Item = std::result::Result<O, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let len = self.dataset.len();
        if self.position >= len {
            return None;
        }
        let (start, end) = (self.position, (self.position + self.batch_size).min(len));
        let items = self.dataset.get_many((start..end).collect());
        self.position = end;
        Some(items.map(|mut items| {
            if let Some(transform) = &self.transform {
                // In pieces of at least `MIN_TRANSFORMS_PER_TASK` items, so that a small batch
                // is transformed where it is without waking another thread for it.
                let items = items.par_iter_mut().with_min_len(MIN_TRANSFORMS_PER_TASK);
                items.enumerate().for_each(|(i, item)| {
                    transform(item, transform_seed(self.seed, self.epoch, start + i))
                });
            }
            self.batcher.batch(items, &self.device)
        }))
    }
}

impl<I: Send, O> DataLoaderIterator<O> for EpochIterator<I, O> {
    fn progress(&self) -> Progress {
        Progress::new(self.position, self.dataset.len(), Some("items".into()))
    }
}

#[cfg(test)]
mod tests {
    use burn::data::dataset::InMemDataset;

    use super::*;

    /// Batches of the item numbers themselves.
    #[derive(Clone)]
    struct Numbers;

    impl Batcher<usize, Vec<usize>> for Numbers {
        fn batch(&self, items: Vec<usize>, _: &Device) -> Vec<usize> {
            items
        }
    }

    fn epochs(first_epoch: usize, count: usize) -> Vec<Vec<Vec<usize>>> {
        let loader = EpochShuffledLoader::new(
            Arc::new(InMemDataset::new((0..10).collect::<Vec<usize>>())),
            Arc::new(Numbers),
            4,
            42,
            first_epoch,
            Device::flex(),
        );
        (0..count)
            .map(|_| loader.iter().map(|batch| batch.unwrap()).collect())
            .collect()
    }

    #[test]
    fn each_epoch_is_a_permutation_in_batches() {
        for epoch in epochs(1, 3) {
            assert_eq!(epoch.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
            let mut seen: Vec<usize> = epoch.concat();
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_order_depends_on_the_epoch_alone() {
        let straight = epochs(1, 3);
        assert_ne!(straight[0], straight[1], "epochs are reshuffled");
        // A loader started at epoch 3 (a resumed run) sees what an uninterrupted one sees.
        assert_eq!(epochs(3, 1)[0], straight[2]);
        assert_eq!(epochs(1, 1)[0], straight[0]);
    }
}

#[cfg(test)]
mod transform_tests {
    use burn::data::dataset::InMemDataset;

    use super::*;

    #[derive(Clone)]
    struct Collect;

    impl Batcher<(usize, u64), Vec<(usize, u64)>> for Collect {
        fn batch(&self, items: Vec<(usize, u64)>, _: &Device) -> Vec<(usize, u64)> {
            items
        }
    }

    /// Each item with the seed its transform was given, per epoch, for a loader starting at
    /// `first_epoch`.
    fn seeds(first_epoch: usize, epochs: usize) -> Vec<Vec<(usize, u64)>> {
        let items: Vec<(usize, u64)> = (0..6).map(|i| (i, 0)).collect();
        let loader = EpochShuffledLoader::new(
            Arc::new(InMemDataset::new(items)),
            Arc::new(Collect),
            4,
            7,
            first_epoch,
            Device::flex(),
        )
        .with_transform(Arc::new(|item: &mut (usize, u64), seed| item.1 = seed));
        (0..epochs)
            .map(|_| loader.iter().flat_map(|b| b.unwrap()).collect())
            .collect()
    }

    #[test]
    fn transforms_get_seeds_new_each_epoch_and_the_same_when_resumed() {
        let run = seeds(1, 2);
        let distinct: std::collections::HashSet<u64> = run[0].iter().map(|i| i.1).collect();
        assert_eq!(distinct.len(), 6, "every item its own seed");
        assert!(run[0].iter().all(|a| run[1].iter().all(|b| a.1 != b.1)));
        assert_eq!(
            seeds(2, 1)[0],
            run[1],
            "a resumed epoch sees the same distortions"
        );
    }

    #[test]
    fn batches_hold_the_epochs_items_in_order_each_with_its_own_seed() {
        for (epoch, items) in (1..).zip(seeds(1, 3)) {
            let order = ShuffledDataset::new(
                Arc::new(InMemDataset::new((0..6).collect::<Vec<usize>>())),
                epoch_seed(7, epoch),
            );
            let expected: Vec<(usize, u64)> = (0..6)
                .map(|place| (order.get(place).unwrap(), transform_seed(7, epoch, place)))
                .collect();
            assert_eq!(items, expected, "epoch {epoch}");
        }
    }
}
