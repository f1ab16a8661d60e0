//! What the modelled GIC implements, and how it behaves: [`ModelConfig`].

#[cfg(doc)]
use crate::ItsModel;

/// Physical address of the first byte of the model's arena, unless
/// [`ModelConfig::arena_phys_base`] says otherwise.
pub const ARENA_PHYS_BASE: u64 = 0x4000_0000;

/// Which ITS table page sizes GITS_BASERn.Page_Size accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSizes {
    /// 4 KiB pages.
    pub size_4k: bool,
    /// 16 KiB pages.
    pub size_16k: bool,
    /// 64 KiB pages.
    pub size_64k: bool,
}

impl PageSizes {
    /// All three page sizes.
    pub const ALL: Self = Self {
        size_4k: true,
        size_16k: true,
        size_64k: true,
    };

    /// Whether the Page_Size encoding `code` (0 = 4K, 1 = 16K, 2 = 64K) is supported.
    pub(crate) fn supports(self, code: u64) -> bool {
        match code {
            0 => self.size_4k,
            1 => self.size_16k,
            2 => self.size_64k,
            _ => false,
        }
    }
}

/// When the model consumes commands from the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumption {
    /// All commands up to GITS_CWRITER are processed inside the CWRITER write
    /// (and when the ITS is enabled), like QEMU.
    Synchronous,
    /// Each read of GITS_CREADR first processes up to this many commands.
    Asynchronous {
        /// Commands processed per CREADR read.
        commands_per_creadr_read: usize,
    },
    /// Commands are never processed: GITS_CREADR never advances.
    Never,
}

/// Where [`ModelMemory`](crate::ModelMemory) places an allocation among
/// the free ranges below the request's `max_address`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// The lowest fit (first fit).
    #[default]
    Lowest,
    /// The highest fit, as allocators that hand out high memory first do:
    /// on a board with memory above 4 GiB, what a driver gets without
    /// asking for low memory lies above.
    Highest,
}

/// When GITS_CTLR.Quiescent reads 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiescence {
    /// After Enabled is cleared, Quiescent reads 0 for this many GITS_CTLR
    /// reads, then 1.
    AfterReads(u32),
    /// Quiescent never reads 1 again (until [`ItsModel::reset`]).
    Never,
    /// Like KVM's emulated ITS: Quiescent reads 1 exactly when GITS_CREADR
    /// equals GITS_CWRITER, enabled or not; a disabled ITS with commands
    /// queued (which it does not process) is never quiescent until
    /// CWRITER or CBASER is written.
    WhenQueueEmpty,
}

/// Which parts of the GIC snoop the CPU's caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coherency {
    /// The ITSes and the redistributors see what the CPU wrote, cleaned or
    /// not.
    Coherent,
    /// Neither does: the GIC has its own view of memory, which only
    /// [`DmaMemory::clean_invalidate_to_poc`](gicv3_its::DmaMemory::clean_invalidate_to_poc)
    /// updates from the CPU's (and a fresh allocation reads as
    /// [`POISON`](crate::POISON) there until it is cleaned).
    NonCoherent,
    /// The ITSes do not (their command queues, Device and Collection
    /// tables and ITTs are read from the GIC's own view); the
    /// redistributors do (the LPI property and pending tables).
    NonCoherentIts,
}

/// GICR_PWRR, the redistributor power register of Arm's GIC-600,
/// GIC-600AE and GIC-700 (implementation defined, at RD_base + 0x24).
/// Every redistributor is powered down at reset; while it is, its registers
/// other than GICR_PWRR, GICR_IIDR and GICR_TYPER read 0 and ignore writes
/// ([`Violation::RedistributorPoweredDown`](crate::Violation::RedistributorPoweredDown)).
///
/// The fields: RDPD (bit 0) is this redistributor's request to be powered
/// down, and reads 1 while its group is off; RDAG (bit 1, write-only)
/// applies the written RDPD to the whole group; RDGPD (bit 2) is the
/// group's intended state, down when every member asks for it; RDGPO
/// (bit 3) is the group's actual state, which follows RDGPD
/// [`RedistributorPower::transition_reads`] reads of GICR_PWRR later. A
/// write of RDPD is ignored while RDGPD differs from RDGPO if it would
/// change RDPD away from RDGPD, and a write of RDPD = 1 is ignored unless
/// GICR_WAKER.ProcessorSleep = 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedistributorPower {
    /// Redistributors per power group (consecutive indices), at least one.
    pub group_size: usize,
    /// Reads of GICR_PWRR (of any member of the group) a power transition
    /// takes.
    pub transition_reads: u32,
    /// The groups never reach the powered-up state: RDGPO stays 1 (a power
    /// controller that does not answer).
    pub never_powers_up: bool,
}

