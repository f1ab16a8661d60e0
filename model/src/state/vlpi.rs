//! The GICv4 VLPI_base frame's registers (GICR_VPROPBASER, GICR_VPENDBASER)
//! and what a resident vPE does to memory.

use super::Gic;
use crate::arena::Agent;
use crate::vpe::{VPE_ID, VPE_TABLE_ADDRESS, VPT_ADDRESS, VPT_BYTES, VlpiRegisters};
use crate::{GicrVlpiRegister, Violation, VirtualLpis};
use gicv3_its::DmaRequest;
use gicv3_its::registers::{GICR_VPENDBASER, GICR_VPROPBASER};

impl Gic {
    pub(crate) fn virtual_lpis(&self) -> Option<VirtualLpis> {
        self.config.virtual_lpis
    }

    /// At power-on: a previous owner's vPE resident on every redistributor,
    /// if the configuration says so.
    pub(crate) fn leave_resident_vpes(&mut self) {
        let Some(virtual_lpis) = self.virtual_lpis().filter(|v| v.left_resident) else {
            return;
        };
        for index in 0..self.rds.len() {
            let Some(vpt) = self.allocate(DmaRequest::new(VPT_BYTES, VPT_BYTES)) else {
                return;
            };
            let vpt = vpt.phys();
            let vlpi = if virtual_lpis.v4_1 {
                // A vPE table of one page whose entry `index` is this vPE.
                let Some(table) = self.allocate(DmaRequest::new(4096, 4096)) else {
                    return;
                };
                let entry = table.phys() + 8 * index as u64;
                self.arena
                    .write_as(Agent::Redistributor, entry, &vpt.to_le_bytes(), "vPE table")
                    .expect("the table was just allocated");
                VlpiRegisters {
                    vpropbaser: GICR_VPROPBASER::Valid::SET.value | table.phys(),
                    vpendbaser: GICR_VPENDBASER::Valid::SET.value | index as u64,
                    dirty_reads: 0,
                }
            } else {
                VlpiRegisters {
                    vpropbaser: 0,
                    vpendbaser: GICR_VPENDBASER::Valid::SET.value | vpt,
                    dirty_reads: 0,
                }
            };
            self.rds[index].vlpi = vlpi;
        }
    }

    /// The pending table of the vPE resident on redistributor `index`, if
    /// one is.
    fn resident_vpt(&self, index: usize) -> Option<u64> {
        let virtual_lpis = self.virtual_lpis()?;
        let vlpi = &self.rds[index].vlpi;
        if !GICR_VPENDBASER::Valid.is_set(vlpi.vpendbaser) {
            return None;
        }
        if !virtual_lpis.v4_1 {
            return Some(vlpi.vpendbaser & VPT_ADDRESS);
        }
        let entry = (vlpi.vpropbaser & VPE_TABLE_ADDRESS) + 8 * (vlpi.vpendbaser & VPE_ID);
        let mut bytes = [0; 8];
        self.arena
            .read_as(Agent::Redistributor, entry, &mut bytes, "vPE table")
            .ok()?;
        Some(u64::from_le_bytes(bytes) & VPT_ADDRESS)
    }

    /// Time passes: each resident vPE gets a virtual LPI, which its
    /// redistributor records in the vPE's pending table.
    pub(crate) fn run_vpes(&mut self) {
        for index in 0..self.rds.len() {
            if let Some(vpt) = self.resident_vpt(index) {
                // INTID 8192's bit, as a vLPI would set it.
                let byte = vpt + 8192 / 8;
                let _ = self
                    .arena
                    .write_as(Agent::Redistributor, byte, &[1], "vPE pending table");
                self.violations
                    .push(Violation::ResidentVpeWrote(index, byte));
            }
        }
    }

    pub(crate) fn vlpi_read(&mut self, index: usize, register: GicrVlpiRegister) -> u64 {
        if self.virtual_lpis().is_none() {
            return 0;
        }
        let vlpi = &mut self.rds[index].vlpi;
        match register {
            GicrVlpiRegister::Vpropbaser => vlpi.vpropbaser,
            GicrVlpiRegister::Vpendbaser => {
                let dirty = vlpi.dirty_reads > 0;
                vlpi.dirty_reads = vlpi.dirty_reads.saturating_sub(1);
                vlpi.vpendbaser | GICR_VPENDBASER::Dirty.val(dirty.into()).value
            }
            GicrVlpiRegister::Other(_) => 0,
        }
    }

    pub(crate) fn vlpi_write(&mut self, index: usize, register: GicrVlpiRegister, value: u64) {
        let Some(virtual_lpis) = self.virtual_lpis() else {
            return;
        };
        let resident = GICR_VPENDBASER::Valid.is_set(self.rds[index].vlpi.vpendbaser);
        let vlpi = &mut self.rds[index].vlpi;
        let too_early = match register {
            GicrVlpiRegister::Vpendbaser => vlpi.dirty_reads > 0,
            GicrVlpiRegister::Vpropbaser => virtual_lpis.v4_1 && (resident || vlpi.dirty_reads > 0),
            GicrVlpiRegister::Other(_) => false,
        };
        if too_early {
            return self
                .violations
                .push(Violation::VpeRegisterWrittenTooEarly(index, register));
        }
        match register {
            GicrVlpiRegister::Vpendbaser => {
                let dirty = GICR_VPENDBASER::Dirty.val(1).value;
                vlpi.vpendbaser = value & !dirty;
                if resident && !GICR_VPENDBASER::Valid.is_set(value) {
                    // Made non-resident: the pending state is written back
                    // (to the previous owner's table, before Dirty clears).
                    vlpi.dirty_reads = virtual_lpis.dirty_reads;
                }
            }
            GicrVlpiRegister::Vpropbaser => vlpi.vpropbaser = value,
            GicrVlpiRegister::Other(_) => {}
        }
    }
}
