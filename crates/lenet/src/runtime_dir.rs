//! `XDG_RUNTIME_DIR` for the wgpu backend's drivers: no false "error" where it is unset.
//!
//! When wgpu starts, Mesa's Vulkan drivers (the device-select layer in front of lavapipe, say)
//! connect to a Wayland display, and libwayland needs `XDG_RUNTIME_DIR` for that. Where the
//! variable is unset (ssh sessions, containers, CI) libwayland prints "error: XDG_RUNTIME_DIR is
//! invalid or not set in the environment." a few times, which reads like this program's own
//! failure although nothing failed. [`give_wgpu_a_runtime_dir`] sets it to a private folder
//! first, as desktop toolkits do where it is missing (Qt's `/tmp/runtime-$USER`).
//!
//! Why the program restarts itself: the variable must be in the environment the drivers read,
//! and `std::env::set_var` is `unsafe` (another thread may read the environment meanwhile),
//! which this workspace forbids. So the program replaces itself (`exec`: the same process,
//! arguments and standard streams) with the variable set, once, first thing in `main`, before
//! any thread is started or any file written.

/// Where `XDG_RUNTIME_DIR` is unset or not an absolute path to a folder (what libwayland
/// requires), restarts the program with it set to a private folder,
/// `$TMPDIR/lenet-burn-runtime-UID` (mode 0700, owned by the user). Call it first in `main`.
/// Does nothing in a build without the wgpu backend, off Linux, where the variable is usable,
/// or where no private folder can be had (the drivers then print their line, as before).
pub fn give_wgpu_a_runtime_dir() {
    #[cfg(all(target_os = "linux", feature = "wgpu"))]
    linux::restart_with_private_dir();
}

/// Whether `value` is a usable `XDG_RUNTIME_DIR`: an absolute path to an existing folder.
pub fn is_usable(value: Option<&std::ffi::OsStr>) -> bool {
    value
        .map(std::path::Path::new)
        .is_some_and(|path| path.is_absolute() && path.is_dir())
}

#[cfg(all(target_os = "linux", feature = "wgpu"))]
mod linux {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::Command;

    const VARIABLE: &str = "XDG_RUNTIME_DIR";

    pub(super) fn restart_with_private_dir() {
        let current = std::env::var_os(VARIABLE);
        if super::is_usable(current.as_deref()) {
            return;
        }
        let (Some(dir), Ok(program)) = (private_dir(), std::env::current_exe()) else {
            return;
        };
        let mut args = std::env::args_os();
        let Some(arg0) = args.next() else {
            return;
        };
        // Returns only when the restart failed: the program goes on without the variable.
        let _failed = Command::new(program)
            .arg0(arg0)
            .args(args)
            .env(VARIABLE, dir)
            .exec();
    }

    /// `$TMPDIR/lenet-burn-runtime-UID`, created with mode 0700 if absent, and only if it is a
    /// folder (not a link) of this user that nobody else may enter.
    fn private_dir() -> Option<PathBuf> {
        // The user's id without libc: `/proc/self` belongs to the process's user.
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let dir = std::env::temp_dir().join(format!("lenet-burn-runtime-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let meta = std::fs::symlink_metadata(&dir).ok()?;
        let private = meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0;
        private.then_some(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_absolute_path_to_a_folder_is_usable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let missing = dir.path().join("missing");
        assert!(is_usable(Some(dir.path().as_os_str())));
        for unusable in [
            None,
            Some(std::ffi::OsStr::new("")),
            Some(std::ffi::OsStr::new("relative/dir")),
            Some(file.as_os_str()),
            Some(missing.as_os_str()),
        ] {
            assert!(!is_usable(unusable), "{unusable:?}");
        }
    }
}
