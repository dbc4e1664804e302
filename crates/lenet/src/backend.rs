//! Backend selection: the one place that turns a backend name into a burn [`Device`].
//!
//! Each backend is a cargo feature of this crate (all on by default); a backend that was not
//! compiled in is still a valid name, and asking for its device says how to build it.

use std::fmt;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{LenetError, Result};

/// The backends this project runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-ndarray, the CPU backend of the paper-era code (deprecated in burn 0.22).
    Ndarray,
    /// burn-flex, burn 0.22's pure-Rust CPU backend.
    Flex,
    /// wgpu, the GPU path (runs on any Vulkan/Metal/DX12 driver, lavapipe included).
    Wgpu,
}

impl Backend {
    /// All backends, in the order the CLI lists them.
    pub const ALL: [Backend; 3] = [Backend::Ndarray, Backend::Flex, Backend::Wgpu];

    /// The backend's name on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Whether this build contains the backend (its cargo feature was on).
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The device that runs this backend (without autodiff).
    pub fn device(self) -> Result<Device> {
        match self {
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // still offered: users of the paper-era code ask for it
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            backend => Err(LenetError::BackendNotCompiled(backend)),
        }
    }

    /// Whether the network's passes run on the CPU through [`crate::fused`] on this backend
    /// (the CPU backends), rather than as burn's composed tensor operations.
    pub fn has_fused_path(self) -> bool {
        matches!(self, Backend::Ndarray | Backend::Flex)
    }
}

impl Default for Backend {
    /// flex when compiled in, else the first backend that is.
    fn default() -> Self {
        [Backend::Flex, Backend::Ndarray, Backend::Wgpu]
            .into_iter()
            .find(|b| b.is_compiled())
            .unwrap_or(Backend::Flex)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `device` (with or without autodiff) runs on a CPU backend, where [`crate::fused`]
/// computes the network's passes.
pub fn has_fused_path(device: &Device) -> bool {
    let device = device.clone().without_autodiff();
    [Backend::Ndarray, Backend::Flex]
        .into_iter()
        .any(|b| b.device().is_ok_and(|d| d == device))
}
