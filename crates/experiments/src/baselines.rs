//! The classical classifiers of the paper's Table 1, on pixels scaled to [0, 1]: k nearest
//! neighbours (exact Euclidean search, as matrix products) and one-vs-rest RBF SVMs (linfa-svm,
//! Platt-scaled so the most confident class wins). Hyper-parameters are chosen on a validation
//! split held out from the training set, then the classifier is refitted on the whole training
//! set and scored once on the test set.

use lenet::data::{DigitDataset, deskew::deskew};
use lenet::mnist::NUM_CLASSES;
use linfa::composing::MultiClassModel;
use linfa::prelude::*;
use linfa_svm::Svm;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::{ExperimentError, Result};
use crate::study::SvmSolver;

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

/// Queries per matrix product of the neighbour search (a block of squared distances to 60 000
/// training images is 123 MB).
const QUERY_BLOCK: usize = 256;

/// The `k` nearest training rows of every query, nearest first (the lower index first among
/// equally near ones): an exact Euclidean search.
///
/// Squared distances are `‖q‖² − 2 q·t + ‖t‖²`, a block of queries against every training row
/// at a time, the `q·t` as one matrix product (ndarray's `general_mat_mul`, matrixmultiply on
/// all cores). The pixels are taken back to their grey levels 0-255 first, so every product and
/// sum is an integer below 2⁵³ and the distances are exact in `f64`: no rounding can reorder
/// two neighbours. (linfa-nn's linear search computes each distance on its own, 21 minutes for
/// MNIST's test set; hand-written here because no crate offers this blocked exact search.)
pub fn nearest_rows(train: &Features, queries: ArrayView2<f64>, k: usize) -> Vec<Vec<usize>> {
    let grey = |x: ArrayView2<f64>| x.mapv(|v| (v * 255.0).round());
    let train_x = grey(train.x.view());
    let train_norms: Vec<f64> = train_x.rows().into_iter().map(|r| r.dot(&r)).collect();
    let k = k.min(train.len());
    let mut nearest = Vec::with_capacity(queries.nrows());
    let mut products = Array2::<f64>::zeros((QUERY_BLOCK.min(queries.nrows()), train.len()));
    for block in queries.axis_chunks_iter(Axis(0), QUERY_BLOCK) {
        let block = grey(block);
        let mut products = products.slice_axis_mut(Axis(0), (0..block.nrows()).into());
        general_mat_mul(1.0, &block, &train_x.t(), 0.0, &mut products);
        let products = products.view();
        let found: Vec<Vec<usize>> = (0..block.nrows())
            .into_par_iter()
            .map(|row| {
                let (dots, query) = (products.row(row), block.row(row));
                let query_norm = query.dot(&query);
                smallest(
                    dots.iter()
                        .zip(&train_norms)
                        .map(|(dot, norm)| query_norm - 2.0 * dot + norm),
                    k,
                )
            })
            .collect();
        nearest.extend(found);
    }
    nearest
}