impl Default for RedistributorPower {
    fn default() -> Self {
        Self {
            group_size: 1,
            transition_reads: 3,
            never_powers_up: false,
        }
    }
}

/// Virtual LPIs on the redistributors (GICv4): GICR_TYPER.VLPIS, and the
/// VLPI_base frame's GICR_VPROPBASER and GICR_VPENDBASER. The model holds
/// no vPE of its own: it models what a previous owner (a KVM host before a
/// kexec) leaves behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualLpis {
    /// GICv4.1 (GICR_TYPER.RVPEID = 1): GICR_VPENDBASER names a vPE by ID
    /// and GICR_VPROPBASER describes the vPE table, with a Valid bit;
    /// otherwise GICv4.0, where GICR_VPENDBASER holds the vPE's pending
    /// table address.
    pub v4_1: bool,
    /// Reads of GICR_VPENDBASER for which Dirty stays 1 after Valid is
    /// cleared (the redistributor writing the pending state back).
    pub dirty_reads: u32,
    /// At power-on a previous owner's vPE is resident on every
    /// redistributor: GICR_VPENDBASER.Valid = 1, its pending table (and
    /// on GICv4.1 the vPE table) in memory the model set aside. Until made
    /// non-resident, each [`ItsModel::run_vpes`](crate::ItsModel::run_vpes)
    /// writes that pending table
    /// ([`Violation::ResidentVpeWrote`](crate::Violation::ResidentVpeWrote)).
    pub left_resident: bool,
}

