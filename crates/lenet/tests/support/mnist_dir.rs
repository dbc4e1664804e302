//! The MNIST folder for tests, shared by the test crates of lenet, trainer and experiments
//! (included with `#[path]`, so each crate compiles it with its own `CARGO_MANIFEST_DIR`; all
//! three crates sit at `crates/<name>`).

use std::path::{Path, PathBuf};

/// The MNIST folder beside the checkout (or `$LENET_MNIST_DIR`). Missing data is a failure,
/// never a skip.
pub fn mnist_dir() -> PathBuf {
    let dir = std::env::var_os("LENET_MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
        });
    assert!(
        dir.join("train-images-idx3-ubyte.gz").is_file()
            || dir.join("train-images-idx3-ubyte").is_file(),
        "MNIST not found in {}: put ../shared/data/mnist beside the checkout or set LENET_MNIST_DIR",
        dir.display()
    );
    dir
}
