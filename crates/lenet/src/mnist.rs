//! The format the network reads and predicts: MNIST's 28x28 grey images of ten digit classes.

/// The sizes, defined beside the kernels that compute with them: `IMAGE_SIZE` (side of the
/// square input images, in pixels), `PIXELS` (pixels of one image), `NUM_CLASSES` (digit
/// classes).
pub use lenet_kernels::{IMAGE_SIZE, NUM_CLASSES, PIXELS};
