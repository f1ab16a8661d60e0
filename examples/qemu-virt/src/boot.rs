//! From QEMU's `-kernel` to Rust: the arm64 Image header, the drop from EL2 to
//! EL1, and the initial page table that aarch64-rt's entry code switches on
//! before any Rust runs.
//!
//! Boot protocol (Linux's Documentation/arch/arm64/booting.rst, which QEMU
//! follows for a file with this header): x0 holds the DTB's physical address,
//! the MMU is off, and we are at EL2 or EL1.

use aarch64_paging::descriptor::El1Attributes;
use aarch64_paging::mair::{Mair, MairAttribute, NormalMemory};
use aarch64_rt::{InitialPagetable, initial_pagetable};

/// Where `kernel.ld` links the kernel. It must be RAM base + `TEXT_OFFSET`
/// (QEMU loads an Image there); the initial page table maps the 1 GiB block
/// around it, which on `virt` also holds the DTB.
const LINK_ADDRESS: usize = 0x4008_0000;

/// The immediate of the `hvc` that asks this kernel's EL2 stub (below) to
/// enter another kernel at EL2 (`linux/jump.rs`).
pub const LINUX_HVC: u16 = 0x4c58;
/// The Image header's text_offset.
const TEXT_OFFSET: usize = 0x8_0000;
const _: () = assert!(LINK_ADDRESS % (2 << 20) == TEXT_OFFSET);

/// MAIR index 0: Device-nGnRE, index 1: Normal write-back (aarch64-rt's default).
pub const MAIR: Mair = Mair::EMPTY
    .with_attribute(0, MairAttribute::DEVICE_NGNRE)
    .with_attribute(
        1,
        MairAttribute::normal(
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
        ),
    );

/// Page attributes for MMIO: Device-nGnRE, never executable.
pub const DEVICE: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_0)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);

/// Page attributes for RAM: Normal write-back, inner shareable.
pub const NORMAL: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::NON_GLOBAL);

/// The 1 GiB block holding the kernel, as identity-mapped Normal memory. Enough
/// to run until the DTB says where everything else is (`paging::build`).
pub const INITIAL_BLOCK: core::ops::Range<usize> =
    (LINK_ADDRESS & !((1 << 30) - 1))..(LINK_ADDRESS & !((1 << 30) - 1)) + (1 << 30);

/// The first 1 GiB, identity-mapped as Device memory from the start: on
/// QEMU's `virt` it holds the GIC (and the UART, flash and PCI windows), so
/// that a previous owner's ITSes and redistributors can be stopped before
/// the heap is used (`msi::stop_previous_owner_early`).
pub const INITIAL_DEVICES: core::ops::Range<usize> = 0..1 << 30;

const _: () = assert!(INITIAL_DEVICES.end <= INITIAL_BLOCK.start);

initial_pagetable!(
    {
        let mut table = [0; 512];
        table[0] = DEVICE.bits() | INITIAL_DEVICES.start;
        table[LINK_ADDRESS >> 30] = NORMAL.bits() | INITIAL_BLOCK.start;
        InitialPagetable(table)
    },
    MAIR.0
);

// The Image header. code0 branches to `boot_el_check`; QEMU checks the magic
// at offset 56 and loads the file at RAM base + text_offset. Flags: little
// endian, 4 KiB pages, placed near the start of RAM (bit 3 clear).
core::arch::global_asm!(
    ".section .head.image, \"ax\"",
    ".global image_header",
    "image_header:",
    "b boot_el_check",          // code0
    ".long 0",                  // code1
    ".quad {text_offset}",      // text_offset
    ".quad image_size",         // image_size (from kernel.ld)
    ".quad 0x2",                // flags
    ".quad 0",                  // res2
    ".quad 0",                  // res3
    ".quad 0",                  // res4
    ".long 0x644d5241",         // magic "ARM\x64"
    ".long 0",                  // res5
    text_offset = const TEXT_OFFSET,
);

