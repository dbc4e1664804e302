//! Digit images of any size and format (PNG, JPEG, BMP, ... through the `image` crate) turned
//! into MNIST-style inputs: grey, light ink on a black background (a photo's or a scan's paper
//! and uneven light removed, its contrast stretched, specks and edge lines dropped: [`clean`]),
//! the digit scaled into a 20x20 box and its centre of mass put at the centre of 28x28 (how
//! MNIST itself was made).
//!
//! The steps, a module each: [`decode`] (a file's bytes to grey levels as the image is shown),
//! [`clean`] (the ink, light on black), [`frame`] (MNIST's box and centring). The pixel helpers
//! they share with the training's distortions are `data::pixels`; the phone photos the
//! experiments make to test all this are simulated by `data::photo`.

use std::path::Path;

pub mod clean;
pub mod decode;
pub mod frame;
#[cfg(test)]
mod tests;

pub use clean::{MIN_CONTRAST, WORKING_SIDE, clean};
pub use decode::{MAX_ALLOC, MAX_JPEG_PIXELS, MAX_PIXELS, decode_grey, pixel_count};
pub use frame::{grid_to_mnist, is_blank, no_digit_reason, to_mnist};

use crate::error::Result;

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
