//! The registers the model implements: which register an access to the
//! ITS frame or an RD_base frame is (decoded from the offsets of the
//! driver's register descriptors), their writable bits, and how the ITS's
//! registers behave (the redistributors' behave in `redistributor.rs`).

use crate::state::{Gic, ItsMut};
use crate::tables::TABLE_ENTRY_SIZE;
use crate::{Consumption, Quiescence, Violation};
use gicv3_its::registers::{
    GICR_CTLR, GICR_IIDR, GICR_INVALLR, GICR_INVLPIR, GICR_PENDBASER, GICR_PROPBASER, GICR_PWRR,
    GICR_SYNCR, GICR_TYPER, GICR_VPENDBASER, GICR_VPROPBASER, GICR_WAKER, GITS_BASER, GITS_CBASER,
    GITS_CREADR, GITS_CTLR, GITS_CWRITER, GITS_IIDR, GITS_TRANSLATER, GITS_TYPER,
};
use tock_registers::fields::Field;
use tock_registers::{LocalRegisterCopy, RegisterLongName};

/// Bytes of a command queue page (GITS_CBASER.Size counts them) and of the
/// smallest ITS table page.
pub(crate) const QUEUE_PAGE: usize = 4096;
/// GICR_TYPER.DirectLPI: GICR_INVLPIR and GICR_INVALLR are implemented.
pub(crate) const GICR_TYPER_DIRECT_LPI: u64 = 1 << 3;

/// The bits of one register field, in place.
pub(crate) const fn bits<R: RegisterLongName>(field: Field<u64, R>) -> u64 {
    field.mask << field.shift
}

/// Writable bits of GITS_CBASER, GITS_BASERn, GICR_PROPBASER and
/// GICR_PENDBASER, Shareability and Indirect aside.
pub(crate) const CBASER_RW: u64 = bits(GITS_CBASER::Valid)
    | bits(GITS_CBASER::InnerCache)
    | bits(GITS_CBASER::OuterCache)
    | bits(GITS_CBASER::Physical_Address)
    | bits(GITS_CBASER::Size);
pub(crate) const BASER_RW: u64 = bits(GITS_BASER::Valid)
    | bits(GITS_BASER::InnerCache)
    | bits(GITS_BASER::OuterCache)
    | bits(GITS_BASER::Physical_Address)
    | bits(GITS_BASER::Size);
pub(crate) const PROPBASER_RW: u64 = bits(GICR_PROPBASER::IDbits)
    | bits(GICR_PROPBASER::InnerCache)
    | bits(GICR_PROPBASER::OuterCache)
    | bits(GICR_PROPBASER::Physical_Address);
pub(crate) const PENDBASER_RW: u64 = bits(GICR_PENDBASER::InnerCache)
    | bits(GICR_PENDBASER::OuterCache)
    | bits(GICR_PENDBASER::Physical_Address);

/// An ITS register, decoded from the offset of an access (the offsets are
/// the crate's register descriptors').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitsRegister {
    /// GITS_CTLR.
    Ctlr,
    /// GITS_IIDR.
    Iidr,
    /// GITS_TYPER.
    Typer,
    /// GITS_CBASER.
    Cbaser,
    /// GITS_CWRITER.
    Cwriter,
    /// GITS_CREADR.
    Creadr,
    /// GITS_BASERn.
    Baser(usize),
    /// GITS_TRANSLATER.
    Translater,
    /// An offset the model does not implement (RAZ/WI).
    Other(usize),
}

impl GitsRegister {
    /// The register at `offset` of the ITS frame.
    pub fn at(offset: usize) -> Self {
        let baser = GITS_BASER[0].offset()..=GITS_BASER[7].offset();
        match offset {
            o if o == GITS_CTLR.offset() => Self::Ctlr,
            o if o == GITS_IIDR.offset() => Self::Iidr,
            o if o == GITS_TYPER.offset() => Self::Typer,
            o if o == GITS_CBASER.offset() => Self::Cbaser,
            o if o == GITS_CWRITER.offset() => Self::Cwriter,
            o if o == GITS_CREADR.offset() => Self::Creadr,
            o if baser.contains(&o) => Self::Baser((o - baser.start()) / 8),
            o if o == GITS_TRANSLATER.offset() => Self::Translater,
            o => Self::Other(o),
        }
    }
}

