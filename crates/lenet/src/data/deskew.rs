//! Deskewing: straightens a slanted digit by a horizontal shear computed from its image
//! moments, the preprocessing LeCun et al. applied before their deskewed SVM/k-NN results (the
//! paper's Table 1 lists the SVM with it).
//!
//! Hand-written because it is a dozen lines of arithmetic: the image crates offer affine warps
//! but not the moment-based shear itself.

use super::pixels::{centre_of_mass, floor, to_grey};
use crate::mnist::IMAGE_SIZE;

/// The slant of a digit: how far (in pixels) its ink moves right per pixel downwards,
/// `μ11 / μ02` of the grey levels. `0` for an empty or single-row image.
pub fn skew(pixels: &[u8]) -> f64 {
    let (mass, cx, cy) = centre_of_mass(pixels, IMAGE_SIZE);
    if mass == 0.0 {
        return 0.0;
    }
    let (mut mu11, mut mu02) = (0.0, 0.0);
    for (i, &p) in pixels.iter().enumerate() {
        let (x, y) = ((i % IMAGE_SIZE) as f64 - cx, (i / IMAGE_SIZE) as f64 - cy);
        mu11 += f64::from(p) * x * y;
        mu02 += f64::from(p) * y * y;
    }
    if mu02 == 0.0 { 0.0 } else { mu11 / mu02 }
}

/// Shears a `IMAGE_SIZE`×`IMAGE_SIZE` image so that its slant becomes 0: row `y` is shifted
/// left by `skew · (y − ȳ)` pixels (linear interpolation; ink shifted out of the frame is lost).
pub fn deskew(pixels: &[u8]) -> Vec<u8> {
    let alpha = skew(pixels);
    let (_, _, cy) = centre_of_mass(pixels, IMAGE_SIZE);
    let mut out = vec![0u8; pixels.len()];
    for y in 0..IMAGE_SIZE {
        let row = &pixels[y * IMAGE_SIZE..(y + 1) * IMAGE_SIZE];
        let shift = alpha * (y as f64 - cy);
        for x in 0..IMAGE_SIZE {
            let source = x as f64 + shift;
            // `floor` and `to_grey` instead of libm's `floor` and `round`, calls without SSE4.1.
            let left = floor(source);
            let frac = source - f64::from(left);
            let at = |i: i32| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| row.get(i))
                    .map_or(0.0, |&p| f64::from(p))
            };
            let value = (1.0 - frac) * at(left) + frac * at(left + 1);
            out[y * IMAGE_SIZE + x] = to_grey(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::PIXELS;

    /// A bar from (x0, 4) to (x1, 23), two pixels wide.
    fn bar(x0: f64, x1: f64) -> Vec<u8> {
        let mut pixels = vec![0u8; IMAGE_SIZE * IMAGE_SIZE];
        for y in 4..24 {
            let x = x0 + (x1 - x0) * (y - 4) as f64 / 19.0;
            for dx in 0..2 {
                pixels[y * IMAGE_SIZE + x.round() as usize + dx] = 255;
            }
        }
        pixels
    }

    /// [`deskew`] as plainly as it can be written, with libm's `floor` and `round`.
    fn plain_deskew(pixels: &[u8]) -> Vec<u8> {
        let alpha = skew(pixels);
        let (_, _, cy) = centre_of_mass(pixels, IMAGE_SIZE);
        let mut out = vec![0u8; pixels.len()];
        for y in 0..IMAGE_SIZE {
            let row = &pixels[y * IMAGE_SIZE..(y + 1) * IMAGE_SIZE];
            for x in 0..IMAGE_SIZE {
                let source = x as f64 + alpha * (y as f64 - cy);
                let left = source.floor();
                let frac = source - left;
                let at = |i: f64| {
                    if (0.0..IMAGE_SIZE as f64).contains(&i) {
                        f64::from(row[i as usize])
                    } else {
                        0.0
                    }
                };
                let value = (1.0 - frac) * at(left) + frac * at(left + 1.0);
                out[y * IMAGE_SIZE + x] = value.round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    #[test]
    fn deskew_equals_the_plain_version() {
        // Bars of many slants with grey speckles around them: shears in both directions, ink
        // sheared off the frame, fractions of every size.
        let mut seed = 1u32;
        for step in 0..400 {
            let (x0, x1) = (4.0 + f64::from(step % 20), 4.0 + f64::from(step / 20));
            let mut pixels = bar(x0, x1);
            for _ in 0..60 {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                pixels[(seed >> 8) as usize % PIXELS] = (seed >> 24) as u8;
            }
            assert_eq!(deskew(&pixels), plain_deskew(&pixels), "bar {x0} -> {x1}");
        }
    }

    #[test]
    fn a_slanted_bar_becomes_upright() {
        // Leans right: the top is 8 pixels right of the bottom.
        let slanted = bar(18.0, 10.0);
        assert!(skew(&slanted) < -0.3, "skew {}", skew(&slanted));
        let straight = deskew(&slanted);
        assert!(skew(&straight).abs() < 0.05, "skew {}", skew(&straight));
        // Ink is kept (up to interpolation), and the centre of mass stays put.
        let (m0, cx0, cy0) = centre_of_mass(&slanted, IMAGE_SIZE);
        let (m1, cx1, cy1) = centre_of_mass(&straight, IMAGE_SIZE);
        assert!((m1 / m0 - 1.0).abs() < 0.05, "mass {m0} -> {m1}");
        assert!((cx1 - cx0).abs() < 0.5 && (cy1 - cy0).abs() < 0.5);
    }

    #[test]
    fn upright_and_empty_images_are_unchanged() {
        let upright = bar(13.0, 13.0);
        assert_eq!(deskew(&upright), upright);
        let empty = vec![0u8; IMAGE_SIZE * IMAGE_SIZE];
        assert_eq!(deskew(&empty), empty);
    }
}
