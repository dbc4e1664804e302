//! Which images a run uses: [`Selection`] (the settings that choose and transform its splits)
//! and [`RunData`], the splits it selected.
//!
//! [`crate::train()`] takes a [`RunData`], which only [`Selection::apply`] builds, and checks it
//! was selected as the run's configuration says: a run cannot train on raw images while its
//! `config.json` says deskewed, or on another seed's subset.

use super::MnistSplits;
use crate::error::Result;

/// The settings of a run that choose its images: the validation holdout, the random subsets
/// and their seed, the deskewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// Hold out the last N training images as the test split (a validation run).
    pub holdout: Option<usize>,
    /// A random subset of this many training images.
    pub train_size: Option<usize>,
    /// A random subset of this many test images.
    pub test_size: Option<usize>,
    /// The subsets' seed.
    pub seed: u64,
    /// Deskew every image.
    pub deskew: bool,
}

impl Selection {
    /// Selects the splits from `data` (MNIST as loaded): the holdout, then the subsets, then
    /// the deskewing.
    pub fn apply(&self, data: MnistSplits) -> Result<RunData> {
        let data = match self.holdout {
            Some(n) => data.hold_out(n)?,
            None => data,
        };
        let data = data.subset(self.train_size, self.test_size, self.seed)?;
        let splits = if self.deskew { data.deskewed()? } else { data };
        Ok(RunData {
            selection: *self,
            splits,
        })
    }
}

/// The splits one run trains and tests on, as its [`Selection`] chose them.
#[derive(Clone)]
pub struct RunData {
    selection: Selection,
    splits: MnistSplits,
}

impl RunData {
    /// How these splits were selected.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The training and test (or validation) splits.
    pub fn splits(&self) -> &MnistSplits {
        &self.splits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DigitItem;
    use burn::data::dataset::{Dataset, InMemDataset};
    use std::sync::Arc;

    fn digits(count: usize) -> Vec<DigitItem> {
        (0..count)
            .map(|i| DigitItem {
                // A slanted bar, so that deskewing changes it.
                pixels: (0..784)
                    .map(|p| {
                        if (p / 28 + p % 28) % 9 == i % 9 {
                            200
                        } else {
                            0
                        }
                    })
                    .collect(),
                label: (i % 10) as u8,
            })
            .collect()
    }

    fn splits() -> MnistSplits {
        MnistSplits {
            train: Arc::new(InMemDataset::new(digits(50))),
            test: Arc::new(InMemDataset::new(digits(20))),
        }
    }

    #[test]
    fn a_selection_holds_out_then_subsets_then_deskews_and_remembers_itself() {
        let selection = Selection {
            holdout: Some(10),
            train_size: Some(30),
            test_size: Some(5),
            seed: 3,
            deskew: true,
        };
        let data = selection.apply(splits()).unwrap();
        assert_eq!(data.selection(), &selection);
        assert_eq!(data.splits().train.len(), 30);
        assert_eq!(data.splits().test.len(), 5);
        // The validation images are the last 10 training images, deskewed.
        let held_out = splits().hold_out(10).unwrap().deskewed().unwrap();
        let validation: Vec<_> = (0..10).map(|i| held_out.test.get(i).unwrap()).collect();
        for i in 0..5 {
            assert!(validation.contains(&data.splits().test.get(i).unwrap()));
        }
        let plain = Selection {
            deskew: false,
            ..selection
        }
        .apply(splits())
        .unwrap();
        assert_ne!(
            plain.splits().train.get(0).unwrap(),
            data.splits().train.get(0).unwrap(),
            "deskewing changed the slanted bars"
        );
    }
}
