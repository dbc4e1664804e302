//! Random distortions of training images, drawn anew every epoch (the training loader seeds
//! them from the run's seed, the epoch and the image's place, so runs are repeatable):
//!
//! - affine: a rotation of up to ±[`ROTATION_DEGREES`], a scaling by 1 ± [`SCALING`] and a
//!   shift of up to ±[`SHIFT`] pixels about the image centre (by default; each range is a
//!   setting), the kind of variation LeCun et al. (1998) generated to train LeNet-5;
//! - elastic: Simard, Steinkraus and Platt's (2003, section 2) displacement field: a uniform
//!   random number in −1..1 for each pixel and direction, smoothed by a Gaussian of standard
//!   deviation σ and scaled by α (their MNIST values, σ = [`ELASTIC_SIGMA`] and
//!   α = [`ELASTIC_ALPHA`], are the defaults);
//! - the pen, whatever `augment` says, when its sizes are above 0: strokes thickened or
//!   thinned by up to ±`thickness` pixels (grey-level dilation or erosion by a 3x3 cross,
//!   whole steps then a blend for the fraction), then blurred by a Gaussian of σ up to `blur`
//!   pixels and stretched back so the brightest ink is 255 (a photo's cleaning stretches its
//!   ink too): other pens, other scanners and phone cameras than MNIST's;
//! - the resolution, whatever `augment` says, when `resolution` is above 0: the digit seen as
//!   a small scan or a far-away photo sees it, its 20-pixel box scaled down (area-averaged) to
//!   a random side between `resolution` pixels and 20, then back up by the filter `predict`
//!   scales a small digit up with ([`super::image`]): digits written small or scanned coarsely.
//!
//! The geometric distortions are hand-written because the image crates offer affine warps of
//! whole images but not per-pixel displacement fields, and both are a few lines of bilinear
//! sampling on 28x28 grey levels; the pen's are `imageproc`'s.

use std::ops::RangeInclusive;

use image::GrayImage;
use image::imageops::{self, FilterType};
use imageproc::filter;
use imageproc::morphology::{self, Mask};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::pixels::{floor, to_grey};
use crate::mnist::{IMAGE_SIZE, PIXELS};

/// Default largest rotation, degrees.
pub const ROTATION_DEGREES: f64 = 12.0;
/// Default largest relative change of size.
pub const SCALING: f64 = 0.1;
/// Default largest shift, pixels.
pub const SHIFT: f64 = 2.0;
/// Default standard deviation of the elastic field's Gaussian, pixels (Simard et al.: 4).
pub const ELASTIC_SIGMA: f64 = 4.0;
/// Default scale of the elastic field, pixels (Simard et al.: 34).
pub const ELASTIC_ALPHA: f64 = 34.0;
/// Default largest change of stroke thickness, pixels (0: none).
pub const THICKNESS: f64 = 0.0;
/// Default largest blur, the Gaussian's σ in pixels (0: none).
pub const BLUR: f64 = 0.0;
/// Default lowest resolution, pixels across MNIST's 20-pixel box (0: full resolution only).
pub const RESOLUTION: f64 = 0.0;
/// Side, in pixels, of the box MNIST's digits were scaled into.
const DIGIT_BOX: f64 = super::pixels::DIGIT_BOX as f64;

/// Which distortions the training images get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// The images as they are (the paper's).
    #[default]
    None,
    /// Random rotation, scaling and shift.
    Affine,
    /// A random smooth displacement field (Simard et al., 2003).
    Elastic,
    /// Affine, then elastic.
    Both,
}

/// The distortions of a run: which kinds, and their sizes (the training configuration's
/// `augment`, `rotation`, `scaling`, `shift`, `elastic_sigma`, `elastic_alpha`, `thickness`,
/// `blur` and `resolution`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distortions {
    /// Which kinds.
    pub augment: Augment,
    /// Largest rotation, degrees.
    pub rotation: f64,
    /// Largest relative change of size.
    pub scaling: f64,
    /// Largest shift, pixels.
    pub shift: f64,
    /// The elastic field's Gaussian standard deviation, pixels.
    pub elastic_sigma: f64,
    /// The elastic field's scale, pixels.
    pub elastic_alpha: f64,
    /// Largest change of stroke thickness, pixels (0: none).
    pub thickness: f64,
    /// Largest blur σ, pixels (0: none).
    pub blur: f64,
    /// Lowest resolution, pixels across MNIST's 20-pixel box (0: full resolution only).
    pub resolution: f64,
}

impl From<Augment> for Distortions {
    /// These kinds at the default sizes.
    fn from(augment: Augment) -> Self {
        Self {
            augment,
            rotation: ROTATION_DEGREES,
            scaling: SCALING,
            shift: SHIFT,
            elastic_sigma: ELASTIC_SIGMA,
            elastic_alpha: ELASTIC_ALPHA,
            thickness: THICKNESS,
            blur: BLUR,
            resolution: RESOLUTION,
        }
    }
}

