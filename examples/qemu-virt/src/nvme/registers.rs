//! The controller's registers in BAR0 (NVMe Base 2.0, 3.1): the controller
//! registers the driver uses, with the CAP, VS, CC, CSTS and AQA fields it
//! reads or sets, and the doorbells of its queues, each a frame of its own
//! placed by CAP.DSTRD.

use crate::pci::Bar;
use core::marker::PhantomData;
use core::ptr::NonNull;
use gicv3_its::registers::MmioFrame;
use gicv3_its::registers::{
    Access, FrameKind, ReadAccess, ReadOnly, ReadWrite, Readable, Register, RegisterFrame,
    Writable, WriteAccess, WriteOnly,
};
use gicv3_its::tock_registers::{LocalRegisterCopy, RegisterLongName, register_bitfields};

/// The controller registers at the start of BAR0; the doorbells follow.
#[derive(Debug)]
pub(super) enum Controller {}

impl FrameKind for Controller {
    const SIZE: usize = DOORBELLS;
    const NAME: &'static str = "NVMe controller registers";
}

/// Where the doorbells start in BAR0: queue y's submission queue tail
/// doorbell is at `DOORBELLS + 2y * stride`, its completion queue head
/// doorbell one stride above, with a stride of `4 << CAP.DSTRD` bytes.
const DOORBELLS: usize = 0x1000;

/// A submission queue's tail doorbell (SQyTDBL).
#[derive(Debug)]
pub(super) enum SubmissionTailDoorbell {}

impl FrameKind for SubmissionTailDoorbell {
    const SIZE: usize = 4;
    const NAME: &'static str = "NVMe SQ tail doorbell";
}

/// A completion queue's head doorbell (CQyHDBL).
#[derive(Debug)]
pub(super) enum CompletionHeadDoorbell {}

impl FrameKind for CompletionHeadDoorbell {
    const SIZE: usize = 4;
    const NAME: &'static str = "NVMe CQ head doorbell";
}

register_bitfields! [u64,
    /// CAP, controller capabilities.
    pub(super) CAP [
        /// Maximum queue entries supported, minus one.
        MQES OFFSET(0) NUMBITS(16) [],
        /// Worst-case time to become ready, or not ready, after CC.EN
        /// changes, in 500 ms units.
        TO OFFSET(24) NUMBITS(8) [],
        /// Doorbell stride: doorbells are `4 << DSTRD` bytes apart.
        DSTRD OFFSET(32) NUMBITS(4) [],
        /// Command sets supported, one bit each ([`CSS_NVM`]: NVM).
        CSS OFFSET(37) NUMBITS(8) [],
        /// Smallest memory page size: `2 ^ (12 + MPSMIN)` bytes.
        MPSMIN OFFSET(48) NUMBITS(4) [],
        /// Largest memory page size: `2 ^ (12 + MPSMAX)` bytes.
        MPSMAX OFFSET(52) NUMBITS(4) []
    ]
];

/// CAP.CSS: the NVM command set (CAP bit 37).
pub(super) const CSS_NVM: u64 = 1 << 0;

