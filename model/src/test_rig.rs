//! What the unit tests share: an ITS and its redistributors programmed by
//! hand, as a driver would, and the commands they send.

use crate::{CommandError, ItsModel, ModelConfig, ModelGits, ModelMemory, Violation};
use crate::{GicrRegister as R, GitsRegister as G};
use gicv3_its::ItsCommand as C;
use gicv3_its::{COMMAND_SIZE, ItsCommand, RdBase};
use gicv3_its::{CollectionId, DeviceId, DmaMemory, DmaRegion, DmaRequest, EventId, IntId};

pub(crate) const LPI: u32 = 8200;
pub(crate) const LPI_ID: IntId = IntId(LPI);
pub(crate) const VALID: u64 = 1 << 63;
pub(crate) const INNER_SHAREABLE: u64 = 1 << 10;
pub(crate) const PAGE_64K: u64 = 2 << 8;
pub(crate) const PTZ: u64 = 1 << 62;

/// The CPU's accesses to a region, as a driver makes them (the driver's
/// own accessors are private to it): `false` or `None` outside it.
pub(crate) trait CpuAccess {
    fn write_u64(&mut self, offset: usize, value: u64) -> bool;
    fn read_u64(&self, offset: usize) -> Option<u64>;
    fn write_u8(&mut self, offset: usize, value: u8) -> bool;
    fn read_u8(&self, offset: usize) -> Option<u8>;
}

impl CpuAccess for DmaRegion {
    fn write_u64(&mut self, offset: usize, value: u64) -> bool {
        let inside = offset.checked_add(8).is_some_and(|end| end <= self.size());
        if inside {
            // SAFETY: the 8 bytes are inside the region, which the model
            // handed out and which lives as long as the model.
            unsafe {
                self.virt()
                    .as_ptr()
                    .add(offset)
                    .cast::<u64>()
                    .write_unaligned(value.to_le())
            };
        }
        inside
    }

    fn read_u64(&self, offset: usize) -> Option<u64> {
        let inside = offset.checked_add(8).is_some_and(|end| end <= self.size());
        inside.then(|| {
            let at = self.virt().as_ptr().wrapping_add(offset).cast::<u64>();
            // SAFETY: as in `write_u64`.
            u64::from_le(unsafe { at.read_unaligned() })
        })
    }

    fn write_u8(&mut self, offset: usize, value: u8) -> bool {
        let inside = offset < self.size();
        if inside {
            // SAFETY: as in `write_u64`.
            unsafe { self.virt().as_ptr().add(offset).write(value) };
        }
        inside
    }

    fn read_u8(&self, offset: usize) -> Option<u8> {
        // SAFETY: as in `write_u64`.
        (offset < self.size()).then(|| unsafe { self.virt().as_ptr().add(offset).read() })
    }
}

/// The ITS and redistributors programmed by hand, as a driver would.
pub(crate) struct Rig {
    pub(crate) model: ItsModel,
    pub(crate) gits: ModelGits,
    pub(crate) mem: ModelMemory,
    pub(crate) queue: DmaRegion,
    pub(crate) prop: DmaRegion,
    pub(crate) cwriter: usize,
}

impl Rig {
    /// A 4K queue, a 64K collection table (if any), LPIs enabled on every
    /// redistributor; no device table, the ITS disabled.
    pub(crate) fn bare(config: ModelConfig) -> Self {
        let model = ItsModel::new(config.clone());
        let mut mem = model.memory();
        let queue = mem.allocate_zeroed(DmaRequest::new(4096, 4096)).unwrap();
        let prop = mem
            .allocate_zeroed(DmaRequest::new((1 << 16) - 8192, 4096))
            .unwrap();
        let mut rig = Rig {
            gits: model.gits(),
            mem,
            queue,
            prop,
            cwriter: 0,
            model,
        };
        rig.clean(&rig.prop);
        rig.program_its(&rig.gits.clone(), rig.queue.phys());
        for i in 0..config.redistributors.len() {
            let pend = rig.alloc(8192, 0x1_0000);
            let gicr = rig.model.gicr(i);
            gicr.write_register(R::Propbaser, rig.prop.phys() | 15 | INNER_SHAREABLE);
            gicr.write_register(R::Pendbaser, pend.phys() | INNER_SHAREABLE | PTZ);
            gicr.write_register(R::Ctlr, 1);
        }
        rig
    }

    /// `bare` plus a flat device table of 65536 DTEs, the ITS enabled.
    pub(crate) fn new(config: ModelConfig) -> Self {
        let mut rig = Self::bare(config);
        rig.enable_its(&rig.gits.clone());
        rig
    }

    /// ITS `index` of the same model, programmed as `new` programs ITS 0:
    /// its own queue, Collection table (if any) and Device table, enabled.
    pub(crate) fn other_its(&mut self, index: usize) -> ItsRig {
        let queue = self.alloc(4096, 4096);
        let gits = self.model.its(index).gits();
        self.program_its(&gits, queue.phys());
        self.enable_its(&gits);
        ItsRig {
            gits,
            mem: self.model.memory(),
            queue,
            cwriter: 0,
        }
    }