/// A redistributor register, decoded from the offset of an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicrRegister {
    /// GICR_CTLR.
    Ctlr,
    /// GICR_IIDR.
    Iidr,
    /// GICR_TYPER.
    Typer,
    /// GICR_WAKER.
    Waker,
    /// GICR_PWRR (GIC-600, GIC-600AE, GIC-700; implementation defined).
    Pwrr,
    /// GICR_PROPBASER.
    Propbaser,
    /// GICR_PENDBASER.
    Pendbaser,
    /// GICR_INVLPIR.
    Invlpir,
    /// GICR_INVALLR.
    Invallr,
    /// GICR_SYNCR.
    Syncr,
    /// An offset the model does not implement (RAZ/WI).
    Other(usize),
}

impl GicrRegister {
    /// The register at `offset` of an RD_base frame.
    pub fn at(offset: usize) -> Self {
        match offset {
            o if o == GICR_CTLR.offset() => Self::Ctlr,
            o if o == GICR_IIDR.offset() => Self::Iidr,
            o if o == GICR_TYPER.offset() => Self::Typer,
            o if o == GICR_WAKER.offset() => Self::Waker,
            o if o == GICR_PWRR.offset() => Self::Pwrr,
            o if o == GICR_PROPBASER.offset() => Self::Propbaser,
            o if o == GICR_PENDBASER.offset() => Self::Pendbaser,
            o if o == GICR_INVLPIR.offset() => Self::Invlpir,
            o if o == GICR_INVALLR.offset() => Self::Invallr,
            o if o == GICR_SYNCR.offset() => Self::Syncr,
            o => Self::Other(o),
        }
    }
}

/// A register of a GICv4 redistributor's VLPI_base frame, decoded from the
/// offset of an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicrVlpiRegister {
    /// GICR_VPROPBASER.
    Vpropbaser,
    /// GICR_VPENDBASER.
    Vpendbaser,
    /// An offset the model does not implement (RAZ/WI).
    Other(usize),
}

