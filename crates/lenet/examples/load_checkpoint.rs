//! "Another burn app": loads a model written by `trainer` and evaluates it on MNIST's test
//! split, using only burn and this crate's public model type.
//!
//! ```sh
//! cargo run --release --example load_checkpoint -- runs/lenet ../shared/data/mnist
//! ```
//!
//! The folder must hold `config.json` and `model.bpk`; the test images are read from the MNIST
//! folder given second.

use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::store::ModuleRecord;
use lenet::model::LeNetConfig;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: load_checkpoint ARTIFACT_DIR MNIST_DIR");
    let dir = std::path::Path::new(&dir);
    let mnist = std::env::args()
        .nth(2)
        .expect("usage: load_checkpoint ARTIFACT_DIR MNIST_DIR");

    // The network's shape is the "model" part of the training configuration.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config.json"))
            .expect("config.json is JSON");
    let config: LeNetConfig =
        serde_json::from_value(config["model"].clone()).expect("a LeNet configuration");

    let device = Device::flex();
    let record = ModuleRecord::load(dir.join("model.bpk")).expect("model.bpk");
    let model = config.init(&device).load_record(record);

    let test = lenet::data::MnistSplits::from_dir(std::path::Path::new(&mnist))
        .expect("MNIST files")
        .test;
    let mut correct = 0;
    let indices: Vec<usize> = (0..test.len()).collect();
    for chunk in indices.chunks(1000) {
        let items: Vec<_> = chunk.iter().map(|&i| test.get(i).expect("item")).collect();
        let pixels: Vec<f32> = items
            .iter()
            .flat_map(|item| item.pixels.iter().map(|&p| f32::from(p) / 255.0))
            .collect();
        let images =
            Tensor::<4>::from_data(TensorData::new(pixels, [items.len(), 1, 28, 28]), &device);
        let predicted = model
            .forward(images)
            .argmax(1)
            .into_data()
            .try_into_vec_as::<i64>()
            .expect("classes");
        correct += items
            .iter()
            .zip(predicted)
            .filter(|(item, p)| i64::from(item.label) == *p)
            .count();
    }
    println!(
        "accuracy {:.2}% ({correct}/{}) on MNIST's test split",
        100.0 * correct as f64 / test.len() as f64,
        test.len()
    );
}
