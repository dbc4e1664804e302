//! The classical classifiers of the paper's Table 1, on pixels scaled to [0, 1]: k nearest
//! neighbours (linfa-nn's exact linear search, Euclidean) and one-vs-rest RBF SVMs (linfa-svm,
//! Platt-scaled so the most confident class wins). Hyper-parameters are chosen on a validation
//! split held out from the training set, then the classifier is refitted on the whole training
//! set and scored once on the test set.

use lenet::data::{DigitDataset, deskew::deskew};
use lenet::mnist::NUM_CLASSES;
use linfa::composing::MultiClassModel;
use linfa::prelude::*;
use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use linfa_svm::Svm;
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{ExperimentError, Result};

/// Images as rows of pixels in [0, 1], with their labels.
#[derive(Debug, Clone)]
pub struct Features {
    /// `[images, 784]`.
    pub x: Array2<f64>,
    /// Digit of each row.
    pub y: Vec<usize>,
}

impl Features {
    /// The images of `dataset` (deskewed first when asked).
    pub fn from_dataset(dataset: &DigitDataset, deskewed: bool) -> Result<Self> {
        let items = lenet::data::all_items(dataset)?;
        let width = items.first().map_or(0, |item| item.pixels.len());
        let mut x = Array2::zeros((items.len(), width));
        let mut y = Vec::with_capacity(items.len());
        for (mut row, item) in x.rows_mut().into_iter().zip(&items) {
            let pixels = if deskewed {
                deskew(&item.pixels)
            } else {
                item.pixels.clone()
            };
            row.iter_mut()
                .zip(&pixels)
                .for_each(|(v, &p)| *v = f64::from(p) / 255.0);
            y.push(usize::from(item.label));
        }
        Ok(Self { x, y })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The first `n` rows and the rest: the rows are in random order already (the protocol's
    /// subsets are drawn at random), and for full MNIST the tail is as good a validation
    /// split as any.
    pub fn split(&self, n: usize) -> (Features, Features) {
        let n = n.min(self.len());
        let part = |range: std::ops::Range<usize>| Features {
            x: self.x.select(Axis(0), &range.clone().collect::<Vec<_>>()),
            y: self.y[range].to_vec(),
        };
        (part(0..n), part(n..self.len()))
    }

    /// The first `n` rows.
    pub fn head(&self, n: usize) -> Features {
        self.split(n).0
    }
}

/// Percentage of predictions that differ from the labels.
pub fn error_rate(predicted: &[usize], labels: &[usize]) -> f64 {
    let wrong = predicted.iter().zip(labels).filter(|(p, l)| p != l).count();
    100.0 * wrong as f64 / labels.len().max(1) as f64
}

/// Predictions of k-NN for every `k` in `ks` at once (one neighbour search with the largest k),
/// using all cores. A tied vote goes to the tied class with the nearest neighbour.
pub fn knn_predict(
    train: &Features,
    queries: ArrayView2<f64>,
    ks: &[usize],
) -> Result<Vec<Vec<usize>>> {
    let fail = |reason: String| ExperimentError::Baseline {
        classifier: "k-NN".into(),
        reason,
    };
    let k_max = ks.iter().copied().max().unwrap_or(1);
    let index = CommonNearestNeighbour::LinearSearch
        .from_batch(&train.x, L2Dist)
        .map_err(|e| fail(e.to_string()))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = queries.nrows().div_ceil(threads).max(1);
    // Each thread answers a contiguous block of queries: labels of the k_max nearest.
    let neighbours: Vec<Vec<usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = queries
            .axis_chunks_iter(Axis(0), chunk)
            .map(|block| {
                let index = &index;
                scope.spawn(move || {
                    block
                        .rows()
                        .into_iter()
                        .map(|row| {
                            index
                                .k_nearest(row, k_max)
                                .map(|found| found.iter().map(|(_, i)| train.y[*i]).collect())
                                .map_err(|e| e.to_string())
                        })
                        .collect::<std::result::Result<Vec<Vec<usize>>, String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("k-NN worker panicked"))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(|blocks| blocks.into_iter().flatten().collect())
    })
    .map_err(fail)?;
    Ok(ks
        .iter()
        .map(|&k| {
            neighbours
                .iter()
                .map(|labels| vote(&labels[..k.min(labels.len())]))
                .collect()
        })
        .collect())
}

/// Majority label of neighbours sorted nearest first; ties go to the class seen first.
fn vote(labels: &[usize]) -> usize {
    let mut counts = [0usize; NUM_CLASSES];
    labels.iter().for_each(|&l| counts[l] += 1);
    let best = counts.iter().copied().max().unwrap_or(0);
    labels
        .iter()
        .copied()
        .find(|&l| counts[l] == best)
        .unwrap_or(0)
}

/// What a baseline measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineOutcome {
    /// Test error, %.
    pub test_error: f64,
    /// The hyper-parameters chosen on the validation split, in words.
    pub chosen: String,
}

/// k-NN: `k` chosen on the last `validation_fraction` of the training set (when there are
/// several candidates), then the whole training set classifies the test set.
pub fn nearest_neighbour(
    train: &Features,
    test: &Features,
    ks: &[usize],
    validation_fraction: f64,
) -> Result<BaselineOutcome> {
    let k = if ks.len() > 1 {
        let keep = train.len() - (train.len() as f64 * validation_fraction).round() as usize;
        let (fit, valid) = train.split(keep);
        let predictions = knn_predict(&fit, valid.x.view(), ks)?;
        let errors: Vec<f64> = predictions
            .iter()
            .map(|p| error_rate(p, &valid.y))
            .collect();
        // The smallest error; the smaller k on ties.
        let best = (0..ks.len())
            .min_by(|&a, &b| errors[a].total_cmp(&errors[b]).then(ks[a].cmp(&ks[b])))
            .unwrap_or(0);
        ks[best]
    } else {
        ks[0]
    };
    let predicted = knn_predict(train, test.x.view(), &[k])?.remove(0);
    Ok(BaselineOutcome {
        test_error: error_rate(&predicted, &test.y),
        chosen: format!("k = {k}"),
    })
}

/// Ten one-vs-rest RBF SVMs with exp(−γ‖x−y‖²) and cost `c`; predicts the class whose SVM is
/// most confident.
fn svm_fit(train: &Features, c: f64, gamma: f64) -> Result<MultiClassModel<Array2<f64>, usize>> {
    let dataset = DatasetBase::new(train.x.clone(), Array1::from(train.y.clone()));
    // linfa's Gaussian kernel is exp(−‖x−y‖²/eps).
    let params = Svm::<f64, Pr>::params()
        .gaussian_kernel(1.0 / gamma)
        .pos_neg_weights(c, c);
    let fail = |reason: String| ExperimentError::Baseline {
        classifier: "SVM".into(),
        reason,
    };
    let binaries = dataset.one_vs_all().map_err(|e| fail(e.to_string()))?;
    // The ten problems are independent: fit them on all cores, each core taking every
    // `threads`-th class.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let params = &params;
    let binaries = &binaries;
    let fitted = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    binaries
                        .iter()
                        .skip(worker)
                        .step_by(threads)
                        .map(|(label, binary)| params.fit(binary).map(|model| (*label, model)))
                        .collect::<std::result::Result<Vec<_>, _>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("SVM worker panicked"))
            .collect::<std::result::Result<Vec<_>, _>>()
    })
    .map_err(|e| fail(e.to_string()))?;
    let mut models: Vec<_> = fitted.into_iter().flatten().collect();
    models.sort_by_key(|(label, _)| *label);
    Ok(models.into_iter().collect())
}

