//! The files the program reads and writes, checked before a byte moves.
//!
//! - An **input** must be a regular file no larger than its kind allows ([`Input`]): a FIFO
//!   would block forever, `/dev/zero` never ends, a 3 GB "image" would fill the memory. It is
//!   checked by its path before it is opened (opening a FIFO already blocks), and again on the
//!   opened file, and read no further than its bound.
//! - An **output** ([`write_output`]) is one of: standard output (`-`); a stream the user named
//!   (a device such as `/dev/null`, a FIFO), written straight into, never replaced; a new file;
//!   or an existing regular file, replaced only with `--force`. Files are written crash-safe
//!   ([`crate::atomic`]), so an interrupted write leaves the previous file and no temporary one.
//!   A symbolic link or a folder in the way is refused: replacing a link would cut it, and
//!   writing through it would change a file the user did not name.

use std::fs::{File, Metadata};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{LenetError, Result};

/// A kind of input file and the largest such file the program reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    /// What the file should be, for messages ("an image").
    pub what: &'static str,
    /// Its largest accepted size in bytes.
    pub max_bytes: u64,
}

/// An image to classify: a phone's photo is a few MB, a 4096x4096 PNG scan at most ~50 MB.
pub const IMAGE: Input = Input {
    what: "an image",
    max_bytes: 64 << 20,
};
/// A weight file: this network's are a few KB; another app's checkpoint may hold more tensors.
pub const WEIGHTS: Input = Input {
    what: "a weight file",
    max_bytes: 1 << 30,
};
/// An MNIST IDX file, raw or gzipped (MNIST's largest is 47 MB, EMNIST's about 700 MB).
pub const IDX: Input = Input {
    what: "an IDX data file",
    max_bytes: idx::MAX_DECOMPRESSED,
};
/// An ONNX model (this network's is a few KB).
pub const ONNX: Input = Input {
    what: "an ONNX model",
    max_bytes: 256 << 20,
};
/// A JSON or text file the program wrote itself (`config.json`, a checksum).
pub const SMALL_TEXT: Input = Input {
    what: "a small text file (JSON or a checksum)",
    max_bytes: 1 << 20,
};

/// Says what a file that is not a regular one is ("a folder", "a FIFO", ...).
fn kind_of(metadata: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if metadata.is_dir() {
        "a folder"
    } else if metadata.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Whether `metadata` is a stream an output may be written straight into (a device, a FIFO, a
/// socket: what `> /dev/null` or a shell's process substitution gives).
fn is_stream(metadata: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        kind.is_fifo() || kind.is_char_device() || kind.is_socket()
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        false
    }
}

/// The refusal of an input `path`: `reason`, and what was expected.
fn refused(path: &Path, input: Input, reason: String) -> LenetError {
    LenetError::Input {
        path: path.to_path_buf(),
        reason,
        expected: format!("{} of at most {}", input.what, size(input.max_bytes)),
    }
}

/// `bytes` in the largest whole binary unit.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

/// Checks that `metadata` (of `path`) is a regular file within `input`'s bound.
fn check_metadata(path: &Path, input: Input, metadata: &Metadata) -> Result<()> {
    if !metadata.is_file() {
        return Err(refused(
            path,
            input,
            format!("{}, not a regular file", kind_of(metadata)),
        ));
    }
    if metadata.len() > input.max_bytes {
        return Err(refused(
            path,
            input,
            format!("{} bytes, too large", metadata.len()),
        ));
    }
    Ok(())
}

/// Checks, without opening it, that `path` is a regular file (symbolic links followed) within
/// `input`'s bound; for readers that open the file themselves (burn-store's).
pub fn check_input(path: &Path, input: Input) -> Result<()> {
    let metadata = std::fs::metadata(path).map_err(|e| LenetError::io(path, e))?;
    check_metadata(path, input, &metadata)
}

/// Opens `path` for reading after [`check_input`], and checks the opened file again (it may
/// have been replaced in between).
pub fn open_input(path: &Path, input: Input) -> Result<File> {
    check_input(path, input)?;
    let file = File::open(path).map_err(|e| LenetError::io(path, e))?;
    let metadata = file.metadata().map_err(|e| LenetError::io(path, e))?;
    check_metadata(path, input, &metadata)?;
    Ok(file)
}

/// Reads the whole of `path` after [`open_input`], never more than `input`'s bound (a file
/// growing while it is read stops there).
pub fn read_input(path: &Path, input: Input) -> Result<Vec<u8>> {
    let file = open_input(path, input)?;
    let mut bytes = Vec::new();
    file.take(input.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LenetError::io(path, e))?;
    if bytes.len() as u64 > input.max_bytes {
        return Err(refused(path, input, "grew too large while read".into()));
    }
    Ok(bytes)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_to_string(path: &Path, input: Input) -> Result<String> {
    String::from_utf8(read_input(path, input)?).map_err(|_| {
        refused(
            path,
            input,
            "not UTF-8 text (a binary file under a text file's name?)".into(),
        )
    })
}

/// The path meaning standard output in `--out`, `--csv` and `export`'s arguments.
pub const STDOUT: &str = "-";

/// Where an output goes, decided by [`destination`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (the path was `-`).
    Stdout,
    /// A device, FIFO or socket the user named: written into, never replaced.
    Stream(PathBuf),
    /// A regular file, written crash-safe; `replaces` when one is there already.
    File {
        /// The file.
        path: PathBuf,
        /// Whether it replaces an existing file (allowed by `force`).
        replaces: bool,
    },
}

impl Destination {
    /// Whether the output goes to standard output (where messages must then not go).
    pub fn is_stdout(&self) -> bool {
        *self == Self::Stdout
    }
}

/// Decides where an output named `path` goes, refusing what it must not touch: a folder, a
/// symbolic link, an existing file without `force`.
pub fn destination(path: &Path, force: bool) -> Result<Destination> {
    if path.as_os_str() == STDOUT {
        return Ok(Destination::Stdout);
    }
    let refuse = |reason: String| LenetError::Output {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Destination::File {
                path: path.to_path_buf(),
                replaces: false,
            });
        }
        Err(e) => return Err(LenetError::io(path, e)),
    };
    if metadata.is_symlink() {
        // A link to a stream (`/dev/stdout` -> /proc/self/fd/1) is written through, as a shell
        // would; a link to a file would be cut by the replacement, or change a file unnamed.
        return match std::fs::metadata(path) {
            Ok(target) if is_stream(&target) => Ok(Destination::Stream(path.to_path_buf())),
            _ => Err(refuse(
                "a symbolic link: it is neither replaced nor followed; name the file itself".into(),
            )),
        };
    }
    if is_stream(&metadata) {
        return Ok(Destination::Stream(path.to_path_buf()));
    }
    if !metadata.is_file() {
        return Err(refuse(format!(
            "{}: outputs are written as files; name a file inside it",
            kind_of(&metadata)
        )));
    }
    if !force {
        return Err(refuse(
            "exists; pass --force to replace it, or choose another name".into(),
        ));
    }
    Ok(Destination::File {
        path: path.to_path_buf(),
        replaces: true,
    })
}

