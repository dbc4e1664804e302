//! The nearest-neighbour search of Table 1's k-NN (exact, as matrix products) finds the same
//! neighbours as linfa-nn's exact linear search, on real MNIST images.

use burn::data::dataset::Dataset;
use experiments::baselines::{Features, nearest_rows};
use lenet::data::MnistSplits;
use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};

#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

#[test]
fn the_blocked_search_finds_the_exact_neighbours() {
    let data = MnistSplits::from_dir(&mnist_dir())
        .unwrap()
        .subset(Some(3000), Some(300), 9)
        .unwrap();
    assert_eq!(data.test.len(), 300);
    let train = Features::from_dataset(&data.train, false).unwrap();
    let test = Features::from_dataset(&data.test, false).unwrap();
    let k = 5;
    let ours = nearest_rows(&train, test.x.view(), k);
    let index = CommonNearestNeighbour::LinearSearch
        .from_batch(&train.x, L2Dist)
        .unwrap();
    for (query, found) in test.x.rows().into_iter().zip(&ours) {
        let exact: Vec<(f64, usize)> = index
            .k_nearest(query, k)
            .unwrap()
            .into_iter()
            .map(|(point, i)| {
                let d: f64 = point
                    .iter()
                    .zip(query)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                (d, i)
            })
            .collect();
        assert_eq!(found.len(), k);
        // The same images at the same distances (the order of exactly equal distances may
        // differ: compare the distances, then the sets).
        let distance = |i: usize| -> f64 {
            train
                .x
                .row(i)
                .iter()
                .zip(query)
                .map(|(a, b)| (a - b) * (a - b))
                .sum()
        };
        for ((d, _), &i) in exact.iter().zip(found) {
            assert!((distance(i) - d).abs() < 1e-9, "{} vs {d}", distance(i));
        }
        let mut a: Vec<usize> = exact.iter().map(|(_, i)| *i).collect();
        let mut b = found.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }
    // The nearest image of a training image is itself.
    let own = nearest_rows(
        &train,
        train.x.slice_axis(ndarray::Axis(0), (0..50).into()),
        1,
    );
    assert!(own.iter().enumerate().all(|(i, found)| found[0] == i || {
        let first = data.train.get(i).unwrap();
        data.train.get(found[0]).unwrap().pixels == first.pixels
    }));
}