register_bitfields! [u32,
    /// VS, the version of the specification the controller implements.
    pub(super) VS [
        /// Tertiary version.
        TER OFFSET(0) NUMBITS(8) [],
        /// Minor version.
        MNR OFFSET(8) NUMBITS(8) [],
        /// Major version.
        MJR OFFSET(16) NUMBITS(16) []
    ],
    /// CC, controller configuration.
    pub(super) CC [
        /// Enable: the controller processes commands once CSTS.RDY is 1;
        /// clearing it resets the controller.
        EN OFFSET(0) NUMBITS(1) [],
        /// I/O command set selected.
        CSS OFFSET(4) NUMBITS(3) [
            NVM = 0
        ],
        /// Memory page size: `2 ^ (12 + MPS)` bytes.
        MPS OFFSET(7) NUMBITS(4) [
            Size4K = 0
        ],
        /// Arbitration mechanism selected.
        AMS OFFSET(11) NUMBITS(3) [
            RoundRobin = 0
        ],
        /// Shutdown notification.
        SHN OFFSET(14) NUMBITS(2) [
            None = 0,
            Normal = 1,
            Abrupt = 2
        ],
        /// I/O submission queue entry size: `2 ^ IOSQES` bytes.
        IOSQES OFFSET(16) NUMBITS(4) [],
        /// I/O completion queue entry size: `2 ^ IOCQES` bytes.
        IOCQES OFFSET(20) NUMBITS(4) []
    ],
    /// CSTS, controller status.
    pub(super) CSTS [
        /// Ready: the controller follows CC.EN = 1 (processes commands).
        RDY OFFSET(0) NUMBITS(1) [],
        /// Controller fatal status.
        CFS OFFSET(1) NUMBITS(1) [],
        /// Shutdown status.
        SHST OFFSET(2) NUMBITS(2) [
            Normal = 0,
            Occurring = 1,
            Complete = 2
        ]
    ],
    /// AQA, admin queue attributes.
    pub(super) AQA [
        /// Admin submission queue size, minus one.
        ASQS OFFSET(0) NUMBITS(12) [],
        /// Admin completion queue size, minus one.
        ACQS OFFSET(16) NUMBITS(12) []
    ],
    /// SQyTDBL, a submission queue's tail doorbell.
    pub(super) SQTDBL [
        /// The new tail: the entries up to it are submitted.
        SQT OFFSET(0) NUMBITS(16) []
    ],
    /// CQyHDBL, a completion queue's head doorbell.
    pub(super) CQHDBL [
        /// The new head: the entries before it are consumed.
        CQH OFFSET(0) NUMBITS(16) []
    ]
];

/// CAP, controller capabilities.
pub(super) const CAP: Register64<CAP::Register, ReadOnly> = Register64::new(0x00, "CAP");
/// VS, version.
pub(super) const VS: Register<Controller, u32, VS::Register, ReadOnly> = Register::new(0x08, "VS");
/// CC, controller configuration.
pub(super) const CC: Register<Controller, u32, CC::Register, ReadWrite> = Register::new(0x14, "CC");
/// CSTS, controller status. Read-write: NSSRO (bit 4) is write-1-to-clear,
/// though the driver never clears it.
pub(super) const CSTS: Register<Controller, u32, CSTS::Register, ReadWrite> =
    Register::new(0x1c, "CSTS");
/// AQA, admin queue attributes.
pub(super) const AQA: Register<Controller, u32, AQA::Register, ReadWrite> =
    Register::new(0x24, "AQA");
/// ASQ, the admin submission queue's base address (page aligned).
pub(super) const ASQ: Register64<(), ReadWrite> = Register64::new(0x28, "ASQ");
/// ACQ, the admin completion queue's base address (page aligned).
pub(super) const ACQ: Register64<(), ReadWrite> = Register64::new(0x30, "ACQ");

/// SQyTDBL. The specification makes the field read-write but says the host
/// should not read a doorbell (what it returns is vendor specific), so the
/// descriptor only allows writes.
pub(super) const SQTDBL: Register<SubmissionTailDoorbell, u32, SQTDBL::Register, WriteOnly> =
    Register::new(0, "SQyTDBL");
/// CQyHDBL; write-only for the same reason as [`SQTDBL`](const@SQTDBL).
pub(super) const CQHDBL: Register<CompletionHeadDoorbell, u32, CQHDBL::Register, WriteOnly> =
    Register::new(0, "CQyHDBL");

/// What CSTS holds.
pub(super) type Status = LocalRegisterCopy<u32, CSTS::Register>;

/// CSTS reads all ones: the function no longer answers (reset or removed).
pub(super) fn is_gone(csts: Status) -> bool {
    csts.get() == u32::MAX
}

/// CSTS.CFS: the controller reports a fatal error (and still answers).
pub(super) fn is_fatal(csts: Status) -> bool {
    csts.is_set(CSTS::CFS) && !is_gone(csts)
}

