//! Digit images of any size and format (PNG, JPEG, BMP, ... through the `image` crate) turned
//! into MNIST-style inputs: grey, light ink on a black background (a photo's or a scan's paper
//! and uneven light removed, its contrast stretched, specks and edge lines dropped: [`clean`]),
//! the digit scaled into a 20x20 box and its centre of mass put at the centre of 28x28 (how
//! MNIST itself was made).

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, Luma};
use imageproc::distance_transform::Norm;
use imageproc::morphology::{self, Mask};
use imageproc::region_labelling::{self, Connectivity};
use imageproc::{contrast, filter};

use super::deskew;
use crate::error::{LenetError, Result};
use crate::mnist::IMAGE_SIZE;

/// Largest image accepted, in pixels (width × height), checked from the image's header before
/// any pixel is decoded: 4096 × 4096, so a 12-megapixel phone photo (4000 × 3000) or a page
/// scanned at 300 dpi fits, while the network itself sees 28 × 28. Decoding PNG (what the page
/// sends) goes row by row straight to grey, one byte per pixel: at most 16 MiB per image.
pub const MAX_PIXELS: u64 = 4096 * 4096;
/// Largest JPEG accepted, in pixels: 8192 × 8192, so a current phone's 50-megapixel photo
/// (8160 × 6120) fits. A JPEG whose long side is at least twice [`WORKING_SIDE`] is decoded at
/// a reduced scale (1/2, 1/4 or 1/8: JPEG's DCT scaling) to at least `WORKING_SIDE` pixels
/// across, which is all the cleaning uses: memory is the reduced image (a few MiB) and the
/// time mostly the reading of the compressed data.
pub const MAX_JPEG_PIXELS: u64 = 8192 * 8192;
/// Largest decoder allocation for the formats that decode to their own colour type first (JPEG,
/// WebP, ...): [`MAX_PIXELS`] of 8-bit RGBA, with room for 16-bit PGM.
pub const MAX_ALLOC: u64 = 128 << 20;
/// A digit's ink must differ from the paper, once its light is removed, by more than this many
/// grey levels (of 255); below it the image counts as blank ("no digit"): a blank canvas, an
/// empty page however lit, a photo of a plain wall. An eighth of the grey range: faint pencil
/// on paper is still far above it, a phone's sensor noise far below.
pub const MIN_CONTRAST: u8 = 32;
/// Side of the box the digit is scaled into (MNIST: 20 inside 28).
pub(crate) const DIGIT_BOX: u32 = 20;

fn unreadable(path: &Path, found: String) -> LenetError {
    LenetError::DataFormat {
        path: path.to_path_buf(),
        field: "image",
        expected: format!(
            "a JPEG of at most {} megapixels, or a PNG, BMP, PGM, GIF or WebP image of at most {} \
             (e.g. 4096x4096)",
            MAX_JPEG_PIXELS >> 20,
            MAX_PIXELS >> 20
        ),
        found,
    }
}

/// Reads an image file and converts it to MNIST form: [`PIXELS`](crate::mnist::PIXELS) grey
/// levels, light digit on black (all zero when the image holds no digit, see [`is_blank`]).
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::files::read_input(path, crate::files::IMAGE)?;
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
        "no digit: no mark differs from the paper by more than {MIN_CONTRAST} of 255 grey levels \
         (specks, and lines along the image's edge, do not count)"
    )
}