    /// A 4K queue at `queue` and a 64K collection table (if any).
    fn program_its(&mut self, gits: &ModelGits, queue: u64) {
        gits.write_register(G::Cbaser, VALID | queue | INNER_SHAREABLE);
        gits.write_register(G::Cwriter, 0);
        if self.model.config().collection_table {
            let table = self.alloc(0x1_0000, 0x1_0000);
            gits.write_register(
                G::Baser(1),
                VALID | table.phys() | PAGE_64K | INNER_SHAREABLE,
            );
        }
    }

    /// A flat device table of 65536 DTEs, the ITS enabled.
    fn enable_its(&mut self, gits: &ModelGits) {
        let table = self.alloc(8 << 16, 0x1_0000);
        gits.write_register(
            G::Baser(0),
            VALID | table.phys() | PAGE_64K | 7 | INNER_SHAREABLE,
        );
        gits.write_register(G::Ctlr, 1);
    }

    pub(crate) fn clean(&self, region: &DmaRegion) {
        self.mem
            .clean_invalidate_to_poc(region.virt(), region.size());
    }

    pub(crate) fn alloc(&mut self, size: usize, align: usize) -> DmaRegion {
        let region = self
            .mem
            .allocate_zeroed(DmaRequest::new(size, align))
            .unwrap();
        self.clean(&region);
        region
    }

    /// Writes commands at CWRITER, cleans them and rings the doorbell.
    pub(crate) fn submit(&mut self, commands: &[ItsCommand]) {
        let queue = (&mut self.queue, &mut self.cwriter);
        submit(&self.gits, &self.mem, queue, commands);
    }

    pub(crate) fn creadr(&self) -> u64 {
        self.gits.read_register(G::Creadr)
    }

    pub(crate) fn set_lpi(&mut self, intid: u32, property: u8) {
        assert!(self.prop.write_u8((intid - 8192) as usize, property));
        self.clean(&self.prop);
    }

    /// Maps collection `icid` to `rdbase` and event (`device_id`, 0) to
    /// LPI, with an ITT of 16 events.
    pub(crate) fn map(&mut self, device_id: u32, icid: u16, rdbase: RdBase) {
        let itt = self.alloc(256, 256);
        self.submit(&[
            mapc(icid, rdbase),
            mapd(device_id, 3, itt.phys()),
            mapti(device_id, 0, LPI, icid),
        ]);
    }
}

/// Another ITS of a [`Rig`]'s model ([`Rig::other_its`]).
pub(crate) struct ItsRig {
    pub(crate) gits: ModelGits,
    mem: ModelMemory,
    queue: DmaRegion,
    cwriter: usize,
}

impl ItsRig {
    /// Writes commands at CWRITER, cleans them and rings the doorbell.
    pub(crate) fn submit(&mut self, commands: &[ItsCommand]) {
        let queue = (&mut self.queue, &mut self.cwriter);
        submit(&self.gits, &self.mem, queue, commands);
    }

    pub(crate) fn creadr(&self) -> u64 {
        self.gits.read_register(G::Creadr)
    }
}

/// Writes commands into `queue` at its CWRITER offset, cleans them and
/// rings the doorbell.
fn submit(
    gits: &ModelGits,
    mem: &ModelMemory,
    (queue, cwriter): (&mut DmaRegion, &mut usize),
    commands: &[ItsCommand],
) {
    for command in commands {
        for (i, word) in command.encode().into_iter().enumerate() {
            assert!(queue.write_u64(*cwriter + i * 8, word));
        }
        *cwriter = (*cwriter + COMMAND_SIZE) % queue.size();
    }
    mem.clean_invalidate_to_poc(queue.virt(), queue.size());
    gits.write_register(G::Cwriter, *cwriter as u64);
}

pub(crate) fn mapd(device_id: u32, size: u8, itt_address: u64) -> ItsCommand {
    C::Mapd {
        device_id: DeviceId(device_id),
        size,
        itt_address,
        valid: true,
    }
}

pub(crate) fn unmapd(device_id: u32) -> ItsCommand {
    C::Mapd {
        device_id: DeviceId(device_id),
        size: 0,
        itt_address: 0,
        valid: false,
    }
}

pub(crate) fn mapc(icid: u16, rdbase: RdBase) -> ItsCommand {
    C::Mapc {
        icid: CollectionId(icid),
        rdbase,
        valid: true,
    }
}

pub(crate) fn mapti(device_id: u32, event_id: u32, intid: u32, icid: u16) -> ItsCommand {
    C::Mapti {
        device_id: DeviceId(device_id),
        event_id: EventId(event_id),
        intid: IntId(intid),
        icid: CollectionId(icid),
    }
}

pub(crate) fn command_errors(model: &ItsModel) -> Vec<CommandError> {
    let violations = model.take_violations().into_iter();
    violations
        .map(|violation| match violation {
            Violation::Command { error, .. } => error,
            other => panic!("not a command error: {other:?}"),
        })
        .collect()
}
