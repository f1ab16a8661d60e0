//! The redistributors' LPI side: their registers (EnableLPIs,
//! GICR_PROPBASER and GICR_PENDBASER, the direct invalidations), the cached
//! LPI properties, the pending state and the delivery of MSIs.

use crate::FIRST_LPI;
use crate::registers::bits;
use crate::vpe::VlpiRegisters;
use gicv3_its::registers::{GICR_PENDBASER, GICR_PROPBASER};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub(crate) struct Redistributor {
    pub(crate) enable_lpis: bool,
    pub(crate) rwp_reads: u32,
    pub(crate) waker: u64,
    pub(crate) propbaser: u64,
    pub(crate) pendbaser: u64,
    /// GICR_PENDBASER.PTZ as last written (it reads as 0).
    pub(crate) ptz: bool,
    pub(crate) pending: BTreeSet<u32>,
    /// Cached LPI property bytes.
    pub(crate) cache: BTreeMap<u32, u8>,
    /// GICR_PWRR.RDPD as last written: this redistributor allows its
    /// group to be powered down.
    pub(crate) rdpd: bool,
    /// The VLPI_base frame's registers (GICv4).
    pub(crate) vlpi: VlpiRegisters,
}

impl Redistributor {
    pub(crate) fn prop_table(&self) -> u64 {
        self.propbaser & bits(GICR_PROPBASER::Physical_Address)
    }

    pub(crate) fn pend_table(&self) -> u64 {
        self.pendbaser & bits(GICR_PENDBASER::Physical_Address)
    }

    /// One past the largest INTID the LPI tables cover: PROPBASER.IDbits,
    /// capped at `max_bits`; 8192 (no LPIs) below 14 bits.
    pub(crate) fn lpi_limit(&self, max_bits: u32) -> u64 {
        let id_bits = (GICR_PROPBASER::IDbits.read(self.propbaser) as u32 + 1).min(max_bits);
        if id_bits < 14 {
            FIRST_LPI.into()
        } else {
            1 << id_bits
        }
    }
}

#[cfg(test)]
mod tests {

    use crate::{GicrRegister, MsiError, Violation};

    use crate::test_rig::*;
    use crate::{GitsRegister as G, ModelConfig};
    use GicrRegister as R;
    use gicv3_its::ItsCommand as C;
    use gicv3_its::{DeviceId, EventId, ProcessorNumber, RdBase};

    #[test]
    fn enable_lpis_sticky_or_clearable() {
        let rig = Rig::new(ModelConfig {
            sticky_enable_lpis: true,
            ..Default::default()
        });
        let gicr = rig.model.gicr(0);
        assert_eq!(gicr.read_register(R::Ctlr), 1);
        gicr.write_register(R::Ctlr, 0);
        gicr.write_register(R::Pendbaser, 0);
        assert_eq!(gicr.read_register(R::Ctlr), 1);
        assert_eq!(
            rig.model.take_violations(),
            [Violation::WriteWhileLpisEnabled(0, R::Pendbaser)]
        );

        let mut rig = Rig::new(ModelConfig {
            rwp_reads: 2,
            ..Default::default()
        });
        rig.set_lpi(LPI, 0xa0);
        rig.map(1, 0, RdBase::processor_number(ProcessorNumber(0)));
        rig.submit(&[C::Int {
            device_id: DeviceId(1),
            event_id: EventId(0),
        }]);
        let gicr = rig.model.gicr(0);
        gicr.write_register(R::Ctlr, 0);
        let ctlr: Vec<u64> = (0..3).map(|_| gicr.read_register(R::Ctlr)).collect();
        assert_eq!(ctlr, [0b1010, 0b1010, 0b10]);
        assert_eq!(rig.model.pending(0), []);
        assert_eq!(
            rig.model.send_msi(DeviceId(1), EventId(0)),
            Err(MsiError::LpisDisabled(0))
        );
        // The pending state went to the table; PTZ = 0 brings it back.
        gicr.write_register(R::Pendbaser, gicr.read_register(R::Pendbaser));
        gicr.write_register(R::Ctlr, 1);
        assert_eq!(rig.model.pending(0), [LPI_ID]);
        assert_eq!(rig.model.violations(), []);
    }

    #[test]
    fn with_fewer_than_14_id_bits_no_table_is_touched() {
        // Tables nowhere in memory, IDbits 12 (13 bits): no LPI is in
        // range, so enabling and disabling LPIs reads and writes nothing.
        let model = crate::ItsModel::new(ModelConfig::default());
        let gicr = model.gicr(0);
        gicr.write_register(R::Propbaser, 12);
        gicr.write_register(R::Pendbaser, 0);
        gicr.write_register(R::Ctlr, 1);
        gicr.write_register(R::Ctlr, 0);
        assert_eq!(model.violations(), []);
        // With 14 bits the same tables are read, and written back.
        gicr.write_register(R::Propbaser, 13);
        gicr.write_register(R::Ctlr, 1);
        gicr.write_register(R::Ctlr, 0);
        let faults = model.violations();
        assert_eq!(faults.len(), 3, "{faults:?}");
    }

    #[test]
    fn lpi_configuration_is_cached_until_invalidated() {
        let mut rig = Rig::new(ModelConfig::default());
        rig.map(1, 0, RdBase::processor_number(ProcessorNumber(0)));
        rig.set_lpi(LPI, 0xa1);
        assert!(rig.model.send_msi(DeviceId(1), EventId(0)).is_ok());
        rig.set_lpi(LPI, 0xa0);
        assert!(rig.model.send_msi(DeviceId(1), EventId(0)).is_ok());
        rig.submit(&[C::Inv {
            device_id: DeviceId(1),
            event_id: EventId(0),
        }]);
        assert_eq!(
            rig.model.send_msi(DeviceId(1), EventId(0)),
            Err(MsiError::LpiDisabled(LPI_ID))
        );
        assert_eq!(
            (rig.model.take_pending(0), rig.model.pending(0)),
            (vec![], vec![LPI_ID])
        );
        rig.set_lpi(LPI, 0xa1);
        rig.model.gicr(0).write_register(R::Invlpir, LPI.into());
        assert_eq!(rig.model.take_pending(0), [LPI_ID]);
        rig.gits.write_register(G::Ctlr, 0);
        assert_eq!(
            rig.model.send_msi(DeviceId(1), EventId(0)),
            Err(MsiError::ItsDisabled)
        );
    }
}
