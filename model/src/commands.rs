//! Command processing (Arm IHI 0069 5.3): the queue between GITS_CREADR and
//! GITS_CWRITER, and what each command does to the tables, the
//! collections and the redistributors.

use crate::{CommandError, MemoryFault};

/// Why a command stopped: skip it (command error) or stall (memory error).
pub(crate) enum Fault {
    Command(CommandError),
    Memory(MemoryFault),
}

impl From<CommandError> for Fault {
    fn from(error: CommandError) -> Self {
        Self::Command(error)
    }
}

impl From<MemoryFault> for Fault {
    fn from(fault: MemoryFault) -> Self {
        Self::Memory(fault)
    }
}

#[cfg(test)]
mod tests {

    use crate::{CommandError, Consumption, MemoryFault, Violation};

    use crate::test_rig::*;
    use crate::{ARENA_PHYS_BASE, ModelConfig, MsiError, Translation};
    use crate::{GicrRegister as R, GitsRegister as G};
    use ItsCommand as C;
    use gicv3_its::ItsCommand;
    use gicv3_its::{CollectionId, DeviceId, EventId};
    use gicv3_its::{ProcessorNumber, RdBase};
    use std::collections::BTreeMap;

    #[test]
    fn map_translate_deliver_unmap() {
        let mut rig = Rig::new(ModelConfig::default());
        rig.set_lpi(LPI, 0xa1);
        let rd2 = rig.model.rdbase(2);
        rig.map(5, 3, rd2);
        rig.submit(&[C::Sync { rdbase: rd2 }]);
        let translation = Translation {
            intid: LPI_ID,
            icid: CollectionId(3),
            processor: 2,
        };
        assert_eq!(
            rig.model.translate(DeviceId(5), EventId(0)),
            Some(translation)
        );
        assert_eq!(rig.model.translate(DeviceId(5), EventId(1)), None);
        assert_eq!(
            rig.model.mappings(),
            BTreeMap::from([((DeviceId(5), EventId(0)), (LPI_ID, CollectionId(3)))])
        );
        assert_eq!(rig.model.valid_device_ids(), [DeviceId(5)]);
        assert_eq!(
            rig.model.valid_collections(),
            BTreeMap::from([(CollectionId(3), 2)])
        );
        assert_eq!(rig.model.send_msi(DeviceId(5), EventId(0)), Ok(translation));
        assert_eq!(
            rig.model.send_msi(DeviceId(5), EventId(1)),
            Err(MsiError::Untranslatable(CommandError::EventNotMapped(5, 1)))
        );
        assert_eq!(rig.model.take_pending(2), [LPI_ID]);
        assert_eq!(rig.model.take_pending(2), []);

        rig.submit(&[
            C::Int {
                device_id: DeviceId(5),
                event_id: EventId(0),
            },
            C::Discard {
                device_id: DeviceId(5),
                event_id: EventId(0),
            },
            unmapd(5),
        ]);
        assert_eq!(rig.model.pending(2), []);
        assert_eq!(rig.model.translate(DeviceId(5), EventId(0)), None);
        assert!(rig.model.valid_device_ids().is_empty() && rig.model.mappings().is_empty());
        assert_eq!(rig.model.violations(), []);
        let stats = rig.model.stats();
        assert_eq!(
            (
                stats.commands["MAPD"],
                stats.commands["DISCARD"],
                stats.doorbells
            ),
            (2, 1, 4)
        );
        assert_eq!(rig.model.command_log().len(), 7);
        assert_eq!(rig.creadr(), 7 * 32);
    }

    #[test]
    fn driver_mistakes_are_violations() {
        let mut rig = Rig::new(ModelConfig::default());
        let itt = rig.alloc(2 * 12, 256);
        let mapd = mapd(1, 0, itt.phys());
        let mapti = |event_id, intid| mapti(1, event_id, intid, 0);
        rig.submit(&[
            mapti(0, LPI),
            mapd,
            mapd,
            mapti(2, LPI),
            mapti(0, 100),
            C::Mapi {
                device_id: DeviceId(1),
                event_id: EventId(1),
                icid: CollectionId(0),
            },
            C::Int {
                device_id: DeviceId(1),
                event_id: EventId(1),
            },
            mapti(0, LPI),
            C::Int {
                device_id: DeviceId(1),
                event_id: EventId(0),
            },
            unmapd(1 << 16),
        ]);
        use CommandError as E;
        let expected = [
            E::DeviceNotMapped(1),
            E::DeviceAlreadyMapped(1),
            E::EventOutOfRange(1, 2),
            E::IntidOutOfRange(100),
            E::IntidOutOfRange(1),
            E::EventNotMapped(1, 1),
            E::CollectionNotMapped(0),
            E::DeviceOutOfRange(1 << 16),
        ];
        assert_eq!(command_errors(&rig.model), expected);

        rig.gits.write_register(G::Cbaser, 0);
        rig.gits.write_register(G::Baser(0), 0);
        rig.gits.write_register(G::Cwriter, 0x10);
        rig.gits.write_register(G::Cwriter, 4096);
        rig.model.gicr(0).write_register(R::Propbaser, 0);
        let phys = itt.phys();
        rig.mem.give_back(itt);
        assert_eq!(
            rig.model.take_violations(),
            [
                Violation::WriteWhileEnabled(G::Cbaser),
                Violation::WriteWhileEnabled(G::Baser(0)),
                Violation::BadCwriter(0x10),
                Violation::BadCwriter(4096),
                Violation::WriteWhileLpisEnabled(0, R::Propbaser),
                Violation::DeallocatedInUse(phys, "ITT of a mapped device"),
            ]
        );
        assert_eq!(rig.gits.read_register(G::Cbaser) & VALID, VALID);
    }

