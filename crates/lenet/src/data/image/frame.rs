//! The cleaned ink framed as MNIST frames its digits: scaled into the 20x20 box, its centre of
//! mass at the centre of 28x28.

use image::imageops;
use image::{GrayImage, Luma};

use super::clean::{MIN_CONTRAST, clean};
use crate::data::pixels::{self, DIGIT_BOX, bounds_above, box_filter};
use crate::mnist::IMAGE_SIZE;

/// Whether a 28x28 image in MNIST form holds no digit: [`to_mnist`] makes images without
/// enough contrast (see [`MIN_CONTRAST`]) all black.
pub fn is_blank(mnist: &[u8]) -> bool {
    mnist.iter().all(|&v| v == 0)
}

/// Why an image holds no digit, as `predict` and the server say it.
pub fn no_digit_reason() -> String {
    format!(
        "no digit: no mark differs from the paper by more than {MIN_CONTRAST} of 255 grey levels \
         (specks, and lines along the image's edge, do not count)"
    )
}

/// A 28x28 grid of grey levels (row-major) in MNIST form, as [`to_mnist`] makes any image.
pub fn grid_to_mnist(pixels: &[u8]) -> Vec<u8> {
    let side = IMAGE_SIZE as u32;
    let grey = GrayImage::from_raw(side, side, pixels.to_vec()).expect("28x28 grey levels");
    to_mnist(&grey).into_raw()
}

/// Grey image of any size → 28x28, light digit on black, centred like MNIST: the image is
/// cleaned as a scan or a photo needs ([`clean`]: the paper's grey and uneven light removed,
/// the contrast stretched, specks and edge lines dropped), then the digit is scaled into
/// MNIST's 20x20 box and its centre of mass put at the centre of the 28x28 field.
pub fn to_mnist(grey: &GrayImage) -> GrayImage {
    let mut canvas = GrayImage::new(IMAGE_SIZE as u32, IMAGE_SIZE as u32);
    let Some(ink) = clean(grey) else {
        return canvas; // no digit: blank
    };
    let brightest = ink.pixels().map(|Luma([v])| *v).max().unwrap_or(0);
    let Some((x0, y0, x1, y1)) = ink_bounds(&ink, brightest) else {
        return canvas; // blank image
    };
    let digit = imageops::crop_imm(&ink, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (w, h) = digit.dimensions();
    let scale = DIGIT_BOX as f32 / w.max(h) as f32;
    let (w, h) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let digit = imageops::resize(&digit, w, h, box_filter(scale));
    // Like MNIST: put the digit's centre of mass at the centre of the 28x28 field.
    let (cx, cy) = centre_of_mass(&digit);
    let centre = IMAGE_SIZE as f64 / 2.0;
    let place = |c: f64, len: u32| {
        let max = (IMAGE_SIZE as u32 - len) as f64;
        (centre - c).round().clamp(0.0, max) as i64
    };
    imageops::overlay(&mut canvas, &digit, place(cx, w), place(cy, h));
    canvas
}

/// The centre of mass in continuous coordinates (a pixel's centre at `+0.5`); the image's
/// centre for a black one.
pub(super) fn centre_of_mass(image: &GrayImage) -> (f64, f64) {
    let (w, h) = image.dimensions();
    let (mass, x, y) = pixels::centre_of_mass(image.as_raw(), w as usize);
    if mass == 0.0 {
        (f64::from(w) / 2.0, f64::from(h) / 2.0)
    } else {
        (x + 0.5, y + 0.5)
    }
}

/// Bounding box of the pixels brighter than a third of the brightest one (`brightest`).
pub(super) fn ink_bounds(image: &GrayImage, brightest: u8) -> Option<(u32, u32, u32, u32)> {
    if brightest == 0 {
        return None;
    }
    bounds_above(image, brightest / 3)
}
