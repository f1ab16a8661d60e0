//! Register layouts of the ITS control frame (GITS_*) and of the LPI part of a
//! redistributor's RD_base frame (GICR_*), Arm IHI 0069 chapter 12.
//!
//! The driver never touches these structs directly: it reads and writes
//! registers by name through [`GitsFrame`] and [`GicrLpiFrame`], so that the
//! host tests can put a software ITS behind the same interface. [`GitsMmio`]
//! and [`GicrMmio`] are the hardware implementations; they go through
//! [`MmioRegister`], which performs every access as one load or store.

use crate::mmio::MmioRegister;
use core::ptr::NonNull;
use tock_registers::register_structs;

/// Bitfields of the GITS_* and GICR_* registers, with the spec's field names.
/// (The macro-generated value enums carry no docs of their own.)
#[allow(missing_docs, non_camel_case_types)]
pub mod fields {
    use tock_registers::register_bitfields;

    register_bitfields! [u32,
        /// GITS_CTLR, ITS control register (12.19.6).
        pub GITS_CTLR [
            /// The ITS translates MSIs and processes commands.
            Enabled OFFSET(0) NUMBITS(1) [],
            /// The ITS is idle: no command or translation in flight, and with
            /// Enabled = 0 it holds nothing that still needs memory.
            Quiescent OFFSET(31) NUMBITS(1) []
        ],
        /// GICR_CTLR, redistributor control register (12.11.2).
        pub GICR_CTLR [
            /// LPIs are enabled for this redistributor.
            EnableLPIs OFFSET(0) NUMBITS(1) [],
            /// EnableLPIs can be cleared once set (GICv3.1+; otherwise unknown).
            CES OFFSET(1) NUMBITS(1) [],
            /// Register write pending: an EnableLPIs change is still in progress.
            RWP OFFSET(3) NUMBITS(1) []
        ],
        /// GICR_WAKER, redistributor power management (12.11.43).
        pub GICR_WAKER [
            /// The connected PE is asleep as far as the redistributor is concerned.
            ProcessorSleep OFFSET(1) NUMBITS(1) [],
            /// The interface to the PE is quiescent.
            ChildrenAsleep OFFSET(2) NUMBITS(1) []
        ],
        /// GICR_SYNCR, completion of GICR_INVLPIR/INVALLR/CLRLPIR (12.11.42).
        pub GICR_SYNCR [
            /// An invalidation or clear is still in progress.
            Busy OFFSET(0) NUMBITS(1) []
        ]
    ];