    #[test]
    fn injected_stall_holds_until_cbaser_is_rewritten() {
        let mut rig = Rig::new(ModelConfig {
            stall_on_command: Some(2),
            ..Default::default()
        });
        let sync = C::Sync {
            rdbase: RdBase::processor_number(ProcessorNumber(0)),
        };
        rig.submit(&[sync, sync, sync]);
        assert_eq!(rig.creadr(), 32 | 1);
        rig.gits.write_register(G::Cwriter, 96 | 1);
        assert_eq!(rig.creadr(), 32 | 1);
        rig.gits.write_register(G::Ctlr, 0);
        let cbaser = rig.gits.read_register(G::Cbaser);
        rig.gits.write_register(G::Cbaser, cbaser);
        assert_eq!((rig.creadr(), rig.gits.read_register(G::Cwriter)), (0, 96));
        rig.gits.write_register(G::Cwriter, 0);
        rig.cwriter = 0;
        rig.gits.write_register(G::Ctlr, 1);
        rig.submit(&[sync]);
        assert_eq!(rig.creadr(), 32);
        assert_eq!(
            (rig.model.command_log().len(), rig.model.violations()),
            (2, vec![])
        );
    }

    #[test]
    fn a_cwriter_left_beyond_a_smaller_queue_stalls() {
        // A previous owner queued commands up to 8 KiB into a two-page
        // queue, then made the queue one page: CREADR would never reach
        // CWRITER.
        let mut rig = Rig::bare(ModelConfig::default());
        rig.gits.write_register(G::Ctlr, 0);
        let two_pages = rig.alloc(8192, 4096);
        rig.gits
            .write_register(G::Cbaser, VALID | two_pages.phys() | INNER_SHAREABLE | 1);
        rig.gits.write_register(G::Cwriter, 0x1800);
        rig.gits
            .write_register(G::Cbaser, VALID | two_pages.phys() | INNER_SHAREABLE);
        rig.gits.write_register(G::Ctlr, 1);
        assert_eq!(rig.creadr(), 1, "stalled at 0");
        assert_eq!(rig.model.take_violations(), [Violation::BadCwriter(0x1800)]);
        assert!(rig.model.command_log().is_empty());
    }

    #[test]
    fn memory_error_stalls_until_a_retry_succeeds() {
        let mut rig = Rig::new(ModelConfig::default());
        let bogus = ARENA_PHYS_BASE + (16 << 20);
        rig.submit(&[mapd(1, 0, bogus)]);
        assert_eq!(rig.creadr(), 1);
        let fault = MemoryFault {
            address: bogus,
            len: 24,
            what: "ITT",
        };
        assert_eq!(rig.model.take_violations(), [Violation::Memory(fault)]);
        rig.gits.write_register(G::Cwriter, 32);
        assert_eq!((rig.creadr(), rig.model.take_violations().len()), (1, 1));
        assert!(rig.model.valid_device_ids().is_empty());
    }

    #[test]
    fn asynchronous_and_never_consumption() {
        let consumption = Consumption::Asynchronous {
            commands_per_creadr_read: 2,
        };
        let mut rig = Rig::new(ModelConfig {
            consumption,
            ..Default::default()
        });
        rig.submit(
            &[C::Sync {
                rdbase: RdBase::processor_number(ProcessorNumber(0)),
            }; 5],
        );
        let reads: Vec<u64> = (0..4).map(|_| rig.creadr()).collect();
        assert_eq!(
            (reads, rig.model.stats().polls),
            (vec![64, 128, 160, 160], 4)
        );

        let mut rig = Rig::new(ModelConfig {
            consumption: Consumption::Never,
            ..Default::default()
        });
        rig.submit(&[C::Sync {
            rdbase: RdBase::processor_number(ProcessorNumber(0)),
        }]);
        assert_eq!((rig.creadr(), rig.creadr()), (0, 0));
    }

    #[test]
    fn movi_and_movall_move_pending_state_with_pta() {
        let mut rig = Rig::new(ModelConfig {
            pta: true,
            ..Default::default()
        });
        let (rd0, rd1) = (rig.model.rdbase(0), rig.model.rdbase(1));
        assert_eq!(rd1, RdBase::physical_address(0x080c_0000));
        rig.set_lpi(LPI, 0xa0);
        rig.map(1, 0, rd0);
        rig.submit(&[
            mapc(1, rd1),
            C::Int {
                device_id: DeviceId(1),
                event_id: EventId(0),
            },
        ]);
        assert_eq!(rig.model.pending(0), [LPI_ID]);
        rig.submit(&[C::Movi {
            device_id: DeviceId(1),
            event_id: EventId(0),
            icid: CollectionId(1),
        }]);
        assert_eq!(
            (rig.model.pending(0), rig.model.pending(1)),
            (vec![], vec![LPI_ID])
        );
        assert_eq!(
            rig.model
                .translate(DeviceId(1), EventId(0))
                .map(|t| t.processor),
            Some(1)
        );
        rig.submit(&[
            C::Movall { from: rd1, to: rd0 },
            mapc(2, RdBase::processor_number(ProcessorNumber(1))),
        ]);
        assert_eq!(rig.model.pending(0), [LPI_ID]);
        assert_eq!(command_errors(&rig.model), [CommandError::BadRdbase(1)]);
    }
}
