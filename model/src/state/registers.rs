//! The GITS_* and GICR_* register writes and reads: what the model does
//! with each.

use super::{Gic, ItsMut};
use crate::registers::{BASER_RW, CBASER_RW, GitsRegister, QUEUE_PAGE, bits};
use crate::tables::TABLE_ENTRY_SIZE;
use crate::{Consumption, Quiescence, Violation};
use gicv3_its::registers::{GITS_BASER, GITS_CBASER, GITS_CREADR, GITS_CTLR, GITS_CWRITER};
use gicv3_its::registers::{GITS_BASER_RO, GITS_CTLR_RO, ReadOnlyFields};
use tock_registers::fields::Field;
use tock_registers::{LocalRegisterCopy, RegisterLongName};

impl ItsMut<'_> {
    /// What GITS_CTLR.Quiescent reads.
    pub(crate) fn quiescent(&self) -> bool {
        match self.gic.config.quiescence {
            Quiescence::WhenQueueEmpty => self.its.creadr == self.its.cwriter,
            Quiescence::AfterReads(_) | Quiescence::Never => {
                !self.its.enabled && self.its.quiescent_reads == Some(0)
            }
        }
    }

    /// Whether GITS_CBASER and GITS_BASERn may be written: the ITS is
    /// disabled and quiescent.
    pub(crate) fn reprogrammable(&self) -> bool {
        !self.its.enabled && self.quiescent()
    }

    /// Whether the Device and Collection tables and the command queue are
    /// Valid (what KVM's ITS needs before it enables).
    fn tables_valid(&self) -> bool {
        let valid = |value| GITS_BASER::Valid.is_set(value);
        valid(self.its.baser[0])
            && (!self.gic.config.collection_table || valid(self.its.baser[1]))
            && GITS_CBASER::Valid.is_set(self.its.cbaser)
    }

    pub(crate) fn queue_base(&self) -> u64 {
        self.its.cbaser & bits(GITS_CBASER::Physical_Address)
    }

    pub(crate) fn queue_bytes(&self) -> usize {
        (GITS_CBASER::Size.read(self.its.cbaser) as usize + 1) * QUEUE_PAGE
    }

    pub(crate) fn gits_read(&mut self, register: GitsRegister) -> u64 {
        match register {
            GitsRegister::Ctlr => {
                let quiescent = self.quiescent();
                if let Some(n) = self
                    .its
                    .quiescent_reads
                    .as_mut()
                    .filter(|_| !self.its.enabled)
                {
                    *n = n.saturating_sub(1);
                }
                ((GITS_CTLR::Enabled.val(self.its.enabled.into())
                    + GITS_CTLR::ImDe.val(self.its.imde.into()))
                .value
                    | GITS_CTLR_RO::Quiescent.val(quiescent.into()).value)
                    .into()
            }
            GitsRegister::Iidr => self.gic.config.iidr.into(),
            GitsRegister::Typer => self.gic.typer,
            GitsRegister::Cbaser => self.its.cbaser,
            GitsRegister::Cwriter => self.its.cwriter as u64,
            GitsRegister::Creadr => {
                self.gic.stats.polls += 1;
                if let Consumption::Asynchronous {
                    commands_per_creadr_read: n,
                } = self.gic.config.consumption
                {
                    self.process(n);
                }
                (GITS_CREADR::Offset.val(self.its.creadr as u64 >> 5)
                    + GITS_CREADR::Stalled.val(self.its.stalled.into()))
                .value
            }
            GitsRegister::Baser(n) => self.its.baser.get(n).copied().unwrap_or(0),
            GitsRegister::Translater | GitsRegister::Other(_) => 0,
        }
    }

    pub(crate) fn gits_write(&mut self, register: GitsRegister, value: u64) {
        match register {
            GitsRegister::Ctlr => {
                // ImDe exists on a GICv4 ITS (one with a vPE table).
                self.its.imde = self.gic.config.vpe_table && GITS_CTLR::ImDe.is_set(value as u32);
                let enable = GITS_CTLR::Enabled.is_set(value as u32);
                let refused = self.gic.config.enable_ignored
                    || (self.gic.config.enable_needs_valid_tables && !self.tables_valid());
                if enable && !self.its.enabled && !refused {
                    self.its.enabled = true;
                    self.process_if_synchronous();
                } else if !enable && self.its.enabled {
                    self.its.enabled = false;
                    self.its.quiescent_reads = match self.gic.config.quiescence {
                        Quiescence::AfterReads(n) => Some(n),
                        Quiescence::Never => None,
                        Quiescence::WhenQueueEmpty => Some(0),
                    };
                }
            }
            GitsRegister::Cbaser | GitsRegister::Baser(_) if !self.reprogrammable() => self
                .gic
                .violations
                .push(Violation::WriteWhileEnabled(register)),
            GitsRegister::Cbaser => {
                let mut kept = value & (CBASER_RW | self.gic.shareability_mask());
                if self.gic.config.queue_64k_aligned {
                    kept &= !0xf000;
                }
                self.its.cbaser = self.gic.fixed_fields(
                    kept,
                    GITS_CBASER::InnerCache,
                    GITS_CBASER::Physical_Address,
                );
                self.its.creadr = 0;
                if self.gic.config.quiescence == Quiescence::WhenQueueEmpty {
                    // KVM starts the queue empty: CWRITER follows CREADR.
                    self.its.cwriter = 0;
                }
                (self.its.stalled, self.its.injected_stall) = (false, false);
            }
            GitsRegister::Cwriter => {
                self.gic.stats.doorbells += 1;
                let offset = (GITS_CWRITER::Offset.read(value) << 5) as usize;
                let known = bits(GITS_CWRITER::Offset) | bits(GITS_CWRITER::Retry);
                if value & !known != 0 || offset >= self.queue_bytes() {
                    return self.gic.violations.push(Violation::BadCwriter(value));
                }
                self.its.cwriter = offset;
                // Any CWRITER write (Retry or not) retries a command that
                // stalled on a memory error, like QEMU.
                self.its.stalled &= self.its.injected_stall;
                self.process_if_synchronous();
            }
            GitsRegister::Baser(n) if n < 8 => {
                self.its.baser[n] = self.gic.baser_value(n, value);
                // Like KVM's emulated ITS: mapped devices (and collections)
                // live on, whether the ITS is enabled or not, until their
                // table is written with Valid = 0.
                let r = LocalRegisterCopy::<u64, GITS_BASER::Register>::new(self.its.baser[n]);
                let devices = r.read_only().matches_all(GITS_BASER_RO::Type::Devices);
                if !r.is_set(GITS_BASER::Valid) && devices {
                    self.its.itts.clear();
                }
            }
            GitsRegister::Iidr
            | GitsRegister::Typer
            | GitsRegister::Creadr
            | GitsRegister::Baser(_)
            | GitsRegister::Translater
            | GitsRegister::Other(_) => {}
        }
    }
}