impl GicrVlpiRegister {
    /// The register at `offset` of a VLPI_base frame.
    pub fn at(offset: usize) -> Self {
        match offset {
            o if o == GICR_VPROPBASER.offset() => Self::Vpropbaser,
            o if o == GICR_VPENDBASER.offset() => Self::Vpendbaser,
            o => Self::Other(o),
        }
    }
}

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
                (GITS_CTLR::Enabled.val(self.its.enabled.into())
                    + GITS_CTLR::ImDe.val(self.its.imde.into())
                    + GITS_CTLR::Quiescent.val(quiescent.into()))
                .value
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
                if !r.is_set(GITS_BASER::Valid) && r.matches_all(GITS_BASER::Type::Devices) {
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
            0 => GITS_BASER::Type::Devices,
            1 if self.config.collection_table => GITS_BASER::Type::Collections,
            2 if self.config.vpe_table => GITS_BASER::Type::VPEs,
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
        register.modify(
            table_type
                + GITS_BASER::Page_Size.val(page)
                + GITS_BASER::Entry_Size.val(TABLE_ENTRY_SIZE as u64 - 1),
        );
        register.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rig::*;
    use crate::{ItsModel, ModelConfig, PageSizes};
    use GicrRegister as R;
    use GitsRegister as G;

    #[test]
    fn default_registers_are_like_qemu() {
        let model = ItsModel::new(ModelConfig::default());
        let gits = model.gits();
        assert_eq!(gits.read_register(G::Typer), 0x1f_0001_efb1);
        let (baser0, baser1) = (
            gits.read_register(G::Baser(0)),
            gits.read_register(G::Baser(1)),
        );
        assert_eq!(
            (baser0 >> 56 & 7, baser0 >> 48 & 0x1f, baser0 >> 8 & 3),
            (1, 7, 2)
        );
        assert_eq!((baser1 >> 56 & 7, gits.read_register(G::Baser(2))), (4, 0));
        assert_eq!(gits.read_register(G::Ctlr), 1 << 31);
        assert_eq!(model.gicr(3).read_register(R::Ctlr), 0b10);
        let typer = model.gicr(3).read_register(R::Typer);
        assert_eq!((typer >> 8 & 0xffff, typer >> 4 & 1, typer & 1), (3, 1, 1));
        assert_eq!(model.gicr(0).read_register(R::Typer) >> 4 & 1, 0);

        let only_4k = PageSizes {
            size_4k: true,
            size_16k: false,
            size_64k: false,
        };
        let model = ItsModel::new(ModelConfig {
            page_sizes: only_4k,
            indirect: false,
            ..Default::default()
        });
        model.gits().write_register(
            G::Baser(0),
            VALID | 1 << 62 | PAGE_64K | 0x1f << 48 | INNER_SHAREABLE,
        );
        let baser0 = model.gits().read_register(G::Baser(0));
        assert_eq!(
            (baser0 >> 8 & 3, baser0 >> 62 & 1, baser0 >> 48 & 0x1f),
            (0, 0, 7)
        );
        assert_eq!(baser0 & INNER_SHAREABLE, INNER_SHAREABLE);
    }

    #[test]
    fn quiescence_delay() {
        let rig = Rig::new(ModelConfig {
            quiescence: Quiescence::AfterReads(2),
            ..Default::default()
        });
        assert_eq!(rig.gits.read_register(G::Ctlr), 1);
        rig.gits.write_register(G::Ctlr, 0);
        let cbaser = rig.gits.read_register(G::Cbaser);
        rig.gits.write_register(G::Cbaser, cbaser);
        let reads: Vec<u64> = (0..3).map(|_| rig.gits.read_register(G::Ctlr)).collect();
        assert_eq!(reads, [0, 0, 1 << 31]);
        rig.gits.write_register(G::Cbaser, cbaser);
        assert_eq!(
            rig.model.take_violations(),
            [Violation::WriteWhileEnabled(G::Cbaser)]
        );

        let model = ItsModel::new(ModelConfig {
            quiescence: Quiescence::Never,
            ..Default::default()
        });
        model.gits().write_register(G::Ctlr, 1);
        model.gits().write_register(G::Ctlr, 0);
        assert!((0..100).all(|_| model.gits().read_register(G::Ctlr) == 0));
    }

    #[test]
    fn attribute_and_address_fields_keep_what_the_gic_implements() {
        let model = ItsModel::new(ModelConfig {
            coherency: crate::Coherency::NonCoherent,
            fixed_inner_cache: Some(1),
            non_shareable_redistributors: vec![0],
            register_address_bits: 40,
            ..Default::default()
        });
        // RaWaWb asked for, Non-cacheable read back; Shareability kept;
        // address bits 40 and 41 (and, with 64K pages, bits [51:48] in
        // [15:12]) not implemented.
        let (cache, prop_cache) = (7 << 59, 7 << 7);
        let gits = model.gits();
        gits.write_register(
            G::Cbaser,
            VALID | cache | 0x300_4000_0000 | INNER_SHAREABLE | 15,
        );
        assert_eq!(
            gits.read_register(G::Cbaser),
            VALID | 1 << 59 | 0x4000_0000 | INNER_SHAREABLE | 15
        );
        gits.write_register(
            G::Baser(0),
            VALID | cache | 0x300_4001_0000 | 3 << 12 | PAGE_64K | INNER_SHAREABLE,
        );
        assert_eq!(
            gits.read_register(G::Baser(0)),
            VALID | 1 << 59 | 1 << 56 | 7 << 48 | 0x4001_0000 | PAGE_64K | INNER_SHAREABLE
        );
        // Redistributor 0's Shareability reads 0; redistributor 1's sticks.
        for (index, shareability) in [(0, 0), (1, INNER_SHAREABLE)] {
            let gicr = model.gicr(index);
            gicr.write_register(
                R::Propbaser,
                0x300_4000_0000 | INNER_SHAREABLE | prop_cache | 15,
            );
            assert_eq!(
                gicr.read_register(R::Propbaser),
                0x4000_0000 | shareability | 1 << 7 | 15
            );
            gicr.write_register(
                R::Pendbaser,
                0x300_4001_0000 | INNER_SHAREABLE | prop_cache | PTZ,
            );
            assert_eq!(
                gicr.read_register(R::Pendbaser),
                0x4001_0000 | shareability | 1 << 7
            );
        }
    }
}
