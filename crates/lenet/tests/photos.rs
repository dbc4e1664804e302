//! Photos and scans turned into MNIST form (`lenet::data::image`): simulated phone photos of
//! MNIST's test digits (`lenet::data::photo`) come out close to the clean digit, an empty page
//! however lit holds no digit, specks and lines along the edge are ignored, edges blown out to
//! white change nothing, and the page's drawings give the same 28x28 bytes as before photos
//! were cleaned.

use std::path::Path;

use image::{GrayImage, Luma};
use lenet::data::image::{self as reading, WORKING_SIDE};
use lenet::data::photo::PhotoStyle;
use lenet::data::{DigitItem, MnistSplits, all_items};
use lenet::mnist::IMAGE_SIZE;

#[path = "support/mnist_dir.rs"]
mod mnist_dir;

fn test_digits(n: usize) -> Vec<DigitItem> {
    let data = MnistSplits::from_dir(&mnist_dir::mnist_dir()).expect("MNIST");
    all_items(&data.test)
        .expect("the test digits")
        .into_iter()
        .take(n)
        .collect()
}

/// Bounding box (x0, y0, x1, y1) of the pixels above a third of full ink.
fn ink_box(pixels: &[u8]) -> Option<(usize, usize, usize, usize)> {
    pixels
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 85)
        .map(|(i, _)| (i % IMAGE_SIZE, i / IMAGE_SIZE))
        .fold(None, |b, (x, y)| {
            Some(match b {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            })
        })
}

fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| f64::from(a.abs_diff(b)))
        .sum::<f64>()
        / a.len() as f64
}

/// The largest distance between the sides of two boxes, pixels.
fn box_distance(a: (usize, usize, usize, usize), b: (usize, usize, usize, usize)) -> usize {
    [
        a.0.abs_diff(b.0),
        a.1.abs_diff(b.1),
        a.2.abs_diff(b.2),
        a.3.abs_diff(b.3),
    ]
    .into_iter()
    .max()
    .unwrap()
}

/// A photo as `predict` reads it: the JPEG file's bytes through the program's decoder.
fn read(jpeg: &[u8]) -> Vec<u8> {
    reading::digit_from_bytes(jpeg, Path::new("photo.jpg")).expect("a readable photo")
}

/// An upright style (no slant, no turn), so the photo's digit has the clean digit's shape.
fn upright(seed: u64) -> PhotoStyle {
    PhotoStyle {
        slant: 0.0,
        rotation: 0.0,
        ..PhotoStyle::random(seed)
    }
}

#[test]
fn photos_of_known_digits_come_out_close_to_the_clean_digit() {
    let (mut worst_box, mut total, mut worst) = (0, 0.0, 0.0f64);
    let digits = test_digits(200);
    for (i, digit) in digits.iter().enumerate() {
        let clean = reading::grid_to_mnist(&digit.pixels);
        let seen = read(&upright(i as u64).jpeg(&digit.pixels, i as u64));
        let (a, b) = (
            ink_box(&clean).unwrap(),
            ink_box(&seen).expect("a digit, not blank"),
        );
        worst_box = worst_box.max(box_distance(a, b));
        let difference = mean_difference(&clean, &seen);
        total += difference;
        worst = worst.max(difference);
    }
    let mean = total / digits.len() as f64;
    eprintln!("box within {worst_box} px; mean |difference| {mean:.1}, worst {worst:.1}");
    assert!(worst_box <= 3, "the ink's box is off by {worst_box} pixels");
    assert!(mean <= 12.0, "mean grey-level difference {mean:.1}");
    assert!(worst <= 30.0, "worst grey-level difference {worst:.1}");
}

#[test]
fn an_empty_page_however_lit_holds_no_digit() {
    let empty = vec![0u8; IMAGE_SIZE * IMAGE_SIZE];
    for seed in 0..60 {
        let page = PhotoStyle::random(seed).jpeg(&empty, seed);
        assert!(reading::is_blank(&read(&page)), "page {seed} read as ink");
    }
}

/// `photo` (of `style`) with dark specks of dust scattered in its margins, a ruled line across
/// the paper above the digit and the desk's dark edge beyond the paper along its right side.
fn soiled(photo: &GrayImage, style: &PhotoStyle, seed: u64) -> GrayImage {
    let ink = style.ink as u8;
    let (w, h) = photo.dimensions();
    let mut soiled = photo.clone();
    let speck = (w.max(h) / 150).max(1);
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = |n: u32| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % u64::from(n)) as u32
    };
    for _ in 0..12 {
        // In the margins only: the outer tenth of the photo on some side.
        let (x, y) = (next(w - speck), next(h / 10));
        let (x, y) = if next(2) == 0 {
            (x, y)
        } else {
            (x, h - speck - y)
        };
        for dy in 0..speck {
            for dx in 0..speck {
                soiled.put_pixel(x + dx, y + dy, Luma([ink]));
            }
        }
    }
    // A ruled line from edge to edge, half way down the paper above the digit.
    let line = (h / 200).max(1);
    let at = (style.margins[1] * style.digit_size / 2.0) as u32;
    for y in at..at + line {
        for x in 0..w {
            soiled.put_pixel(x, y, Luma([ink.saturating_add(40)]));
        }
    }
    let desk = (w / 25).max(2);
    for y in 0..h {
        for x in w - desk..w {
            soiled.put_pixel(x, y, Luma([ink / 2]));
        }
    }
    soiled
}

