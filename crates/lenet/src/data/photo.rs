//! Simulated phone photos of digits written on paper, made reproducibly from MNIST's digits:
//! what the preprocessing of [`super::image`] is measured and tested on, since no such set of
//! real photos comes with a licence this project could ship.
//!
//! Each photo is drawn from its seed ([`PhotoStyle::random`]): the digit written dark (ink grey
//! 20-60) on paper whose grey runs from 150 to 240 along a lighting gradient in any direction
//! and a darker corner, the digit's box 20 to 400 pixels tall (log-uniform), slanted and turned
//! a little, with paper around it on every side (a third to one and a half of its height), then
//! blurred slightly, given sensor noise and JPEG-compressed as a phone would.
//!
//! [`cells_png`] writes a digit the way the UCI optdigits set stores its digits (E. Alpaydin
//! and C. Kaynak, 1998: a 32x32 bitmap of the digit, size-normalised, counted in 4x4 blocks
//! into an 8x8 grid of 0-16), so that settings can be chosen on validation digits in that
//! form without looking at optdigits itself.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, ImageBuffer, Luma};
use imageproc::filter;
use imageproc::geometric_transformations::{self, Border, Interpolation, Projection};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::mnist::IMAGE_SIZE;

/// Side of the box MNIST's digits were scaled into (20 of the 28 pixels).
const MNIST_BOX: f64 = super::pixels::DIGIT_BOX as f64;

/// How one simulated photo looks: every choice the generator makes for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhotoStyle {
    /// Height of MNIST's 20-pixel digit box in the photo, pixels.
    pub digit_size: f64,
    /// Horizontal shear of the writing (slant), x per y.
    pub slant: f64,
    /// Turn of the sheet, radians.
    pub rotation: f64,
    /// Paper around the digit's box on the left, top, right and bottom, as fractions of its size.
    pub margins: [f64; 4],
    /// Grey of the paper where it is lit best and worst (150-240).
    pub paper: (f64, f64),
    /// Direction in which the light falls off, radians.
    pub light_direction: f64,
    /// Grey level of the ink (20-60).
    pub ink: f64,
    /// Standard deviation of the lens's blur, pixels.
    pub blur: f64,
    /// Standard deviation of the sensor's noise, grey levels.
    pub noise: f64,
    /// JPEG quality, 1-100.
    pub quality: u8,
}