    register_bitfields! [u64,
        /// GITS_TYPER, features of the ITS (12.19.14).
        pub GITS_TYPER [
            /// Physical LPIs are supported.
            Physical OFFSET(0) NUMBITS(1) [],
            /// Bytes per ITT entry, minus one.
            ITT_entry_size OFFSET(4) NUMBITS(4) [],
            /// EventID bits supported, minus one.
            ID_bits OFFSET(8) NUMBITS(5) [],
            /// DeviceID bits supported, minus one.
            Devbits OFFSET(13) NUMBITS(5) [],
            /// RDbase is a physical address (1) or a processor number (0).
            PTA OFFSET(19) NUMBITS(1) [],
            /// Collections held in the ITS without a collection table.
            HCC OFFSET(24) NUMBITS(8) [],
            /// Collection ID bits minus one; valid when CIL = 1.
            CIDbits OFFSET(32) NUMBITS(4) [],
            /// CIDbits is valid; otherwise collection IDs have 16 bits.
            CIL OFFSET(36) NUMBITS(1) []
        ],
        /// GITS_CBASER, the command queue (12.19.2).
        pub GITS_CBASER [
            /// Queue size in 4 KiB pages, minus one.
            Size OFFSET(0) NUMBITS(8) [],
            /// Shareability of the queue memory.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[51:12\].
            Physical_Address OFFSET(12) NUMBITS(40) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(53) NUMBITS(3) [],
            /// Inner cacheability.
            InnerCache OFFSET(59) NUMBITS(3) [],
            /// The ITS may use the queue.
            Valid OFFSET(63) NUMBITS(1) []
        ],
        /// GITS_CWRITER, where software writes the next command (12.19.5).
        pub GITS_CWRITER [
            /// Restart a stalled queue.
            Retry OFFSET(0) NUMBITS(1) [],
            /// Byte offset into the queue, in 32-byte units from bit 5.
            Offset OFFSET(5) NUMBITS(15) []
        ],
        /// GITS_CREADR, where the ITS reads the next command (12.19.4).
        pub GITS_CREADR [
            /// Command processing stalled on an error.
            Stalled OFFSET(0) NUMBITS(1) [],
            /// Byte offset into the queue, in 32-byte units from bit 5.
            Offset OFFSET(5) NUMBITS(15) []
        ],
        /// GITS_BASERn, a table the ITS keeps in memory (12.19.1).
        pub GITS_BASER [
            /// Table size in pages, minus one.
            Size OFFSET(0) NUMBITS(8) [],
            /// Page size of the table.
            Page_Size OFFSET(8) NUMBITS(2) [
                Size4K = 0,
                Size16K = 1,
                Size64K = 2
            ],
            /// Shareability of the table memory.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[47:12\]; with 64 KiB pages bits \[15:12\]
            /// hold address bits \[51:48\].
            Physical_Address OFFSET(12) NUMBITS(36) [],
            /// Bytes per table entry, minus one (read-only).
            Entry_Size OFFSET(48) NUMBITS(5) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(53) NUMBITS(3) [],
            /// What the table holds (read-only).
            Type OFFSET(56) NUMBITS(3) [
                Unimplemented = 0,
                Devices = 1,
                VPEs = 2,
                Collections = 4
            ],
            /// Inner cacheability.
            InnerCache OFFSET(59) NUMBITS(3) [],
            /// Two-level table: entries point at level-2 pages.
            Indirect OFFSET(62) NUMBITS(1) [],
            /// The ITS may use the table.
            Valid OFFSET(63) NUMBITS(1) []
        ],
        /// GICR_TYPER, features of a redistributor (12.11.39).
        pub GICR_TYPER [
            /// Physical LPIs are supported.
            PLPIS OFFSET(0) NUMBITS(1) [],
            /// This is the last redistributor in its region.
            Last OFFSET(4) NUMBITS(1) [],
            /// Processor number, as the ITS's RDbase when GITS_TYPER.PTA = 0.
            Processor_Number OFFSET(8) NUMBITS(16) [],
            /// Affinity of the connected PE (Aff3.Aff2.Aff1.Aff0).
            Affinity_Value OFFSET(32) NUMBITS(32) []
        ],
        /// GICR_PROPBASER, the LPI configuration table (12.11.33).
        pub GICR_PROPBASER [
            /// Number of interrupt ID bits, minus one.
            IDbits OFFSET(0) NUMBITS(5) [],
            /// Inner cacheability.
            InnerCache OFFSET(7) NUMBITS(3) [],
            /// Shareability.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[51:12\].
            Physical_Address OFFSET(12) NUMBITS(40) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(56) NUMBITS(3) []
        ],
        /// GICR_PENDBASER, the LPI pending table of one redistributor (12.11.29).
        pub GICR_PENDBASER [
            /// Inner cacheability.
            InnerCache OFFSET(7) NUMBITS(3) [],
            /// Shareability.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[51:16\].
            Physical_Address OFFSET(16) NUMBITS(36) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(56) NUMBITS(3) [],
            /// The pending table is all zero: the GIC need not scan it.
            PTZ OFFSET(62) NUMBITS(1) []
        ],
        /// GICR_INVLPIR, invalidate the cached configuration of one LPI (12.11.27).
        pub GICR_INVLPIR [
            /// The LPI's INTID.
            INTID OFFSET(0) NUMBITS(32) []
        ]
    ];
}

pub use fields::*;