// `boot_el_check` (the primary CPU, from the header) and `secondary_boot`
// (other CPUs, from PSCI CPU_ON) both go through `drop_to_el1`, which
// continues at x10 at EL1 whatever EL QEMU (or a hypervisor) entered at. At
// EL2 it makes EL1 AArch64, stops EL2 trapping FP/SIMD, timers and GIC
// system registers, and `eret`s to x10 at EL1h with interrupts masked.
// x0 is preserved (the DTB, or the secondary's stack); for the primary, x3
// (which the boot protocol reserves as zero) carries the entry EL to `main`.
core::arch::global_asm!(
    ".section .text.boot, \"ax\"",
    "boot_el_check:",
    "mrs x3, CurrentEL",
    "ubfx x3, x3, #2, #2",
    "adrp x10, entry",
    "add x10, x10, :lo12:entry",
    "b drop_to_el1",
    "",
    ".global secondary_boot",
    "secondary_boot:",
    "adrp x10, secondary_el1",
    "add x10, x10, :lo12:secondary_el1",
    "b drop_to_el1",
    "",
    "drop_to_el1:",
    "mrs x9, CurrentEL",
    "ubfx x9, x9, #2, #2",
    "cmp x9, #2",
    "b.ne 2f",
    // HCR_EL2: RW (EL1 is AArch64); no stage 2, no traps.
    "mov x9, #(1 << 31)",
    "msr hcr_el2, x9",
    // CNTHCTL_EL2: EL1PCTEN | EL1PCEN, the physical timer and counter.
    "mrs x9, cnthctl_el2",
    "orr x9, x9, #3",
    "msr cnthctl_el2, x9",
    "msr cntvoff_el2, xzr",
    // CPTR_EL2: RES1 bits only, so TFP = 0 (FP/SIMD not trapped).
    "mov x9, #0x33ff",
    "msr cptr_el2, x9",
    "msr hstr_el2, xzr",
    // EL1 sees the real CPU identity.
    "mrs x9, midr_el1",
    "msr vpidr_el2, x9",
    "mrs x9, mpidr_el1",
    "msr vmpidr_el2, x9",
    // GICv3 system registers (ID_AA64PFR0_EL1.GIC != 0): ICC_SRE_EL2 =
    // SRE | DFB | DIB | Enable, so EL1 may use ICC_SRE_EL1.
    "mrs x9, id_aa64pfr0_el1",
    "ubfx x9, x9, #24, #4",
    "cbz x9, 1f",
    "mrs x9, s3_4_c12_c9_5",
    "orr x9, x9, #0xf",
    "msr s3_4_c12_c9_5, x9",
    "isb",
    "1:",
    // The stub that enters Linux at EL2 for linux/jump.rs.
    "adrp x9, el2_vectors",
    "add x9, x9, :lo12:el2_vectors",
    "msr vbar_el2, x9",
    // SPSR_EL2: EL1h with D, A, I, F masked.
    "mov x9, #0x3c5",
    "msr spsr_el2, x9",
    "msr elr_el2, x10",
    "eret",
    "2:",
    "br x10",
    "",
    // EL2's vectors, left behind for one purpose: `hvc #LINUX_HVC` from EL1
    // (a lower EL in AArch64, synchronous: offset 0x400) enters Linux at
    // EL2, at x1 with x0 = x2 and x1 = x2 = x3 = 0, as the arm64 boot
    // protocol asks. EL1 turned its MMU and caches off first; EL2's MMU was
    // never on. Anything else taken to EL2 parks the CPU.
    ".balign 2048",
    "el2_vectors:",
    ".rept 8",
    "b el2_park",
    ".balign 128",
    ".endr",
    "b el2_lower_sync",
    ".balign 128",
    ".rept 7",
    "b el2_park",
    ".balign 128",
    ".endr",
    "el2_lower_sync:",
    "mrs x9, esr_el2",
    // ESR_EL2.EC (bits 31:26) 0x16 is HVC from AArch64; ISS holds its
    // immediate.
    "ubfx x10, x9, #26, #6",
    "cmp x10, #0x16",
    "b.ne el2_park",
    "and x10, x9, #0xffff",
    "mov x11, #{linux_hvc}",
    "cmp x10, x11",
    "b.ne el2_park",
    "mov x9, x1",
    "mov x0, x2",
    "mov x1, xzr",
    "mov x2, xzr",
    "mov x3, xzr",
    "br x9",
    "el2_park:",
    "wfe",
    "b el2_park",
    "",
    // A secondary CPU at EL1: the MMU on with the initial page table (as
    // aarch64-rt's entry does), FP/SIMD on, the stack from x0, the vectors,
    // then Rust.
    "secondary_el1:",
    "mov x19, x0",
    "bl enable_mmu",
    "mrs x9, cpacr_el1",
    "orr x9, x9, #(0x3 << 20)",
    "msr cpacr_el1, x9",
    "isb",
    "mov sp, x19",
    "adrp x9, vector_table_el1",
    "add x9, x9, :lo12:vector_table_el1",
    "msr vbar_el1, x9",
    "isb",
    "b secondary_main",
    linux_hvc = const LINUX_HVC,
);