impl Distortions {
    /// Whether these distortions leave every image as it is.
    pub fn is_identity(&self) -> bool {
        self.augment == Augment::None
            && self.thickness <= 0.0
            && self.blur <= 0.0
            && self.resolution <= 0.0
    }

    /// The random affine map, elastic field, pen and resolution of `seed`, as this run draws
    /// them (in that order, each only when used: runs without a pen or a resolution draw what
    /// they drew before those existed).
    fn draw(&self, seed: u64) -> Drawn {
        let mut rng = StdRng::seed_from_u64(seed);
        let affine = matches!(self.augment, Augment::Affine | Augment::Both)
            .then(|| Affine::random(self, &mut rng));
        let field = matches!(self.augment, Augment::Elastic | Augment::Both)
            .then(|| Field::random(self, &mut rng));
        let pen = (self.thickness > 0.0 || self.blur > 0.0).then(|| Pen::random(self, &mut rng));
        let box_side = (self.resolution > 0.0)
            .then(|| rng.random_range(self.resolution.min(DIGIT_BOX)..=DIGIT_BOX));
        Drawn {
            affine,
            field,
            pen,
            box_side,
        }
    }

    /// `pixels` (28x28 grey levels) distorted with random numbers drawn from `seed`.
    pub fn distort(&self, pixels: &[u8], seed: u64) -> Vec<u8> {
        if self.is_identity() {
            return pixels.to_vec();
        }
        let Drawn {
            affine,
            field,
            pen,
            box_side,
        } = self.draw(seed);
        let moved = if affine.is_none() && field.is_none() {
            pixels.to_vec()
        } else {
            Self::warp(pixels, affine, field)
        };
        let drawn = match pen {
            Some(pen) => pen.apply(moved),
            None => moved,
        };
        match box_side {
            Some(side) => at_resolution(drawn, side),
            None => drawn,
        }
    }

    /// `pixels` moved by the affine map and the elastic field (at least one of them).
    fn warp(pixels: &[u8], affine: Option<Affine>, field: Option<Field>) -> Vec<u8> {
        let centre = (IMAGE_SIZE as f64 - 1.0) / 2.0;
        let source = Bordered::new(pixels);
        let mut out = vec![0u8; pixels.len()];
        if let (Some(affine), None) = (&affine, &field) {
            // The affine map is a column term plus a row term: each computed once per column or
            // row instead of once per pixel (the same values as `Affine::source`).
            let columns: Vec<_> = (0..IMAGE_SIZE)
                .map(|x| affine.column_term(x as f64 - centre))
                .collect();
            for (y, out) in out.chunks_exact_mut(IMAGE_SIZE).enumerate() {
                let (row_x, row_y) = affine.row_term(y as f64 - centre);
                for (out, &(x, y)) in out.iter_mut().zip(&columns) {
                    *out = to_grey(source.sample(x + row_x + centre, y + row_y + centre));
                }
            }
            return out;
        }
        for (i, out) in out.iter_mut().enumerate() {
            let (mut x, mut y) = ((i % IMAGE_SIZE) as f64, (i / IMAGE_SIZE) as f64);
            if let Some(field) = &field {
                let (dx, dy) = field.at(i);
                x += dx;
                y += dy;
            }
            if let Some(affine) = &affine {
                (x, y) = affine.source(x - centre, y - centre);
                x += centre;
                y += centre;
            }
            *out = to_grey(source.sample(x, y));
        }
        out
    }
}

/// What one image's distortions drew (`None`: not used by this run).
struct Drawn {
    affine: Option<Affine>,
    field: Option<Field>,
    pen: Option<Pen>,
    /// The side, in pixels, MNIST's 20-pixel box is seen at.
    box_side: Option<f64>,
}

/// 28x28 grey levels seen at a resolution of `box_side` pixels across MNIST's 20-pixel box:
/// scaled down by that ratio (the linear filter averages the area a coarse pixel covers) and
/// back up to 28x28 by the filter `predict` scales a small digit up with.
fn at_resolution(pixels: Vec<u8>, box_side: f64) -> Vec<u8> {
    let full = IMAGE_SIZE as u32;
    let side = ((full as f64 * box_side / DIGIT_BOX).round() as u32).clamp(1, full);
    if side == full {
        return pixels;
    }
    let image = GrayImage::from_raw(full, full, pixels).expect("28x28 grey levels");
    let coarse = imageops::resize(&image, side, side, FilterType::Triangle);
    let scale = full as f32 / side as f32;
    imageops::resize(&coarse, full, full, super::pixels::box_filter(scale)).into_raw()
}

