//! A recipe run's exact training stream, for feeding it to another implementation
//! (`experiments/pytorch/same_stream.py` trains the identical PyTorch network on it).
//!
//! ```sh
//! cargo run --example stream -- MNIST_DIR OUT_DIR SEED EPOCHS [affine|none] [INIT_FROM]
//! ```
//!
//! For the README's recipe (batch 10, lr 1, deskewed images, `--init logistic`, the distortions
//! given, default `affine`) with seed `SEED`, from the weights in `INIT_FROM` if given (as
//! `trainer train --init-from`), writes to `OUT_DIR`:
//! - `init.safetensors`: the initial weights, in PyTorch's names and layout;
//! - `test.u8`: the deskewed test images, each a label byte then its 784 grey levels;
//! - `epoch_E.u8` for each epoch `E`: the training images in the order and with the
//!   distortions the trainer's loader gives that epoch (`lenet::train::training_loader`), in
//!   the same layout;
//! - `ours.json`: the same run through the trainer's own loop (`lenet::train::train`, flex):
//!   the test error after each epoch and the objective of the first 500 steps.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::data::dataloader::DataLoader;
use burn::prelude::*;
use lenet::config::{Init, TrainingConfig};
use lenet::data::MnistSplits;
use lenet::data::augment::Augment;
use lenet::train::{self, Progress, RunOptions};
use lenet::weights::{self, WeightFormat};

fn main() {
    lenet::atomic::end_quietly_when_stdout_closes(); // `| head` ends it quietly
    let usage = "usage: stream MNIST_DIR OUT_DIR SEED EPOCHS [affine|none] [INIT_FROM]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).expect(usage);
    let mnist = PathBuf::from(arg(0));
    let out = PathBuf::from(arg(1));
    let seed: u64 = arg(2).parse().expect(usage);
    let epochs: usize = arg(3).parse().expect(usage);
    let augment = match args.get(4).map(String::as_str) {
        None | Some("affine") => Augment::Affine,
        Some("none") => Augment::None,
        Some(_) => panic!("{usage}"),
    };
    std::fs::create_dir_all(&out).expect("the output folder");
    lenet::compute::share_this_thread_with_rayon();

    let config = TrainingConfig::default()
        .with_epochs(epochs)
        .with_batch_size(10)
        .with_deskew(true)
        .with_init(Init::Logistic)
        .with_augment(augment)
        .with_seed(seed)
        .with_init_from(args.get(5).map(PathBuf::from));
    let data = MnistSplits::from_dir(&mnist).expect("MNIST");
    let data = config.select_data(data).expect("deskewed MNIST");

    // The initial weights, as the trainer draws them.
    let device = Device::flex();
    let mut net = config
        .model
        .init_seeded_scaled(&device, seed, config.init.gain());
    if let Some(path) = &config.init_from {
        let options = config.init_options().expect("init options");
        net = weights::load_with(net, path, &options)
            .expect("INIT_FROM")
            .0;
    }
    weights::save(
        &net,
        &out.join("init.safetensors"),
        WeightFormat::Safetensors,
    )
    .expect("init.safetensors");

    // The test images and each epoch's training stream, as the trainer's loader gives them.
    let test: Vec<(u8, Vec<u8>)> = lenet::data::all_items(&data.splits().test)
        .expect("the test images")
        .into_iter()
        .map(|item| (item.label, item.pixels))
        .collect();
    write_records(&out.join("test.u8"), &test);
    let loader = train::training_loader(&config, data.splits(), 1, &device);
    for epoch in 1..=epochs {
        let records: Vec<(u8, Vec<u8>)> = loader
            .iter()
            .flat_map(|batch| {
                let batch = batch.expect("a batch");
                let images: Vec<Vec<u8>> = batch
                    .pixels
                    .chunks_exact(lenet::mnist::PIXELS)
                    // The batch holds grey levels / 255; this gives the grey levels back.
                    .map(|values| values.iter().map(|&v| (v * 255.0).round() as u8).collect())
                    .collect();
                batch.labels.into_iter().map(|l| l as u8).zip(images)
            })
            .collect();
        write_records(&out.join(format!("epoch_{epoch}.u8")), &records);
    }

    // The same run through the trainer's loop.
    let run_dir = out.join("run");
    let options = RunOptions::new(&run_dir)
        .with_start(lenet::artifacts::StartMode::Overwrite)
        .with_progress(Progress::EpochLines);
    let outcome = train::train(&config, &data, &device, &options).expect("the run");
    let json = serde_json::json!({
        "seed": seed,
        "augment": format!("{augment:?}"),
        "test_error": outcome.epochs.iter().map(|e| e.test_error).collect::<Vec<_>>(),
        "losses": outcome.batches.iter().take(500).map(|b| b.loss).collect::<Vec<_>>(),
    });
    std::fs::write(out.join("ours.json"), json.to_string()).expect("ours.json");
}

/// Writes `(label, grey levels)` records one after the other.
fn write_records(path: &Path, records: &[(u8, Vec<u8>)]) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("a stream file"));
    for (label, pixels) in records {
        file.write_all(&[*label]).expect("a label");
        file.write_all(pixels).expect("an image");
    }
    file.flush().expect("a stream file");
}
