//! The hibernation cycle's switches on the kernel command line
//! (`cycles=N`, `hibernate-cold`, the debug switches that prove the
//! checker and the boot kernel's refusals, and the power cut).

use super::power_cut::CutPoint;
use crate::Kernel;

/// What the command line asks for.
#[derive(Clone, Copy, Debug)]
pub(super) struct Options {
    /// Hibernate cycles before powering off.
    pub(super) cycles: u32,
    /// Power off after writing the image instead of resetting.
    pub(super) cold: bool,
    /// The boot kernel skips its save hook (to prove the checker).
    pub(super) no_teardown: bool,
    /// The image kernel corrupts the image it wrote (to prove the boot
    /// kernel refuses it); the kernel that refused it then powers off.
    pub(super) corrupt: bool,
    /// The boot kernel treats its ITS save hook as failed (to prove that it
    /// then does not jump).
    pub(super) fail_boot_save: bool,
    /// The power is cut while the image is written (`power_cut.rs`).
    pub(super) power_cut: Option<CutPoint>,
}

impl Options {
    pub(super) fn from_args(kernel: &Kernel) -> Self {
        let value = |key: &str| {
            kernel
                .platform
                .bootargs
                .split_whitespace()
                .find_map(|arg| arg.strip_prefix(key)?.parse().ok())
        };
        Self {
            cycles: value("cycles=").unwrap_or(1),
            cold: kernel.platform.has_arg("hibernate-cold"),
            no_teardown: kernel.platform.has_arg("hibernate-no-teardown"),
            corrupt: kernel.platform.has_arg("hibernate-corrupt-image"),
            fail_boot_save: kernel.platform.has_arg("hibernate-fail-boot-save"),
            power_cut: kernel
                .platform
                .bootargs
                .split_whitespace()
                .find_map(|arg| CutPoint::parse(arg.strip_prefix("hibernate-power-cut=")?)),
        }
    }
}
