//! Digit images of any size and format (PNG, JPEG, BMP, ... through the `image` crate) turned
//! into MNIST-style inputs: grey, light ink on a dark background, the digit scaled into a 20x20
//! box and its centre of mass put at the centre of 28x28 (how MNIST itself was made).

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, Luma};

use super::deskew;
use crate::error::{LenetError, Result};
use crate::mnist::IMAGE_SIZE;

/// Largest image accepted, in pixels (width × height), checked from the image's header before
/// any pixel is decoded: 4096 × 4096, so a 12-megapixel phone photo (4000 × 3000) or a page
/// scanned at 300 dpi fits, while the network itself sees 28 × 28. Decoding PNG (what the page
/// sends) goes row by row straight to grey, one byte per pixel: at most 16 MiB per image.
pub const MAX_PIXELS: u64 = 4096 * 4096;
/// Largest decoder allocation for the formats that decode to their own colour type first (JPEG,
/// WebP, ...): [`MAX_PIXELS`] of 8-bit RGBA, with room for 16-bit PGM.
pub const MAX_ALLOC: u64 = 128 << 20;
/// A digit's ink must differ from the background by more than this many grey levels (of 255);
/// below it the image counts as blank ("no digit"): a blank canvas, an empty page, a photo of
/// a plain wall. An eighth of the grey range: faint pencil on paper is still far above it.
pub const MIN_CONTRAST: u8 = 32;
/// Side of the box the digit is scaled into (MNIST: 20 inside 28).
const DIGIT_BOX: u32 = 20;

fn unreadable(path: &Path, found: String) -> LenetError {
    LenetError::DataFormat {
        path: path.to_path_buf(),
        field: "image",
        expected: format!(
            "a PNG, JPEG, BMP, PGM, GIF or WebP image of at most {} megapixels (e.g. 4096x4096)",
            MAX_PIXELS >> 20
        ),
        found,
    }
}

/// Reads an image file and converts it to MNIST form: [`PIXELS`](crate::mnist::PIXELS) grey
/// levels, light digit on black (all zero when the image holds no digit, see [`is_blank`]).
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| LenetError::io(path, e))?;
    digit_from_bytes(&bytes, path)
}

/// [`load_digit`] for an image already in memory (`name` names it in errors). Images of more
/// than [`MAX_PIXELS`] pixels are refused from their header, before any pixel is decoded.
pub fn digit_from_bytes(bytes: &[u8], name: &Path) -> Result<Vec<u8>> {
    digit_from_bytes_unless(bytes, name, &|| false)
}

/// [`digit_from_bytes`] that stops between rows of pixels once `cancelled()` says so (a
/// server's client went away), with an error saying it was cancelled.
pub fn digit_from_bytes_unless(
    bytes: &[u8],
    name: &Path,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<u8>> {
    Ok(to_mnist(&decode_grey(bytes, name, cancelled)?).into_raw())
}

/// An image's width × height as its header gives it, without decoding any pixel; `None` when
/// the bytes are not an image this program reads.
pub fn pixel_count(bytes: &[u8]) -> Option<u64> {
    let (width, height) = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()?;
    Some(u64::from(width) * u64::from(height))
}

/// Whether a 28x28 image in MNIST form holds no digit: [`to_mnist`] makes images without
/// enough contrast (see [`MIN_CONTRAST`]) all black.
pub fn is_blank(mnist: &[u8]) -> bool {
    mnist.iter().all(|&v| v == 0)
}

/// Why an image holds no digit, as `predict` and the server say it.
pub fn no_digit_reason() -> String {
    format!(
        "no digit: no ink differs from the background by more than {MIN_CONTRAST} of 255 grey \
         levels"
    )
}

/// Decodes an image to grey levels (the `image` crate's luma: ITU-R BT.709 weights, alpha
/// ignored), after checking its size from the header.
pub fn decode_grey(bytes: &[u8], name: &Path, cancelled: &dyn Fn() -> bool) -> Result<GrayImage> {
    if bytes.is_empty() {
        return Err(unreadable(name, "an empty file".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| LenetError::io(name, e))?;
    // PNG (checked from its own header) row by row; other formats, and interlaced PNGs, below.
    if reader.format() == Some(ImageFormat::Png)
        && let Some(grey) = png_rows_to_grey(bytes, name, cancelled)?
    {
        return Ok(grey);
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| unreadable(name, e.to_string()))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, name)?;
    if cancelled() {
        return Err(cancelled_error(name));
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    limits
        .reserve(decoder.total_bytes())
        .and_then(|()| decoder.set_limits(limits))
        .map_err(|e| unreadable(name, e.to_string()))?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| unreadable(name, e.to_string()))?;
    Ok(image.into_luma8())
}

fn cancelled_error(name: &Path) -> LenetError {
    unreadable(name, "a request cancelled by its client".into())
}

fn check_size(width: u32, height: u32, name: &Path) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(unreadable(
            name,
            format!("{width}x{height} pixels ({pixels}; at most {MAX_PIXELS})"),
        ));
    }
    if pixels == 0 {
        return Err(unreadable(name, format!("{width}x{height} pixels")));
    }
    Ok(())
}