register_structs! {
    /// The ITS's two 64 KiB frames: control registers and GITS_TRANSLATER.
    pub GitsRegisterBlock {
        (0x0000 => ctlr: MmioRegister<u32, GITS_CTLR::Register>),
        (0x0004 => iidr: MmioRegister<u32>),
        (0x0008 => typer: MmioRegister<u64, GITS_TYPER::Register>),
        (0x0010 => _reserved0),
        (0x0080 => cbaser: MmioRegister<u64, GITS_CBASER::Register>),
        (0x0088 => cwriter: MmioRegister<u64, GITS_CWRITER::Register>),
        (0x0090 => creadr: MmioRegister<u64, GITS_CREADR::Register>),
        (0x0098 => _reserved1),
        (0x0100 => baser: [MmioRegister<u64, GITS_BASER::Register>; 8]),
        (0x0140 => _reserved2),
        (0x10040 => translater: MmioRegister<u32>),
        (0x10044 => _reserved3),
        (0x20000 => @END),
    },

    /// The LPI registers of a redistributor's RD_base frame.
    pub GicrLpiRegisterBlock {
        (0x0000 => ctlr: MmioRegister<u32, GICR_CTLR::Register>),
        (0x0004 => iidr: MmioRegister<u32>),
        (0x0008 => typer: MmioRegister<u64, GICR_TYPER::Register>),
        (0x0010 => _reserved0),
        (0x0014 => waker: MmioRegister<u32, GICR_WAKER::Register>),
        (0x0018 => _reserved1),
        (0x0070 => propbaser: MmioRegister<u64, GICR_PROPBASER::Register>),
        (0x0078 => pendbaser: MmioRegister<u64, GICR_PENDBASER::Register>),
        (0x0080 => _reserved2),
        (0x00A0 => invlpir: MmioRegister<u64, GICR_INVLPIR::Register>),
        (0x00A8 => _reserved3),
        (0x00B0 => invallr: MmioRegister<u64>),
        (0x00B8 => _reserved4),
        (0x00C0 => syncr: MmioRegister<u32, GICR_SYNCR::Register>),
        (0x00C4 => _reserved5),
        (0x10000 => @END),
    }
}

/// Number of GITS_BASERn registers.
const BASER_REGISTERS: usize = 8;

/// A register of the ITS frame, named as in the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitsRegister {
    /// GITS_CTLR (32 bits).
    Ctlr,
    /// GITS_IIDR (32 bits).
    Iidr,
    /// GITS_TYPER.
    Typer,
    /// GITS_CBASER.
    Cbaser,
    /// GITS_CWRITER.
    Cwriter,
    /// GITS_CREADR.
    Creadr,
    /// GITS_BASERn, n in 0..8.
    Baser(usize),
}

/// Reads and writes the registers of one ITS.
///
/// The hardware implementation is [`GitsMmio`]; the host tests use a software
/// model. 32-bit registers are zero-extended on read and truncated on write.
pub trait GitsFrame {
    /// Reads a register.
    fn read(&self, register: GitsRegister) -> u64;
    /// Writes a register.
    fn write(&self, register: GitsRegister, value: u64);
}

/// A register of a redistributor's LPI interface, named as in the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicrRegister {
    /// GICR_CTLR (32 bits).
    Ctlr,
    /// GICR_IIDR (32 bits).
    Iidr,
    /// GICR_TYPER.
    Typer,
    /// GICR_WAKER (32 bits).
    Waker,
    /// GICR_PROPBASER.
    Propbaser,
    /// GICR_PENDBASER.
    Pendbaser,
    /// GICR_INVLPIR.
    Invlpir,
    /// GICR_INVALLR.
    Invallr,
    /// GICR_SYNCR (32 bits).
    Syncr,
}

/// Reads and writes the LPI registers of one redistributor.
pub trait GicrLpiFrame {
    /// Reads a register.
    fn read(&self, register: GicrRegister) -> u64;
    /// Writes a register.
    fn write(&self, register: GicrRegister, value: u64);
}

/// The ITS frame of a real GIC, accessed through MMIO.
pub struct GitsMmio {
    registers: NonNull<GitsRegisterBlock>,
}

// SAFETY: the register block is device memory that `new`'s caller gave to this
// value alone; MMIO accesses are valid from any CPU.
unsafe impl Send for GitsMmio {}

impl GitsMmio {
    /// Wraps the ITS control frame at `base` (both 64 KiB frames: control and
    /// translation).
    ///
    /// # Safety
    /// `base` must be the virtual address of a GICv3/v4 ITS's 128 KiB register
    /// region, mapped as Device memory, valid for as long as the returned value
    /// (and anything built on it) lives, and not accessed by anything else
    /// while it does.
    pub unsafe fn new(base: NonNull<u8>) -> Self {
        Self {
            registers: base.cast(),
        }
    }

