//! What the redistributors do: their registers, taking and clearing LPIs,
//! reading the property table and writing back pending state.

use super::{Gic, ItsMut};
use crate::arena::Agent;
use crate::commands::Fault;
use crate::registers::{GICR_TYPER_DIRECT_LPI, PENDBASER_RW, PROPBASER_RW};
use crate::{FIRST_LPI, GicrRegister, MemoryFault, MsiError, Translation, Violation};
use gicv3_its::IntId;
use gicv3_its::registers::GICR_CTLR_RO;
use gicv3_its::registers::{GICR_CTLR, GICR_PENDBASER, GICR_PROPBASER, GICR_TYPER};

impl Gic {
    pub(crate) fn gicr_read(&mut self, index: usize, register: GicrRegister) -> u64 {
        if !self.power_gate(index, register, false) {
            return 0;
        }
        if register == GicrRegister::Pwrr {
            return self.pwrr_read(index);
        }
        let last = index + 1 == self.rds.len();
        let rd = &mut self.rds[index];
        match register {
            GicrRegister::Ctlr => {
                let busy = rd.rwp_reads > 0;
                rd.rwp_reads = rd.rwp_reads.saturating_sub(1);
                let fixed = GICR_CTLR_RO::CES.val((!self.config.sticky_enable_lpis).into())
                    + GICR_CTLR_RO::RWP.val(busy.into());
                (GICR_CTLR::EnableLPIs.val(rd.enable_lpis.into()).value | fixed.value).into()
            }
            GicrRegister::Iidr => self.config.iidr.into(),
            GicrRegister::Typer => {
                let virtual_lpis = self.config.virtual_lpis;
                let typer = GICR_TYPER::PLPIS::SET
                    + GICR_TYPER::VLPIS.val(virtual_lpis.is_some().into())
                    + GICR_TYPER::Dirty.val(virtual_lpis.is_some().into())
                    + GICR_TYPER::RVPEID.val(virtual_lpis.is_some_and(|v| v.v4_1).into())
                    + GICR_TYPER::Last.val(last.into())
                    + GICR_TYPER::Processor_Number.val(self.config.processor_number(index).into())
                    + GICR_TYPER::Affinity_Value.val(index as u64);
                typer.value | GICR_TYPER_DIRECT_LPI
            }
            GicrRegister::Waker => rd.waker,
            GicrRegister::Propbaser => rd.propbaser,
            GicrRegister::Pendbaser => rd.pendbaser,
            GicrRegister::Invlpir
            | GicrRegister::Invallr
            | GicrRegister::Syncr
            | GicrRegister::Pwrr
            | GicrRegister::Other(_) => 0,
        }
    }

    pub(crate) fn gicr_write(&mut self, index: usize, register: GicrRegister, value: u64) {
        if !self.power_gate(index, register, true) {
            return;
        }
        if register == GicrRegister::Pwrr {
            return self.pwrr_write(index, value);
        }
        let shareability = self.rd_shareability_mask(index);
        let property_shareability = if self.config.non_shareable_property_tables.contains(&index) {
            0
        } else {
            shareability
        };
        let propbaser = self.fixed_fields(
            value & (PROPBASER_RW | property_shareability),
            GICR_PROPBASER::InnerCache,
            GICR_PROPBASER::Physical_Address,
        );
        let pendbaser = self.fixed_fields(
            value & (PENDBASER_RW | shareability),
            GICR_PENDBASER::InnerCache,
            GICR_PENDBASER::Physical_Address,
        );
        let rd = &mut self.rds[index];
        match register {
            GicrRegister::Ctlr => {
                let enable = GICR_CTLR::EnableLPIs.is_set(value as u32);
                if enable && !rd.enable_lpis {
                    self.enable_lpis(index);
                } else if !enable && rd.enable_lpis && !self.config.sticky_enable_lpis {
                    self.disable_lpis(index);
                }
            }
            GicrRegister::Propbaser | GicrRegister::Pendbaser
                if rd.enable_lpis || rd.rwp_reads > 0 =>
            {
                self.violations
                    .push(Violation::WriteWhileLpisEnabled(index, register))
            }
            GicrRegister::Propbaser => {
                rd.propbaser = propbaser;
                rd.cache.clear();
            }
            GicrRegister::Pendbaser => {
                rd.ptz = GICR_PENDBASER::PTZ.is_set(value);
                rd.pendbaser = pendbaser;
            }
            // ChildrenAsleep follows ProcessorSleep at once.
            GicrRegister::Waker => rd.waker = (value & 0b10) * 0b11,
            GicrRegister::Invlpir => {
                rd.cache.remove(&(value as u32));
            }
            GicrRegister::Invallr => rd.cache.clear(),
            GicrRegister::Iidr
            | GicrRegister::Typer
            | GicrRegister::Syncr
            | GicrRegister::Pwrr
            | GicrRegister::Other(_) => {}
        }
    }

