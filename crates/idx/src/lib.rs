//! Reading the IDX file format of MNIST (<http://yann.lecun.com/exdb/mnist/>).
//!
//! Hand-written because no maintained crate parses IDX with the checks we need (burn-dataset's
//! reader accepts truncated files silently): the format is a 4-byte magic number
//! (`0x00 0x00 type ndims`, type `0x08` = unsigned byte), one big-endian `u32` per dimension,
//! then the data. Files may be gzip-compressed; that is detected from their first bytes.
//!
//! This crate has no dependency on burn so that it can be fuzzed cheaply (`fuzz/`).

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// Why an IDX file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's content is not what the IDX format requires.
    #[error("{path}: bad {field}: expected {expected}, found {found}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The part of the file that is wrong (magic number, header, file length, ...).
        field: &'static str,
        /// What that part should hold.
        expected: String,
        /// What it holds.
        found: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, IdxError>;

/// Largest decompressed file accepted (MNIST's biggest is 47 MB): a guard against gzip bombs.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions: count, rows, columns).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension: count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The images of one IDX image file, row-major, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// `count * rows * cols` pixels.
    pub pixels: Vec<u8>,
}

/// Reads a file's bytes, decompressing it first when it is gzip-compressed.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(&raw[..])
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| IdxError::Format {
            path: path.to_path_buf(),
            field: "gzip stream",
            expected: "a complete gzip stream".into(),
            found: format!("a broken one ({e})"),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(IdxError::Format {
            path: path.to_path_buf(),
            field: "decompressed size",
            expected: format!("at most {MAX_DECOMPRESSED} bytes"),
            found: "more".into(),
        });
    }
    Ok(out)
}

/// Parses an IDX image file's content (already decompressed).
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages> {
    let dims = parse_header(bytes, path, IMAGES_MAGIC, "images")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    let header = 4 + 4 * dims.len();
    let pixels = body(bytes, path, header, count, rows * cols)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Parses an IDX label file's content (already decompressed).
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let dims = parse_header(bytes, path, LABELS_MAGIC, "labels")?;
    body(bytes, path, 8, dims[0], 1)
}

/// Checks the magic number and returns the dimensions it announces.
fn parse_header(bytes: &[u8], path: &Path, magic: u32, what: &str) -> Result<Vec<usize>> {
    let bad = |field, expected: String, found: String| IdxError::Format {
        path: path.to_path_buf(),
        field,
        expected,
        found,
    };
    let expected_magic = format!("0x{magic:08x} (IDX {what})");
    let Some(head) = bytes.get(..4) else {
        return Err(bad(
            "magic number",
            expected_magic,
            format!("a file of only {} bytes", bytes.len()),
        ));
    };
    let found = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if found != magic {
        let hint = if head.starts_with(&GZIP_MAGIC) {
            " (gzip data inside gzip data: decompress the file once more)"
        } else {
            ""
        };
        return Err(bad(
            "magic number",
            expected_magic,
            format!("0x{found:08x}{hint}"),
        ));
    }
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(bad(
            "header",
            format!("{header_len} bytes"),
            format!("{} bytes", bytes.len()),
        ));
    }
    Ok(bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect())
}

/// Returns the data after the header, checking it holds exactly `count` items of `item_len` bytes.
fn body(
    bytes: &[u8],
    path: &Path,
    header: usize,
    count: usize,
    item_len: usize,
) -> Result<Vec<u8>> {
    let expected = count
        .checked_mul(item_len)
        .and_then(|n| n.checked_add(header));
    let found = bytes.len();
    if expected != Some(found) {
        let expected = match expected {
            Some(total) => {
                format!("{total} bytes ({header}-byte header + {count} items of {item_len} bytes)")
            }
            None => format!("a size that fits in memory for {count} items"),
        };
        let what = if expected_is_larger(bytes.len(), header, count, item_len) {
            "truncated"
        } else {
            "trailing data"
        };
        return Err(IdxError::Format {
            path: path.to_path_buf(),
            field: "file length",
            expected,
            found: format!("{found} bytes ({what})"),
        });
    }
    Ok(bytes[header..].to_vec())
}

fn expected_is_larger(len: usize, header: usize, count: usize, item_len: usize) -> bool {
    (len.saturating_sub(header) as u128) < (count as u128) * (item_len as u128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes either parse into a consistent file or give an error: never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(images) = parse_images(&bytes, Path::new("x")) {
                prop_assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
                prop_assert_eq!(bytes.len(), 16 + images.pixels.len());
            }
            if let Ok(labels) = parse_labels(&bytes, Path::new("x")) {
                prop_assert_eq!(bytes.len(), 8 + labels.len());
            }
        }

        /// Valid headers with any dimensions and any (possibly wrong) amount of data.
        #[test]
        fn headers_with_any_dimensions_never_panic(
            dims in proptest::array::uniform3(any::<u32>()),
            small in proptest::array::uniform3(0u32..8),
            data in proptest::collection::vec(any::<u8>(), 0..600),
            use_small in any::<bool>(),
        ) {
            let dims = if use_small { small } else { dims };
            let mut bytes = IMAGES_MAGIC.to_be_bytes().to_vec();
            for d in dims {
                bytes.extend(d.to_be_bytes());
            }
            bytes.extend(&data);
            let expected = dims.iter().map(|&d| d as u128).product::<u128>();
            match parse_images(&bytes, Path::new("x")) {
                Ok(images) => prop_assert_eq!(images.pixels.len() as u128, expected),
                Err(_) => prop_assert_ne!(data.len() as u128, expected),
            }
        }
    }

    fn images_file(count: u32, rows: u32, cols: u32, data: &[u8]) -> Vec<u8> {
        let mut bytes = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [count, rows, cols] {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(data);
        bytes
    }

    #[test]
    fn parses_a_well_formed_image_file() {
        let data: Vec<u8> = (0..2 * 3 * 4).collect();
        let parsed = parse_images(&images_file(2, 3, 4, &data), Path::new("x")).unwrap();
        assert_eq!((parsed.count, parsed.rows, parsed.cols), (2, 3, 4));
        assert_eq!(parsed.pixels, data);
    }

    #[test]
    fn reports_truncation_and_trailing_bytes() {
        let short = images_file(2, 3, 4, &[0; 23]);
        let err = parse_images(&short, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated") && err.contains("file length"),
            "{err}"
        );
        let long = images_file(2, 3, 4, &[0; 25]);
        let err = parse_images(&long, Path::new("x")).unwrap_err().to_string();
        assert!(err.contains("trailing data"), "{err}");
    }

    #[test]
    fn a_huge_declared_count_is_an_error_not_an_overflow() {
        let bytes = images_file(u32::MAX, u32::MAX, u32::MAX, &[]);
        assert!(parse_images(&bytes, Path::new("x")).is_err());
    }
}
