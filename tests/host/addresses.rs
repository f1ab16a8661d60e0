//! Physical addresses above 2^48 (Arm IHI 0069 12.19.1: with 64 KiB pages
//! GITS_BASERn holds address bits [51:48] in bits [15:12]; with 4 KiB or
//! 16 KiB pages it cannot hold them at all). The model's memory is placed
//! high, so every address the driver writes (base registers, MAPD's ITT
//! address, level-1 entries) is exercised with bits [51:48] set.

use crate::support::room;
use crate::support::*;
use gicv3_its::registers::{GITS_BASER, RegisterFrame};
use gicv3_its::{ItsConfig, ItsError, LpiDomainConfig};
use gicv3_its_model::{ItsModel, ModelConfig, PageSizes};

/// An arena whose addresses have bits [51:48] = 0b1010: a bit lost or
/// shifted anywhere sends the GIC to memory the model does not have.
const HIGH: u64 = 0x000a_0000_0000_0000;

fn high(page_sizes: PageSizes) -> ModelConfig {
    ModelConfig {
        arena_phys_base: HIGH,
        page_sizes,
        ..ModelConfig::default()
    }
}

#[test]
fn memory_above_2_pow_48_works_end_to_end_with_64k_pages() {
    for max_flat_device_table_bytes in [1 << 20, ItsConfig::default().max_flat_device_table_bytes] {
        let its_config = ItsConfig {
            max_flat_device_table_bytes,
            ..ItsConfig::default()
        };
        let outcome = run(
            high(PageSizes::ALL),
            its_config,
            LpiDomainConfig::default(),
            8,
        );
        assert!(outcome.is_clean(), "{outcome:#?}");
    }
    // And the Device table's register says so: 64 KiB pages, PA[51:48] in
    // bits [15:12].
    let model = ItsModel::new(high(PageSizes::ALL));
    let _its = probe(&model, ItsConfig::default());
    let baser = model.gits().read(GITS_BASER[0]);
    assert_eq!(baser.read(GITS_BASER::Page_Size), 2);
    assert_eq!((baser.get() >> 12) & 0xf, 0xa);
}

#[test]
fn above_2_pow_48_a_table_with_4k_or_16k_pages_is_refused() {
    let only_4k = PageSizes {
        size_4k: true,
        size_16k: false,
        size_64k: false,
    };
    let only_16k = PageSizes {
        size_4k: false,
        size_16k: true,
        size_64k: false,
    };
    for page_sizes in [only_4k, only_16k] {
        let model = ItsModel::new(high(page_sizes));
        let domain = new_domain(&model, LpiDomainConfig::default());
        let before = model.stats().bytes_allocated;
        let probed = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default());
        assert!(
            matches!(
                probed.err(),
                Some(ItsError::UnencodableAddress { phys }) if phys >> 48 == 0xa
            ),
            "{page_sizes:?}"
        );
        assert_eq!(model.stats().bytes_allocated, before, "memory given back");
        for register in GITS_BASER {
            assert!(!model.gits().read(register).is_set(GITS_BASER::Valid));
        }
        assert_no_violations(&model);
    }
}

#[test]
fn below_2_pow_48_4k_and_16k_pages_are_fine() {
    for page_sizes in [
        PageSizes {
            size_4k: true,
            size_16k: false,
            size_64k: false,
        },
        PageSizes {
            size_4k: false,
            size_16k: true,
            size_64k: false,
        },
    ] {
        let config = ModelConfig {
            arena_phys_base: (1 << 48) - (64 << 20),
            page_sizes,
            ..ModelConfig::default()
        };
        let outcome = run(config, ItsConfig::default(), LpiDomainConfig::default(), 4);
        assert!(outcome.is_clean(), "{page_sizes:?}: {outcome:#?}");
    }
}
