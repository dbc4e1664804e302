//! Backend selection: the one place that turns a backend name into a burn [`Device`].
//!
//! Each backend is a cargo feature of this crate (all on by default); a backend that was not
//! compiled in is still a valid name, and asking for its device says how to build it.

use std::fmt;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compute::Compute;
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
            Backend::Wgpu => wgpu::device(),
            #[allow(unreachable_patterns)]
            backend => Err(LenetError::BackendNotCompiled(backend.name())),
        }
    }

    /// How the network's passes are computed on this backend: on the CPU backends by
    /// `crate::fused`, elsewhere by burn's composed operations. The one place the path is
    /// chosen.
    pub fn compute(self) -> Compute {
        match self {
            Backend::Ndarray | Backend::Flex => Compute::Fused,
            Backend::Wgpu => Compute::Composed,
        }
    }

    /// The backend `device` (with or without autodiff) belongs to, among those compiled in
    /// whose device has been asked for or needs no set-up (`None` for another device).
    pub fn of(device: &Device) -> Option<Self> {
        let device = device.clone().without_autodiff();
        let cpu = [Backend::Ndarray, Backend::Flex]
            .into_iter()
            .find(|b| b.device().is_ok_and(|d| d == device));
        cpu.or_else(|| {
            #[cfg(feature = "wgpu")]
            if let Some(Ok((wgpu, _))) = wgpu::RUNTIME.get()
                && *wgpu == device
            {
                return Some(Backend::Wgpu);
            }
            None
        })
    }
}

/// The adapter (a GPU, or a software renderer) the wgpu backend runs on, as wgpu reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adapter {
    /// The adapter's name (`NVIDIA H200`, `llvmpipe (LLVM 15.0.6, 256 bits)`, ...).
    pub name: String,
    /// The graphics API (Vulkan, Metal, Dx12, Gl).
    pub api: String,
    /// wgpu's device type: DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu or Other.
    pub kind: String,
}

impl Adapter {
    /// Whether it renders on the CPU (Mesa's lavapipe or llvmpipe, say): correct but slow.
    pub fn is_software(&self) -> bool {
        self.kind == "Cpu"
    }
}

impl fmt::Display for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.api, self.kind)?;
        if self.is_software() {
            f.write_str(": a software renderer on the CPU, correct but slow")?;
        }
        Ok(())
    }
}

/// The adapter wgpu runs on, once the wgpu backend's device was asked for.
pub fn wgpu_adapter() -> Option<Adapter> {
    #[cfg(feature = "wgpu")]
    if let Some(Ok((_, adapter))) = wgpu::RUNTIME.get() {
        return Some(adapter.clone());
    }
    None
}

#[cfg(feature = "wgpu")]
mod wgpu {
    use std::sync::OnceLock;

    use burn::prelude::Device;

    use super::Adapter;
    use crate::error::{LenetError, Result};

    /// The wgpu device and its adapter, initialised once (burn's wgpu runtime cannot be
    /// initialised twice), or why there is none.
    pub(super) static RUNTIME: OnceLock<std::result::Result<(Device, Adapter), String>> =
        OnceLock::new();

    /// burn's wgpu runtime on the default adapter, brought up here (not lazily at the first
    /// tensor) so that the adapter is known, and a machine without one fails at once.
    pub(super) fn device() -> Result<Device> {
        let runtime = RUNTIME.get_or_init(|| {
            let (device, setup) = Device::wgpu_options()
                .init_with_setup()
                .map_err(|e| e.to_string())?;
            let info = setup.adapter.get_info();
            let adapter = Adapter {
                name: info.name,
                api: format!("{:?}", info.backend),
                kind: format!("{:?}", info.device_type),
            };
            Ok((device, adapter))
        });
        match runtime {
            Ok((device, _)) => Ok(device.clone()),
            Err(reason) => Err(LenetError::NoAdapter(reason.clone())),
        }
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

/// How the network's passes are computed on `device` (with or without autodiff): its backend's
/// [`Backend::compute`], burn's composed operations on any other device.
pub fn compute_for(device: &Device) -> Compute {
    Backend::of(device).map_or(Compute::Composed, Backend::compute)
}