/// Writes `bytes` where [`destination`] says `path` goes: standard output, into a stream, or
/// as a file written crash-safe. Returns where it went.
pub fn write_output(path: &Path, bytes: &[u8], force: bool) -> Result<Destination> {
    let destination = destination(path, force)?;
    let failed = |source| LenetError::Write {
        path: path.to_path_buf(),
        source,
    };
    match &destination {
        Destination::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Destination::Stream(path) => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut stream| stream.write_all(bytes).and_then(|()| stream.flush())),
        Destination::File { path, .. } => crate::atomic::write_bytes_atomically(path, bytes),
    }
    .map_err(failed)?;
    Ok(destination)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_that_are_not_regular_files_or_too_large_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let folder = refused_reason(dir.path(), IMAGE);
        assert!(folder.contains("a folder, not a regular file"), "{folder}");
        let zero = refused_reason(Path::new("/dev/zero"), IMAGE);
        assert!(
            zero.contains("/dev/zero: a character device")
                && zero.contains("an image of at most 64 MiB"),
            "{zero}"
        );
        let big = dir.path().join("big.png");
        File::create(&big)
            .unwrap()
            .set_len(IMAGE.max_bytes + 1)
            .unwrap();
        assert!(refused_reason(&big, IMAGE).contains("too large"));
        let small = dir.path().join("small.json");
        std::fs::write(&small, "{}").unwrap();
        assert_eq!(read_input_to_string(&small, SMALL_TEXT).unwrap(), "{}");
    }

    fn refused_reason(path: &Path, input: Input) -> String {
        read_input(path, input).unwrap_err().to_string()
    }

    #[test]
    fn outputs_replace_only_regular_files_and_only_when_forced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.bpk");
        assert!(matches!(
            write_output(&file, b"one", false).unwrap(),
            Destination::File {
                replaces: false,
                ..
            }
        ));
        let refused = write_output(&file, b"two", false).unwrap_err().to_string();
        assert!(refused.contains("--force"), "{refused}");
        assert_eq!(std::fs::read(&file).unwrap(), b"one");
        write_output(&file, b"two", true).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");

        let folder = write_output(dir.path(), b"x", true)
            .unwrap_err()
            .to_string();
        assert!(folder.contains("a folder"), "{folder}");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.bpk");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            let refused = write_output(&link, b"three", true).unwrap_err().to_string();
            assert!(refused.contains("symbolic link"), "{refused}");
            assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
            assert_eq!(std::fs::read(&file).unwrap(), b"two");
            // A device is written into, and stays a device.
            assert_eq!(
                write_output(Path::new("/dev/null"), b"x", false).unwrap(),
                Destination::Stream("/dev/null".into())
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
