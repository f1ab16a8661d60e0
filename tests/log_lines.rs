//! The driver's log lines that say what a save or a restore did: a kernel's
//! console (the example's, and a user's) shows them, so they are output and
//! must be right. A logger of this test's own captures them.

mod support;

use gicv3_its::{CollectionId, DeviceId, EventId, ProcessorNumber};
use gicv3_its_model::ModelConfig;
use std::sync::Mutex;
use support::*;

/// Every line logged, in order.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        LINES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(record.args().to_string());
    }

    fn flush(&self) {}
}

/// The lines logged since the last call.
fn take_lines() -> Vec<String> {
    std::mem::take(&mut *LINES.lock().unwrap_or_else(|p| p.into_inner()))
}

#[test]
fn save_and_restore_say_what_they_did() {
    log::set_logger(&Capture).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Info);
    // Four CPUs, a collection each; two devices with events on CPUs 0 and 2.
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 2).unwrap();
    its.map_device(DeviceId(0x18), 1).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    its.map_event(DeviceId(0x10), EventId(1), CollectionId(2))
        .unwrap();
    its.map_event(DeviceId(0x18), EventId(0), CollectionId(0))
        .unwrap();
    take_lines();

    its.save().unwrap();
    let lines = take_lines();
    assert!(
        lines.contains(&"its: saved: 2 devices and 4 collections unmapped, ITS disabled".into()),
        "{lines:#?}"
    );

    // Only CPUs 0 and 1 are back after the power cycle.
    its.domain().save().unwrap();
    model.reset();
    for cpu in 0..2 {
        its.domain()
            .init_redistributor(&model.gicr(cpu), model.config().redistributors[cpu])
            .unwrap();
    }
    let _ = its.restore().unwrap();
    let lines = take_lines();
    let expected = "its: restored: 2 devices, 3 events, 2 collections replayed, 2 waiting for their redistributor";
    assert!(lines.contains(&expected.into()), "{lines:#?}");

    its.domain()
        .init_redistributor(&model.gicr(2), model.config().redistributors[2])
        .unwrap();
    its.restore_collections(ProcessorNumber(2)).unwrap();
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}