/// What the modelled GIC implements. [`Default`] is like QEMU's `virt` ITS:
/// one ITS, GITS_TYPER = 0x1f_0001_efb1, Device and Collection tables with
/// 8-byte entries, every page size, indirect tables, coherent and
/// shareable, synchronous. Every ITS of the model implements the same: its
/// GITS_TYPER and GITS_IIDR read the same, and the behaviour knobs apply to
/// each. Real implementations with known errata are presets
/// ([`ModelConfig::rk3588`] and the others).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// ITSes, each with its own register frame, queue, tables and
    /// collections ([`ItsModel::its`]), all sharing the redistributors and
    /// the memory. At least one.
    pub its_count: usize,
    /// DeviceID bits (GITS_TYPER.Devbits + 1), 1 to 32.
    pub devbits: u32,
    /// DeviceID bits the ITS really decodes, when fewer than `devbits`
    /// (Cavium ThunderX erratum 22375): the higher bits of a DeviceID are
    /// ignored, so DeviceIDs that differ only there share one DTE. `None`:
    /// all of `devbits`.
    pub decoded_devbits: Option<u32>,
    /// EventID bits (GITS_TYPER.ID_bits + 1), 1 to 32.
    pub event_id_bits: u32,
    /// Bytes per ITT entry the ITS uses, 8 to 16 (the model's ITE format
    /// needs 7 bytes; it keeps reads to whole u64s).
    pub itt_entry_size: usize,
    /// Bytes per ITT entry GITS_TYPER.ITT_entry_size reports (1 to 16),
    /// when it is not what the ITS uses (Qualcomm QDF2400 erratum 0065).
    /// `None`: `itt_entry_size`.
    pub reported_itt_entry_size: Option<usize>,
    /// GITS_TYPER.PTA: RDbase is the RD_base physical address (true) or the
    /// processor number (false).
    pub pta: bool,
    /// GITS_TYPER.HCC: collections held in the ITS without a table.
    pub hcc: u8,
    /// Whether GITS_BASER1 describes a Collection table (else it is
    /// unimplemented, and only the HCC collections exist).
    pub collection_table: bool,
    /// Whether GITS_BASER2 describes a vPE table (Type 2) and GITS_TYPER
    /// says Virtual, as on a GICv4 ITS that a previous owner (Linux with
    /// virtual LPIs) may have left Valid. The model holds no vPEs; the
    /// memory the table describes while Valid is the ITS's.
    pub vpe_table: bool,
    /// Collection ID bits (GITS_TYPER.CIL = 1, CIDbits + 1), 1 to 16; `None`
    /// for CIL = 0 (16 bits).
    pub cid_bits: Option<u32>,
    /// Page sizes the BASERs accept. An unsupported size reads back as the
    /// largest supported smaller one, else the smallest supported.
    pub page_sizes: PageSizes,
    /// Whether GITS_BASERn.Indirect is writable (else RAZ/WI).
    pub indirect: bool,
    /// Which parts of the GIC snoop the CPU's caches. Independent of what
    /// the attribute fields of the base registers accept (`shareable`,
    /// `fixed_inner_cache`): a GIC may accept shareable, cacheable
    /// attributes and still not snoop (Rockchip RK3588).
    pub coherency: Coherency,
    /// Whether the Shareability fields of GITS_CBASER, GITS_BASERn,
    /// GICR_PROPBASER and GICR_PENDBASER keep what is written; when false
    /// they read 0 (Non-shareable), which is how a GIC says it does not
    /// snoop.
    pub shareable: bool,
    /// Redistributors whose GICR_PROPBASER and GICR_PENDBASER Shareability
    /// reads 0 even when `shareable` is true.
    pub non_shareable_redistributors: Vec<usize>,
    /// Redistributors whose GICR_PROPBASER alone reads Shareability 0 (its
    /// GICR_PENDBASER keeps what is written): the two registers answer for
    /// themselves, as Linux also treats them.
    pub non_shareable_property_tables: Vec<usize>,
    /// The value the InnerCache field of GITS_CBASER, GITS_BASERn,
    /// GICR_PROPBASER and GICR_PENDBASER reads, whatever is written (0 to
    /// 7; 1 is Normal Non-cacheable); `None`: it keeps what is written.
    pub fixed_inner_cache: Option<u8>,
    /// Physical address bits the address fields of GITS_CBASER,
    /// GITS_BASERn, GICR_PROPBASER and GICR_PENDBASER implement, 32 to 52:
    /// higher address bits read 0.
    pub register_address_bits: u32,
    /// Physical address bits of the GIC's accesses to memory, 32 to 52:
    /// every address it uses (from a base register, a command, a table
    /// entry) loses the higher bits on its way to memory (Rockchip RK3568:
    /// 32, the GIC reaches only the low 4 GiB).
    pub bus_address_bits: u32,
    /// When commands are consumed.
    pub consumption: Consumption,
    /// Stall (GITS_CREADR.Stalled) instead of processing the k-th command
    /// (counting from 1 over the model's life), until GITS_CBASER is written.
    /// Each ITS counts its own commands and stalls on its own k-th.
    pub stall_on_command: Option<u64>,
    /// When GITS_CTLR.Quiescent reads 1.
    pub quiescence: Quiescence,
    /// Like KVM's emulated ITS: a write of GITS_CTLR.Enabled = 1 is
    /// ignored while the Device table, the Collection table or the command
    /// queue is not Valid.
    pub enable_needs_valid_tables: bool,
    /// A fault: GITS_CTLR.Enabled stays 0 whatever is written.
    pub enable_ignored: bool,
    /// A command the ITS cannot read from memory stalls the queue
    /// (GITS_CREADR.Stalled, as QEMU does); `false`: it is skipped and the
    /// queue goes on, as KVM's emulated ITS does with every error.
    pub memory_errors_stall: bool,
    /// GITS_CBASER's address bits \[15:12\] read 0 and are not used (KVM's
    /// emulated ITS): a queue that is not 64 KiB aligned would be read
    /// from below where it lies.
    pub queue_64k_aligned: bool,
    /// GICR_CTLR.EnableLPIs cannot be cleared once set (GICR_CTLR.CES = 0).
    pub sticky_enable_lpis: bool,
    /// GICR_CTLR.RWP reads 1 for this many GICR_CTLR reads after an
    /// EnableLPIs change.
    pub rwp_reads: u32,
    /// GICv4 redistributors ([`VirtualLpis`]); `None`: GICv3, VLPIS = 0.
    pub virtual_lpis: Option<VirtualLpis>,
    /// GICR_PWRR ([`RedistributorPower`]): the redistributors start powered
    /// down. `None`: no GICR_PWRR (RAZ/WI, as where firmware owns it), the
    /// redistributors are always powered.
    pub redistributor_power: Option<RedistributorPower>,
    /// The RD_base physical address of each redistributor. At least one.
    pub redistributors: Vec<u64>,
    /// GICR_TYPER.Processor_Number of each redistributor (the RDbase of
    /// commands when PTA = 0), distinct; empty: redistributor `i` has
    /// processor number `i`. Arm's GIC-600 across chips numbers them
    /// sparsely: the chip's ID above a padded on-chip core number (the first
    /// core of chip 1 is 0x20 with 5 bits per chip).
    pub processor_numbers: Vec<u16>,
    /// INTID bits of the system (GICD_TYPER.IDbits + 1), 14 to 32: MAPTI
    /// INTIDs must be below 2^lpi_id_bits, and GICR_PROPBASER.IDbits is
    /// capped at it.
    pub lpi_id_bits: u32,
    /// Bytes of memory the model can hand out.
    pub arena_size: usize,
    /// Physical address of the arena's first byte, a multiple of 2 MiB
    /// (default [`ARENA_PHYS_BASE`](crate::ARENA_PHYS_BASE)).
    pub arena_phys_base: u64,
    /// Where allocations go among the free ranges.
    pub placement: Placement,
    /// GITS_IIDR and GICR_IIDR.
    pub iidr: u32,
}