fn svm_predict(model: &MultiClassModel<Array2<f64>, usize>, x: &Array2<f64>) -> Vec<usize> {
    model.predict(x).to_vec()
}

/// RBF SVM: (C, γ) chosen on the last `validation_fraction` of the (at most `max_train`)
/// training images when there are several candidates, refitted on all of them, scored on the
/// test set.
pub fn svm(
    train: &Features,
    test: &Features,
    cs: &[f64],
    gammas: &[f64],
    validation_fraction: f64,
    max_train: Option<usize>,
) -> Result<BaselineOutcome> {
    let train = match max_train {
        Some(n) if n < train.len() => train.head(n),
        _ => train.clone(),
    };
    let grid: Vec<(f64, f64)> = cs
        .iter()
        .flat_map(|&c| gammas.iter().map(move |&g| (c, g)))
        .collect();
    let (c, gamma) = if grid.len() > 1 {
        let keep = train.len() - (train.len() as f64 * validation_fraction).round() as usize;
        let (fit, valid) = train.split(keep);
        let mut best = (f64::INFINITY, grid[0]);
        for &(c, gamma) in &grid {
            let error = error_rate(&svm_predict(&svm_fit(&fit, c, gamma)?, &valid.x), &valid.y);
            if error < best.0 {
                best = (error, (c, gamma));
            }
        }
        best.1
    } else {
        grid[0]
    };
    let model = svm_fit(&train, c, gamma)?;
    Ok(BaselineOutcome {
        test_error: error_rate(&svm_predict(&model, &test.x), &test.y),
        chosen: format!("C = {c}, γ = {gamma}, {} training images", train.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated classes of 4-pixel "images".
    fn blobs() -> Features {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let class = i % 2;
            let jitter = (i as f64 * 0.37).sin() * 0.05;
            let base = if class == 0 { 0.1 } else { 0.9 };
            rows.extend([base + jitter, base - jitter, base, 1.0 - base]);
            y.push(class);
        }
        Features {
            x: Array2::from_shape_vec((40, 4), rows).unwrap(),
            y,
        }
    }

    #[test]
    fn vote_breaks_ties_by_the_nearest() {
        assert_eq!(vote(&[3, 5, 5, 3]), 3);
        assert_eq!(vote(&[3, 5, 5]), 5);
        assert_eq!(vote(&[7]), 7);
    }

    #[test]
    fn knn_and_svm_separate_two_blobs() {
        let data = blobs();
        let (train, test) = data.split(30);
        let knn = nearest_neighbour(&train, &test, &[1, 3], 0.2).unwrap();
        assert_eq!(knn.test_error, 0.0);
        assert!(knn.chosen.starts_with("k = "));
        let svm = svm(&train, &test, &[1.0], &[1.0], 0.2, None).unwrap();
        assert_eq!(svm.test_error, 0.0, "{}", svm.chosen);
    }

    #[test]
    fn one_nn_of_a_training_point_is_itself() {
        let data = blobs();
        let predicted = knn_predict(&data, data.x.view(), &[1]).unwrap().remove(0);
        assert_eq!(predicted, data.y);
    }
}
