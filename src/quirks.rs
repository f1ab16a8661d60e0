//! Implementations that depart from what their registers say, and what the
//! driver does about each. Two kinds:
//!
//! - errata of an implementation, recognised by GITS_IIDR (at probe) or
//!   GICR_IIDR (when a redistributor is initialised): [`ITS_ERRATA`],
//!   [`REDISTRIBUTOR_ERRATA`];
//! - errata of a platform, which integrates an implementation whose IIDR
//!   many other platforms share (Arm's GIC-600 reports 0x0201743b on
//!   servers and on Rockchip SoCs alike): only the caller knows the
//!   machine, so it names it ([`QuirkOverrides::for_machine`], from the
//!   device tree root's `compatible` strings, [`PLATFORM_ERRATA`]). Like
//!   Linux, the driver never applies them on an IIDR match alone.
//!
//! The caller can also force a quirk it learnt elsewhere (a
//! `dma-noncoherent` property on the GIC or ITS node of the device tree) or
//! ignore one it knows does not apply ([`QuirkOverrides`]).
//!
//! Each entry below is a fact about the hardware (from the vendors' errata
//! and from which workarounds other kernels apply), not code from elsewhere.

use bitflags::bitflags;

bitflags! {
    /// Ways an implementation departs from its registers.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Quirks: u32 {
        /// The GIC does not snoop the CPU's caches even though its base
        /// registers accept shareable, cacheable attributes: the ITS tables,
        /// the command queue, the ITTs and the LPI tables are programmed
        /// non-shareable and non-cacheable, and the CPU cleans every write
        /// to the Point of Coherency.
        const NON_COHERENT = 1 << 0;
        /// Each ITT entry takes 16 bytes, whatever GITS_TYPER.ITT_entry_size
        /// says: ITTs sized from GITS_TYPER would be overrun.
        const ITT_ENTRY_16_BYTES = 1 << 1;
        /// DeviceIDs have at most 20 bits, whatever GITS_TYPER.Devbits says.
        const DEVICE_ID_20_BITS = 1 << 2;
        /// The GIC cannot reach memory at or above 4 GiB: every table, queue
        /// and ITT must lie below it (memory above is refused with
        /// [`crate::ItsError::UnencodableAddress`]).
        const BELOW_4GIB = 1 << 3;
        /// The redistributor is powered down until software powers it up
        /// through GICR_PWRR (implementation defined, at RD_base + 0x24).
        const REDISTRIBUTOR_POWER = 1 << 4;
        /// A SYNC to a redistributor on another NUMA node than the ITS
        /// hangs the ITS (Cavium ThunderX erratum 23144), so the ITS's
        /// collections must stay on CPUs of its own node. The driver never
        /// chooses a collection's CPU (the caller does, in
        /// [`crate::Its::map_collection`] and the moves), and the NUMA
        /// topology is the caller's knowledge (the device tree's
        /// `numa-node-id`), so it reports this quirk in
        /// [`crate::ItsFeatures::quirks`] for the caller to honour.
        const NODE_LOCAL_COLLECTIONS = 1 << 5;
    }
}

/// A known implementation: which IIDR values it has and what it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Erratum {
    /// The vendor's name for it.
    pub name: &'static str,
    /// The IIDR value, compared under `mask`.
    pub iidr: u32,
    /// The IIDR bits that identify it.
    pub mask: u32,
    /// What it needs.
    pub quirks: Quirks,
}

impl Erratum {
    /// Whether `iidr` is this implementation.
    pub const fn matches(&self, iidr: u32) -> bool {
        iidr & self.mask == self.iidr
    }
}

/// ITSes with known errata, keyed by GITS_IIDR.
pub const ITS_ERRATA: &[Erratum] = &[
    Erratum {
        // ThunderX pass 1: Devbits over-reported (22375); the ITS ignores
        // the memory attributes of its tables (24313); a SYNC across NUMA
        // nodes hangs (23144).
        name: "Cavium ThunderX errata 22375, 23144 and 24313",
        iidr: 0xa100_034c,
        mask: 0xffff_0fff,
        quirks: Quirks::DEVICE_ID_20_BITS
            .union(Quirks::NON_COHERENT)
            .union(Quirks::NODE_LOCAL_COLLECTIONS),
    },
    Erratum {
        name: "Qualcomm QDF2400 erratum 0065",
        iidr: 0x0000_1070,
        mask: 0xffff_ffff,
        quirks: Quirks::ITT_ENTRY_16_BYTES,
    },
];

