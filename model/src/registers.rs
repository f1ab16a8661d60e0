//! The registers the model implements: which register an access to the
//! ITS frame or an RD_base frame is (decoded from the offsets of the
//! driver's register descriptors), their writable bits, and how the ITS's
//! registers behave (the redistributors' behave in `redistributor.rs`).

use gicv3_its::registers::{
    GICR_CTLR, GICR_IIDR, GICR_INVALLR, GICR_INVLPIR, GICR_PENDBASER, GICR_PROPBASER, GICR_PWRR,
    GICR_SYNCR, GICR_TYPER, GICR_VPENDBASER, GICR_VPROPBASER, GICR_WAKER, GITS_BASER, GITS_CBASER,
    GITS_CREADR, GITS_CTLR, GITS_CWRITER, GITS_IIDR, GITS_TRANSLATER, GITS_TYPER,
};
use tock_registers::RegisterLongName;
use tock_registers::fields::Field;

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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{Quiescence, Violation};

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