#[test]
fn specks_of_dust_a_ruled_line_and_the_desk_are_ignored() {
    for (i, digit) in test_digits(40).iter().enumerate() {
        let style = upright(i as u64 + 500);
        let photo = style.render(&digit.pixels, i as u64);
        let soiled = soiled(&photo, &style, i as u64);
        // The cleaned images (before MNIST's box, where a one-pixel change of the ink's box can
        // round the digit's width either way): the same ink, nothing else.
        let plain = reading::clean(&photo).expect("a digit");
        let cleaned = reading::clean(&soiled).expect("a digit");
        let difference = mean_difference(plain.as_raw(), cleaned.as_raw());
        let inked = |image: &GrayImage| image.pixels().filter(|p| p[0] > 0).count();
        assert!(
            difference <= 1.0 && inked(&cleaned) <= inked(&plain) * 21 / 20,
            "digit {i}: {difference:.2} grey levels from the clean photo's ink, {} inked pixels \
             against {}",
            inked(&cleaned),
            inked(&plain)
        );
        // And the reading: the same digit in the same box, give or take that pixel.
        let (plain, soiled) = (reading::to_mnist(&photo), reading::to_mnist(&soiled));
        let off = box_distance(
            ink_box(plain.as_raw()).unwrap(),
            ink_box(soiled.as_raw()).expect("a digit"),
        );
        assert!(off <= 1, "digit {i}: the box is off by {off} pixels");
    }
}

#[test]
fn drawings_on_the_page_give_the_same_28x28_bytes_as_before_photos_were_cleaned() {
    // The page's pad after its strokes (crates/trainer/tests/browser/canvas.mjs), and what the
    // program turned them into before this cleaning existed (the 28x28 bytes it gave then).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/canvas");
    let expected: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("expected.json")).expect("expected.json"),
    )
    .expect("a JSON object");
    assert!(expected.len() >= 5);
    for (name, bytes) in expected {
        let bytes: Vec<u8> = serde_json::from_value(bytes).expect("784 grey levels");
        let seen = reading::load_digit(&fixtures.join(format!("{name}.png"))).expect("a PNG");
        assert_eq!(seen, bytes, "{name}.png");
    }
}

#[test]
fn a_large_photo_is_cleaned_at_a_bounded_size_and_read_like_a_small_one() {
    let digit = &test_digits(1)[0];
    let style = PhotoStyle {
        digit_size: 1400.0,
        blur: 3.0,
        ..upright(7)
    };
    let large = style.render(&digit.pixels, 7);
    assert!(large.width().max(large.height()) > 3 * WORKING_SIDE);
    let cleaned = reading::clean(&large).expect("a digit");
    assert!(cleaned.width().max(cleaned.height()) <= WORKING_SIDE);
    let small = PhotoStyle {
        digit_size: 140.0,
        blur: 0.3,
        ..style
    }
    .render(&digit.pixels, 7);
    let difference = mean_difference(&reading::to_mnist(&large), &reading::to_mnist(&small));
    assert!(difference <= 8.0, "{difference:.1}");
}

/// `photo` with edges blown out to pure white (a flash, a bright desk): a band of a tenth of
/// the side at 255 along every side (`all`), or along the left and top sides only (the paper
/// running off the picture elsewhere).
fn blown_out(photo: &GrayImage, all: bool) -> GrayImage {
    let (w, h) = photo.dimensions();
    let (fx, fy) = ((w / 10).max(1), (h / 10).max(1));
    GrayImage::from_fn(w, h, |x, y| {
        let edge = x < fx || y < fy || (all && (x >= w - fx || y >= h - fy));
        if edge {
            Luma([255])
        } else {
            *photo.get_pixel(x, y)
        }
    })
}

#[test]
fn paper_inside_edges_blown_out_to_white_is_removed_as_on_any_photo() {
    // Once inverted the border is black and the paper grey: without care, the light estimate
    // steps down at the paper's edge and the smoothing leaves a ring of "ink" around the sheet.
    let (mut worst, mut total) = (0.0f64, 0.0);
    let digits = test_digits(40);
    for (i, digit) in digits.iter().enumerate() {
        let style = upright(i as u64 + 900);
        let photo = style.render(&digit.pixels, i as u64);
        let (plain, bright) = (
            reading::to_mnist(&photo).into_raw(),
            reading::to_mnist(&blown_out(&photo, i % 2 == 0)).into_raw(),
        );
        let difference = mean_difference(&plain, &bright);
        worst = worst.max(difference);
        total += difference;
        assert!(
            difference <= 8.0,
            "digit {i}: {difference:.1} grey levels from the plain photo's reading"
        );
    }
    let mean = total / digits.len() as f64;
    eprintln!("mean |difference| {mean:.2}, worst {worst:.2}");
    assert!(mean <= 1.0, "mean |difference| {mean:.2}");
    let empty = vec![0u8; IMAGE_SIZE * IMAGE_SIZE];
    for seed in 0..40 {
        let page = blown_out(
            &PhotoStyle::random(seed).render(&empty, seed),
            seed % 2 == 0,
        );
        assert!(
            reading::is_blank(reading::to_mnist(&page).as_raw()),
            "page {seed} read as ink"
        );
    }
}