/// Redistributors with known needs, keyed by GICR_IIDR.
pub const REDISTRIBUTOR_ERRATA: &[Erratum] = &[
    Erratum {
        name: "Arm GIC-600 redistributor power",
        iidr: 0x0200_043b,
        mask: 0xff00_0fff,
        quirks: Quirks::REDISTRIBUTOR_POWER,
    },
    Erratum {
        name: "Arm GIC-600AE redistributor power",
        iidr: 0x0300_043b,
        mask: 0xff00_0fff,
        quirks: Quirks::REDISTRIBUTOR_POWER,
    },
    Erratum {
        name: "Arm GIC-700 redistributor power",
        iidr: 0x0400_043b,
        mask: 0xff00_0fff,
        quirks: Quirks::REDISTRIBUTOR_POWER,
    },
];

/// A platform that integrates a GIC with errata of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformErratum {
    /// The vendor's name for it.
    pub name: &'static str,
    /// Machine `compatible` strings (the device tree root's) that have it:
    /// any one of them is enough.
    pub compatibles: &'static [&'static str],
    /// What it needs, on the ITS and the redistributors alike.
    pub quirks: Quirks,
}

/// Platforms with known errata, keyed by the machine's compatible strings.
/// Both Rockchip SoCs integrate Arm's GIC-600 r1p6 (GITS_IIDR 0x0201743b),
/// which reports nothing of either.
pub const PLATFORM_ERRATA: &[PlatformErratum] = &[
    PlatformErratum {
        // Shareable attributes are accepted but do not work: neither the
        // ITS nor the redistributors snoop.
        name: "Rockchip RK3588 erratum 3588001",
        compatibles: &["rockchip,rk3588", "rockchip,rk3588s"],
        quirks: Quirks::NON_COHERENT,
    },
    PlatformErratum {
        // The GIC's accesses carry 32 address bits: every table, ITT and
        // the command queue must lie below 4 GiB. Its GIC-600 does not
        // snoop either: the device tree marks its GIC and ITS nodes
        // dma-noncoherent, as Linux's rk356x-base.dtsi does.
        name: "Rockchip RK3568 erratum 3568002",
        compatibles: &["rockchip,rk3566", "rockchip,rk3568"],
        quirks: Quirks::BELOW_4GIB.union(Quirks::NON_COHERENT),
    },
];

/// The quirks [`PLATFORM_ERRATA`] names for a machine whose device tree
/// root lists `compatibles`.
pub fn platform_quirks<'a>(compatibles: impl IntoIterator<Item = &'a str>) -> Quirks {
    compatibles
        .into_iter()
        .flat_map(|machine| {
            PLATFORM_ERRATA
                .iter()
                .filter(move |erratum| erratum.compatibles.contains(&machine))
        })
        .fold(Quirks::empty(), |all, erratum| all | erratum.quirks)
}

/// What the caller knows better than the IIDR table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuirkOverrides {
    /// Quirks that apply whatever the IIDR says (for example
    /// [`Quirks::NON_COHERENT`] for a `dma-noncoherent` node).
    pub force: Quirks,
    /// Known quirks that do not apply to this system.
    pub ignore: Quirks,
}

impl QuirkOverrides {
    /// Forces the quirks of the platform whose device tree root lists
    /// `compatibles` ([`platform_quirks`]): give the result to both
    /// [`crate::ItsConfig::quirks`] and [`crate::LpiDomainConfig::quirks`].
    ///
    /// ```
    /// use gicv3_its::quirks::{QuirkOverrides, Quirks};
    ///
    /// let rock5b = QuirkOverrides::for_machine(["radxa,rock-5b", "rockchip,rk3588"]);
    /// assert_eq!(rock5b.force, Quirks::NON_COHERENT);
    /// assert_eq!(QuirkOverrides::for_machine(["arm,neoverse-n2"]).force, Quirks::empty());
    /// ```
    pub fn for_machine<'a>(compatibles: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            force: platform_quirks(compatibles),
            ignore: Quirks::empty(),
        }
    }

    /// The quirks in force for `iidr` given `errata`.
    pub fn resolve(self, errata: &[Erratum], iidr: u32) -> Quirks {
        let found = errata
            .iter()
            .filter(|erratum| erratum.matches(iidr))
            .fold(Quirks::empty(), |all, erratum| all | erratum.quirks);
        (found | self.force) - self.ignore
    }
}

