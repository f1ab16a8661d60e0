//! Real implementations with known errata, as model configurations: each
//! reports its implementation's IIDR and behaves as its errata say, so a
//! test can show that the driver's quirk for it is needed (the same test
//! with the quirk ignored fails) and sufficient (with it, it passes).

use crate::{
    Coherency, ModelConfig, PageSizes, Placement, Quiescence, RedistributorPower, VirtualLpis,
};

/// GITS_IIDR and GICR_IIDR of Arm's GIC-600 r1p6 as Rockchip integrates it
/// on the RK3588 and the RK3568 (ProductID 0x02, Variant 1, Revision 7).
pub const ROCKCHIP_GIC600_IIDR: u32 = 0x0201_743b;
/// GITS_IIDR of Qualcomm's QDF2400 ITS.
pub const QDF2400_IIDR: u32 = 0x0000_1070;
/// GITS_IIDR of Cavium's ThunderX pass 1 ITS (Revision, bits \[15:12\],
/// varies between parts).
pub const THUNDERX_IIDR: u32 = 0xa100_034c;
/// GICR_IIDR of Arm's GIC-600 r0p0 (ProductID 0x02, Arm 0x43b).
pub const GIC600_IIDR: u32 = 0x0200_043b;
/// GITS_IIDR of KVM's emulated ITS, ABI revision 0 (ProductID 0x4b 'K').
pub const KVM_IIDR: u32 = 0x4b00_043b;
/// GITS_IIDR and GICR_IIDR of Arm's GIC-700 r0p0 (ProductID 0x04).
pub const GIC700_IIDR: u32 = 0x0400_043b;

impl ModelConfig {
    /// Rockchip RK3588 (erratum 3588001): the base registers accept
    /// shareable, cacheable attributes (the fields keep them) but neither
    /// the ITS nor the redistributors snoop the CPU's caches. Its GICR_PWRR
    /// belongs to firmware, which powered the redistributors up.
    pub fn rk3588() -> Self {
        Self {
            iidr: ROCKCHIP_GIC600_IIDR,
            coherency: Coherency::NonCoherent,
            shareable: true,
            ..Self::default()
        }
    }

    /// Rockchip RK3568 (erratum 3568002): the GIC's accesses to memory
    /// carry 32 address bits, so it reaches only the low 4 GiB, while its
    /// base registers keep every address bit written. The board has memory
    /// on both sides of 4 GiB (16 MiB of the arena below, the rest above),
    /// handed out from the top. The same IIDR as the RK3588's.
    pub fn rk3568() -> Self {
        Self {
            iidr: ROCKCHIP_GIC600_IIDR,
            bus_address_bits: 32,
            arena_phys_base: (1 << 32) - (16 << 20),
            placement: Placement::Highest,
            ..Self::default()
        }
    }

    /// Qualcomm QDF2400 (erratum 0065): GITS_TYPER reports 8-byte ITT
    /// entries; the ITS uses 16.
    pub fn qdf2400() -> Self {
        Self {
            iidr: QDF2400_IIDR,
            itt_entry_size: 16,
            reported_itt_entry_size: Some(8),
            ..Self::default()
        }
    }

    /// Cavium ThunderX pass 1 (errata 22375 and 24313): GITS_TYPER reports
    /// 24 DeviceID bits, the ITS decodes 20 (read here as: higher bits are
    /// ignored); and the ITS ignores the memory attributes of its tables,
    /// which the model takes as the driver does, as an ITS that does not
    /// snoop (the fields keep what is written; the redistributors, which
    /// the erratum does not concern, do snoop).
    pub fn thunderx() -> Self {
        Self {
            iidr: THUNDERX_IIDR,
            devbits: 24,
            decoded_devbits: Some(20),
            coherency: Coherency::NonCoherentIts,
            ..Self::default()
        }
    }

    /// A two-socket server with Arm's GIC-600 r1p6 (GITS_IIDR and GICR_IIDR
    /// 0x0201743b, as the Rockchip SoCs report) spanning two chips: 64
    /// CPUs, 32 per chip, numbered with 6 bits per chip (chip 1's first
    /// core is 0x40), so processor numbers run 0 to 31 and 64 to 95; PTA =
    /// 0 as on every GIC-600; 20 DeviceID bits; coherent; all memory above
    /// 4 GiB (512 GiB up); GICR_PWRR owned by firmware, which powered the
    /// redistributors up.
    pub fn gic600_server() -> Self {
        let cpus = 0..64u16;
        Self {
            iidr: ROCKCHIP_GIC600_IIDR,
            devbits: 20,
            redistributors: cpus
                .clone()
                .map(|cpu| 0x10_0010_0000 + u64::from(cpu) * 0x2_0000)
                .collect(),
            processor_numbers: cpus.map(|cpu| ((cpu / 32) << 6) | (cpu % 32)).collect(),
            arena_phys_base: 512 << 30,
            ..Self::default()
        }
    }