impl Gic {
    /// Shareability (bits \[11:10\] in CBASER, BASERn, PROPBASER and PENDBASER)
    /// of an ITS's registers, when it is writable.
    pub(crate) fn shareability_mask(&self) -> u64 {
        if self.config.shareable {
            bits(GITS_CBASER::Shareability)
        } else {
            0
        }
    }

    /// Shareability of redistributor `index`'s PROPBASER and PENDBASER,
    /// when it is writable.
    pub(crate) fn rd_shareability_mask(&self, index: usize) -> u64 {
        if self.config.non_shareable_redistributors.contains(&index) {
            0
        } else {
            self.shareability_mask()
        }
    }

    /// What a base register holds of `kept` (a written value cut to the
    /// register's writable bits): InnerCache as the GIC fixes it, if it
    /// does, and no address bit it does not implement.
    pub(crate) fn fixed_fields<R: RegisterLongName>(
        &self,
        kept: u64,
        inner_cache: Field<u64, R>,
        address: Field<u64, R>,
    ) -> u64 {
        let mut value = kept & !(self.unimplemented_address_bits() & bits(address));
        if let Some(fixed) = self.config.fixed_inner_cache {
            value = (value & !bits(inner_cache)) | inner_cache.val(fixed.into()).value;
        }
        value
    }

    /// Physical address bits the base registers do not implement.
    fn unimplemented_address_bits(&self) -> u64 {
        !((1 << self.config.register_address_bits) - 1)
    }

    /// The value GITS_BASERn holds after `value` is written to it.
    pub(crate) fn baser_value(&self, n: usize, value: u64) -> u64 {
        let table_type = match n {
            0 => GITS_BASER_RO::Type::Devices,
            1 if self.config.collection_table => GITS_BASER_RO::Type::Collections,
            2 if self.config.vpe_table => GITS_BASER_RO::Type::VPEs,
            _ => return 0,
        };
        let indirect = if self.config.indirect {
            bits(GITS_BASER::Indirect)
        } else {
            0
        };
        // Page size: as written if supported, else the largest supported
        // smaller one, else the smallest supported.
        let sizes = self.config.page_sizes;
        let asked = GITS_BASER::Page_Size.read(value).min(2);
        let page = (0..=asked)
            .rev()
            .chain(0..3)
            .find(|&code| sizes.supports(code))
            .unwrap_or(0);
        let mut kept = self.fixed_fields(
            value & (BASER_RW | indirect | self.shareability_mask()),
            GITS_BASER::InnerCache,
            GITS_BASER::Physical_Address,
        );
        if page == 2 {
            // With 64K pages, bits [15:12] hold address bits [51:48].
            let high = (self.unimplemented_address_bits() >> 48 & 0xf) << 12;
            kept &= !high;
        }
        let mut register = LocalRegisterCopy::<u64, GITS_BASER::Register>::new(kept);
        register.modify(GITS_BASER::Page_Size.val(page));
        // The read-only fields, as the hardware sets them.
        let fixed = table_type + GITS_BASER_RO::Entry_Size.val(TABLE_ENTRY_SIZE as u64 - 1);
        register.get() | fixed.value
    }
}
