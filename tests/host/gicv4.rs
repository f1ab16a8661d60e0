//! What a KVM host on a GICv4 or GICv4.1 GIC leaves when it kexecs into
//! another kernel: a vPE resident on every redistributor, whose pending
//! table the redistributor keeps writing, in memory the new kernel owns,
//! until GICR_VPENDBASER.Valid is cleared (Linux clears it at boot).

use crate::support::room;
use crate::support::*;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{ItsConfig, ItsError, LpiDomainConfig, ProcessorNumber, WaitFor};
use gicv3_its_model::{
    GicrRegister, GicrVlpiRegister, ItsModel, ModelConfig, Violation, VirtualLpis,
};

const VALID: u64 = 1 << 63;

/// The same, on GICv4.0: GICR_VPENDBASER holds the vPE's pending table.
fn gicv40_after_kvm_host() -> ModelConfig {
    ModelConfig {
        virtual_lpis: Some(VirtualLpis {
            v4_1: false,
            dirty_reads: 2,
            left_resident: true,
        }),
        ..ModelConfig::gicv41_after_kvm_host()
    }
}

/// Before anything, the preset's redistributors write into the new
/// kernel's memory: what the driver must stop.
#[test]
fn a_vpe_left_resident_writes_its_pending_table() {
    for config in [
        ModelConfig::gicv41_after_kvm_host(),
        gicv40_after_kvm_host(),
    ] {
        let model = ItsModel::new(config);
        model.run_vpes();
        let written = model.take_violations();
        assert_eq!(written.len(), 4, "{written:?}");
        assert!(
            written
                .iter()
                .all(|v| matches!(v, Violation::ResidentVpeWrote(..)))
        );
    }
}

/// init_redistributor_with_vlpi makes each vPE non-resident (GICv4.1:
/// VPENDBASER written with PendingLast alone, then VPROPBASER's vPE table
/// invalidated; GICv4.0: Valid cleared), waiting for Dirty before and
/// after: the redistributors write nothing more, and the driver works.
#[test]
fn init_makes_every_vpe_left_resident_non_resident() {
    for config in [
        ModelConfig::gicv41_after_kvm_host(),
        gicv40_after_kvm_host(),
    ] {
        let v4_1 = config.virtual_lpis.unwrap().v4_1;
        let model = ItsModel::new(config);
        let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
        for index in 0..4 {
            let vlpi = model.gicr_vlpi(index);
            let vpendbaser = vlpi.read_register(GicrVlpiRegister::Vpendbaser);
            assert_eq!(vpendbaser & VALID, 0, "redistributor {index}");
            if v4_1 {
                assert_eq!(vpendbaser, 1 << 61, "PendingLast alone");
                assert_eq!(vlpi.read_register(GicrVlpiRegister::Vpropbaser) & VALID, 0);
            } else {
                assert_ne!(vpendbaser, 0, "the rest of the register kept");
            }
        }
        model.run_vpes();
        exercise(&model, &mut its, gicv3_its::DeviceId(0x10), 4).assert_clean();
        assert_no_violations(&model);
    }
}

/// Without the VLPI_base frame the driver cannot stop a resident vPE: it
/// refuses the redistributor, touching nothing.
#[test]
fn a_gicv4_redistributor_needs_its_vlpi_frame() {
    let model = ItsModel::new(ModelConfig::gicv41_after_kvm_host());
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    assert_eq!(
        domain.init_redistributor(&model.gicr(0), 0x080a_0000),
        Err(ItsError::VlpiFrameNeeded {
            processor_number: ProcessorNumber(0)
        })
    );
    assert_eq!(model.gicr(0).read_register(GicrRegister::Ctlr) & 1, 0);
    assert!(room::redistributors(&domain).is_empty());
    assert_eq!(
        model
            .gicr_vlpi(0)
            .read_register(GicrVlpiRegister::Vpendbaser)
            & VALID,
        VALID
    );
    // A GICv3 redistributor needs none, and one given is not touched.
    let model = ItsModel::new(ModelConfig::default());
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    domain
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    domain
        .init_redistributor_with_vlpi(&model.gicr(1), &model.gicr_vlpi(1), 0x080c_0000)
        .unwrap();
    assert_no_violations(&model);
}

/// A redistributor whose Dirty never clears is a timeout, within the
/// wait's bound, and its LPIs stay off.
#[test]
fn a_vpe_table_that_stays_dirty_is_a_timeout() {
    let model = ItsModel::new(ModelConfig {
        virtual_lpis: Some(VirtualLpis {
            dirty_reads: u32::MAX,
            ..ModelConfig::gicv41_after_kvm_host().virtual_lpis.unwrap()
        }),
        ..ModelConfig::gicv41_after_kvm_host()
    });
    let config = LpiDomainConfig {
        wait: WaitPolicy {
            poll_budget: 100,
            ..WaitPolicy::default()
        },
        ..LpiDomainConfig::default()
    };
    let domain = room::domain(model.memory(), config).unwrap();
    assert_eq!(
        domain.init_redistributor_with_vlpi(&model.gicr(0), &model.gicr_vlpi(0), 0x080a_0000),
        Err(ItsError::Timeout {
            waiting_for: WaitFor::VpeTable,
            polls: 100
        })
    );
    assert_eq!(model.gicr(0).read_register(GicrRegister::Ctlr) & 1, 0);
    assert_no_violations(&model);
}

/// A GICv4.1 redistributor whose vPE a previous owner made non-resident a
/// moment before the handover, still writing its pending table back
/// (Dirty = 1): GICR_VPROPBASER (through which the redistributor finds
/// that table) is invalidated only once Dirty reads 0.
#[test]
fn the_vpe_table_is_invalidated_only_once_the_redistributor_is_done() {
    let model = ItsModel::new(ModelConfig::gicv41_after_kvm_host());
    for index in 0..4 {
        model
            .gicr_vlpi(index)
            .write_register(GicrVlpiRegister::Vpendbaser, 1 << 61);
    }
    let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
    for index in 0..4 {
        let vpropbaser = model
            .gicr_vlpi(index)
            .read_register(GicrVlpiRegister::Vpropbaser);
        assert_eq!(vpropbaser & VALID, 0);
    }
    exercise(&model, &mut its, gicv3_its::DeviceId(0x10), 2).assert_clean();
    assert_no_violations(&model);
}

/// A kernel that brings up one CPU only (a kdump kernel) stops the vPEs
/// left resident on every GICv4 redistributor at boot, initialised or not.
#[test]
fn every_redistributors_vpe_is_retired_at_boot_whatever_cpus_come_up() {
    let model = ItsModel::new(ModelConfig::gicv41_after_kvm_host());
    for index in 0..4 {
        gicv3_its::takeover::retire_resident_vpe(
            &model.gicr(index),
            &model.gicr_vlpi(index),
            WaitPolicy::default(),
        )
        .unwrap();
    }
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    domain
        .init_redistributor_with_vlpi(&model.gicr(0), &model.gicr_vlpi(0), 0x080a_0000)
        .unwrap();
    model.run_vpes();
    assert_no_violations(&model);
}