    /// Writes `data` to GITS_TRANSLATER as a CPU store would (requester ID is
    /// whatever the interconnect gives a CPU access; 0 on QEMU).
    pub fn write_translater(&self, data: u32) {
        let r = self.registers.as_ptr();
        // SAFETY: `new`'s caller promised the block is mapped, valid and
        // ours; `&raw mut` computes the register's address without forming a
        // reference to MMIO.
        unsafe { MmioRegister::store(&raw mut (*r).translater, data) }
    }
}

impl GitsFrame for GitsMmio {
    fn read(&self, register: GitsRegister) -> u64 {
        let r = self.registers.as_ptr();
        // SAFETY: `new`'s caller promised the block is mapped, valid and
        // ours; every pointer is to a register inside it (BASER index checked
        // against the array), formed with `&raw` and no reference.
        unsafe {
            match register {
                GitsRegister::Ctlr => MmioRegister::load(&raw const (*r).ctlr).into(),
                GitsRegister::Iidr => MmioRegister::load(&raw const (*r).iidr).into(),
                GitsRegister::Typer => MmioRegister::load(&raw const (*r).typer),
                GitsRegister::Cbaser => MmioRegister::load(&raw const (*r).cbaser),
                GitsRegister::Cwriter => MmioRegister::load(&raw const (*r).cwriter),
                GitsRegister::Creadr => MmioRegister::load(&raw const (*r).creadr),
                GitsRegister::Baser(n) if n < BASER_REGISTERS => {
                    MmioRegister::load(&raw const (*r).baser[n])
                }
                GitsRegister::Baser(_) => 0,
            }
        }
    }

    fn write(&self, register: GitsRegister, value: u64) {
        let r = self.registers.as_ptr();
        // SAFETY: as for `read`.
        unsafe {
            match register {
                GitsRegister::Ctlr => MmioRegister::store(&raw mut (*r).ctlr, value as u32),
                GitsRegister::Cbaser => MmioRegister::store(&raw mut (*r).cbaser, value),
                GitsRegister::Cwriter => MmioRegister::store(&raw mut (*r).cwriter, value),
                GitsRegister::Baser(n) if n < BASER_REGISTERS => {
                    MmioRegister::store(&raw mut (*r).baser[n], value)
                }
                // Read-only or absent registers: writes are ignored, as by
                // the hardware.
                GitsRegister::Iidr
                | GitsRegister::Typer
                | GitsRegister::Creadr
                | GitsRegister::Baser(_) => {}
            }
        }
    }
}

/// The LPI registers of a real redistributor, accessed through MMIO.
pub struct GicrMmio {
    registers: NonNull<GicrLpiRegisterBlock>,
}

// SAFETY: as for `GitsMmio`.
unsafe impl Send for GicrMmio {}

impl GicrMmio {
    /// Wraps the RD_base frame of one redistributor.
    ///
    /// # Safety
    /// `rd_base` must be the virtual address of a redistributor's 64 KiB
    /// RD_base frame, mapped as Device memory and valid for as long as the
    /// returned value lives. Other code may use the frame's non-LPI registers
    /// (GICR_WAKER, the SGI frame) but must not write GICR_CTLR.EnableLPIs,
    /// GICR_PROPBASER, GICR_PENDBASER or the LPI invalidation registers.
    pub unsafe fn new(rd_base: NonNull<u8>) -> Self {
        Self {
            registers: rd_base.cast(),
        }
    }
}

impl GicrLpiFrame for GicrMmio {
    fn read(&self, register: GicrRegister) -> u64 {
        let r = self.registers.as_ptr();
        // SAFETY: `new`'s caller promised the frame is mapped and valid;
        // every pointer is to a register inside it, formed with `&raw` and no
        // reference.
        unsafe {
            match register {
                GicrRegister::Ctlr => MmioRegister::load(&raw const (*r).ctlr).into(),
                GicrRegister::Iidr => MmioRegister::load(&raw const (*r).iidr).into(),
                GicrRegister::Typer => MmioRegister::load(&raw const (*r).typer),
                GicrRegister::Waker => MmioRegister::load(&raw const (*r).waker).into(),
                GicrRegister::Propbaser => MmioRegister::load(&raw const (*r).propbaser),
                GicrRegister::Pendbaser => MmioRegister::load(&raw const (*r).pendbaser),
                GicrRegister::Syncr => MmioRegister::load(&raw const (*r).syncr).into(),
                // Write-only registers read as zero.
                GicrRegister::Invlpir | GicrRegister::Invallr => 0,
            }
        }
    }

