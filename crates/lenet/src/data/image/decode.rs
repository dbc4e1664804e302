//! Image files to grey levels, as they are shown: the size checked from the header, PNG read row
//! by row, large JPEGs at a reduced scale, EXIF orientation applied, transparency laid on white,
//! HEIC named and refused.

use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, Luma};

use super::clean::WORKING_SIDE;
use crate::error::{LenetError, Result};

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

pub(super) fn unreadable(path: &Path, found: String) -> LenetError {
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
    check_size(width, height, MAX_PIXELS, "", name)?;
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
pub(super) fn large_jpeg_to_grey(bytes: &[u8], name: &Path) -> Result<Option<GrayImage>> {
    let bad = |e: jpeg_decoder::Error| unreadable(name, e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(bad)?;
    let info = decoder
        .info()
        .ok_or_else(|| unreadable(name, "a JPEG without a frame header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let long = width.max(height);
    let other_format = matches!(
        info.pixel_format,
        jpeg_decoder::PixelFormat::L16 | jpeg_decoder::PixelFormat::CMYK32
    );
    if long < 2 * WORKING_SIDE || other_format {
        return Ok(None);
    }
    if info.coding_process == jpeg_decoder::CodingProcess::DctProgressive {
        check_size(width, height, MAX_PIXELS, "a progressive JPEG of ", name)?;
    } else {
        check_size(width, height, MAX_JPEG_PIXELS, "a JPEG of ", name)?;
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
pub(super) fn heif_format(bytes: &[u8]) -> Option<&'static str> {
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
pub(super) fn on_white(image: DynamicImage) -> GrayImage {
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

pub(super) fn cancelled_error(name: &Path) -> LenetError {
    unreadable(name, "a request cancelled by its client".into())
}

/// Refuses an image of no pixels, or of more than `limit`; `what` names it in the message ("",
/// "a progressive JPEG of ").
pub(super) fn check_size(
    width: u32,
    height: u32,
    limit: u64,
    what: &str,
    name: &Path,
) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limit {
        return Err(unreadable(
            name,
            format!(
                "{what}{width}x{height} pixels ({:.1} megapixels; at most {:.1})",
                pixels as f64 / 1e6,
                limit as f64 / 1e6
            ),
        ));
    }
    if pixels == 0 {
        return Err(unreadable(name, format!("{what}{width}x{height} pixels")));
    }
    Ok(())
}

/// A PNG decoded row by row straight to grey: memory is the grey image and one row, whatever
/// the PNG's colour type and depth. The png crate (which `image` itself uses) gives the rows,
/// `image` turns each into grey (a test checks the result equals decoding the whole image);
/// `image` alone decodes the whole image in its own colour type first. `None` for interlaced
/// PNGs, whose rows come in seven passes: those take `image`'s path (bounded by
/// [`MAX_ALLOC`]).
pub(super) fn png_rows_to_grey(
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
    check_size(width, height, MAX_PIXELS, "", name)?;
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