    /// KVM's emulated ITS (arch/arm64/kvm/vgic/vgic-its.c, ABI revision 0),
    /// where it departs from the spec's other choices: GITS_IIDR
    /// 0x4b00043b; GITS_TYPER with 16 DeviceID and EventID bits, 8-byte
    /// ITT entries, PTA = 0, CIL = 0; a Device table (Indirect allowed) and
    /// a Collection table with 8-byte entries, 64 KiB pages only (any other
    /// page size reads back as 64 KiB); GITS_CBASER's address bits \[15:12\]
    /// ignored; Quiescent exactly when GITS_CREADR equals GITS_CWRITER,
    /// commands processed only while enabled, Enabled refused while a table
    /// or the queue is not Valid; command errors, memory ones included,
    /// skipped rather than stalled; devices held until their MAPD V=0 or
    /// until the Device table's GITS_BASERn is written with Valid = 0; a
    /// save of the VM writes the held devices' DTEs and ITEs and the
    /// collections' CTEs into guest memory
    /// ([`ItsModel::kvm_save_tables`](crate::ItsModel::kvm_save_tables)).
    pub fn kvm() -> Self {
        Self {
            iidr: KVM_IIDR,
            devbits: 16,
            event_id_bits: 16,
            itt_entry_size: 8,
            pta: false,
            hcc: 0,
            cid_bits: None,
            page_sizes: PageSizes {
                size_4k: false,
                size_16k: false,
                size_64k: true,
            },
            quiescence: Quiescence::WhenQueueEmpty,
            enable_needs_valid_tables: true,
            memory_errors_stall: false,
            queue_64k_aligned: true,
            ..Self::default()
        }
    }

    /// A GICv4.1 GIC (Arm's GIC-700) as a KVM host leaves it when it kexecs
    /// into another kernel: on every redistributor a vPE is resident
    /// (GICR_VPENDBASER.Valid = 1, GICR_VPROPBASER.Valid = 1 on the host's
    /// vPE table), and the redistributor keeps writing the vPE's pending
    /// table ([`ItsModel::run_vpes`](crate::ItsModel::run_vpes)) until it is
    /// made non-resident; Dirty then reads 1 for a few reads. Its GICR_PWRR
    /// belongs to firmware.
    pub fn gicv41_after_kvm_host() -> Self {
        Self {
            iidr: GIC700_IIDR,
            vpe_table: true,
            virtual_lpis: Some(VirtualLpis {
                v4_1: true,
                dirty_reads: 3,
                left_resident: true,
            }),
            ..Self::default()
        }
    }

    /// Arm GIC-600 (GICR_IIDR ProductID 0x02) with its redistributors'
    /// GICR_PWRR reachable (GICD_CTLR.DS = 1): every redistributor starts
    /// powered down, in groups of two.
    pub fn gic600() -> Self {
        Self {
            iidr: GIC600_IIDR,
            redistributor_power: Some(RedistributorPower {
                group_size: 2,
                ..RedistributorPower::default()
            }),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GicrRegister as R, GitsRegister as G, ItsModel};

    #[test]
    fn presets_report_their_implementation() {
        for (config, iidr) in [
            (ModelConfig::rk3588(), ROCKCHIP_GIC600_IIDR),
            (ModelConfig::rk3568(), ROCKCHIP_GIC600_IIDR),
            (ModelConfig::qdf2400(), QDF2400_IIDR),
            (ModelConfig::thunderx(), THUNDERX_IIDR),
            (ModelConfig::gic600(), GIC600_IIDR),
            (ModelConfig::gic600_server(), ROCKCHIP_GIC600_IIDR),
            (ModelConfig::kvm(), KVM_IIDR),
        ] {
            let model = ItsModel::new(config);
            assert_eq!(model.gits().read_register(G::Iidr), iidr.into());
            assert_eq!(model.gicr(1).read_register(R::Iidr), iidr.into());
        }
        // QDF2400: GITS_TYPER.ITT_entry_size says 8 bytes (the ITS uses 16).
        let typer = ItsModel::new(ModelConfig::qdf2400())
            .gits()
            .read_register(G::Typer);
        assert_eq!(typer >> 4 & 0xf, 7);
        // The server's second chip starts at processor number 0x40.
        let server = ItsModel::new(ModelConfig::gic600_server());
        let number = |index| server.gicr(index).read_register(R::Typer) >> 8 & 0xffff;
        assert_eq!((number(31), number(32), number(63)), (31, 0x40, 0x5f));
        // ThunderX: GITS_TYPER.Devbits says 24 bits (the ITS decodes 20).
        let typer = ItsModel::new(ModelConfig::thunderx())
            .gits()
            .read_register(G::Typer);
        assert_eq!(typer >> 13 & 0x1f, 23);
    }
}
