//! The format the network reads and predicts: MNIST's 28x28 grey images of ten digit classes.

/// Side of the square input images, in pixels.
pub const IMAGE_SIZE: usize = 28;
/// Pixels of one image.
pub const PIXELS: usize = IMAGE_SIZE * IMAGE_SIZE;
/// Number of digit classes.
pub const NUM_CLASSES: usize = 10;
