//! Pixel helpers shared by the image pipeline (`data::image`), deskewing and the training's
//! distortions: MNIST's digit box and the filter that scales a digit into it, rounding to grey
//! levels, centres of mass and bounding boxes. (One place, so that none of those modules
//! imports another for a helper.)

use image::GrayImage;
use image::Luma;
use image::imageops::FilterType;

/// Side of the box the digit is scaled into (MNIST: 20 inside 28).
pub(crate) const DIGIT_BOX: u32 = 20;

/// How a digit is scaled into MNIST's box: down (a photo, the page's 280x280 canvas) by a
/// linear filter; up (a digit smaller than 20 pixels, such as an 8x8 scan) by Lanczos3, which
/// keeps a small digit's strokes apart where a linear filter blurs them into blobs. Chosen on
/// validation digits in optdigits' 8x8 form (`experiments photos --split validation --kind
/// cells`, 2000: 2.90 % misread linear, 2.35 % Lanczos3, 2.45 % Catmull-Rom, 3.80 % Gaussian,
/// 4.25 % nearest); the validation photos read the same with each (1.00 %).
pub(crate) fn box_filter(scale: f32) -> FilterType {
    if scale > 1.0 {
        FilterType::Lanczos3
    } else {
        FilterType::Triangle
    }
}

/// Bounding box `(x0, y0, x1, y1)` of the pixels brighter than `threshold`; `None` for none.
pub(crate) fn bounds_above(image: &GrayImage, threshold: u8) -> Option<(u32, u32, u32, u32)> {
    image
        .enumerate_pixels()
        .filter(|(_, _, Luma([v]))| *v > threshold)
        .fold(None, |bounds, (x, y, _)| {
            Some(match bounds {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            })
        })
}

/// `x.floor()` for coordinates near the image (|x| far below `i32::MAX`).
pub(crate) fn floor(x: f64) -> i32 {
    let truncated = x as i32;
    // Truncation rounds negative fractions up; step down for them.
    if f64::from(truncated) > x {
        truncated - 1
    } else {
        truncated
    }
}

/// A grey level in 0..=255 rounded to the nearest integer (halves away from zero, as
/// `f64::round`, without its libm call).
pub(crate) fn to_grey(value: f64) -> u8 {
    (value.clamp(0.0, 255.0) + 0.5) as u8
}

/// Total grey mass of a row-major image `width` pixels wide, and its centre `(x, y)` in pixel
/// indices (`(0, 0, 0)` for a black image).
pub(crate) fn centre_of_mass(pixels: &[u8], width: usize) -> (f64, f64, f64) {
    let (mut mass, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &p) in pixels.iter().enumerate() {
        let p = f64::from(p);
        mass += p;
        sx += p * (i % width) as f64;
        sy += p * (i / width) as f64;
    }
    if mass == 0.0 {
        (0.0, 0.0, 0.0)
    } else {
        (mass, sx / mass, sy / mass)
    }
}
