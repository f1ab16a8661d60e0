//! Implementations that depart from what their registers say, and what the
//! driver does about each. Known ones are recognised by GITS_IIDR (at
//! probe) or GICR_IIDR (when a redistributor is initialised); the caller can
//! force a quirk it learnt elsewhere (a `dma-noncoherent` property on the GIC
//! or ITS node of the device tree, the SoC's compatible string) or ignore
//! one it knows does not apply ([`QuirkOverrides`]).
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

/// GITS_IIDR of Arm's GIC-600 r1p6 as Rockchip integrates it on the RK3588
/// and RK3568 (ProductID 0x02, Variant 1, Revision 7, Arm 0x43b).
const ROCKCHIP_GIC600: u32 = 0x0201_743b;

/// ITSes with known errata, keyed by GITS_IIDR.
pub const ITS_ERRATA: &[Erratum] = &[
    Erratum {
        // ThunderX pass 1: Devbits over-reported (22375); the ITS ignores
        // the memory attributes of its tables (24313).
        name: "Cavium ThunderX errata 22375 and 24313",
        iidr: 0xa100_034c,
        mask: 0xffff_0fff,
        quirks: Quirks::DEVICE_ID_20_BITS.union(Quirks::NON_COHERENT),
    },
    Erratum {
        name: "Qualcomm QDF2400 erratum 0065",
        iidr: 0x0000_1070,
        mask: 0xffff_ffff,
        quirks: Quirks::ITT_ENTRY_16_BYTES,
    },
    Erratum {
        // RK3588 erratum 3588001: shareability is accepted but does not
        // work. RK3568 erratum 3568002: the GIC reaches only the low 4 GiB.
        // Both SoCs report this IIDR; applying both costs cleaning and
        // placement on other integrations of the same revision, never
        // correctness (ignore them with `QuirkOverrides::ignore`).
        name: "Rockchip GIC-600 (RK3588 erratum 3588001, RK3568 erratum 3568002)",
        iidr: ROCKCHIP_GIC600,
        mask: 0xffff_ffff,
        quirks: Quirks::NON_COHERENT.union(Quirks::BELOW_4GIB),
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
    Erratum {
        name: "Rockchip GIC-600 (RK3588 erratum 3588001, RK3568 erratum 3568002)",
        iidr: ROCKCHIP_GIC600,
        mask: 0xffff_ffff,
        quirks: Quirks::NON_COHERENT.union(Quirks::BELOW_4GIB),
    },
];

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
            Quirks::DEVICE_ID_20_BITS | Quirks::NON_COHERENT
        );
        assert_eq!(
            none.resolve(ITS_ERRATA, ROCKCHIP_GIC600),
            Quirks::NON_COHERENT | Quirks::BELOW_4GIB
        );
        // Any GIC-600 redistributor needs powering up; the Rockchip one
        // also its coherency and placement quirks.
        assert_eq!(
            none.resolve(REDISTRIBUTOR_ERRATA, 0x0200_143b),
            Quirks::REDISTRIBUTOR_POWER
        );
        assert_eq!(
            none.resolve(REDISTRIBUTOR_ERRATA, ROCKCHIP_GIC600),
            Quirks::REDISTRIBUTOR_POWER | Quirks::NON_COHERENT | Quirks::BELOW_4GIB
        );
        assert_eq!(
            none.resolve(REDISTRIBUTOR_ERRATA, 0x0000_043b),
            Quirks::empty()
        );
    }

    #[test]
    fn the_caller_forces_and_ignores() {
        let overrides = QuirkOverrides {
            force: Quirks::NON_COHERENT,
            ignore: Quirks::BELOW_4GIB,
        };
        assert_eq!(
            overrides.resolve(ITS_ERRATA, 0x0000_043b),
            Quirks::NON_COHERENT
        );
        assert_eq!(
            overrides.resolve(ITS_ERRATA, ROCKCHIP_GIC600),
            Quirks::NON_COHERENT
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