    fn write(&self, register: GicrRegister, value: u64) {
        let r = self.registers.as_ptr();
        // SAFETY: as for `read`.
        unsafe {
            match register {
                GicrRegister::Ctlr => MmioRegister::store(&raw mut (*r).ctlr, value as u32),
                GicrRegister::Waker => MmioRegister::store(&raw mut (*r).waker, value as u32),
                GicrRegister::Propbaser => MmioRegister::store(&raw mut (*r).propbaser, value),
                GicrRegister::Pendbaser => MmioRegister::store(&raw mut (*r).pendbaser, value),
                GicrRegister::Invlpir => MmioRegister::store(&raw mut (*r).invlpir, value),
                GicrRegister::Invallr => MmioRegister::store(&raw mut (*r).invallr, value),
                GicrRegister::Iidr | GicrRegister::Typer | GicrRegister::Syncr => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec;

    /// A fake ITS frame in memory: each access must land at the spec's offset.
    #[test]
    fn gits_registers_are_at_their_spec_offsets() {
        let mut frame = vec![0u64; 0x20000 / 8].into_boxed_slice();
        let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: a 128 KiB, 8-byte aligned buffer that only `gits` uses
        // while it lives.
        let gits = unsafe { GitsMmio::new(base) };
        gits.write(GitsRegister::Ctlr, 0x8000_0001);
        gits.write(GitsRegister::Cbaser, 0x1111);
        gits.write(GitsRegister::Cwriter, 0x2220);
        gits.write(GitsRegister::Baser(0), 0x3333);
        gits.write(GitsRegister::Baser(7), 0x4444);
        gits.write(GitsRegister::Baser(8), 0x5555); // no such register: ignored
        gits.write_translater(0x66);
        let at = |offset: usize| frame[offset / 8];
        assert_eq!(at(0x0) as u32, 0x8000_0001);
        assert_eq!(at(0x80), 0x1111);
        assert_eq!(at(0x88), 0x2220);
        assert_eq!(at(0x100), 0x3333);
        assert_eq!(at(0x138), 0x4444);
        assert_eq!(at(0x140), 0);
        assert_eq!(at(0x10040) as u32, 0x66);
        frame[0x8 / 8] = 0x1f_0001_efb1;
        frame[0x90 / 8] = 0x40;
        // A fresh pointer: the writes above went through `frame`.
        let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: as above.
        let gits = unsafe { GitsMmio::new(base) };
        assert_eq!(gits.read(GitsRegister::Typer), 0x1f_0001_efb1);
        assert_eq!(gits.read(GitsRegister::Creadr), 0x40);
        assert_eq!(gits.read(GitsRegister::Baser(9)), 0);
    }

    #[test]
    fn gicr_lpi_registers_are_at_their_spec_offsets() {
        let mut frame: Box<[u64]> = vec![0u64; 0x10000 / 8].into_boxed_slice();
        let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: a 64 KiB, 8-byte aligned buffer that only `gicr` uses.
        let gicr = unsafe { GicrMmio::new(base) };
        gicr.write(GicrRegister::Ctlr, 1);
        gicr.write(GicrRegister::Propbaser, 0x70);
        gicr.write(GicrRegister::Pendbaser, 0x78);
        gicr.write(GicrRegister::Invlpir, 0xa0);
        gicr.write(GicrRegister::Invallr, 0xb0);
        for offset in [0x70, 0x78, 0xa0, 0xb0] {
            assert_eq!(frame[offset / 8], offset as u64);
        }
        assert_eq!(frame[0] as u32, 1);
        frame[0x8 / 8] = 0x0000_0001_0000_0111; // Processor_Number 1, PLPIS
        frame[0xc0 / 8] = 1; // SYNCR.Busy
        frame[0x10 / 8] = 0x4_0000_0000; // WAKER (0x14) = 4
        let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: as above.
        let gicr = unsafe { GicrMmio::new(base) };
        assert_eq!(gicr.read(GicrRegister::Typer), 0x0000_0001_0000_0111);
        assert_eq!(gicr.read(GicrRegister::Syncr), 1);
        assert_eq!(gicr.read(GicrRegister::Waker), 4);
    }
}