    /// Setting EnableLPIs: the tables must be in memory; with PTZ = 0 the
    /// pending table is read.
    fn enable_lpis(&mut self, index: usize) {
        let rd = &mut self.rds[index];
        (rd.enable_lpis, rd.rwp_reads) = (true, self.config.rwp_reads);
        rd.cache.clear();
        let limit = rd.lpi_limit(self.config.lpi_id_bits);
        if limit == u64::from(FIRST_LPI) {
            // Fewer than 14 ID bits: every LPI is out of range, and the
            // tables are never read.
            return;
        }
        let (prop, pend, ptz) = (rd.prop_table(), rd.pend_table(), rd.ptz);
        let checks = [
            self.arena.check(
                prop,
                (limit - u64::from(FIRST_LPI)) as usize,
                "LPI property table",
            ),
            self.arena
                .check(pend, (limit / 8) as usize, "LPI pending table"),
        ];
        self.violations.extend(
            checks
                .into_iter()
                .filter_map(Result::err)
                .map(Violation::Memory),
        );
        // The first 1 KiB (INTIDs below 8192) is implementation defined.
        let first = u64::from(FIRST_LPI / 8);
        let Ok(table) = self.arena.read_vec_as(
            Agent::Redistributor,
            pend + first,
            (limit / 8 - first) as usize,
            "",
        ) else {
            return;
        };
        if ptz {
            // PTZ = 1 promises a zeroed table: the GIC may skip reading it
            // now and trust what it holds later.
            if table.iter().any(|&byte| byte != 0) {
                self.violations.push(Violation::PendingTableNotZero(index));
            }
            return;
        }
        for (i, byte) in table.into_iter().enumerate() {
            let set = (0..8).filter(|bit| byte & 1 << bit != 0);
            self.rds[index]
                .pending
                .extend(set.map(|bit| FIRST_LPI + (i * 8 + bit) as u32));
        }
    }

    /// Clearing EnableLPIs writes the pending state back to the pending table.
    fn disable_lpis(&mut self, index: usize) {
        let rd = &mut self.rds[index];
        (rd.enable_lpis, rd.rwp_reads) = (false, self.config.rwp_reads);
        rd.cache.clear();
        let pending = core::mem::take(&mut rd.pending);
        let first = u64::from(FIRST_LPI / 8);
        let (pend, len) = (
            rd.pend_table() + first,
            (rd.lpi_limit(self.config.lpi_id_bits) / 8 - first) as usize,
        );
        if len == 0 {
            return; // no LPI in range: nothing to write
        }
        if let Err(fault) = self.arena.check(pend, len, "LPI pending table") {
            return self.violations.push(Violation::Memory(fault));
        }
        let mut table = vec![0u8; len];
        for intid in pending {
            if let Some(byte) = table.get_mut(((intid - FIRST_LPI) / 8) as usize) {
                *byte |= 1 << (intid % 8);
            }
        }
        self.arena
            .write_as(Agent::Redistributor, pend, &table, "")
            .expect("checked");
    }

    /// The LPI's property byte, from the redistributor's cache or memory.
    fn lpi_property(&mut self, processor: usize, intid: u32) -> Result<u8, MemoryFault> {
        let rd = &self.rds[processor];
        if let Some(&byte) = rd.cache.get(&intid) {
            return Ok(byte);
        }
        let mut byte = [0];
        self.arena.read_as(
            Agent::Redistributor,
            rd.prop_table() + u64::from(intid - FIRST_LPI),
            &mut byte,
            "LPI property table",
        )?;
        self.rds[processor].cache.insert(intid, byte[0]);
        Ok(byte[0])
    }

    pub(crate) fn make_pending(&mut self, processor: usize, intid: u32) -> Result<(), MsiError> {
        let rd = &mut self.rds[processor];
        if !rd.enable_lpis {
            return Err(MsiError::LpisDisabled(processor));
        }
        if u64::from(intid) >= rd.lpi_limit(self.config.lpi_id_bits) {
            return Err(MsiError::LpiOutOfRange(IntId(intid)));
        }
        rd.pending.insert(intid);
        match self.lpi_property(processor, intid) {
            Ok(byte) if byte & 1 != 0 => Ok(()),
            Ok(_) => Err(MsiError::LpiDisabled(IntId(intid))),
            Err(fault) => {
                self.violations.push(Violation::Memory(fault));
                Err(MsiError::Memory(fault))
            }
        }
    }

    pub(crate) fn take_pending(&mut self, processor: usize) -> Vec<u32> {
        let pending: Vec<u32> = self.rds[processor].pending.iter().copied().collect();
        let mut taken = Vec::new();
        for intid in pending {
            match self.lpi_property(processor, intid) {
                Ok(byte) if byte & 1 != 0 => taken.push(intid),
                Ok(_) => {}
                Err(fault) => self.violations.push(Violation::Memory(fault)),
            }
        }
        for intid in &taken {
            self.rds[processor].pending.remove(intid);
        }
        taken
    }
}

impl ItsMut<'_> {
    pub(crate) fn send_msi(
        &mut self,
        device_id: u32,
        event_id: u32,
    ) -> Result<Translation, MsiError> {
        self.gic.stats.msis += 1;
        if !self.its.enabled {
            return Err(MsiError::ItsDisabled);
        }
        let translation = self
            .translate(device_id, event_id)
            .map_err(|fault| match fault {
                Fault::Command(error) => MsiError::Untranslatable(error),
                Fault::Memory(fault) => MsiError::Memory(fault),
            })?;
        self.gic
            .make_pending(translation.processor, translation.intid.0)?;
        Ok(translation)
    }
}
