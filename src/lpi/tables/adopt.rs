//! Adopting the LPI tables a previous owner left in use where EnableLPIs
//! cannot be cleared, as Linux adopts tables a previous kernel left in
//! reserved memory: both must lie inside the memory reserved for them
//! (the fixed region), a pending table across no other table.

use super::{Layout, LpiTables, Pendbaser, Place, Propbaser, Region, overlap};
use crate::id::ProcessorNumber;
use crate::lpi::{MAX_LPI_ID_BITS, MIN_LPI_ID_BITS};
use crate::registers::{GICR_PENDBASER, GICR_PROPBASER};

/// Why a previous owner's tables cannot be adopted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A table lies outside the memory the caller reserved for them, or
    /// across a table of the domain's.
    NotReserved,
    /// The property table would move while a redistributor still uses the
    /// one in place.
    PropertyTableInUse,
}

impl LpiTables {
    /// The place inside the fixed region of `len` bytes at `phys`, if they
    /// lie wholly inside it.
    fn reserved_place(&self, phys: u64, len: usize) -> Option<Place> {
        if self.layout != Layout::Fixed {
            return None;
        }
        let region = &self.first;
        let offset = usize::try_from(phys.checked_sub(region.phys())?).ok()?;
        (offset.checked_add(len)? <= region.size()).then_some(Place {
            region: Region::First,
            offset,
        })
    }

    /// Takes the tables a redistributor whose EnableLPIs cannot be cleared
    /// still uses ([`LpiTables::adoption`], then [`LpiTables::adopt_as`]).
    /// Returns whether the property table moved. Nothing changes on a
    /// refusal. (The two steps in one, for the tests.)
    #[cfg(test)]
    pub(crate) fn adopt(
        &mut self,
        propbaser: Propbaser,
        pendbaser: Pendbaser,
        processor_number: ProcessorNumber,
        in_use: bool,
        allocated: u32,
    ) -> Result<bool, Refusal> {
        let adoption = self.adoption(propbaser, pendbaser, processor_number, in_use, allocated)?;
        Ok(self.adopt_as(adoption))
    }

    /// Whether the tables a redistributor whose EnableLPIs cannot be
    /// cleared still uses can be taken, as Linux takes tables a previous
    /// kernel left: both must lie inside the memory reserved for them (the
    /// fixed region), the pending table across no other table of the
    /// domain's. A property table elsewhere than the domain's (or with other
    /// ID bits) would become the domain's, to be rewritten by the caller
    /// ([`LpiTables::write_property`]), but only while no other
    /// redistributor uses the one in place (`in_use`), and with other ID
    /// bits only while no LPI is allocated (`allocated == 0`). Changes
    /// nothing: the caller makes room for what it implies, then
    /// [`LpiTables::adopt_as`].
    pub(crate) fn adoption(
        &self,
        propbaser: Propbaser,
        pendbaser: Pendbaser,
        processor_number: ProcessorNumber,
        in_use: bool,
        allocated: u32,
    ) -> Result<Adoption, Refusal> {
        let found_bits = propbaser.read(GICR_PROPBASER::IDbits) as u32 + 1;
        if !(MIN_LPI_ID_BITS..=MAX_LPI_ID_BITS).contains(&found_bits)
            || (found_bits != self.id_bits && allocated > 0)
        {
            return Err(Refusal::NotReserved);
        }
        let property_phys = propbaser.read(GICR_PROPBASER::Physical_Address) << 12;
        let property = self
            .reserved_place(property_phys, Self::property_bytes(found_bits))
            .ok_or(Refusal::NotReserved)?;
        let pending_phys = pendbaser.read(GICR_PENDBASER::Physical_Address) << 16;
        let pending = self
            .reserved_place(pending_phys, Self::pending_bytes(found_bits))
            .ok_or(Refusal::NotReserved)?;
        let moves = property != self.property || found_bits != self.id_bits;
        if moves && in_use {
            return Err(Refusal::PropertyTableInUse);
        }
        // Check against the tables as they will be: with the property table
        // moved, no other redistributor keeps a pending table (none uses
        // the domain's tables), so only the property table can be crossed.
        let crosses_property = overlap(
            (property.offset, Self::property_bytes(found_bits)),
            (pending.offset, Self::pending_bytes(found_bits)),
        );
        if crosses_property
            || (!moves && self.overlaps(pending, Self::pending_bytes(found_bits), processor_number))
        {
            return Err(Refusal::NotReserved);
        }
        Ok(Adoption {
            processor_number,
            id_bits: found_bits,
            property,
            pending,
            moves,
        })
    }

    /// Takes the tables [`LpiTables::adoption`] accepted. Returns whether
    /// the property table moved.
    pub(crate) fn adopt_as(&mut self, adoption: Adoption) -> bool {
        if adoption.moves {
            self.pending.drain(|_, _| {});
            self.property = adoption.property;
            self.id_bits = adoption.id_bits;
            self.property_ready = false;
            self.property_attributes = None;
        }
        // Room reserved by the caller ([`LpiTables::reserve_pending`]).
        let _ = self
            .pending
            .insert(adoption.processor_number, adoption.pending);
        adoption.moves
    }
}