/// Whether `len` bytes at `phys` lie where a GIC with `quirks` can reach.
pub(crate) fn reachable(quirks: Quirks, phys: u64, len: usize) -> bool {
    !quirks.contains(Quirks::BELOW_4GIB)
        || phys
            .checked_add(len as u64)
            .is_some_and(|end| end <= 1 << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GITS_IIDR and GICR_IIDR of Arm's GIC-600 r1p6, as servers and the
    /// Rockchip RK3588 and RK3568 all report it.
    const GIC600_R1P6: u32 = 0x0201_743b;

    #[test]
    fn two_errata_of_one_implementation_may_name_the_same_quirk() {
        // As a GIC-600 integrated by a vendor matches both the vendor's
        // entry and Arm's.
        let erratum = |name, iidr, mask| Erratum {
            name,
            iidr,
            mask,
            quirks: Quirks::NON_COHERENT,
        };
        let errata = [
            erratum("vendor", 0x0201_743b, 0xffff_ffff),
            erratum("arm", 0x0200_043b, 0xff00_0fff),
        ];
        let none = QuirkOverrides::default();
        assert_eq!(none.resolve(&errata, 0x0201_743b), Quirks::NON_COHERENT);
    }

    #[test]
    fn forcing_a_quirk_the_iidr_already_brings_keeps_it() {
        let force = QuirkOverrides {
            force: Quirks::ITT_ENTRY_16_BYTES,
            ignore: Quirks::empty(),
        };
        assert_eq!(
            force.resolve(ITS_ERRATA, 0x0000_1070),
            Quirks::ITT_ENTRY_16_BYTES
        );
    }

    #[test]
    fn known_iidrs_resolve_to_their_quirks() {
        let none = QuirkOverrides::default();
        // QEMU's ITS: r0p0 GIC-500 IIDR, no quirk.
        assert_eq!(none.resolve(ITS_ERRATA, 0x0000_043b), Quirks::empty());
        assert_eq!(
            none.resolve(ITS_ERRATA, 0x0000_1070),
            Quirks::ITT_ENTRY_16_BYTES
        );
        // Any revision of the ThunderX ITS (bits [15:12] masked).
        assert_eq!(
            none.resolve(ITS_ERRATA, 0xa100_a34c),
            Quirks::DEVICE_ID_20_BITS | Quirks::NON_COHERENT | Quirks::NODE_LOCAL_COLLECTIONS
        );
        // Any GIC-600 redistributor needs powering up.
        assert_eq!(
            none.resolve(REDISTRIBUTOR_ERRATA, 0x0200_143b),
            Quirks::REDISTRIBUTOR_POWER
        );
        assert_eq!(
            none.resolve(REDISTRIBUTOR_ERRATA, 0x0000_043b),
            Quirks::empty()
        );
    }

    #[test]
    fn a_gic600_alone_is_no_rockchip() {
        // The IIDR the RK3588 and RK3568 report is Arm's: a server's
        // GIC-600 reports it too, and needs neither quirk.
        let none = QuirkOverrides::default();
        assert_eq!(none.resolve(ITS_ERRATA, GIC600_R1P6), Quirks::empty());
        assert_eq!(
            none.resolve(REDISTRIBUTOR_ERRATA, GIC600_R1P6),
            Quirks::REDISTRIBUTOR_POWER
        );
    }

    #[test]
    fn platform_quirks_come_from_the_machine_compatibles() {
        for (compatibles, quirks) in [
            (&["rockchip,rk3588"][..], Quirks::NON_COHERENT),
            (
                &["friendlyarm,nanopi-r6s", "rockchip,rk3588s"],
                Quirks::NON_COHERENT,
            ),
            (
                &["rockchip,rk3566"],
                Quirks::BELOW_4GIB | Quirks::NON_COHERENT,
            ),
            (
                &["pine64,quartz64-a", "rockchip,rk3568"],
                Quirks::BELOW_4GIB | Quirks::NON_COHERENT,
            ),
            (&["rockchip,rk3399"], Quirks::empty()),
            // The same platform named twice keeps its quirks.
            (
                &["rockchip,rk3588s", "rockchip,rk3588"],
                Quirks::NON_COHERENT,
            ),
            (&["linux,dummy-virt"], Quirks::empty()),
            (&[], Quirks::empty()),
        ] {
            assert_eq!(
                platform_quirks(compatibles.iter().copied()),
                quirks,
                "{compatibles:?}"
            );
            let overrides = QuirkOverrides::for_machine(compatibles.iter().copied());
            assert_eq!(
                (overrides.force, overrides.ignore),
                (quirks, Quirks::empty())
            );
        }
    }

    #[test]
    fn the_caller_forces_and_ignores() {
        let overrides = QuirkOverrides {
            force: Quirks::NON_COHERENT,
            ignore: Quirks::DEVICE_ID_20_BITS,
        };
        assert_eq!(
            overrides.resolve(ITS_ERRATA, 0x0000_043b),
            Quirks::NON_COHERENT
        );
        assert_eq!(
            overrides.resolve(ITS_ERRATA, 0xa100_034c),
            Quirks::NON_COHERENT | Quirks::NODE_LOCAL_COLLECTIONS
        );
    }

    #[test]
    fn reach_below_4gib() {
        assert!(reachable(Quirks::empty(), 0x1_0000_0000, 4096));
        assert!(reachable(Quirks::BELOW_4GIB, 0xffff_f000, 4096));
        assert!(!reachable(Quirks::BELOW_4GIB, 0xffff_f000, 4097));
        assert!(!reachable(Quirks::BELOW_4GIB, u64::MAX, 1));
    }
}