/// A random pen: how much thicker (above 0) or thinner the strokes get, in pixels, and how
/// much they are blurred.
struct Pen {
    thickness: f64,
    blur: f64,
}

impl Pen {
    fn random(sizes: &Distortions, rng: &mut StdRng) -> Self {
        let thickness = if sizes.thickness > 0.0 {
            rng.random_range(-sizes.thickness..sizes.thickness)
        } else {
            0.0
        };
        let blur = if sizes.blur > 0.0 {
            rng.random_range(0.0..sizes.blur)
        } else {
            0.0
        };
        Self { thickness, blur }
    }

    /// 28x28 grey levels drawn with this pen.
    fn apply(&self, pixels: Vec<u8>) -> Vec<u8> {
        let side = IMAGE_SIZE as u32;
        let mut image = GrayImage::from_raw(side, side, pixels).expect("28x28 grey levels");
        if self.thickness != 0.0 {
            let cross = Mask::diamond(1);
            let step = |image: &GrayImage| {
                if self.thickness > 0.0 {
                    morphology::grayscale_dilate(image, &cross)
                } else {
                    morphology::grayscale_erode(image, &cross)
                }
            };
            let amount = self.thickness.abs();
            for _ in 0..amount.floor() as usize {
                image = step(&image);
            }
            let part = amount.fract();
            if part > 0.0 {
                let next = step(&image);
                for (v, n) in image.iter_mut().zip(next.iter()) {
                    *v = to_grey(f64::from(*v) * (1.0 - part) + f64::from(*n) * part);
                }
            }
        }
        // Below a tenth of a pixel a Gaussian changes nothing on this grid.
        if self.blur >= 0.1 {
            image = filter::gaussian_blur_f32(&image, self.blur as f32);
            let brightest = image.iter().copied().max().unwrap_or(0);
            if brightest > 0 {
                let scale = 255.0 / f64::from(brightest);
                for v in image.iter_mut() {
                    *v = to_grey(f64::from(*v) * scale);
                }
            }
        }
        image.into_raw()
    }
}

/// The inverse of a random rotation-scaling-shift: where an output pixel reads from.
struct Affine {
    /// Rows of the inverse matrix.
    m: [[f64; 2]; 2],
    shift: (f64, f64),
}

impl Affine {
    fn random(sizes: &Distortions, rng: &mut StdRng) -> Self {
        // A symmetric range that may be empty (a size of 0: no such distortion).
        let mut symmetric = |limit: f64| {
            if limit > 0.0 {
                rng.random_range(-limit..limit)
            } else {
                0.0
            }
        };
        // Degrees to radians as the earlier constant was written (bit-identical distortions).
        let angle = symmetric(sizes.rotation * std::f64::consts::PI / 180.0);
        let scale = 1.0 + symmetric(sizes.scaling);
        let shift = (symmetric(sizes.shift), symmetric(sizes.shift));
        // Output = R·s·input + shift, so input = R⁻¹·(output − shift)/s.
        let (sin, cos) = angle.sin_cos();
        Self {
            m: [[cos / scale, sin / scale], [-sin / scale, cos / scale]],
            shift,
        }
    }

    /// The source of a pixel at `(x, y)` from the centre.
    fn source(&self, x: f64, y: f64) -> (f64, f64) {
        let (column, row) = (self.column_term(x), self.row_term(y));
        (column.0 + row.0, column.1 + row.1)
    }

    /// The part of [`Affine::source`] that depends on `x` alone.
    fn column_term(&self, x: f64) -> (f64, f64) {
        let x = x - self.shift.0;
        (self.m[0][0] * x, self.m[1][0] * x)
    }

    /// The part of [`Affine::source`] that depends on `y` alone.
    fn row_term(&self, y: f64) -> (f64, f64) {
        let y = y - self.shift.1;
        (self.m[0][1] * y, self.m[1][1] * y)
    }
}

/// A displacement for every pixel: Simard et al.'s uniform noise smoothed by a Gaussian.
struct Field {
    /// `(dx, dy)` of each pixel, row-major.
    displacements: Vec<(f64, f64)>,
}

impl Field {
    fn random(sizes: &Distortions, rng: &mut StdRng) -> Self {
        let kernel = gaussian(sizes.elastic_sigma);
        let mut smoothed = [[0.0f32; PIXELS]; 2];
        for field in &mut smoothed {
            let noise: Vec<f32> = (0..PIXELS).map(|_| rng.random_range(-1.0..1.0)).collect();
            *field = smooth(&noise, &kernel);
        }
        let alpha = sizes.elastic_alpha;
        let displacements = smoothed[0]
            .iter()
            .zip(&smoothed[1])
            .map(|(&dx, &dy)| (alpha * f64::from(dx), alpha * f64::from(dy)))
            .collect();
        Self { displacements }
    }