impl PhotoStyle {
    /// The style of photo `seed`.
    pub fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let digit_size = (rng.random_range(20f64.ln()..400f64.ln())).exp();
        let bright = rng.random_range(190.0..240.0);
        let dark = rng.random_range(150.0..bright);
        Self {
            digit_size,
            slant: rng.random_range(-0.3..0.3),
            rotation: rng.random_range(-8f64..8.0).to_radians(),
            margins: std::array::from_fn(|_| rng.random_range(0.35..1.5)),
            paper: (bright, dark),
            light_direction: rng.random_range(0.0..std::f64::consts::TAU),
            ink: rng.random_range(20.0..60.0),
            blur: rng.random_range(0.3..1.2) * (digit_size / 60.0).clamp(0.5, 2.5),
            noise: rng.random_range(1.5..6.0),
            quality: rng.random_range(55..=95),
        }
    }

    /// The photo of `digit` (28x28 MNIST grey levels, light on black) in this style, as grey
    /// levels; `seed` draws its noise.
    pub fn render(&self, digit: &[u8], seed: u64) -> GrayImage {
        let size = self.digit_size;
        // The digit's 28x28 field scaled so its 20-pixel box is `size` tall.
        let scale = size / MNIST_BOX;
        let field = IMAGE_SIZE as f64 * scale;
        let [left, top, right, bottom] = self.margins.map(|m| m * size);
        let (width, height) = (
            (left + field + right).round().max(1.0) as u32,
            (top + field + bottom).round().max(1.0) as u32,
        );
        // Ink coverage 0-1, placed by: the digit about its centre, slanted, turned, scaled,
        // moved to the middle of its box.
        let coverage = ImageBuffer::<Luma<f32>, Vec<f32>>::from_fn(
            IMAGE_SIZE as u32,
            IMAGE_SIZE as u32,
            |x, y| Luma([f32::from(digit[y as usize * IMAGE_SIZE + x as usize]) / 255.0]),
        );
        let centre = IMAGE_SIZE as f32 / 2.0;
        let shear =
            Projection::from_matrix([1.0, self.slant as f32, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
                .expect("a shear is invertible");
        let placed = Projection::translate((left + field / 2.0) as f32, (top + field / 2.0) as f32)
            * Projection::scale(scale as f32, scale as f32)
            * Projection::rotate(self.rotation as f32)
            * shear
            * Projection::translate(-centre, -centre);
        let mut ink = ImageBuffer::<Luma<f32>, Vec<f32>>::new(width, height);
        geometric_transformations::warp_into(
            &coverage,
            placed,
            Interpolation::Bicubic,
            Border::Constant(Luma([0.0])),
            &mut ink,
        );
        // The paper: lit along `light_direction`, with one corner darker still.
        let (bright, dark) = self.paper;
        let (dx, dy) = (self.light_direction.cos(), self.light_direction.sin());
        let extent = (f64::from(width) * dx.abs() + f64::from(height) * dy.abs()).max(1.0);
        let low_x = if dx > 0.0 { 0.0 } else { f64::from(width) };
        let low_y = if dy > 0.0 { 0.0 } else { f64::from(height) };
        let diagonal = f64::from(width).hypot(f64::from(height));
        let mut photo = ImageBuffer::<Luma<f32>, Vec<f32>>::from_fn(width, height, |x, y| {
            let (fx, fy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let along = ((fx - low_x) * dx + (fy - low_y) * dy) / extent;
            let corner = 1.0 - fx.hypot(fy) / diagonal;
            let paper =
                (bright - (bright - dark) * (1.0 - along.clamp(0.0, 1.0)) - 8.0 * corner * corner)
                    .max(150.0);
            let c = f64::from(ink.get_pixel(x, y)[0]).clamp(0.0, 1.0);
            Luma([(paper - (paper - self.ink) * c) as f32])
        });
        if self.blur > 0.0 {
            photo = filter::gaussian_blur_f32(&photo, self.blur as f32);
        }
        // Sensor noise: Gaussian, by the Box-Muller transform of `rand`'s uniform numbers.
        let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        GrayImage::from_fn(width, height, |x, y| {
            let (u, v): (f64, f64) = (
                rng.random_range(f64::EPSILON..1.0),
                rng.random_range(0.0..1.0),
            );
            let gauss = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            let value = f64::from(photo.get_pixel(x, y)[0]) + self.noise * gauss;
            Luma([value.round().clamp(0.0, 255.0) as u8])
        })
    }

    /// [`render`](Self::render) compressed as a JPEG file, at this style's quality.
    pub fn jpeg(&self, digit: &[u8], seed: u64) -> Vec<u8> {
        let photo = self.render(digit, seed);
        let mut bytes = Vec::new();
        photo
            .write_with_encoder(JpegEncoder::new_with_quality(
                &mut Cursor::new(&mut bytes),
                self.quality,
            ))
            .expect("JPEG encoding into memory");
        bytes
    }
}

/// Photo `seed` of `digit` (28x28 MNIST grey levels) as a JPEG file: [`PhotoStyle::random`]'s
/// style, rendered and compressed.
pub fn photo_jpeg(digit: &[u8], seed: u64) -> Vec<u8> {
    PhotoStyle::random(seed).jpeg(digit, seed)
}

/// Side of optdigits' bitmaps, and of their blocks.
const BITMAP: u32 = 32;
const BLOCK: u32 = 4;

/// `digit` (28x28 MNIST grey levels) as optdigits stores a digit: its ink's bounding box scaled
/// to fill a 32x32 bitmap (the longer side; the shorter centred), pixels above half ink set, the
/// set pixels counted in each 4x4 block; written as an 8x8 grey PNG of count × 255 / 16, as
/// `experiments/beyond_mnist/optdigits.py` writes optdigits' own.
pub fn cells_png(digit: &[u8]) -> Vec<u8> {
    let side = IMAGE_SIZE as u32;
    let image = GrayImage::from_raw(side, side, digit.to_vec()).expect("28x28 grey levels");
    let mut bitmap = GrayImage::new(BITMAP, BITMAP);
    if let Some((x0, y0, x1, y1)) = super::pixels::bounds_above(&image, 127) {
        let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
        let scale = f64::from(BITMAP) / f64::from(w.max(h));
        let (sw, sh) = (
            ((f64::from(w) * scale).round() as u32).clamp(1, BITMAP),
            ((f64::from(h) * scale).round() as u32).clamp(1, BITMAP),
        );
        let ink = image::imageops::crop_imm(&image, x0, y0, w, h).to_image();
        let scaled = image::imageops::resize(&ink, sw, sh, image::imageops::FilterType::Triangle);
        image::imageops::overlay(
            &mut bitmap,
            &scaled,
            i64::from((BITMAP - sw) / 2),
            i64::from((BITMAP - sh) / 2),
        );
    }
    let cells = GrayImage::from_fn(BITMAP / BLOCK, BITMAP / BLOCK, |cx, cy| {
        let count = (0..BLOCK * BLOCK)
            .filter(|i| bitmap.get_pixel(cx * BLOCK + i % BLOCK, cy * BLOCK + i / BLOCK)[0] > 127)
            .count() as u32;
        Luma([((f64::from(count) * 255.0 / 16.0).round()) as u8])
    });
    let mut bytes = Vec::new();
    cells
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("PNG encoding into memory");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "1": a bar 2 pixels wide (columns 13 and 14) and 16 tall (rows 6 to 21).
    fn bar() -> Vec<u8> {
        let mut digit = vec![0u8; IMAGE_SIZE * IMAGE_SIZE];
        for y in 6..22 {
            digit[y * IMAGE_SIZE + 13] = 255;
            digit[y * IMAGE_SIZE + 14] = 255;
        }
        digit
    }

    #[test]
    fn photos_are_repeatable_and_look_like_paper() {
        let digit = bar();
        for seed in 0..40 {
            let style = PhotoStyle::random(seed);
            assert!((20.0..400.0).contains(&style.digit_size), "{style:?}");
            let photo = style.render(&digit, seed);
            assert_eq!(photo, style.render(&digit, seed), "seed {seed}");
            // The corners are paper (150-240 with noise), the darkest pixel is ink.
            let (w, h) = photo.dimensions();
            for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
                let v = photo.get_pixel(x, y)[0];
                assert!((125..=255).contains(&v), "seed {seed}: corner {v}");
            }
            let darkest = photo.pixels().map(|p| p[0]).min().unwrap();
            assert!(darkest < 110, "seed {seed}: darkest {darkest}");
            let jpeg = style.jpeg(&digit, seed);
            assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG file");
        }
    }

    #[test]
    fn cells_count_the_bitmap_in_blocks_of_four() {
        // The bar's box fills the bitmap's height and 4 of its 32 columns, the middle ones
        // (14-17): half of blocks 3 and 4 in every row, 8 of their 16 pixels.
        let cells = image::load_from_memory(&cells_png(&bar()))
            .unwrap()
            .into_luma8();
        assert_eq!(cells.dimensions(), (8, 8));
        for (x, y, p) in cells.enumerate_pixels() {
            let expected = if x == 3 || x == 4 { 128 } else { 0 };
            assert_eq!(p[0], expected, "cell ({x}, {y}): {cells:?}");
        }
    }
}
