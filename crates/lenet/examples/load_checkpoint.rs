//! "Another burn app": loads a model written by `trainer` with burn's own record API and
//! evaluates it on MNIST's test split with plain tensor operations.
//!
//! ```sh
//! cargo run --example load_checkpoint -- runs/lenet ../shared/data/mnist
//! ```
//!
//! The folder must hold `config.json` and `model.bpk`; the test images are read from the MNIST
//! folder given second, preprocessed as the run's configuration says (deskewed or not).

use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::store::ModuleRecord;
use lenet::TrainingConfig;
use lenet::data::MnistSplits;

fn main() {
    lenet::atomic::end_quietly_when_stdout_closes(); // `| head` ends it quietly
    let usage = "usage: load_checkpoint ARTIFACT_DIR MNIST_DIR";
    let dir = std::env::args().nth(1).expect(usage);
    let mnist = std::env::args().nth(2).expect(usage);
    let dir = std::path::Path::new(&dir);

    // The network's shape and the preprocessing come from the run's configuration.
    let config = TrainingConfig::load_from(dir).expect("config.json");
    let device = Device::flex();
    let record = ModuleRecord::load(dir.join("model.bpk")).expect("model.bpk");
    let model = config.model.init(&device).load_record(record);

    let data = MnistSplits::from_dir(std::path::Path::new(&mnist)).expect("MNIST files");
    let test = if config.deskew {
        data.deskewed().expect("deskewed images").test
    } else {
        data.test
    };
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