/// Decodes an image to grey levels (the `image` crate's luma: ITU-R BT.709 weights) as it is
/// shown: after checking its size from the header, turned upright as its EXIF Orientation
/// says (phones store the sensor's pixels and a tag that shows them upright), and with any
/// transparency laid on white paper (drawing apps export ink on a transparent background).
/// HEIC/HEIF and AVIF (iPhones' default format) are named and refused with how to convert them.
pub fn decode_grey(bytes: &[u8], name: &Path, cancelled: &dyn Fn() -> bool) -> Result<GrayImage> {
    if bytes.is_empty() {
        return Err(unreadable(name, "an empty file".into()));
    }
    if let Some(format) = heif_format(bytes) {
        return Err(unreadable(
            name,
            format!(
                "a {format} image (the format iPhones save photos in by default), which this \
                 program does not decode: convert it to JPEG first (`heif-convert photo.heic \
                 photo.jpg`, Debian's libheif-examples; or set the camera to \"Most Compatible\")"
            ),
        ));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| LenetError::io(name, e))?;
    // PNG (checked from its own header) row by row; large JPEGs at a reduced scale; other
    // formats, interlaced PNGs and smaller JPEGs, below.
    if reader.format() == Some(ImageFormat::Png)
        && let Some(grey) = png_rows_to_grey(bytes, name, cancelled)?
    {
        return Ok(grey);
    }
    if reader.format() == Some(ImageFormat::Jpeg)
        && let Some(grey) = large_jpeg_to_grey(bytes, name)?
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
    // A broken EXIF block only loses the turn, not the image.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    limits
        .reserve(decoder.total_bytes())
        .and_then(|()| decoder.set_limits(limits))
        .map_err(|e| unreadable(name, e.to_string()))?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| unreadable(name, e.to_string()))?;
    let mut grey = DynamicImage::ImageLuma8(on_white(image));
    grey.apply_orientation(orientation);
    Ok(grey.into_luma8())
}

