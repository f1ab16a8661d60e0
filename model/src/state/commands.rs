//! What the ITS does with each command it consumes (5.3).

use super::ItsMut;
use crate::commands::Fault;
use crate::decode::decode_command;
use crate::tables::{CollectionSlot, Dte, Ite, TABLE_ENTRY_SIZE};
use crate::{CommandError, Consumption, FIRST_LPI, Violation, command_name};
use gicv3_its::registers::GITS_CBASER;
use gicv3_its::{COMMAND_SIZE, ItsCommand};
use gicv3_its::{CollectionId, DeviceId, EventId, IntId};

impl ItsMut<'_> {
    pub(crate) fn process_if_synchronous(&mut self) {
        if self.gic.config.consumption == Consumption::Synchronous {
            self.process(usize::MAX);
        }
    }

    /// Processes up to `budget` commands from GITS_CREADR towards CWRITER.
    pub(crate) fn process(&mut self, budget: usize) {
        for _ in 0..budget {
            let queue_bytes = self.queue_bytes();
            let its = &mut *self.its;
            let valid = GITS_CBASER::Valid.is_set(its.cbaser);
            if !its.enabled || its.stalled || !valid || its.creadr == its.cwriter {
                return;
            }
            if its.cwriter >= queue_bytes {
                // CWRITER left beyond a queue that GITS_CBASER has since
                // made smaller (CONSTRAINED UNPREDICTABLE): CREADR would
                // never reach it, so the model stalls.
                its.stalled = true;
                let cwriter = its.cwriter as u64;
                return self.gic.violations.push(Violation::BadCwriter(cwriter));
            }
            if self.gic.config.stall_on_command == Some(its.commands_processed + 1)
                && !its.stall_fired
            {
                (its.stalled, its.injected_stall, its.stall_fired) = (true, true, true);
                return;
            }
            let offset = its.creadr;
            let mut raw = [0u8; COMMAND_SIZE];
            let read =
                self.gic
                    .arena
                    .read(self.queue_base() + offset as u64, &mut raw, "command queue");
            let words = core::array::from_fn(|i| {
                u64::from_le_bytes(raw[i * 8..][..8].try_into().expect("8 bytes"))
            });
            let command = decode_command(words);
            let result = match (read, command) {
                (Err(fault), _) => Err(Fault::Memory(fault)),
                (Ok(()), None) => Err(Fault::Command(CommandError::Undecodable)),
                (Ok(()), Some(command)) => self.execute(offset, command),
            };
            match result {
                Err(Fault::Memory(fault)) if self.gic.config.memory_errors_stall => {
                    self.gic.violations.push(Violation::Memory(fault));
                    self.its.stalled = true;
                    return;
                }
                Err(Fault::Memory(fault)) => self.gic.violations.push(Violation::Memory(fault)),
                Err(Fault::Command(error)) => self.gic.violations.push(Violation::Command {
                    offset,
                    command,
                    error,
                }),
                Ok(()) => {}
            }
            if let Some(command) = command {
                self.its.log.push(command);
                *self
                    .gic
                    .stats
                    .commands
                    .entry(command_name(&command))
                    .or_default() += 1;
            }
            self.its.commands_processed += 1;
            self.its.creadr = (offset + COMMAND_SIZE) % self.queue_bytes();
        }
    }

    /// Executes one command (IHI 0069 5.3). Command errors skip it (after
    /// any checks that failed); memory faults stall it.
    fn execute(&mut self, offset: usize, command: ItsCommand) -> Result<(), Fault> {
        let itt_entry = self.gic.config.itt_entry_size;
        let warn = |state: &mut Self, error| {
            state.gic.violations.push(Violation::Command {
                offset,
                command: Some(command),
                error,
            })
        };
        // MAPI is MAPTI with INTID = EventID.
        let command = match command {
            ItsCommand::Mapi {
                device_id,
                event_id,
                icid,
            } => ItsCommand::Mapti {
                device_id,
                event_id,
                intid: IntId(event_id.0),
                icid,
            },
            other => other,
        };
        match command {
            ItsCommand::Mapd {
                device_id: DeviceId(device_id),
                size,
                itt_address,
                valid,
            } => {
                let (address, old) = self.device(device_id)?;
                let dte = Dte {
                    valid,
                    size,
                    itt: itt_address,
                };
                if valid {
                    if u32::from(size) >= self.gic.config.event_id_bits {
                        return Err(CommandError::SizeOutOfRange(size).into());
                    }
                    self.gic
                        .arena
                        .check(itt_address, dte.events() as usize * itt_entry, "ITT")?;
                    if old.valid {
                        warn(self, CommandError::DeviceAlreadyMapped(device_id));
                    }
                    self.its
                        .itts
                        .insert(device_id, (itt_address, dte.events() as usize * itt_entry));
                } else {
                    self.its.itts.remove(&device_id);
                }
                let raw = if valid { dte.encode() } else { 0 };
                self.gic
                    .arena
                    .write_entry(address, raw, TABLE_ENTRY_SIZE, "device table entry")?;
            }
            ItsCommand::Mapc {
                icid: CollectionId(icid),
                rdbase,
                valid,
            } => {
                let slot = self.collection_slot(icid)?;
                if valid {
                    self.gic.resolve_rdbase(rdbase.field())?;
                }
                match slot {
                    CollectionSlot::Internal(icid) if valid => {
                        self.its.internal_collections.insert(icid, rdbase.field());
                    }
                    CollectionSlot::Internal(icid) => {
                        self.its.internal_collections.remove(&icid);
                    }
                    CollectionSlot::Table(address) => {
                        let raw = if valid { 1 | rdbase.field() << 1 } else { 0 };
                        self.gic.arena.write_entry(
                            address,
                            raw,
                            TABLE_ENTRY_SIZE,
                            "collection table entry",
                        )?;
                    }
                }
            }
            ItsCommand::Mapti {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
                intid: IntId(intid),
                icid: CollectionId(icid),
            } => {
                let (address, old) = self.event(device_id, event_id)?;
                if intid < FIRST_LPI
                    || (self.gic.config.lpi_id_bits < 32
                        && intid >> self.gic.config.lpi_id_bits != 0)
                {
                    return Err(CommandError::IntidOutOfRange(intid).into());
                }
                self.collection_slot(icid)?;
                if old.valid {
                    warn(self, CommandError::EventAlreadyMapped(device_id, event_id));
                }
                let ite = Ite {
                    valid: true,
                    intid,
                    icid,
                };
                self.gic
                    .arena
                    .write_entry(address, ite.encode(), itt_entry, "ITT entry")?;
            }
            ItsCommand::Inv {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
            } => {
                let (_, ite) = self.mapped_event(device_id, event_id)?;
                let processor = self.target(ite.icid)?;
                self.gic.rds[processor].cache.remove(&ite.intid);
            }
            ItsCommand::Invall {
                icid: CollectionId(icid),
            } => {
                let processor = self.target(icid)?;
                self.gic.rds[processor].cache.clear();
            }
            ItsCommand::Sync { rdbase } => {
                self.gic.resolve_rdbase(rdbase.field())?;
            }
            ItsCommand::Discard {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
            } => {
                let (address, ite) = self.mapped_event(device_id, event_id)?;
                let processor = self.target(ite.icid)?;
                self.gic
                    .arena
                    .write_entry(address, 0, itt_entry, "ITT entry")?;
                self.gic.rds[processor].pending.remove(&ite.intid);
            }
            ItsCommand::Movi {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
                icid: CollectionId(icid),
            } => {
                let (address, ite) = self.mapped_event(device_id, event_id)?;
                let (from, to) = (self.target(ite.icid)?, self.target(icid)?);
                self.gic.arena.write_entry(
                    address,
                    Ite { icid, ..ite }.encode(),
                    itt_entry,
                    "ITT entry",
                )?;
                if self.gic.rds[from].pending.remove(&ite.intid) {
                    self.gic.rds[to].pending.insert(ite.intid);
                }
            }
            ItsCommand::Mapi { .. } => unreachable!("turned into MAPTI above"),
            ItsCommand::Movall { from, to } => {
                let (from, to) = (
                    self.gic.resolve_rdbase(from.field())?,
                    self.gic.resolve_rdbase(to.field())?,
                );
                let moved = core::mem::take(&mut self.gic.rds[from].pending);
                self.gic.rds[to].pending.extend(moved);
            }
            ItsCommand::Int {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
            } => {
                let (_, ite) = self.mapped_event(device_id, event_id)?;
                let processor = self.target(ite.icid)?;
                // As from a device: dropped if the redistributor cannot take it.
                let _ = self.gic.make_pending(processor, ite.intid);
            }
            ItsCommand::Clear {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
            } => {
                let (_, ite) = self.mapped_event(device_id, event_id)?;
                let processor = self.target(ite.icid)?;
                self.gic.rds[processor].pending.remove(&ite.intid);
            }
        }
        Ok(())
    }
}