/// Tables [`LpiTables::adoption`] accepted, to be taken.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Adoption {
    processor_number: ProcessorNumber,
    /// The ID bits of the adopted property table.
    pub(crate) id_bits: u32,
    property: Place,
    pending: Place,
    moves: bool,
}

#[cfg(test)]
mod tests {
    use super::super::tests::{P0, P1, PHYS, fixed, pend, prop};
    use super::*;
    use crate::memory::{DmaRegion, MemoryAttributes};
    use crate::quirks::Quirks;

    /// A 2 MiB reserved region: the domain's layout (14 bits) at its start,
    /// a previous owner's 15-bit tables at 1 MiB.
    const FOREIGN: u64 = PHYS + (1 << 20);

    #[test]
    fn tables_inside_the_region_are_adopted_and_the_property_table_moves() {
        let mut buffer = std::vec![0u8; 2 << 20];
        let mut tables = fixed(&mut buffer);
        let pending = FOREIGN + 65536;
        assert_eq!(
            tables.adopt(prop(FOREIGN, 15), pend(pending), P0, false, 0),
            Ok(true)
        );
        assert_eq!(tables.id_bits(), 15);
        assert!(!tables.property_ready(), "to be rewritten");
        assert!(tables.is_ours(prop(FOREIGN, 15), pend(pending), P0));
        // A second redistributor on the same property table: adopted, the
        // property table stays.
        let pending_1 = FOREIGN + 2 * 65536;
        assert_eq!(
            tables.adopt(prop(FOREIGN, 15), pend(pending_1), P1, true, 5),
            Ok(false)
        );
        assert!(tables.is_ours(prop(FOREIGN, 15), pend(pending_1), P1));
    }

    #[test]
    fn adoption_is_refused_outside_the_region_or_across_another_table() {
        let mut buffer = std::vec![0u8; 2 << 20];
        let mut tables = fixed(&mut buffer);
        let pending = FOREIGN + 65536;
        let refused = Err(Refusal::NotReserved);
        // Outside the region: the property table, the pending table.
        assert_eq!(
            tables.adopt(prop(PHYS + (2 << 20), 15), pend(pending), P0, false, 0),
            refused
        );
        assert_eq!(
            tables.adopt(prop(FOREIGN, 15), pend(PHYS + (2 << 20)), P0, false, 0),
            refused
        );
        // Across the end of the region.
        let last = PHYS + (2 << 20) - 65536;
        assert_eq!(
            tables.adopt(prop(last, 17), pend(pending), P0, false, 0),
            refused
        );
        // ID bits out of range.
        assert_eq!(
            tables.adopt(prop(FOREIGN, 13), pend(pending), P0, false, 0),
            refused
        );
        assert_eq!(
            tables.adopt(prop(FOREIGN, 25), pend(pending), P0, false, 0),
            refused
        );
        // A pending table across the property table.
        assert_eq!(
            tables.adopt(prop(FOREIGN, 15), pend(FOREIGN), P0, false, 0),
            refused
        );
        // Other ID bits while LPIs are allocated.
        assert_eq!(
            tables.adopt(prop(FOREIGN, 15), pend(pending), P0, false, 1),
            refused
        );
        assert_eq!(tables.id_bits(), 14, "nothing changed");
        // The same ID bits while LPIs are allocated: adopted.
        assert_eq!(
            tables.adopt(prop(FOREIGN, 14), pend(pending), P0, false, 1),
            Ok(true)
        );
        // Another redistributor's pending table across the first's.
        assert_eq!(
            tables.adopt(prop(FOREIGN, 14), pend(pending), P1, true, 1),
            refused
        );
        // Its own again (the same redistributor): not across itself.
        assert_eq!(
            tables.adopt(prop(FOREIGN, 14), pend(pending), P0, true, 1),
            Ok(false)
        );
    }

    #[test]
    fn a_property_table_in_use_does_not_move() {
        let mut buffer = std::vec![0u8; 2 << 20];
        let mut tables = fixed(&mut buffer);
        let pending = FOREIGN + 65536;
        assert_eq!(
            tables.adopt(prop(FOREIGN, 14), pend(pending), P0, true, 0),
            Err(Refusal::PropertyTableInUse)
        );
        // In place (the domain's own property table) it need not move.
        assert_eq!(
            tables.adopt(prop(PHYS, 14), pend(pending), P0, true, 0),
            Ok(false)
        );
    }

    #[test]
    fn an_allocated_layout_adopts_nothing() {
        let mut buffer = std::vec![0u8; 3 * 65536];
        let virt = core::ptr::NonNull::new(buffer.as_mut_ptr()).unwrap();
        // SAFETY: `buffer`, used through the tables only.
        let region = unsafe { DmaRegion::new(virt, PHYS, buffer.len()) };
        let mut tables = LpiTables::allocated(
            region,
            14,
            MemoryAttributes::InnerShareableWriteBack,
            Quirks::empty(),
        );
        assert_eq!(tables.fixed_slots(), None);
        assert_eq!(
            tables.adopt(prop(PHYS, 14), pend(PHYS + 65536), P0, false, 0),
            Err(Refusal::NotReserved)
        );
    }
}
