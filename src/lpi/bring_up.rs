//! A redistributor brought up on the domain's tables: powered, a vPE left
//! resident retired, then its LPIs kept running on exactly the domain's
//! tables, or on a previous owner's it cannot be turned off from
//! (adopted, [`LpiTables::adopt`]), or programmed afresh (Arm IHI 0069
//! 5.1, GICR_CTLR).

use super::Domain;
use super::redistributor::{self, Found};
use super::tables::{LpiTables, Refusal};
use crate::error::ItsError;
use crate::id::ProcessorNumber;
use crate::memory::{DmaMemory, MemoryAttributes};
use crate::quirks::{self, Quirks};
use crate::registers::{GICR_TYPER, GicrFrame};
use crate::wait::WaitPolicy;

impl<M: DmaMemory> Domain<M> {
    /// From now on every write to the tables is cleaned, for every
    /// redistributor (they share the property table), and what was written
    /// before is cleaned now.
    fn stop_snooping(&mut self) {
        if !self.tables.attributes.needs_cache_clean() {
            self.tables.attributes = MemoryAttributes::NonCacheable;
            self.tables.clean_all(&self.memory);
        }
    }

    /// Powers the redistributor behind `gicr` up where it needs it, stops a
    /// vPE left resident on it (`virtual_lpis`, if it has virtual LPIs),
    /// and enables its LPIs on the domain's tables, or keeps it running on
    /// the tables it has: exactly the domain's, or a previous owner's it
    /// cannot be turned off from ([`Domain::adopt`]). Returns whether it
    /// was kept as found.
    pub(super) fn bring_up<G: GicrFrame>(
        &mut self,
        gicr: &G,
        processor_number: ProcessorNumber,
        virtual_lpis: impl FnOnce(ProcessorNumber, WaitPolicy) -> Result<(), ItsError>,
    ) -> Result<bool, ItsError> {
        // Room to record its pending table before anything changes.
        self.tables.reserve_pending(processor_number)?;
        let quirks = redistributor::quirks(gicr, self.quirks);
        let unreachable = self
            .tables
            .ranges()
            .find(|&(phys, len)| !quirks::reachable(quirks, phys, len));
        if let Some((phys, _)) = unreachable {
            return Err(ItsError::UnencodableAddress { phys });
        }
        if quirks.contains(Quirks::REDISTRIBUTOR_POWER) {
            redistributor::power_up(gicr, self.wait)?;
        }
        if gicr.read(GICR_TYPER).is_set(GICR_TYPER::VLPIS) {
            virtual_lpis(processor_number, self.wait)?;
        }
        if quirks.contains(Quirks::NON_COHERENT) {
            self.stop_snooping();
        }
        let found = Found::read(gicr);
        if found.enabled {
            log::info!(
                "its: redistributor {processor_number}: LPIs left enabled (GICR_PROPBASER {:#x}, GICR_PENDBASER {:#x})",
                found.propbaser.get(),
                found.pendbaser.get()
            );
            if self
                .tables
                .is_ours(found.propbaser, found.pendbaser, processor_number)
            {
                // Clearing EnableLPIs would only drop its pending LPIs.
                self.tables.keep_pending(processor_number);
                self.take_attributes(&found);
                self.write_property_once();
                return Ok(true);
            }
            if !redistributor::disable(gicr, self.wait)? {
                self.adopt(&found, processor_number)?;
                return Ok(true);
            }
        }
        self.write_property_once();
        // A previous owner may have cleared EnableLPIs a moment ago.
        redistributor::wait_rwp(gicr, self.wait)?;
        let pending = self
            .tables
            .place_pending(&mut self.memory, processor_number)?;
        if !quirks::reachable(
            quirks,
            pending,
            LpiTables::pending_bytes(self.tables.id_bits()),
        ) {
            return Err(ItsError::UnencodableAddress { phys: pending });
        }
        self.tables.clear_pending(&self.memory, processor_number);
        redistributor::program(gicr, &mut self.tables, &self.memory, pending, self.wait)?;
        Ok(false)
    }

    /// Adopts the tables of a redistributor whose EnableLPIs cannot be
    /// cleared, if they lie in memory reserved for them
    /// ([`LpiTables::adopt`]); a property table that moves keeps the
    /// configuration of every allocated LPI.
    fn adopt(&mut self, found: &Found, processor_number: ProcessorNumber) -> Result<(), ItsError> {
        // (A ready redistributor is one running on the domain's tables: this
        // one, found on others, is not.)
        let in_use = self.redistributors.values().any(|info| info.ready);
        let allocated = self.allocator.allocated();
        let id_bits = self.tables.id_bits();
        let from = self.tables.written_property();
        let adoption = self
            .tables
            .adoption(
                found.propbaser,
                found.pendbaser,
                processor_number,
                in_use,
                allocated,
            )
            .map_err(|refusal| match refusal {
                Refusal::NotReserved => ItsError::LpiTablesLocked {
                    processor_number,
                    propbaser: found.propbaser.get(),
                    pendbaser: found.pendbaser.get(),
                },
                Refusal::PropertyTableInUse => ItsError::LpiPropertyTableConflict {
                    processor_number,
                    propbaser: found.propbaser.get(),
                },
            })?;
        if adoption.id_bits != id_bits {
            // Room for the allocator of the adopted ID bits before anything
            // changes; then every LPI is free (other bits are adopted only
            // while nothing is allocated).
            self.allocator.reserve_for(adoption.id_bits)?;
            self.allocator.reset(adoption.id_bits);
        }
        let moved = self.tables.adopt_as(adoption);
        self.take_attributes(found);
        if moved {
            let allocator = &self.allocator;
            self.tables
                .write_property(&self.memory, from, |intid| allocator.is_allocated(intid));
        } else {
            self.write_property_once();
        }
        Ok(())
    }

    /// Takes the attributes a redistributor kept from whoever programmed
    /// it: if they are not coherent, every table write is cleaned from now
    /// on; its PROPBASER's are what the others are asked for.
    fn take_attributes(&mut self, found: &Found) {
        self.tables
            .property_attributes
            .get_or_insert(if found.coherent() {
                MemoryAttributes::InnerShareableWriteBack
            } else {
                MemoryAttributes::NonCacheable
            });
        if !found.coherent() {
            self.stop_snooping();
        }
    }

    /// Writes the property table if it has not been since it became the
    /// domain's.
    fn write_property_once(&mut self) {
        if !self.tables.property_ready() {
            self.tables.write_property(&self.memory, None, |_| false);
        }
    }
}
