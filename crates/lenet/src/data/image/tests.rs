//! Tests of the image pipeline: decoding, cleaning and framing.

use std::io::Cursor;
use std::path::Path;

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageFormat, Luma};

use super::clean::*;
use super::decode::*;
use super::frame::*;
use super::*;
use crate::data::pixels::box_filter;

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
    let picture = GrayImage::from_fn(32, 16, |x, y| Luma([if x < 16 && y < 8 { 0 } else { 255 }]));
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