/// A JPEG whose long side is at least twice [`WORKING_SIDE`], decoded at the reduced scale that
/// still gives `WORKING_SIDE` pixels across (jpeg-decoder's DCT scaling), turned upright and to
/// grey; `None` for a smaller JPEG (decoded whole, as before, by `image`) and for a CMYK or a
/// 16-bit one.
/// Refused: more than [`MAX_JPEG_PIXELS`], and a progressive JPEG over [`MAX_PIXELS`], whose
/// decoder keeps every coefficient of the full image (phones write baseline JPEGs).
fn large_jpeg_to_grey(bytes: &[u8], name: &Path) -> Result<Option<GrayImage>> {
    let bad = |e: jpeg_decoder::Error| unreadable(name, e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(bad)?;
    let info = decoder
        .info()
        .ok_or_else(|| unreadable(name, "a JPEG without a frame header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let pixels = u64::from(width) * u64::from(height);
    let long = width.max(height);
    let other_format = matches!(
        info.pixel_format,
        jpeg_decoder::PixelFormat::L16 | jpeg_decoder::PixelFormat::CMYK32
    );
    if long < 2 * WORKING_SIDE || other_format {
        return Ok(None);
    }
    let limit = if info.coding_process == jpeg_decoder::CodingProcess::DctProgressive {
        MAX_PIXELS
    } else {
        MAX_JPEG_PIXELS
    };
    if pixels > limit {
        let progressive = if limit == MAX_PIXELS {
            "progressive "
        } else {
            ""
        };
        return Err(unreadable(
            name,
            format!(
                "a {progressive}JPEG of {width}x{height} pixels ({:.1} megapixels; at most {:.1})",
                pixels as f64 / 1e6,
                limit as f64 / 1e6
            ),
        ));
    }
    let side = |len: u32| (len * WORKING_SIDE).div_ceil(long) as u16;
    decoder.scale(side(width), side(height)).map_err(bad)?;
    let samples = decoder.decode().map_err(bad)?;
    let info = decoder
        .info()
        .ok_or_else(|| unreadable(name, "a JPEG without a frame header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let short = || unreadable(name, "a JPEG whose image data ends early".into());
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            GrayImage::from_raw(width, height, samples).map(DynamicImage::ImageLuma8)
        }
        jpeg_decoder::PixelFormat::RGB24 => {
            image::RgbImage::from_raw(width, height, samples).map(DynamicImage::ImageRgb8)
        }
        // Lossless 16-bit and CMYK JPEGs (neither from a phone): `image`'s decoder.
        jpeg_decoder::PixelFormat::L16 | jpeg_decoder::PixelFormat::CMYK32 => return Ok(None),
    };
    let mut image = image.ok_or_else(short)?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    image.apply_orientation(orientation);
    Ok(Some(image.into_luma8()))
}

/// The HEIF family's name when `bytes` start as one of its files (an ISO-BMFF `ftyp` box whose
/// major brand is HEIC's, HEIF's or AVIF's), which the `image` crate does not decode.
fn heif_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.get(4..8) != Some(b"ftyp".as_slice()) {
        return None;
    }
    match bytes.get(8..12)? {
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some("HEIC"),
        b"mif1" | b"msf1" | b"mif2" => Some("HEIF"),
        b"avif" | b"avis" => Some("AVIF"),
        _ => None,
    }
}

/// Grey levels of `image` as it looks on white paper: transparent pixels are white, half
/// transparent ones blend their grey with it.
fn on_white(image: DynamicImage) -> GrayImage {
    if !image.color().has_alpha() {
        return image.into_luma8();
    }
    let grey_alpha = image.into_luma_alpha8();
    GrayImage::from_fn(grey_alpha.width(), grey_alpha.height(), |x, y| {
        let [grey, alpha] = grey_alpha.get_pixel(x, y).0;
        let (grey, alpha) = (u32::from(grey), u32::from(alpha));
        Luma([((grey * alpha + 255 * (255 - alpha) + 127) / 255) as u8])
    })
}

fn cancelled_error(name: &Path) -> LenetError {
    unreadable(name, "a request cancelled by its client".into())
}

fn check_size(width: u32, height: u32, name: &Path) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(unreadable(
            name,
            format!(
                "{width}x{height} pixels ({:.1} megapixels; at most {:.1})",
                pixels as f64 / 1e6,
                MAX_PIXELS as f64 / 1e6
            ),
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
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
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
        grey.extend_from_slice(on_white(row_image).as_raw());
    }
    if grey.len() != width as usize * height as usize {
        return Err(unreadable(name, "a PNG whose image data ends early".into()));
    }
    let Some(grey) = GrayImage::from_raw(width, height, grey) else {
        return Ok(None);
    };
    let mut grey = DynamicImage::ImageLuma8(grey);
    grey.apply_orientation(orientation);
    Ok(Some(grey.into_luma8()))
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

/// Longest side, in pixels, at which an image is cleaned: larger ones are first scaled down
/// (area-averaged), so cleaning takes bounded memory (a few copies of 640x640 bytes) and time
/// whatever the photo's size. A digit that fills a tenth of the side still spans 64 pixels,
/// three times MNIST's 20-pixel box.
pub const WORKING_SIDE: u32 = 640;
/// Side, in pixels, of the coarse copy on which the paper's light is estimated.
const LIGHT_SIDE: u32 = 64;
/// The paper's noise is measured this many pixels away from the ink, at least.
const FRINGE: u8 = 2;

/// The ink of a scan, a photo or a drawing, light on a black background: `None` when it holds
/// no digit. Step by step:
///
/// 1. scale down to at most [`WORKING_SIDE`] pixels a side, and invert a dark-on-light image
///    (MNIST's digits are light on dark; paper is light: the median of the border tells);
/// 2. estimate the paper's light, uneven lighting included, as a grey-level opening (the
///    brightest level under which a disk a quarter of the image's side across fits, smoothed)
///    of a coarse copy, so that strokes narrower than the disk are not part of it, and
///    subtract it ([`paper_light`], which carries the paper's light over edges blown out to
///    white); unless the image is tiny and its background black;
/// 3. threshold what is left by Otsu's level (at least [`MIN_CONTRAST`]), label its connected
///    parts, and keep the digit's ([`digit_parts`]): not specks, and not lines or the paper's
///    edge along the image's border;
/// 4. keep the ink's soft edge (what rises above the paper's noise and touches it), and
///    stretch the contrast, so the paper is 0 and most of the ink reaches 255.
///
/// The image operations are `imageproc`'s. A drawing that is already clean (a black canvas
/// with white strokes) comes out as it went in.
pub fn clean(grey: &GrayImage) -> Option<GrayImage> {
    let mut ink = working_copy(grey);
    let mut background = border_median(&ink);
    if background > 127 {
        imageops::invert(&mut ink);
        background = 255 - background;
    }
    // A tiny image on a black background (a scan stored as ink counts, such as optdigits' 8x8
    // cells) has no light to remove, and there the opening would take a stroke wider than its
    // smallest disk for light. Chosen on validation cells (`experiments photos --split
    // validation --kind cells`, 2000, the shipped model): 2.35 % misread with the light
    // removed whatever the image, 2.15 % without it on black; validation photos 1.00 % either
    // way. Larger images keep it: a photo's border can be black (once inverted) around grey
    // paper, where edges blown out to white frame the sheet.
    let lifted = if is_tiny(&ink) && background == 0 {
        ink.clone()
    } else {
        let light = paper_light(&ink);
        GrayImage::from_fn(ink.width(), ink.height(), |x, y| {
            Luma([ink.get_pixel(x, y)[0].saturating_sub(light.get_pixel(x, y)[0])])
        })
    };
    // Noise and JPEG's blocks are smoothed away before thresholding large images.
    let smoothed = if lifted.width().min(lifted.height()) >= LIGHT_SIDE {
        filter::gaussian_blur_f32(&lifted, 1.0)
    } else {
        lifted.clone()
    };
    let level = contrast::otsu_level(&smoothed).max(MIN_CONTRAST);
    let marks = contrast::threshold(&smoothed, level, contrast::ThresholdType::Binary);
    let labels = region_labelling::connected_components(&marks, Connectivity::Eight, Luma([0]));
    let parts = Part::all(&labels);
    let kept = digit_parts(&parts, ink.width(), ink.height())?;
    let keep = GrayImage::from_fn(ink.width(), ink.height(), |x, y| {
        let label = labels.get_pixel(x, y)[0];
        Luma([if label > 0 && kept[label as usize - 1] {
            255
        } else {
            0
        }])
    });
    // The paper's level once its light is removed (its noise, away from the ink) and the ink's.
    let around = morphology::dilate(&keep, Norm::LInf, FRINGE);
    let low = percentile(levels_where(&lifted, &around, false), 0.9).min(level / 2);
    let high = percentile(levels_where(&lifted, &keep, true), 0.75).max(low + 1);
    // The digit's soft edge: whatever rises above the paper's noise and touches the kept ink
    // (a hysteresis threshold), so a blurred photo keeps its whole stroke whatever Otsu's level.
    let near = touching(
        &contrast::threshold(&smoothed, low, contrast::ThresholdType::Binary),
        &keep,
    );
    let scale = 255.0 / f32::from(high - low);
    Some(GrayImage::from_fn(ink.width(), ink.height(), |x, y| {
        if near.get_pixel(x, y)[0] == 0 {
            return Luma([0]);
        }
        let v = f32::from(lifted.get_pixel(x, y)[0].saturating_sub(low));
        Luma([(v * scale).round().min(255.0) as u8])
    }))
}

/// The parts of `marks` (set pixels, connected) that hold a pixel set in `keep`, and `keep`.
fn touching(marks: &GrayImage, keep: &GrayImage) -> GrayImage {
    let labels = region_labelling::connected_components(marks, Connectivity::Eight, Luma([0]));
    let mut touched = vec![false; labels.iter().copied().max().unwrap_or(0) as usize + 1];
    for (label, k) in labels.iter().zip(keep.iter()) {
        if *k != 0 {
            touched[*label as usize] = true;
        }
    }
    GrayImage::from_fn(keep.width(), keep.height(), |x, y| {
        let label = labels.get_pixel(x, y)[0];
        let set = keep.get_pixel(x, y)[0] != 0 || (label > 0 && touched[label as usize]);
        Luma([if set { 255 } else { 0 }])
    })
}

/// The image scaled down (area-averaged) to at most [`WORKING_SIDE`] pixels a side.
fn working_copy(grey: &GrayImage) -> GrayImage {
    let (w, h) = grey.dimensions();
    let long = w.max(h);
    if long <= WORKING_SIDE {
        return grey.clone();
    }
    let fit =
        |side: u32| ((u64::from(side) * u64::from(WORKING_SIDE) / u64::from(long)) as u32).max(1);
    imageops::resize(grey, fit(w), fit(h), FilterType::Triangle)
}

/// Whether `image` is smaller than the light estimate's working size ([`LIGHT_SIDE`]), as an
/// 8x8 scan is: too small to tell the paper's light, or a blown-out edge, from a wide stroke.
fn is_tiny(image: &GrayImage) -> bool {
    image.width().max(image.height()) < LIGHT_SIDE
}

/// The paper's light under light ink on a dark background: a grey-level opening of a coarse
/// copy (about [`LIGHT_SIDE`] pixels a side) by a disk of an eighth of that side's radius,
/// smoothed and scaled back up. The opening is exact for light that changes linearly across
/// the sheet, and removes every stroke narrower than the disk.
fn paper_light(ink: &GrayImage) -> GrayImage {
    let (w, h) = ink.dimensions();
    let step = (w.max(h) / LIGHT_SIDE).max(1);
    let coarse = if step > 1 {
        imageops::resize(
            ink,
            (w / step).max(1),
            (h / step).max(1),
            FilterType::Triangle,
        )
    } else {
        ink.clone()
    };
    let radius = coarse
        .width()
        .max(coarse.height())
        .div_ceil(8)
        .clamp(2, 255);
    let opened = morphology::grayscale_open(&coarse, &Mask::disk(radius as u8));
    // A tiny image (an 8x8 scan) has no room for a blown-out band beside its strokes.
    let opened = if is_tiny(ink) {
        opened
    } else {
        beyond_blown_out_edges(&coarse, opened, radius as u8)
    };
    let smooth = filter::gaussian_blur_f32(&opened, radius as f32 / 2.0);
    if step > 1 {
        imageops::resize(&smooth, w, h, FilterType::Triangle)
    } else {
        smooth
    }
}

/// Below this level (once inverted) a pixel of the border region is blown out: pure white in
/// the photo, JPEG's ripple included.
const BLOWN_OUT: u8 = 4;

/// The light estimate `opened` of `coarse` (both inverted), with the light of the paper carried
/// over edges blown out to white (a flash, a bright desk: black once inverted, joined to the
/// image's border) and over the band of `radius` inside them. There the opening holds a step
/// from the paper's level down to black, and a disk cannot reach the paper's corners; the
/// smoothing would blur that step into a ring of "ink" around the sheet. Each such pixel takes
/// the light of the nearest pixel beyond the band (a breadth-first fill: imageproc has no
/// nearest-value fill). An image with no blown-out border, or nothing beyond the band (a
/// drawing on black), keeps its estimate as it is.
fn beyond_blown_out_edges(coarse: &GrayImage, mut opened: GrayImage, radius: u8) -> GrayImage {
    let (w, h) = coarse.dimensions();
    let dark = contrast::threshold(coarse, BLOWN_OUT, contrast::ThresholdType::BinaryInverted);
    let labels = region_labelling::connected_components(&dark, Connectivity::Four, Luma([0]));
    let mut edge_labels = vec![false; labels.iter().copied().max().unwrap_or(0) as usize + 1];
    for (x, y, Luma([label])) in labels.enumerate_pixels() {
        if *label > 0 && (x == 0 || y == 0 || x + 1 == w || y + 1 == h) {
            edge_labels[*label as usize] = true;
        }
    }
    if !edge_labels.contains(&true) {
        return opened;
    }
    let blown = GrayImage::from_fn(w, h, |x, y| {
        Luma([if edge_labels[labels.get_pixel(x, y)[0] as usize] {
            255
        } else {
            0
        }])
    });
    // Set: still to fill; the fill starts from every pixel beyond the band.
    let mut band = morphology::dilate(&blown, Norm::LInf, radius);
    let mut queue: std::collections::VecDeque<(u32, u32)> = band
        .enumerate_pixels()
        .filter(|(_, _, Luma([b]))| *b == 0)
        .map(|(x, y, _)| (x, y))
        .collect();
    if queue.is_empty() {
        return opened;
    }
    while let Some((x, y)) = queue.pop_front() {
        let light = *opened.get_pixel(x, y);
        let (x, y) = (i64::from(x), i64::from(y));
        for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] {
            if nx < 0 || ny < 0 || nx >= i64::from(w) || ny >= i64::from(h) {
                continue;
            }
            let (nx, ny) = (nx as u32, ny as u32);
            if band.get_pixel(nx, ny)[0] != 0 {
                band.put_pixel(nx, ny, Luma([0]));
                opened.put_pixel(nx, ny, light);
                queue.push_back((nx, ny));
            }
        }
    }
    opened
}

/// One connected part of the thresholded ink: its size in pixels and its bounding box.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Part {
    area: u32,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Part {
    /// The parts of `labels` (0: background; the parts numbered from 1), in label order.
    fn all(labels: &image::ImageBuffer<Luma<u32>, Vec<u32>>) -> Vec<Part> {
        let mut parts: Vec<Part> = Vec::new();
        for (x, y, Luma([label])) in labels.enumerate_pixels() {
            let Some(i) = (*label as usize).checked_sub(1) else {
                continue;
            };
            if i >= parts.len() {
                parts.resize(
                    i + 1,
                    Part {
                        area: 0,
                        x0: u32::MAX,
                        y0: u32::MAX,
                        x1: 0,
                        y1: 0,
                    },
                );
            }
            let part = &mut parts[i];
            part.area += 1;
            part.x0 = part.x0.min(x);
            part.y0 = part.y0.min(y);
            part.x1 = part.x1.max(x);
            part.y1 = part.y1.max(y);
        }
        parts
    }

    fn width(&self) -> u32 {
        self.x1 - self.x0 + 1
    }

    fn height(&self) -> u32 {
        self.y1 - self.y0 + 1
    }

    /// The longer side of its bounding box.
    fn size(&self) -> u32 {
        self.width().max(self.height())
    }

    /// Whether it reaches the edge of a `w` x `h` image.
    fn touches_border(&self, w: u32, h: u32) -> bool {
        self.x0 == 0 || self.y0 == 0 || self.x1 + 1 == w || self.y1 + 1 == h
    }

    /// A line along the image: spanning nine tenths of its width (height) while at most a
    /// tenth of its height (width) thick, as a ruled line or the paper's edge is.
    fn is_line(&self, w: u32, h: u32) -> bool {
        (self.width() * 10 >= w * 9 && self.height() * 10 <= h)
            || (self.height() * 10 >= h * 9 && self.width() * 10 <= w)
    }

    /// Whether it lies within `other`'s bounding box widened by `margin` on every side.
    fn near(&self, other: &Part, margin: u32) -> bool {
        self.x0 + margin >= other.x0
            && self.y0 + margin >= other.y0
            && self.x1 <= other.x1 + margin
            && self.y1 <= other.y1 + margin
    }
}

/// Which of the ink's parts make the digit (`None`: no digit), for an image of `w` x `h`:
///
/// - when some part lies inside the image, away from its border, and is at least a quarter of
///   the size of the largest part that touches the border, the digit is inside and parts on
///   the border (the paper's edge, a ruled line, a shadow) are left out; otherwise (a digit
///   cropped tightly, an 8x8 cell image) every part counts but lines along the image;
/// - the largest of those (in pixels) is the digit's main stroke; at least 2.5 % of the
///   image's longer side (3 pixels) long, or the image holds no digit (an empty page with dust);
/// - the other parts count when they are at least a twelfth of the main stroke, or at least a
///   hundredth and close to it (a broken stroke); smaller ones and far ones are specks.
fn digit_parts(parts: &[Part], w: u32, h: u32) -> Option<Vec<bool>> {
    let min_size = (w.max(h) * 25).div_ceil(1000).max(3);
    // The largest part (in pixels) among the candidates.
    let largest = |candidates: &[bool]| {
        parts
            .iter()
            .zip(candidates)
            .filter(|(_, c)| **c)
            .max_by_key(|(p, _)| p.area)
            .map(|(p, _)| *p)
    };
    let on_border: Vec<bool> = parts.iter().map(|p| p.touches_border(w, h)).collect();
    let border_size = parts
        .iter()
        .zip(&on_border)
        .filter(|(_, b)| **b)
        .map(|(p, _)| p.size())
        .max()
        .unwrap_or(0);
    let inside: Vec<bool> = on_border.iter().map(|b| !b).collect();
    let digit_inside =
        largest(&inside).is_some_and(|p| p.size() >= min_size && p.size() * 4 >= border_size);
    let candidates = if digit_inside {
        inside
    } else {
        let not_lines: Vec<bool> = parts
            .iter()
            .zip(&on_border)
            .map(|(p, b)| !(*b && p.is_line(w, h)))
            .collect();
        if not_lines.contains(&true) {
            not_lines
        } else {
            vec![true; parts.len()]
        }
    };
    let main = largest(&candidates)?;
    if main.size() < min_size {
        return None;
    }
    let margin = main.size() * 3 / 10;
    Some(
        parts
            .iter()
            .zip(&candidates)
            .map(|(p, c)| {
                *c && (p.area * 12 >= main.area
                    || (p.area * 100 >= main.area && p.near(&main, margin)))
            })
            .collect(),
    )
}

/// The grey levels of `image` where `mask` is set (`inside`) or not set.
fn levels_where(image: &GrayImage, mask: &GrayImage, inside: bool) -> Vec<u8> {
    image
        .pixels()
        .zip(mask.pixels())
        .filter(|(_, m)| (m[0] != 0) == inside)
        .map(|(v, _)| v[0])
        .collect()
}

/// The level below which a fraction `q` of `levels` lie (0 for none).
fn percentile(mut levels: Vec<u8>, q: f64) -> u8 {
    if levels.is_empty() {
        return 0;
    }
    let k = ((levels.len() - 1) as f64 * q).round() as usize;
    *levels.select_nth_unstable(k).1
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

/// The median grey level of the image's outermost pixels: the paper's (or the canvas's), even
/// where a ruled line, the desk or a shadow runs along part of the edge.
fn border_median(image: &GrayImage) -> u8 {
    let (w, h) = image.dimensions();
    let border: Vec<u8> = image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, Luma([v]))| *v)
        .collect();
    percentile(border, 0.5)
}

/// Bounding box of the pixels brighter than a third of the brightest one (`brightest`).
fn ink_bounds(image: &GrayImage, brightest: u8) -> Option<(u32, u32, u32, u32)> {
    if brightest == 0 {
        return None;
    }
    bounds_above(image, brightest / 3)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_scaled_down_linearly_and_up_by_lanczos3() {
        // Down (photos, the page's canvas): as before (tests/photos.rs checks the canvas's
        // bytes). Up (an 8x8 scan): Lanczos3, chosen on validation cells (see box_filter).
        assert_eq!(box_filter(0.07), FilterType::Triangle);
        assert_eq!(box_filter(1.0), FilterType::Triangle);
        assert_eq!(box_filter(2.5), FilterType::Lanczos3);
    }

    #[test]
    fn a_scan_on_black_keeps_its_wide_strokes() {
        // An 8x8 scan stored as ink counts (optdigits' form): a heavily written 8 whose
        // strokes have run together (a validation digit from `experiments photos --kind
        // cells`), wider than the light estimate's smallest disk. Nothing of it is taken for
        // light: every ink cell keeps its level (stretched, never lowered).
        let cells: [[u8; 8]; 8] = [
            [0, 32, 191, 239, 255, 80, 0, 0],
            [0, 175, 255, 255, 255, 128, 0, 0],
            [0, 175, 255, 255, 255, 112, 0, 0],
            [0, 16, 255, 255, 255, 112, 0, 0],
            [0, 48, 255, 255, 255, 255, 48, 0],
            [0, 64, 255, 255, 255, 255, 175, 0],
            [0, 64, 255, 255, 255, 255, 191, 0],
            [0, 64, 255, 255, 255, 207, 64, 0],
        ];
        let scan = GrayImage::from_fn(8, 8, |x, y| Luma([cells[y as usize][x as usize]]));
        let cleaned = clean(&scan).expect("a digit");
        for (x, y, Luma([v])) in scan.enumerate_pixels() {
            let kept = cleaned.get_pixel(x, y)[0];
            assert!(kept >= *v, "cell ({x}, {y}): {v} became {kept}");
        }
    }

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

    /// `jpeg` with an EXIF block (APP1 right after SOI) whose Orientation tag is `tag`.
    fn with_exif_orientation(jpeg: &[u8], tag: u8) -> Vec<u8> {
        // A big-endian TIFF header, one IFD of one entry: 0x0112 Orientation, SHORT, 1 value.
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0".to_vec();
        tiff.extend([tag, 0, 0, 0, 0, 0, 0]);
        let payload: Vec<u8> = b"Exif\0\0".iter().copied().chain(tiff).collect();
        let length = (payload.len() + 2) as u16;
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, 0xE1]);
        out.extend(length.to_be_bytes());
        out.extend(payload);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn photos_are_turned_upright_as_their_exif_orientation_says() {
        // 32x16: black in the top-left quarter, white elsewhere.
        let picture =
            GrayImage::from_fn(32, 16, |x, y| Luma([if x < 16 && y < 8 { 0 } else { 255 }]));
        let mut jpeg = Vec::new();
        DynamicImage::ImageLuma8(picture)
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let untagged = decode_grey(&jpeg, Path::new("t.jpg"), &|| false).unwrap();
        for tag in 1..=8 {
            let tagged = with_exif_orientation(&jpeg, tag);
            let decoded = decode_grey(&tagged, Path::new("t.jpg"), &|| false).unwrap();
            let mut expected = DynamicImage::ImageLuma8(untagged.clone());
            expected.apply_orientation(Orientation::from_exif(tag).unwrap());
            assert_eq!(decoded, expected.into_luma8(), "tag {tag}");
        }
        // Tag 6, as a phone held upright stores it: turned 90° clockwise, the black quarter
        // is now top right.
        let turned = decode_grey(
            &with_exif_orientation(&jpeg, 6),
            Path::new("t.jpg"),
            &|| false,
        )
        .unwrap();
        assert_eq!(turned.dimensions(), (16, 32));
        assert!(turned.get_pixel(12, 4)[0] < 60 && turned.get_pixel(4, 4)[0] > 200);
    }

    #[test]
    fn a_24_megapixel_phone_photo_is_read_at_a_reduced_scale_as_a_small_one() {
        // The default size of current iPhones, 5712x4284, refused before (16-megapixel limit):
        // a dark bar on light paper, turned on its side as the phone stores it (EXIF tag 6).
        let (w, h) = (5712, 4284);
        let sideways = GrayImage::from_fn(w, h, |x, y| {
            let ink = (1500..4200).contains(&x) && (2000..2300).contains(&y);
            Luma([if ink { 20 } else { 235 }])
        });
        let mut jpeg = Vec::new();
        DynamicImage::ImageLuma8(sideways)
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let jpeg = with_exif_orientation(&jpeg, 6);
        let grey = decode_grey(&jpeg, Path::new("IMG_0001.JPG"), &|| false).unwrap();
        // Upright, and at the scale that still gives WORKING_SIDE pixels across.
        assert!(grey.height() > grey.width(), "{:?}", grey.dimensions());
        assert!(
            (WORKING_SIDE..2 * WORKING_SIDE).contains(&grey.height()),
            "{:?}",
            grey.dimensions()
        );
        let mnist = GrayImage::from_raw(28, 28, to_mnist(&grey).into_raw()).unwrap();
        let (x0, y0, x1, y1) = ink_bounds(&mnist, 255).unwrap();
        assert_eq!((y0, y1), (4, 23), "the bar stands upright, 20 pixels tall");
        assert!(x1 - x0 <= 4, "bar at x {x0}..={x1}");
    }

    #[test]
    fn transparent_images_are_read_on_white_paper() {
        // Black ink on a transparent background (a drawing app's export): every pixel black,
        // only the alpha channel draws the digit. Without the paper it read as blank.
        let ink = |x: u32, y: u32| (45..55).contains(&x) && (20..180).contains(&y);
        let rgba = image::RgbaImage::from_fn(100, 200, |x, y| {
            image::Rgba([0, 0, 0, if ink(x, y) { 255 } else { 0 }])
        });
        let grey_alpha = image::GrayAlphaImage::from_fn(100, 200, |x, y| {
            image::LumaA([0, if ink(x, y) { 255 } else { 0 }])
        });
        for png in [
            png_of(DynamicImage::ImageRgba8(rgba)),
            png_of(DynamicImage::ImageLumaA8(grey_alpha)),
        ] {
            let mnist = digit_from_bytes(&png, Path::new("t.png")).unwrap();
            assert!(!is_blank(&mnist), "the transparent drawing read as blank");
            // The bar, light on black and centred, as on paper.
            let mnist = GrayImage::from_raw(28, 28, mnist).unwrap();
            let (x0, y0, x1, y1) = ink_bounds(&mnist, 255).unwrap();
            assert_eq!((y0, y1), (4, 23));
            assert!(x0 >= 12 && x1 <= 15, "bar at x {x0}..={x1}");
        }
    }

    #[test]
    fn heic_and_avif_are_named_and_refused_with_how_to_convert() {
        for (brand, format) in [(b"heic", "HEIC"), (b"mif1", "HEIF"), (b"avif", "AVIF")] {
            let mut bytes = vec![0, 0, 0, 24];
            bytes.extend(b"ftyp");
            bytes.extend(brand);
            bytes.extend([0; 12]);
            let error = digit_from_bytes(&bytes, Path::new("IMG_0001.HEIC"))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("IMG_0001.HEIC")
                    && error.contains(&format!("a {format} image"))
                    && error.contains("convert it to JPEG"),
                "{error}"
            );
        }
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
            let expected = on_white(image::load_from_memory(png).unwrap());
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
