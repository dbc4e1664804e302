//! Downloading MNIST when no `--data-dir` is given: the four gzipped IDX files from the CVDF
//! mirror (the one burn-dataset's `MnistDataset` uses), cached in the user's cache folder.
//!
//! burn-dataset's own downloader panics on any network error and pulls in the `image` crate's
//! AVIF/EXR codecs through its `vision` feature; this uses the same HTTP client (reqwest, with
//! rustls and its `ring` provider) directly, so a failure is an error the user can act on.

use std::path::{Path, PathBuf};

use super::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
use crate::atomic::write_bytes_atomically;
use crate::error::{LenetError, Result};

/// Where the files are fetched from (`{URL}{name}.gz`).
const URL: &str = "https://storage.googleapis.com/cvdf-datasets/mnist/";

/// `$XDG_CACHE_HOME/lenet-burn/mnist`, else `$HOME/.cache/lenet-burn/mnist`, created if needed.
pub fn mnist_cache_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| LenetError::Download {
            what: "neither XDG_CACHE_HOME nor HOME is set, so there is no cache folder".into(),
            source: None,
        })?;
    let dir = base.join("lenet-burn").join("mnist");
    std::fs::create_dir_all(&dir).map_err(|e| LenetError::io(&dir, e))?;
    Ok(dir)
}

/// Downloads each of the four files that `dir` lacks (as `NAME.gz`, written atomically).
pub fn fetch_missing(dir: &Path) -> Result<()> {
    let missing: Vec<&str> = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
        .into_iter()
        .filter(|name| !dir.join(name).exists() && !dir.join(format!("{name}.gz")).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LenetError::io(dir, e))?;
    // rustls' `ring` provider (the workspace's Cargo.toml says why not aws-lc-rs); an error
    // here only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    for name in missing {
        let url = format!("{URL}{name}.gz");
        eprintln!("downloading {url}");
        let bytes = runtime
            .block_on(async {
                client
                    .get(&url)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await
            })
            .map_err(|e| LenetError::Download {
                what: url.clone(),
                source: Some(e),
            })?;
        let path = dir.join(format!("{name}.gz"));
        write_bytes_atomically(&path, &bytes).map_err(|e| LenetError::io(&path, e))?;
    }
    Ok(())
}
