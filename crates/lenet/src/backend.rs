//! Backend selection: the one place that turns a backend name into a burn [`Device`].

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

use crate::error::LenetError;

/// The backends this project runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    /// The device that runs this backend (without autodiff).
    pub fn device(self) -> Device {
        match self {
            #[allow(deprecated)] // still offered: users of the paper-era code ask for it
            Backend::Ndarray => Device::ndarray(),
            Backend::Flex => Device::flex(),
            Backend::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
        }
    }
}

impl FromStr for Backend {
    type Err = LenetError;

    fn from_str(s: &str) -> Result<Self, LenetError> {
        Backend::ALL
            .into_iter()
            .find(|b| b.to_string() == s.to_ascii_lowercase())
            .ok_or_else(|| LenetError::UnknownBackend(s.to_string()))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Ndarray => "ndarray",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
        })
    }
}
