//! Another burn app, on burn 0.22: its own LeNet with the names burn's examples use (`conv1`,
//! `conv2`, `fc1`), saved with burn-store's defaults as such an app would, in full and half
//! precision. It writes the fixtures of `crates/lenet/tests/fixtures/burn-0.22/` (committed;
//! `tests/interop.rs` loads them):
//!
//! - `lenet.bpk`, `lenet-f16.bpk`: burnpack, f32 and f16;
//! - `lenet.safetensors`, `lenet-f16.safetensors`: SafeTensors in burn's layout (Linear
//!   weights `[in, out]`, metadata `producer = burn`), f32 and f16;
//! - `outputs.json`: the network's outputs on the first 20 MNIST test images, computed here.
//!
//! ```sh
//! cargo run --example foreign_burn_app -- ../shared/data/mnist crates/lenet/tests/fixtures/burn-0.22
//! ```
//!
//! It uses burn alone (and flate2 to read MNIST), nothing of this project.

use std::io::Read;
use std::path::Path;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::store::{BurnpackStore, FloatCastAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::DType;
use burn::tensor::activation::sigmoid;

#[derive(Module, Debug)]
struct Model {
    conv1: Conv2d,
    pool: AvgPool2d,
    conv2: Conv2d,
    fc1: Linear,
}

impl Model {
    fn new(device: &Device) -> Self {
        Self {
            conv1: Conv2dConfig::new([1, 6], [5, 5]).init(device),
            pool: AvgPool2dConfig::new([2, 2]).init(),
            conv2: Conv2dConfig::new([6, 12], [5, 5]).init(device),
            fc1: LinearConfig::new(192, 10).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(sigmoid(self.conv1.forward(images)));
        let x = self.pool.forward(sigmoid(self.conv2.forward(x)));
        sigmoid(self.fc1.forward(x.flatten(1, 3)))
    }
}

fn main() {
    lenet::atomic::end_quietly_when_stdout_closes(); // `| head` ends it quietly
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: foreign_burn_app MNIST_DIR OUT_DIR";
    let (mnist, out) = (
        Path::new(args.get(1).expect(usage)),
        Path::new(args.get(2).expect(usage)),
    );
    std::fs::create_dir_all(out).unwrap();
    let device = Device::flex();
    device.seed(22);
    let model = Model::new(&device);

    for (name, dtype) in [("lenet", DType::F32), ("lenet-f16", DType::F16)] {
        let mut store = BurnpackStore::from_file(out.join(format!("{name}.bpk")))
            .overwrite(true)
            .with_to_adapter(FloatCastAdapter::to(dtype));
        model.save_into(&mut store).unwrap();
        let mut store = SafetensorsStore::from_file(out.join(format!("{name}.safetensors")))
            .with_to_adapter(FloatCastAdapter::to(dtype));
        model.save_into(&mut store).unwrap();
    }

    let mut bytes = Vec::new();
    let file = std::fs::File::open(mnist.join("t10k-images-idx3-ubyte.gz")).expect("MNIST");
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .expect("gzip");
    let pixels: Vec<f32> = bytes[16..16 + 20 * 784]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [20, 1, 28, 28]), &device);
    let outputs: Vec<f32> = model.forward(images).into_data().try_to_vec().unwrap();
    let rows: Vec<Vec<f32>> = outputs.chunks(10).map(<[f32]>::to_vec).collect();
    let json = serde_json::json!({
        "writer": "burn 0.22.1 (crates/lenet/examples/foreign_burn_app.rs)",
        "images": "the first 20 images of t10k-images-idx3-ubyte, pixels / 255",
        "outputs": rows,
    });
    std::fs::write(
        out.join("outputs.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    println!("wrote {}", out.display());
}