/// Indices of the `k` smallest values, smallest first (the lower index first on ties).
fn smallest(values: impl Iterator<Item = f64>, k: usize) -> Vec<usize> {
    let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
    for (i, v) in values.enumerate() {
        if best.len() == k && v >= best[k - 1].0 {
            continue;
        }
        let at = best.partition_point(|&(b, _)| b <= v);
        best.insert(at, (v, i));
        best.truncate(k);
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// The `k_max` nearest training images of every test image: one search serves every
/// nearest-neighbour classifier of a protocol (1-NN and k-NN vote from the same lists).
#[derive(Debug, Clone)]
pub struct Neighbours {
    /// For each query, the labels of its nearest training images, nearest first.
    labels: Vec<Vec<usize>>,
}

impl Neighbours {
    /// Searches the `k_max` nearest training images of every row of `queries`.
    pub fn search(train: &Features, queries: &Features, k_max: usize) -> Self {
        let labels = nearest_rows(train, queries.x.view(), k_max)
            .into_iter()
            .map(|rows| rows.into_iter().map(|i| train.y[i]).collect())
            .collect();
        Self { labels }
    }

    /// The neighbours' largest `k` (as searched).
    pub fn k_max(&self) -> usize {
        self.labels.first().map_or(0, Vec::len)
    }

    /// k-NN's prediction of every query.
    pub fn predict(&self, k: usize) -> Vec<usize> {
        self.labels
            .iter()
            .map(|labels| vote(&labels[..k.min(labels.len())]))
            .collect()
    }
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
/// several candidates), then the whole training set classifies the test set, whose neighbours
/// (searched with at least the largest candidate k) are given.
pub fn nearest_neighbour(
    train: &Features,
    test: &Features,
    test_neighbours: &Neighbours,
    ks: &[usize],
    validation_fraction: f64,
) -> Result<BaselineOutcome> {
    let k_max = ks.iter().copied().max().unwrap_or(1);
    if test_neighbours.k_max() < k_max.min(train.len()) {
        return Err(ExperimentError::Baseline {
            classifier: "k-NN".into(),
            reason: format!(
                "{} neighbours were searched, k goes up to {k_max}",
                test_neighbours.k_max()
            ),
        });
    }
    let k = if ks.len() > 1 {
        let keep = train.len() - (train.len() as f64 * validation_fraction).round() as usize;
        let (fit, valid) = train.split(keep);
        let neighbours = Neighbours::search(&fit, &valid, k_max);
        // The smallest error; the smaller k on ties.
        let errors: Vec<f64> = ks
            .iter()
            .map(|&k| error_rate(&neighbours.predict(k), &valid.y))
            .collect();
        let best = (0..ks.len())
            .min_by(|&a, &b| errors[a].total_cmp(&errors[b]).then(ks[a].cmp(&ks[b])))
            .unwrap_or(0);
        ks[best]
    } else {
        ks[0]
    };
    Ok(BaselineOutcome {
        test_error: error_rate(&test_neighbours.predict(k), &test.y),
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

/// How Table 1's SVM is fitted.
#[derive(Debug, Clone, Copy)]
pub struct SvmOptions<'a> {
    /// Candidate C.
    pub cs: &'a [f64],
    /// Candidate γ.
    pub gammas: &'a [f64],
    /// Fraction of the selection images held out to choose C and γ.
    pub validation_fraction: f64,
    /// Train on at most this many images.
    pub max_train: Option<usize>,
    /// Choose C and γ on the first this many training images.
    pub select_on: Option<usize>,
    /// linfa-svm or libsvm.
    pub solver: SvmSolver,
}

/// RBF SVM: (C, γ) chosen on the last `validation_fraction` of the (first `select_on` of the,
/// at most `max_train`) training images when there are several candidates, refitted on all
/// the training images, scored on the test set.
pub fn svm(train: &Features, test: &Features, options: &SvmOptions) -> Result<BaselineOutcome> {
    let train = match options.max_train {
        Some(n) if n < train.len() => train.head(n),
        _ => train.clone(),
    };
    let grid: Vec<(f64, f64)> = options
        .cs
        .iter()
        .flat_map(|&c| options.gammas.iter().map(move |&g| (c, g)))
        .collect();
    let classify = |fit: &Features, queries: &Features, c: f64, gamma: f64| match options.solver {
        SvmSolver::Linfa => Ok(svm_predict(&svm_fit(fit, c, gamma)?, &queries.x)),
        SvmSolver::Libsvm => libsvm::fit_predict(fit, queries, c, gamma),
    };
    let (c, gamma) = if grid.len() > 1 {
        let selection = match options.select_on {
            Some(n) => train.head(n),
            None => train.clone(),
        };
        let held_out = (selection.len() as f64 * options.validation_fraction).round() as usize;
        let (fit, valid) = selection.split(selection.len() - held_out);
        let score = |&(c, gamma): &(f64, f64)| -> Result<f64> {
            Ok(error_rate(&classify(&fit, &valid, c, gamma)?, &valid.y))
        };
        // libsvm's programs are single-threaded: fit the candidates side by side. linfa's fit
        // already runs its ten one-vs-rest problems on every core.
        let errors: Vec<f64> = match options.solver {
            SvmSolver::Libsvm => grid.par_iter().map(score).collect::<Result<_>>()?,
            SvmSolver::Linfa => grid.iter().map(score).collect::<Result<_>>()?,
        };
        let mut best = (f64::INFINITY, grid[0]);
        for (&error, &candidate) in errors.iter().zip(&grid) {
            if error < best.0 {
                best = (error, candidate);
            }
        }
        best.1
    } else {
        grid[0]
    };
    let predicted = classify(&train, test, c, gamma)?;
    Ok(BaselineOutcome {
        test_error: error_rate(&predicted, &test.y),
        chosen: format!("C = {c}, γ = {gamma}, {} training images", train.len()),
    })
}

/// libsvm's command-line programs (Debian's `libsvm-tools`), the reference SMO solver with a
/// kernel cache and shrinking. Run as programs: a binding to the C library would need `unsafe`
/// code, and the maintained Rust bindings wrap it with dense rows only.
mod libsvm {
    use std::io::Write;
    use std::path::Path;
    use std::process::Command;

    use super::Features;
    use crate::error::{ExperimentError, Result};

    /// MB of kernel cache per `svm-train` (libsvm's default of 100 is far too small for MNIST).
    const CACHE_MB: usize = 4000;

    fn failed(reason: String) -> ExperimentError {
        ExperimentError::Baseline {
            classifier: "SVM (libsvm)".into(),
            reason,
        }
    }

    /// Rows in libsvm's sparse text format: `label index:value ...`, 1-based, non-zero values.
    fn write(features: &Features, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| ExperimentError::io(path, e))?;
        let mut out = std::io::BufWriter::new(file);
        for (row, label) in features.x.rows().into_iter().zip(&features.y) {
            write!(out, "{label}").map_err(|e| ExperimentError::io(path, e))?;
            for (i, v) in row.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                write!(out, " {}:{v}", i + 1).map_err(|e| ExperimentError::io(path, e))?;
            }
            writeln!(out).map_err(|e| ExperimentError::io(path, e))?;
        }
        out.flush().map_err(|e| ExperimentError::io(path, e))
    }

    fn run(program: &str, args: &[&str]) -> Result<()> {
        let output = Command::new(program).args(args).output().map_err(|e| {
            failed(format!(
                "cannot run {program} ({e}); install Debian's libsvm-tools \
                 (apt-get install libsvm-tools)"
            ))
        })?;
        if !output.status.success() {
            return Err(failed(format!(
                "{program} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Fits C-SVC with an RBF kernel `exp(−γ‖x−y‖²)` and cost `c` on `train` (libsvm's
    /// one-vs-one for the ten classes), and predicts the class of every row of `queries`.
    pub fn fit_predict(
        train: &Features,
        queries: &Features,
        c: f64,
        gamma: f64,
    ) -> Result<Vec<usize>> {
        let dir = tempfile::tempdir().map_err(|e| failed(format!("a temporary folder: {e}")))?;
        let path = |name: &str| dir.path().join(name);
        let (train_file, query_file, model, out) = (
            path("train.txt"),
            path("queries.txt"),
            path("model.txt"),
            path("predicted.txt"),
        );
        write(train, &train_file)?;
        write(queries, &query_file)?;
        let text = |p: &Path| p.to_string_lossy().into_owned();
        let (c, gamma, cache) = (c.to_string(), gamma.to_string(), CACHE_MB.to_string());
        run(
            "svm-train",
            &[
                "-s",
                "0",
                "-t",
                "2",
                "-c",
                &c,
                "-g",
                &gamma,
                "-m",
                &cache,
                "-q",
                &text(&train_file),
                &text(&model),
            ],
        )?;
        run(
            "svm-predict",
            &["-q", &text(&query_file), &text(&model), &text(&out)],
        )?;
        let predicted = std::fs::read_to_string(&out).map_err(|e| ExperimentError::io(&out, e))?;
        predicted
            .lines()
            .map(|line| {
                line.trim()
                    .parse::<f64>()
                    .map(|label| label as usize)
                    .map_err(|_| failed(format!("svm-predict wrote {line:?}, not a class")))
            })
            .collect()
    }
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

    /// Both blobs' SVM by `solver`: no test error.
    fn assert_svm_separates_two_blobs(solver: SvmSolver) {
        let (train, test) = blobs().split(30);
        let options = SvmOptions {
            cs: &[1.0, 10.0],
            gammas: &[1.0],
            validation_fraction: 0.2,
            max_train: None,
            select_on: None,
            solver,
        };
        let svm = svm(&train, &test, &options).unwrap();
        assert_eq!(svm.test_error, 0.0, "{solver:?}: {}", svm.chosen);
    }

    #[test]
    fn knn_and_linfas_svm_separate_two_blobs() {
        let (train, test) = blobs().split(30);
        let neighbours = Neighbours::search(&train, &test, 3);
        let knn = nearest_neighbour(&train, &test, &neighbours, &[1, 3], 0.2).unwrap();
        assert_eq!(knn.test_error, 0.0);
        assert!(knn.chosen.starts_with("k = "));
        assert_svm_separates_two_blobs(SvmSolver::Linfa);
    }

    #[test]
    #[ignore = "system tier: needs libsvm's svm-train and svm-predict; .ci/run installs them and runs it"]
    fn libsvm_separates_two_blobs() {
        assert_svm_separates_two_blobs(SvmSolver::Libsvm);
    }

    #[test]
    fn one_nn_of_a_training_point_is_itself() {
        let data = blobs();
        let predicted = Neighbours::search(&data, &data, 1).predict(1);
        assert_eq!(predicted, data.y);
    }

    #[test]
    fn smallest_keeps_the_k_smallest_in_order_lower_index_first_on_ties() {
        let values = [5.0, 1.0, 3.0, 1.0, 0.5, 9.0];
        assert_eq!(smallest(values.into_iter(), 3), [4, 1, 3]);
        assert_eq!(smallest(values.into_iter(), 10), [4, 1, 3, 2, 0, 5]);
    }
}
