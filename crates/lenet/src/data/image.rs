//! Digit images of any size and format (PNG, JPEG, BMP, ... through the `image` crate) turned
//! into MNIST-style inputs: grey, light ink on a dark background, the digit scaled into a 20x20
//! box and its centre of mass put at the centre of 28x28 (how MNIST itself was made).

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageReader, Limits, Luma};

use crate::error::{LenetError, Result};
use crate::mnist::IMAGE_SIZE;

/// Largest width or height accepted; larger images are refused before they are decoded.
pub const MAX_SIDE: u32 = 8192;
/// Largest decoder allocation accepted, in bytes.
pub const MAX_ALLOC: u64 = 256 << 20;
/// Side of the box the digit is scaled into (MNIST: 20 inside 28).
const DIGIT_BOX: u32 = 20;

fn unreadable(path: &Path, found: String) -> LenetError {
    LenetError::DataFormat {
        path: path.to_path_buf(),
        field: "image",
        expected: format!("a PNG, JPEG, BMP (...) image of at most {MAX_SIDE}x{MAX_SIDE} pixels"),
        found,
    }
}

/// Reads an image file and converts it to MNIST form: [`PIXELS`](crate::mnist::PIXELS) grey
/// levels, light digit on black.
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| LenetError::io(path, e))?;
    digit_from_bytes(&bytes, path)
}

/// [`load_digit`] for an image already in memory (`name` names it in errors). Images larger
/// than [`MAX_SIDE`] on a side are refused from their header, before any pixel is decoded.
pub fn digit_from_bytes(bytes: &[u8], name: &Path) -> Result<Vec<u8>> {
    if bytes.is_empty() {
        return Err(unreadable(name, "an empty file".into()));
    }
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| LenetError::io(name, e))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| unreadable(name, e.to_string()))?;
    Ok(to_mnist(&image.to_luma8()).into_raw())
}

/// A 28x28 grid of grey levels (row-major) in MNIST form, as [`to_mnist`] makes any image.
pub fn grid_to_mnist(pixels: &[u8]) -> Vec<u8> {
    let side = IMAGE_SIZE as u32;
    let grey = GrayImage::from_raw(side, side, pixels.to_vec()).expect("28x28 grey levels");
    to_mnist(&grey).into_raw()
}

/// Grey image of any size → 28x28, light digit on black, centred like MNIST.
pub fn to_mnist(grey: &GrayImage) -> GrayImage {
    let mut ink = grey.clone();
    // MNIST digits are light on dark; scans and drawings are usually dark on light.
    if border_mean(&ink) > 127.0 {
        imageops::invert(&mut ink);
    }
    let mut canvas = GrayImage::new(IMAGE_SIZE as u32, IMAGE_SIZE as u32);
    let Some((x0, y0, x1, y1)) = ink_bounds(&ink) else {
        return canvas; // blank image
    };
    let digit = imageops::crop_imm(&ink, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (w, h) = digit.dimensions();
    let scale = DIGIT_BOX as f32 / w.max(h) as f32;
    let (w, h) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let digit = imageops::resize(&digit, w, h, FilterType::Triangle);
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

fn centre_of_mass(image: &GrayImage) -> (f64, f64) {
    let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y, Luma([v])) in image.enumerate_pixels() {
        let v = f64::from(*v);
        sum += v;
        sx += v * (f64::from(x) + 0.5);
        sy += v * (f64::from(y) + 0.5);
    }
    if sum == 0.0 {
        let (w, h) = image.dimensions();
        return (f64::from(w) / 2.0, f64::from(h) / 2.0);
    }
    (sx / sum, sy / sum)
}

fn border_mean(image: &GrayImage) -> f64 {
    let (w, h) = image.dimensions();
    let border: Vec<u8> = image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, Luma([v]))| *v)
        .collect();
    border.iter().map(|&v| f64::from(v)).sum::<f64>() / border.len().max(1) as f64
}

/// Bounding box of the pixels brighter than a third of the brightest one.
fn ink_bounds(image: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let max = image.pixels().map(|Luma([v])| *v).max()?;
    if max == 0 {
        return None;
    }
    let threshold = max / 3;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A dark "1" (a vertical bar) on a light 100x200 page.
    fn scanned_one() -> GrayImage {
        GrayImage::from_fn(100, 200, |x, y| {
            let ink = (45..55).contains(&x) && (20..180).contains(&y);
            Luma([if ink { 10 } else { 240 }])
        })
    }

    #[test]
    fn a_dark_on_light_scan_becomes_a_centred_light_digit() {
        let mnist = to_mnist(&scanned_one());
        assert_eq!(mnist.dimensions(), (28, 28));
        let (x0, y0, x1, y1) = ink_bounds(&mnist).unwrap();
        // 160 pixels tall -> 20; the bar is centred.
        assert_eq!((y0, y1), (4, 23));
        assert!(x0 >= 12 && x1 <= 15, "bar at x {x0}..={x1}");
        assert_eq!(mnist.get_pixel(0, 0).0[0], 0, "background is black");
        let middle_row = (0..28).map(|x| mnist.get_pixel(x, 14).0[0]).max().unwrap();
        assert!(middle_row > 200, "ink is light");
    }

    #[test]
    fn a_blank_image_stays_blank() {
        let blank = GrayImage::from_pixel(50, 50, Luma([255]));
        assert!(to_mnist(&blank).pixels().all(|p| p.0[0] == 0));
    }
}