/// A PNG decoded row by row straight to grey: memory is the grey image and one row, whatever
/// the PNG's colour type and depth. The png crate (which `image` itself uses) gives the rows,
/// `image` turns each into grey (a test checks the result equals decoding the whole image);
/// `image` alone decodes the whole image in its own colour type first. `None` for interlaced
/// PNGs, whose rows come in seven passes: those take `image`'s path (bounded by
/// [`MAX_ALLOC`]).
fn png_rows_to_grey(
    bytes: &[u8],
    name: &Path,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<GrayImage>> {
    let bad = |e: png::DecodingError| unreadable(name, e.to_string());
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: MAX_ALLOC as usize,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(bad)?;
    let info = reader.info();
    if info.interlaced {
        return Ok(None);
    }
    let (width, height) = (info.width, info.height);
    check_size(width, height, name)?;
    let (colour, depth) = reader.output_color_type();
    let sixteen = depth == png::BitDepth::Sixteen;
    let mut grey = Vec::with_capacity(width as usize * height as usize);
    while let Some(row) = reader.next_row().map_err(bad)? {
        if cancelled() {
            return Err(cancelled_error(name));
        }
        // One row as an image of its own, turned grey by `image` itself: the same levels as
        // decoding the whole image would give.
        let data = row.data();
        let samples = || -> Vec<u16> {
            data.chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect()
        };
        let row_image = match (colour, sixteen) {
            (png::ColorType::Grayscale, false) => {
                image::ImageBuffer::from_raw(width, 1, data.to_vec()).map(DynamicImage::ImageLuma8)
            }
            (png::ColorType::GrayscaleAlpha, false) => {
                image::ImageBuffer::from_raw(width, 1, data.to_vec()).map(DynamicImage::ImageLumaA8)
            }
            (png::ColorType::Rgb, false) => {
                image::ImageBuffer::from_raw(width, 1, data.to_vec()).map(DynamicImage::ImageRgb8)
            }
            (png::ColorType::Rgba, false) => {
                image::ImageBuffer::from_raw(width, 1, data.to_vec()).map(DynamicImage::ImageRgba8)
            }
            (png::ColorType::Grayscale, true) => {
                image::ImageBuffer::from_raw(width, 1, samples()).map(DynamicImage::ImageLuma16)
            }
            (png::ColorType::GrayscaleAlpha, true) => {
                image::ImageBuffer::from_raw(width, 1, samples()).map(DynamicImage::ImageLumaA16)
            }
            (png::ColorType::Rgb, true) => {
                image::ImageBuffer::from_raw(width, 1, samples()).map(DynamicImage::ImageRgb16)
            }
            (png::ColorType::Rgba, true) => {
                image::ImageBuffer::from_raw(width, 1, samples()).map(DynamicImage::ImageRgba16)
            }
            // Palettes are expanded to RGB(A) by the EXPAND transformation.
            (png::ColorType::Indexed, _) => None,
        }
        .ok_or_else(|| unreadable(name, "a PNG row of an unexpected length".into()))?;
        grey.extend_from_slice(row_image.into_luma8().as_raw());
    }
    if grey.len() != width as usize * height as usize {
        return Err(unreadable(name, "a PNG whose image data ends early".into()));
    }
    Ok(GrayImage::from_raw(width, height, grey))
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
    let mut background = border_mean(&ink);
    if background > 127.0 {
        imageops::invert(&mut ink);
        background = 255.0 - background;
    }
    let mut canvas = GrayImage::new(IMAGE_SIZE as u32, IMAGE_SIZE as u32);
    let brightest = ink.pixels().map(|Luma([v])| *v).max().unwrap_or(0);
    if f64::from(brightest) - background <= f64::from(MIN_CONTRAST) {
        return canvas; // no digit: blank
    }
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

/// The centre of mass in continuous coordinates (a pixel's centre at `+0.5`); the image's
/// centre for a black one.
fn centre_of_mass(image: &GrayImage) -> (f64, f64) {
    let (w, h) = image.dimensions();
    let (mass, x, y) = deskew::centre_of_mass(image.as_raw(), w as usize);
    if mass == 0.0 {
        (f64::from(w) / 2.0, f64::from(h) / 2.0)
    } else {
        (x + 0.5, y + 0.5)
    }
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

/// Bounding box of the pixels brighter than a third of the brightest one (`brightest`).
fn ink_bounds(image: &GrayImage, brightest: u8) -> Option<(u32, u32, u32, u32)> {
    if brightest == 0 {
        return None;
    }
    let threshold = brightest / 3;
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
        let (x0, y0, x1, y1) = ink_bounds(&mnist, 255).unwrap();
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

    /// Pseudo-random bytes (a fixed linear congruential sequence).
    fn noise(n: usize) -> Vec<u8> {
        let mut state = 12345u32;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect()
    }

    fn png_of(image: DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn png_rows_give_the_grey_levels_image_gives_for_every_colour_type() {
        let (w, h) = (37, 23);
        let n = (w * h) as usize;
        let sixteen = |k: usize| -> Vec<u16> {
            noise(2 * k * n)
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        let mut pngs = vec![
            png_of(DynamicImage::ImageLuma8(
                GrayImage::from_raw(w, h, noise(n)).unwrap(),
            )),
            png_of(DynamicImage::ImageLumaA8(
                image::ImageBuffer::from_raw(w, h, noise(2 * n)).unwrap(),
            )),
            png_of(DynamicImage::ImageRgb8(
                image::ImageBuffer::from_raw(w, h, noise(3 * n)).unwrap(),
            )),
            png_of(DynamicImage::ImageRgba8(
                image::ImageBuffer::from_raw(w, h, noise(4 * n)).unwrap(),
            )),
            png_of(DynamicImage::ImageLuma16(
                image::ImageBuffer::from_raw(w, h, sixteen(1)).unwrap(),
            )),
            png_of(DynamicImage::ImageRgb16(
                image::ImageBuffer::from_raw(w, h, sixteen(3)).unwrap(),
            )),
            png_of(DynamicImage::ImageRgba16(
                image::ImageBuffer::from_raw(w, h, sixteen(4)).unwrap(),
            )),
        ];
        // A palette image with 2-bit indices, written by the png crate itself.
        let mut palette_png = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut palette_png, w, h);
            encoder.set_color(png::ColorType::Indexed);
            encoder.set_depth(png::BitDepth::Two);
            encoder.set_palette(vec![0, 0, 0, 250, 10, 10, 10, 250, 10, 255, 255, 255]);
            let mut writer = encoder.write_header().unwrap();
            let row_bytes = (w as usize * 2).div_ceil(8);
            writer
                .write_image_data(&noise(row_bytes * h as usize))
                .unwrap();
        }
        pngs.push(palette_png);
        for (i, png) in pngs.iter().enumerate() {
            let streamed = png_rows_to_grey(png, Path::new("t.png"), &|| false)
                .unwrap()
                .expect("not interlaced");
            let expected = image::load_from_memory(png).unwrap().into_luma8();
            assert_eq!(streamed, expected, "PNG {i}");
        }
    }

    #[test]
    fn images_over_the_pixel_limit_are_refused_from_the_header() {
        // 8192x8192 would need 64 MiB of grey; the header alone is read.
        let mut png = Vec::new();
        {
            let encoder = png::Encoder::new(&mut png, 8192, 8192);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&vec![0; 8192 * 8192]).unwrap();
        }
        let error = digit_from_bytes(&png, Path::new("big.png"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("big.png") && error.contains("8192x8192"),
            "{error}"
        );
        assert!(error.contains("megapixels"), "{error}");
    }

    #[test]
    fn decoding_stops_between_rows_when_cancelled() {
        let png = png_of(DynamicImage::ImageLuma8(
            GrayImage::from_raw(64, 64, noise(64 * 64)).unwrap(),
        ));
        // Cancelled after ten rows: the rest are never decoded.
        let asked = std::cell::Cell::new(0);
        let cancelled = || {
            asked.set(asked.get() + 1);
            asked.get() > 10
        };
        let error = digit_from_bytes_unless(&png, Path::new("r"), &cancelled).unwrap_err();
        assert!(error.to_string().contains("cancelled"), "{error}");
        assert_eq!(asked.get(), 11, "asked once per row until cancelled");
    }

    #[test]
    fn low_contrast_images_hold_no_digit() {
        let faint = GrayImage::from_fn(60, 60, |x, y| {
            Luma([if (20..40).contains(&x) && y > 10 {
                120
            } else {
                100
            }])
        });
        assert!(is_blank(to_mnist(&faint).as_raw()));
        let clear = GrayImage::from_fn(60, 60, |x, y| {
            Luma([if (25..32).contains(&x) && y > 10 {
                200
            } else {
                100
            }])
        });
        assert!(!is_blank(to_mnist(&clear).as_raw()));
    }
}
