//! What KVM writes into a guest's memory when it saves the VM's ITS state
//! (KVM_DEV_ARM_ITS_SAVE_TABLES, ABI revision 0: arch/arm64/kvm/vgic/
//! vgic-its.c, read for facts): for every device it holds, an 8-byte ITE
//! per mapped event into the device's ITT, then its DTE into the Device
//! table; then a CTE per collection, packed from the Collection table's
//! base, and a terminator if there is room. A table whose GITS_BASERn is
//! not Valid is skipped, enabled or not. This is how the July 2025 guest
//! corruption happened: the ITS still held a boot kernel's devices, whose
//! ITTs lay where the resumed kernel kept other data.
//!
//! The model reports the writes rather than making them: KVM's formats are
//! its own, and the model's tables must stay readable.

use crate::state::ItsMut;
use crate::tables::Ite;
use crate::{TableKind, Violation};

/// One write a KVM save of the VM makes into guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedWrite {
    /// Physical address.
    pub address: u64,
    /// Bytes.
    pub len: usize,
    /// Which table.
    pub what: &'static str,
}

/// KVM's DTE, ITE and CTE are 8 bytes.
const ENTRY: usize = 8;

impl ItsMut<'_> {
    /// The writes a KVM save would make now, each checked against the
    /// memory the model handed out: one outside every live allocation is a
    /// [`Violation::Memory`].
    pub(crate) fn kvm_save_tables(&mut self) -> Vec<SavedWrite> {
        let mut writes = Vec::new();
        if self.table(TableKind::Devices).is_some() {
            let held: Vec<(u32, u64, usize)> = self
                .its
                .itts
                .iter()
                .map(|(&device_id, &(itt, bytes))| (device_id, itt, bytes))
                .collect();
            for (device_id, itt, bytes) in held {
                let size = self.gic.config.itt_entry_size;
                let entries = self
                    .gic
                    .arena
                    .read_vec(itt, bytes, "ITT")
                    .unwrap_or_default();
                for (event_id, entry) in entries.chunks_exact(size).enumerate() {
                    let raw = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
                    if Ite::decode(raw).valid {
                        writes.push(SavedWrite {
                            address: itt + (event_id * ENTRY) as u64,
                            len: ENTRY,
                            what: "ITT",
                        });
                    }
                }
                // A DTE KVM cannot place (no level-2 page) fails the save.
                let Ok(address) = self.table_entry(TableKind::Devices, u64::from(device_id)) else {
                    break;
                };
                writes.push(SavedWrite {
                    address,
                    len: ENTRY,
                    what: "device table",
                });
            }
        }
        if let Some(table) = self.table(TableKind::Collections) {
            let collections = self.valid_collections().len();
            let room = table.bytes / ENTRY;
            for index in 0..(collections + 1).min(room) {
                writes.push(SavedWrite {
                    address: table.base + (index * ENTRY) as u64,
                    len: ENTRY,
                    what: "collection table",
                });
            }
        }
        for write in &writes {
            if let Err(fault) = self.gic.arena.check(write.address, write.len, write.what) {
                self.gic.violations.push(Violation::Memory(fault));
            }
        }
        writes
    }
}
