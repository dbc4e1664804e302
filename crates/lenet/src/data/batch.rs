//! Batches of digits as tensors on a device.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;

use super::DigitItem;
use crate::mnist::IMAGE_SIZE;

/// A batch of images with their labels, as tensors on a device and on the host (the CPU
/// backends' fused path reads the host copy; reading a tensor back would copy it again).
#[derive(Clone, Debug)]
pub struct DigitBatch {
    /// Pixels scaled to `[0, 1]`, shape `[batch, 1, IMAGE_SIZE, IMAGE_SIZE]`.
    pub images: Tensor<4>,
    /// Digit labels, shape `[batch]`.
    pub targets: Tensor<1, Int>,
    /// The same pixels, `[batch, PIXELS]` row-major.
    pub pixels: Vec<f32>,
    /// The same labels.
    pub labels: Vec<usize>,
}

/// Turns [`DigitItem`]s into a [`DigitBatch`] on a device.
#[derive(Clone, Debug, Default)]
pub struct DigitBatcher;

impl Batcher<DigitItem, DigitBatch> for DigitBatcher {
    fn batch(&self, items: Vec<DigitItem>, device: &Device) -> DigitBatch {
        let n = items.len();
        let pixels = scaled_pixels(items.iter().map(|item| item.pixels.as_slice()));
        let labels: Vec<usize> = items.iter().map(|item| usize::from(item.label)).collect();
        let targets: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        DigitBatch {
            images: Tensor::from_data(
                TensorData::new(pixels.clone(), [n, 1, IMAGE_SIZE, IMAGE_SIZE]),
                device,
            ),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
            pixels,
            labels,
        }
    }
}

/// The network's input values of some images: every grey level divided by 255, so in `[0, 1]`,
/// image after image.
pub fn scaled_pixels<'a>(images: impl IntoIterator<Item = &'a [u8]>) -> Vec<f32> {
    // One `extend` per image (an exact length, so a vectorised loop), not a `flat_map` collect,
    // which pushes value by value (2 % of a batch-10 epoch in `perf`).
    let mut values = Vec::new();
    for pixels in images {
        values.extend(pixels.iter().map(|&p| f32::from(p) / 255.0));
    }
    values
}
