//! The ink of a scan, a photo or a drawing, light on black ([`clean`]): the paper and its uneven
//! light removed, the contrast stretched, specks and edge lines dropped.

use image::GrayImage;
use image::Luma;
use image::imageops::{self, FilterType};
use imageproc::distance_transform::Norm;
use imageproc::morphology::{self, Mask};
use imageproc::region_labelling::{self, Connectivity};
use imageproc::{contrast, filter};

/// A digit's ink must differ from the paper, once its light is removed, by more than this many
/// grey levels (of 255); below it the image counts as blank ("no digit"): a blank canvas, an
/// empty page however lit, a photo of a plain wall. An eighth of the grey range: faint pencil
/// on paper is still far above it, a phone's sensor noise far below.
pub const MIN_CONTRAST: u8 = 32;

/// Longest side, in pixels, at which an image is cleaned: larger ones are first scaled down
/// (area-averaged), so cleaning takes bounded memory (a few copies of 640x640 bytes) and time
/// whatever the photo's size. A digit that fills a tenth of the side still spans 64 pixels,
/// three times MNIST's 20-pixel box.
pub const WORKING_SIDE: u32 = 640;

/// Side, in pixels, of the coarse copy on which the paper's light is estimated.
pub(super) const LIGHT_SIDE: u32 = 64;

/// The paper's noise is measured this many pixels away from the ink, at least.
pub(super) const FRINGE: u8 = 2;

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
pub(super) fn touching(marks: &GrayImage, keep: &GrayImage) -> GrayImage {
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
pub(super) fn working_copy(grey: &GrayImage) -> GrayImage {
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
pub(super) fn is_tiny(image: &GrayImage) -> bool {
    image.width().max(image.height()) < LIGHT_SIDE
}

/// The paper's light under light ink on a dark background: a grey-level opening of a coarse
/// copy (about [`LIGHT_SIDE`] pixels a side) by a disk of an eighth of that side's radius,
/// smoothed and scaled back up. The opening is exact for light that changes linearly across
/// the sheet, and removes every stroke narrower than the disk.
pub(super) fn paper_light(ink: &GrayImage) -> GrayImage {
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
pub(super) const BLOWN_OUT: u8 = 4;

/// The light estimate `opened` of `coarse` (both inverted), with the light of the paper carried
/// over edges blown out to white (a flash, a bright desk: black once inverted, joined to the
/// image's border) and over the band of `radius` inside them. There the opening holds a step
/// from the paper's level down to black, and a disk cannot reach the paper's corners; the
/// smoothing would blur that step into a ring of "ink" around the sheet. Each such pixel takes
/// the light of the nearest pixel beyond the band (a breadth-first fill: imageproc has no
/// nearest-value fill). An image with no blown-out border, or nothing beyond the band (a
/// drawing on black), keeps its estimate as it is.
pub(super) fn beyond_blown_out_edges(
    coarse: &GrayImage,
    mut opened: GrayImage,
    radius: u8,
) -> GrayImage {
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
pub(super) struct Part {
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
pub(super) fn digit_parts(parts: &[Part], w: u32, h: u32) -> Option<Vec<bool>> {
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
pub(super) fn levels_where(image: &GrayImage, mask: &GrayImage, inside: bool) -> Vec<u8> {
    image
        .pixels()
        .zip(mask.pixels())
        .filter(|(_, m)| (m[0] != 0) == inside)
        .map(|(v, _)| v[0])
        .collect()
}

/// The level below which a fraction `q` of `levels` lie (0 for none).
pub(super) fn percentile(mut levels: Vec<u8>, q: f64) -> u8 {
    if levels.is_empty() {
        return 0;
    }
    let k = ((levels.len() - 1) as f64 * q).round() as usize;
    *levels.select_nth_unstable(k).1
}

/// The median grey level of the image's outermost pixels: the paper's (or the canvas's), even
/// where a ruled line, the desk or a shadow runs along part of the edge.
pub(super) fn border_median(image: &GrayImage) -> u8 {
    let (w, h) = image.dimensions();
    let border: Vec<u8> = image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, Luma([v]))| *v)
        .collect();
    percentile(border, 0.5)
}