    /// The displacement of pixel `i` (row-major).
    fn at(&self, i: usize) -> (f64, f64) {
        self.displacements[i]
    }
}

/// A Gaussian of standard deviation `sigma` sampled at the integers −r..=r, r = ⌈3σ⌉, summing
/// to 1 (`[1]` for σ = 0: no smoothing).
fn gaussian(sigma: f64) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as i64;
    if radius == 0 {
        return vec![1.0];
    }
    let weights: Vec<f64> = (-radius..=radius)
        .map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total) as f32).collect()
}

/// A 28x28 field convolved with the separable `kernel` along rows then columns, zero outside
/// the image. Loops over the kernel's taps outermost, so each tap is one vector operation
/// over a padded row.
fn smooth(field: &[f32], kernel: &[f32]) -> [f32; PIXELS] {
    let radius = kernel.len() / 2;
    let width = IMAGE_SIZE + 2 * radius;
    // Along the rows: each row inside zeros.
    let mut rows = [0.0f32; PIXELS];
    let mut padded = vec![0.0f32; width];
    for (row, out) in field
        .chunks_exact(IMAGE_SIZE)
        .zip(rows.chunks_exact_mut(IMAGE_SIZE))
    {
        padded[radius..radius + IMAGE_SIZE].copy_from_slice(row);
        for (tap, &w) in kernel.iter().enumerate() {
            for (o, &p) in out.iter_mut().zip(&padded[tap..tap + IMAGE_SIZE]) {
                *o += w * p;
            }
        }
    }
    // Along the columns: whole rows at a time, with rows of zeros above and below.
    let mut tall = vec![0.0f32; width * IMAGE_SIZE];
    tall[radius * IMAGE_SIZE..(radius + IMAGE_SIZE) * IMAGE_SIZE].copy_from_slice(&rows);
    let mut out = [0.0f32; PIXELS];
    for (tap, &w) in kernel.iter().enumerate() {
        let shifted = &tall[tap * IMAGE_SIZE..(tap + IMAGE_SIZE) * IMAGE_SIZE];
        for (o, &p) in out.iter_mut().zip(shifted) {
            *o += w * p;
        }
    }
    out
}

/// Side of [`Bordered`]'s copy: the image with a row or column of zeros on each side.
const BORDERED: usize = IMAGE_SIZE + 2;

/// An image's grey levels as `f64`, inside a border of zeros, so that bilinear sampling near
/// the edges needs no test per neighbour, with the box that holds the image's ink, so that
/// sampling outside it (most of a digit's image) is one test.
struct Bordered {
    values: [f64; BORDERED * BORDERED],
    /// The whole columns `x0` (rows `y0`) whose neighbourhood `x0..=x0 + 1` can hold ink.
    columns: RangeInclusive<i32>,
    rows: RangeInclusive<i32>,
}

impl Bordered {
    fn new(pixels: &[u8]) -> Self {
        let mut values = [0.0; BORDERED * BORDERED];
        for (row, source) in values
            .chunks_exact_mut(BORDERED)
            .skip(1)
            .zip(pixels.chunks_exact(IMAGE_SIZE))
        {
            for (value, &p) in row[1..].iter_mut().zip(source) {
                *value = f64::from(p);
            }
        }
        // Which rows and which columns hold ink (a column's flag is the OR of its pixels over
        // the rows, a whole row at a time), then the range of neighbourhoods that reach them.
        let mut inked_columns = [0u8; IMAGE_SIZE];
        let mut inked_rows = [0u8; IMAGE_SIZE];
        for (row, flag) in pixels.chunks_exact(IMAGE_SIZE).zip(&mut inked_rows) {
            for (column, &p) in inked_columns.iter_mut().zip(row) {
                *column |= p;
            }
            *flag = row.iter().fold(0, |any, &p| any | p);
        }
        let reach = |flags: &[u8; IMAGE_SIZE]| {
            match (
                flags.iter().position(|&f| f != 0),
                flags.iter().rposition(|&f| f != 0),
            ) {
                // A neighbourhood starting one line before the first inked one reaches it.
                (Some(first), Some(last)) => first as i32 - 1..=last as i32,
                _ => RangeInclusive::new(0, -1),
            }
        };
        Self {
            values,
            columns: reach(&inked_columns),
            rows: reach(&inked_rows),
        }
    }

    /// Whether bilinear sampling at `(x, y)` can give anything but 0: whether the neighbourhood
    /// that [`Bordered::sample`] reads is in `columns` and `rows` (`floor(x) >= first` is
    /// `x >= first`, and `floor(x) <= last` is `x < last + 1`). Most of a digit's image reads
    /// its blank margin and is settled by these four comparisons.
    fn reaches_ink(&self, x: f64, y: f64) -> bool {
        let within = |v: f64, range: &RangeInclusive<i32>| {
            v >= f64::from(*range.start()) && v < f64::from(*range.end()) + 1.0
        };
        within(x, &self.columns) && within(y, &self.rows)
    }