/// A 64-bit controller register that the driver reaches as two 32-bit
/// halves, low half first: NVMe allows either, and Linux's driver does the
/// same (`lo_hi_readq`, `lo_hi_writeq`) for controllers that mishandle
/// 64-bit accesses.
pub(super) struct Register64<F, A> {
    low: Register<Controller, u32, (), A>,
    high: Register<Controller, u32, (), A>,
    _fields: PhantomData<fn() -> F>,
}

impl<F: RegisterLongName, A: Access> Register64<F, A> {
    const fn new(offset: usize, name: &'static str) -> Self {
        Self {
            low: Register::new(offset, name),
            high: Register::new(offset + 4, name),
            _fields: PhantomData,
        }
    }
}

/// The controller's registers in BAR0.
pub(super) struct Registers {
    controller: MmioFrame<Controller>,
    /// Bytes of BAR0, which the doorbells must lie in.
    size: usize,
}

/// The doorbells of one queue pair.
pub(super) struct Doorbells {
    pub(super) submission_tail: MmioFrame<SubmissionTailDoorbell>,
    pub(super) completion_head: MmioFrame<CompletionHeadDoorbell>,
}

impl Registers {
    /// The registers in `bar0`, an NVMe controller's BAR0 as the PCI
    /// enumerator assigned it; `None` if it is too small to hold them.
    pub(super) fn new(bar0: &Bar) -> Option<Self> {
        let size = usize::try_from(bar0.size).ok()?;
        if size < Controller::SIZE {
            return None;
        }
        let base = NonNull::new(bar0.cpu_address as *mut u8)?;
        // SAFETY: an assigned BAR0 of at least `Controller::SIZE` bytes,
        // identity mapped as Device memory for ever (paging.rs maps the host
        // bridge's windows); only this driver uses the controller.
        let controller = unsafe { MmioFrame::new(base) };
        Some(Self { controller, size })
    }

    /// Reads a 64-bit register, low half first.
    pub(super) fn read64<F: RegisterLongName, A: Readable>(
        &self,
        register: Register64<F, A>,
    ) -> LocalRegisterCopy<u64, F> {
        let low = self.controller.read(register.low).get();
        let high = self.controller.read(register.high).get();
        LocalRegisterCopy::new(u64::from(low) | u64::from(high) << 32)
    }

    /// Writes a 64-bit register, low half first.
    pub(super) fn write64<F: RegisterLongName, A: Writable>(
        &self,
        register: Register64<F, A>,
        value: u64,
    ) {
        let (low, high) = (value as u32, (value >> 32) as u32);
        self.controller
            .write(register.low, LocalRegisterCopy::new(low));
        self.controller
            .write(register.high, LocalRegisterCopy::new(high));
    }

    /// The doorbells of queue pair `queue_id`, `stride` (`4 << CAP.DSTRD`)
    /// bytes apart; `None` if they do not lie in BAR0.
    pub(super) fn doorbells(&self, queue_id: u16, stride: usize) -> Option<Doorbells> {
        let submission_tail = usize::from(queue_id)
            .checked_mul(2 * stride)?
            .checked_add(DOORBELLS)?;
        let completion_head = submission_tail.checked_add(stride)?;
        if completion_head.checked_add(CompletionHeadDoorbell::SIZE)? > self.size {
            return None;
        }
        let at = |offset: usize| NonNull::new(self.controller.base().as_ptr().wrapping_add(offset));
        let (submission_tail, completion_head) = (at(submission_tail)?, at(completion_head)?);
        // SAFETY: both doorbells lie in BAR0 (checked above), which `new`
        // found mapped as Device memory for ever and only this driver uses.
        unsafe {
            Some(Doorbells {
                submission_tail: MmioFrame::new(submission_tail),
                completion_head: MmioFrame::new(completion_head),
            })
        }
    }
}

/// The controller registers: read and written through `Registers` as
/// through the frame itself.
impl RegisterFrame for Registers {
    type Kind = Controller;

    fn load(&self, access: ReadAccess<Controller>) -> u64 {
        self.controller.load(access)
    }

    fn store(&self, access: WriteAccess<Controller>, value: u64) {
        self.controller.store(access, value);
    }
}