impl ModelConfig {
    /// GICR_TYPER.Processor_Number of redistributor `index`.
    pub fn processor_number(&self, index: usize) -> u16 {
        self.processor_numbers
            .get(index)
            .copied()
            .unwrap_or(index as u16)
    }

    /// The redistributor whose processor number is `number`, if any.
    pub fn redistributor_index(&self, number: u16) -> Option<usize> {
        (0..self.redistributors.len()).find(|&index| self.processor_number(index) == number)
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            its_count: 1,
            devbits: 16,
            decoded_devbits: None,
            event_id_bits: 16,
            itt_entry_size: 12,
            reported_itt_entry_size: None,
            pta: false,
            hcc: 0,
            collection_table: true,
            vpe_table: false,
            cid_bits: Some(16),
            page_sizes: PageSizes::ALL,
            indirect: true,
            coherency: Coherency::Coherent,
            shareable: true,
            non_shareable_redistributors: Vec::new(),
            non_shareable_property_tables: Vec::new(),
            fixed_inner_cache: None,
            register_address_bits: 52,
            bus_address_bits: 52,
            consumption: Consumption::Synchronous,
            stall_on_command: None,
            quiescence: Quiescence::AfterReads(0),
            enable_needs_valid_tables: false,
            enable_ignored: false,
            memory_errors_stall: true,
            queue_64k_aligned: false,
            sticky_enable_lpis: false,
            rwp_reads: 0,
            virtual_lpis: None,
            redistributor_power: None,
            redistributors: (0..4).map(|i| 0x080a_0000 + i * 0x2_0000).collect(),
            processor_numbers: Vec::new(),
            lpi_id_bits: 16,
            arena_size: 32 << 20,
            arena_phys_base: ARENA_PHYS_BASE,
            placement: Placement::Lowest,
            iidr: 0x0100_043b,
        }
    }
}