    /// The grey level at `(x, y)` by bilinear interpolation; 0 outside the image.
    ///
    /// Written with integer truncation instead of `f64::floor` (a libm call without SSE4.1 in
    /// the build's target features): sampling is a quarter of a distorted epoch's time
    /// otherwise.
    fn sample(&self, x: f64, y: f64) -> f64 {
        // All four neighbours without ink (outside the image or in its blank margins).
        if !self.reaches_ink(x, y) {
            return 0.0;
        }
        let (x0, y0) = (floor(x), floor(y));
        let (fx, fy) = (x - f64::from(x0), y - f64::from(y0));
        let at = ((y0 + 1) as usize) * BORDERED + (x0 + 1) as usize;
        let (top, bottom) = (
            &self.values[at..at + 2],
            &self.values[at + BORDERED..at + BORDERED + 2],
        );
        let top = top[0] * (1.0 - fx) + top[1] * fx;
        let bottom = bottom[0] * (1.0 - fx) + bottom[1] * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// The MNIST folder for the tests (the test crates' helper).
#[cfg(test)]
#[path = "../../tests/support/mnist_dir.rs"]
mod test_mnist;

#[cfg(test)]
mod tests {
    use super::test_mnist::mnist_dir;
    use super::*;

    /// A filled square in the middle of the image.
    fn square() -> Vec<u8> {
        (0..PIXELS)
            .map(|i| {
                let (x, y) = (i % IMAGE_SIZE, i / IMAGE_SIZE);
                if (9..19).contains(&x) && (9..19).contains(&y) {
                    200
                } else {
                    0
                }
            })
            .collect()
    }

    fn mass(pixels: &[u8]) -> f64 {
        pixels.iter().map(|&p| f64::from(p)).sum()
    }

    #[test]
    fn none_leaves_the_image_as_it_is() {
        assert_eq!(
            Distortions::from(Augment::None).distort(&square(), 1),
            square()
        );
    }

    #[test]
    fn distortions_move_ink_a_little_repeatably_and_differently_per_seed() {
        let image = square();
        for augment in [Augment::Affine, Augment::Elastic, Augment::Both] {
            let sizes = Distortions::from(augment);
            let a = sizes.distort(&image, 7);
            assert_eq!(a, sizes.distort(&image, 7), "{augment:?}: the seed decides");
            assert_ne!(
                a,
                sizes.distort(&image, 8),
                "{augment:?}: a new seed, a new image"
            );
            assert_ne!(a, image, "{augment:?} changed nothing");
            // The digit stays a digit: most of its ink is kept and stays near the middle (the
            // elastic field stretches and squeezes parts of it: Simard's α 34 moves neighbouring
            // pixels apart by up to about a third of a pixel).
            let ratio = mass(&a) / mass(&image);
            assert!((0.6..1.6).contains(&ratio), "{augment:?}: ink ×{ratio}");
            let corners = [0, IMAGE_SIZE - 1, PIXELS - IMAGE_SIZE, PIXELS - 1];
            assert!(corners.iter().all(|&c| a[c] == 0), "{augment:?}");
        }
    }

    /// Bilinear sampling as plainly as it can be written: libm's `floor`, a test per neighbour.
    fn plain_sample(pixels: &[u8], x: f64, y: f64) -> f64 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let at = |x: f64, y: f64| {
            if (0.0..IMAGE_SIZE as f64).contains(&x) && (0.0..IMAGE_SIZE as f64).contains(&y) {
                f64::from(pixels[y as usize * IMAGE_SIZE + x as usize])
            } else {
                0.0
            }
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
        let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    #[test]
    fn bordered_sampling_equals_the_plain_one_inside_at_the_edges_and_outside() {
        // An image with ink up to its edges, so that the border matters.
        let pixels: Vec<u8> = (0..PIXELS).map(|i| (i * 37 % 256) as u8).collect();
        let bordered = Bordered::new(&pixels);
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..200_000 {
            let (x, y) = (rng.random_range(-3.0..31.0), rng.random_range(-3.0..31.0));
            assert_eq!(
                bordered.sample(x, y),
                plain_sample(&pixels, x, y),
                "at ({x}, {y})"
            );
        }
        for x in [-2.0, -1.5, -1.0, -0.5, 0.0, 26.5, 27.0, 27.5, 28.0, 28.5] {
            for y in [-1.0, -0.25, 0.0, 13.5, 27.0, 27.75, 28.0] {
                assert_eq!(
                    bordered.sample(x, y),
                    plain_sample(&pixels, x, y),
                    "at ({x}, {y})"
                );
            }
        }
    }

    /// Distortion as plainly as it can be written: every pixel through the field and the
    /// inverse matrix, sampled by [`plain_sample`].
    fn plain_distort(augment: Augment, pixels: &[u8], seed: u64) -> Vec<u8> {
        let Drawn { affine, field, .. } = Distortions::from(augment).draw(seed);
        let centre = 13.5;
        (0..PIXELS)
            .map(|i| {
                let (mut x, mut y) = ((i % IMAGE_SIZE) as f64, (i / IMAGE_SIZE) as f64);
                if let Some(field) = &field {
                    let (dx, dy) = field.at(i);
                    (x, y) = (x + dx, y + dy);
                }
                if let Some(Affine { m, shift }) = &affine {
                    let (u, v) = (x - centre - shift.0, y - centre - shift.1);
                    (x, y) = (m[0][0] * u + m[0][1] * v, m[1][0] * u + m[1][1] * v);
                    (x, y) = (x + centre, y + centre);
                }
                to_grey(plain_sample(pixels, x, y))
            })
            .collect()
    }

    #[test]
    fn distortions_equal_the_plain_per_pixel_formula() {
        // A blank image, a small square, ink up to the edges, one line, and a one-pixel dot.
        let line: Vec<u8> = (0..PIXELS)
            .map(|i| if i % IMAGE_SIZE == 20 { 255 } else { 0 })
            .collect();
        let mut dot = vec![0; PIXELS];
        dot[3 * IMAGE_SIZE + 25] = 90;
        let edges: Vec<u8> = (0..PIXELS).map(|i| (i * 37 % 256) as u8).collect();
        for image in [vec![0; PIXELS], square(), edges, line, dot] {
            for augment in [Augment::Affine, Augment::Elastic, Augment::Both] {
                for seed in 0..300 {
                    assert_eq!(
                        Distortions::from(augment).distort(&image, seed),
                        plain_distort(augment, &image, seed),
                        "{augment:?}, seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn distortions_of_real_digits_equal_the_plain_per_pixel_formula() {
        let data = crate::data::MnistSplits::from_dir(&mnist_dir()).expect("MNIST");
        let digits = crate::data::all_items(&data.train).expect("the training digits");
        for (i, digit) in digits.iter().take(3000).enumerate() {
            for augment in [Augment::Affine, Augment::Elastic, Augment::Both] {
                let seed = i as u64 * 7 + 1;
                assert_eq!(
                    Distortions::from(augment).distort(&digit.pixels, seed),
                    plain_distort(augment, &digit.pixels, seed),
                    "digit {i}, {augment:?}"
                );
            }
        }
    }

    #[test]
    fn the_libm_free_helpers_equal_floor_and_round() {
        for i in -4000..4000 {
            let x = f64::from(i) / 97.0;
            assert_eq!(f64::from(floor(x)), x.floor(), "floor({x})");
            let v = f64::from(i) / 13.0;
            assert_eq!(
                f64::from(to_grey(v)),
                v.round().clamp(0.0, 255.0),
                "round({v})"
            );
        }
        for x in [-1.0, -0.5, 0.0, 0.5, 27.0, 27.5, 28.0] {
            assert_eq!(f64::from(floor(x)), x.floor());
        }
    }

    #[test]
    fn smoothing_equals_the_plain_two_dimensional_sum() {
        let mut rng = StdRng::seed_from_u64(3);
        let noise: Vec<f32> = (0..PIXELS).map(|_| rng.random_range(-1.0..1.0)).collect();
        for sigma in [0.0, 0.5, 1.0, 4.0, 8.0] {
            let kernel = gaussian(sigma);
            let total: f32 = kernel.iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-5,
                "σ {sigma}: weights sum to {total}"
            );
            let r = (kernel.len() / 2) as i64;
            let smoothed = smooth(&noise, &kernel);
            for y in 0..IMAGE_SIZE as i64 {
                for x in 0..IMAGE_SIZE as i64 {
                    let mut plain = 0.0f64;
                    for i in -r..=r {
                        for j in -r..=r {
                            let (v, u) = (y + i, x + j);
                            if (0..IMAGE_SIZE as i64).contains(&v)
                                && (0..IMAGE_SIZE as i64).contains(&u)
                            {
                                plain += f64::from(kernel[(i + r) as usize])
                                    * f64::from(kernel[(j + r) as usize])
                                    * f64::from(noise[v as usize * IMAGE_SIZE + u as usize]);
                            }
                        }
                    }
                    let ours = f64::from(smoothed[y as usize * IMAGE_SIZE + x as usize]);
                    assert!((ours - plain).abs() < 1e-5, "σ {sigma} at ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn the_elastic_field_has_simards_scale_and_is_smooth() {
        // Away from the edges each displacement is α·Σ w_i w_j u_ij with u uniform in −1..1:
        // standard deviation α·(Σ w²)·sqrt(1/3); neighbours correlate as exp(−1/(4σ²)).
        let sizes = Distortions::from(Augment::Elastic);
        let kernel = gaussian(sizes.elastic_sigma);
        let squares: f64 = kernel.iter().map(|&w| f64::from(w) * f64::from(w)).sum();
        let expected = sizes.elastic_alpha * squares / 3f64.sqrt();
        let centre = 14 * IMAGE_SIZE + 14;
        let (mut sum_a, mut sum_aa, mut sum_ab, mut sum_bb, mut sum_b) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let n = 4000;
        for seed in 0..n {
            let field = sizes.draw(seed).field.expect("an elastic field");
            let (a, b) = (field.at(centre).0, field.at(centre + 1).0);
            (sum_a, sum_b) = (sum_a + a, sum_b + b);
            (sum_aa, sum_ab, sum_bb) = (sum_aa + a * a, sum_ab + a * b, sum_bb + b * b);
        }
        let n = n as f64;
        let var_a = sum_aa / n - (sum_a / n).powi(2);
        let var_b = sum_bb / n - (sum_b / n).powi(2);
        let covariance = sum_ab / n - sum_a * sum_b / (n * n);
        let deviation = var_a.sqrt();
        assert!(
            (deviation / expected - 1.0).abs() < 0.05,
            "standard deviation {deviation} px, expected {expected}"
        );
        assert!(
            (1.2..1.6).contains(&expected),
            "Simard's σ 4, α 34: {expected} px"
        );
        let correlation = covariance / (var_a * var_b).sqrt();
        let smooth = (-1.0 / (4.0 * sizes.elastic_sigma.powi(2))).exp();
        assert!(
            (correlation - smooth).abs() < 0.02,
            "neighbours correlate {correlation}, expected {smooth}"
        );
    }

    #[test]
    fn sizes_of_zero_distort_nothing() {
        let still = Distortions {
            augment: Augment::Both,
            rotation: 0.0,
            scaling: 0.0,
            shift: 0.0,
            elastic_sigma: 4.0,
            elastic_alpha: 0.0,
            thickness: 0.0,
            blur: 0.0,
            resolution: 0.0,
        };
        for seed in 0..20 {
            assert_eq!(still.distort(&square(), seed), square());
        }
        // Each size alone moves ink.
        for sizes in [
            Distortions {
                rotation: 12.0,
                ..still
            },
            Distortions {
                scaling: 0.1,
                ..still
            },
            Distortions {
                shift: 2.0,
                ..still
            },
            Distortions {
                elastic_alpha: 34.0,
                ..still
            },
            Distortions {
                thickness: 1.0,
                ..still
            },
            Distortions { blur: 1.0, ..still },
            Distortions {
                resolution: 8.0,
                ..still
            },
        ] {
            assert_ne!(sizes.distort(&square(), 1), square(), "{sizes:?}");
        }
    }

    /// Ink (grey levels above half) of a 28x28 image, in pixels.
    fn inked(pixels: &[u8]) -> usize {
        pixels.iter().filter(|&&v| v > 127).count()
    }

    #[test]
    fn the_pen_thickens_thins_and_blurs_strokes_and_leaves_the_geometry_alone() {
        let data = crate::data::MnistSplits::from_dir(&mnist_dir()).expect("MNIST");
        let digits = crate::data::all_items(&data.test).expect("the test digits");
        let pen = |thickness: f64, blur: f64| Distortions {
            thickness,
            blur,
            ..Distortions::from(Augment::None)
        };
        assert!(pen(0.0, 0.0).is_identity());
        assert!(!pen(1.0, 0.0).is_identity() && !pen(0.0, 1.0).is_identity());
        let (mut thicker, mut thinner) = (0, 0);
        for item in digits.iter().take(200) {
            let before = inked(&item.pixels);
            // A whole pixel thicker or thinner.
            assert!(
                inked(
                    &Pen {
                        thickness: 1.0,
                        blur: 0.0
                    }
                    .apply(item.pixels.clone())
                ) > before
            );
            assert!(
                inked(
                    &Pen {
                        thickness: -1.0,
                        blur: 0.0
                    }
                    .apply(item.pixels.clone())
                ) < before
            );
            // Blur spreads the ink, keeps its brightest level at 255 and its centre of mass.
            let blurred = Pen {
                thickness: 0.0,
                blur: 1.5,
            }
            .apply(item.pixels.clone());
            assert_eq!(blurred.iter().max(), Some(&255));
            let spread = |pixels: &[u8]| pixels.iter().filter(|&&v| v > 0).count();
            assert!(spread(&blurred) > spread(&item.pixels));
            let (m0, x0, y0) = crate::data::pixels::centre_of_mass(&item.pixels, IMAGE_SIZE);
            let (m1, x1, y1) = crate::data::pixels::centre_of_mass(&blurred, IMAGE_SIZE);
            assert!(m0 > 0.0 && m1 > 0.0);
            assert!(
                (x0 - x1).abs() < 0.5 && (y0 - y1).abs() < 0.5,
                "moved by the blur"
            );
            // Drawn at random: each seed draws a thickness in -1..1, over 20 seeds both ways.
            let drawn: Vec<usize> = (0..20)
                .map(|s| inked(&pen(1.0, 0.0).distort(&item.pixels, s)))
                .collect();
            thicker += usize::from(drawn.iter().any(|&n| n > before));
            thinner += usize::from(drawn.iter().any(|&n| n < before));
        }
        assert_eq!((thicker, thinner), (200, 200));
        // The same seed, the same pen; runs without a pen are drawn as before it existed.
        let both = pen(0.7, 1.2);
        assert_eq!(
            both.distort(&digits[0].pixels, 9),
            both.distort(&digits[0].pixels, 9)
        );
        let affine = Distortions::from(Augment::Affine);
        let with_pen = Distortions {
            thickness: 0.5,
            ..affine
        };
        assert_ne!(
            affine.distort(&digits[0].pixels, 9),
            with_pen.distort(&digits[0].pixels, 9)
        );
        let a = affine.draw(9).affine.expect("affine");
        let b = with_pen.draw(9).affine.expect("affine");
        assert_eq!(
            (a.m, a.shift),
            (b.m, b.shift),
            "the pen is drawn after the affine map"
        );
    }

    #[test]
    fn a_lower_resolution_blurs_fine_detail_and_keeps_the_digit_in_place() {
        let data = crate::data::MnistSplits::from_dir(&mnist_dir()).expect("MNIST");
        let digits = crate::data::all_items(&data.test).expect("the test digits");
        let coarse = |resolution: f64| Distortions {
            resolution,
            ..Distortions::from(Augment::None)
        };
        assert!(!coarse(8.0).is_identity());
        // Full resolution leaves the image as it is.
        assert_eq!(
            at_resolution(digits[0].pixels.clone(), 20.0),
            digits[0].pixels
        );
        // How far an image is from its own 2x2-averaged copy: the detail finer than 2 pixels.
        let detail = |pixels: &[u8]| -> f64 {
            let s = IMAGE_SIZE;
            let mut sum = 0.0;
            for y in 0..s - 1 {
                for x in 0..s - 1 {
                    let at = |dx: usize, dy: usize| f64::from(pixels[(y + dy) * s + x + dx]);
                    let mean = (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4.0;
                    sum += (at(0, 0) - mean).abs();
                }
            }
            sum
        };
        for item in digits.iter().take(100) {
            let eight = at_resolution(item.pixels.clone(), 8.0);
            let fourteen = at_resolution(item.pixels.clone(), 14.0);
            // Coarser is smoother: less detail at 8 pixels than at 14, and at 14 than at 20.
            assert!(detail(&eight) < detail(&fourteen), "label {}", item.label);
            assert!(
                detail(&fourteen) < detail(&item.pixels),
                "label {}",
                item.label
            );
            // The digit stays where it was, and still has ink.
            let (m0, x0, y0) = crate::data::pixels::centre_of_mass(&item.pixels, IMAGE_SIZE);
            let (m1, x1, y1) = crate::data::pixels::centre_of_mass(&eight, IMAGE_SIZE);
            assert!(m1 > 0.5 * m0, "ink kept: {m1} of {m0}");
            assert!(
                (x0 - x1).abs() < 0.75 && (y0 - y1).abs() < 0.75,
                "moved by the resolution: ({x0}, {y0}) -> ({x1}, {y1})"
            );
        }
        // Drawn per seed between 8 and 20 pixels: some images come out coarse, some as they were.
        let sides: Vec<f64> = (0..200)
            .map(|s| coarse(8.0).draw(s).box_side.expect("a side"))
            .collect();
        assert!(sides.iter().all(|s| (8.0..=20.0).contains(s)));
        assert!(sides.iter().any(|&s| s < 10.0) && sides.iter().any(|&s| s > 18.0));
        // Runs without a resolution draw their pen as before it existed.
        let pen = Distortions {
            thickness: 1.0,
            blur: 1.0,
            ..Distortions::from(Augment::Affine)
        };
        let both = Distortions {
            resolution: 8.0,
            ..pen
        };
        for seed in 0..20 {
            let (p, b) = (pen.draw(seed), both.draw(seed));
            assert_eq!(p.affine.map(|a| a.m), b.affine.map(|a| a.m));
            let (p, b) = (p.pen.expect("pen"), b.pen.expect("pen"));
            assert_eq!((p.thickness, p.blur), (b.thickness, b.blur));
        }
    }
}
