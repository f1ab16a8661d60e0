//! QEMU's trace of the ITS, the GIC CPU interface and the redistributors'
//! LPI registers (`-trace 'gicv3_its*' -trace 'gicv3_icc*' -trace
//! gicv3_redist_write -d guest_errors`, as `qemu/run --trace` takes it):
//! the lines parsed into the events that matter, in order ([`parse`]), and
//! the ITS's table writes replayed into what it holds ([`ItsState`]).
//!
//! Included by `tests/qemu_hibernate.rs` and `tests/qemu_linux.rs`, for
//! their checkers.

// Each checker reads a part of the trace.
#![allow(dead_code)]

use crate::qemu_support::field;
use crate::qemu_support::protocol::Phase;
use std::collections::BTreeMap;

/// What matters in the trace, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Marker(Phase),
    /// A GITS_CTLR write.
    Ctlr(u64),
    /// A GITS_BASERn write (the ITS's Device and Collection tables).
    Baser {
        index: usize,
        value: u64,
    },
    /// A GITS_CBASER write (the command queue).
    Cbaser(u64),
    /// A write to GICR_CTLR, GICR_PROPBASER or GICR_PENDBASER of a
    /// redistributor (by its processor number), from `-trace
    /// gicv3_redist_write`.
    Redistributor {
        redistributor: u64,
        register: RedistributorRegister,
        value: u64,
    },
    Dte {
        device: u64,
        valid: bool,
        itt: u64,
    },
    Ite {
        itt: u64,
        event: u64,
        valid: bool,
        intid: u64,
        icid: u64,
    },
    Cte {
        icid: u64,
        valid: bool,
        rdbase: u64,
    },
    Translation {
        requester: u64,
        event: u64,
    },
    /// The ITE the ITS read while translating the last MSI: an LPI was
    /// raised if it is valid.
    Translated {
        valid: bool,
        intid: u64,
    },
    /// A CPU acknowledged an interrupt (ICC_IAR1 read, not spurious).
    /// `cpu` is what QEMU prints: the affinity of the CPU's redistributor
    /// (GICR_TYPER.Affinity), which on `virt` is the CPU's index for CPUs
    /// 0 to 15.
    Acknowledged {
        intid: u64,
        cpu: u64,
    },
    /// A QEMU guest-error line, an ITS error event (bad register access,
    /// table read fault, unknown command) or a trace event this checker does
    /// not know.
    GuestError(String),
}

/// The redistributor registers the checkers follow: LPIs on or off, and
/// their tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedistributorRegister {
    Ctlr,
    Propbaser,
    Pendbaser,
}

/// GITS_BASERn.Type (bits 58:56): what a table holds.
pub const BASER_TYPE_DEVICES: u64 = 1;
pub const BASER_TYPE_COLLECTIONS: u64 = 4;

/// Guest errors that Linux causes on QEMU 7.2 and that say nothing about
/// the ITS: Linux reads GICD_TYPER2 (offset 0xC), which QEMU 7.2 does not
/// implement. The example kernel never reads it.
const KNOWN_LINUX_GUEST_ERRORS: &[&str] =
    &["gicv3_dist_read: invalid guest read at offset 000000000000000c size 4"];

/// ITS trace events that report normal operation and that the checker does
/// not need (commands are judged by the table writes they cause).
const ITS_EVENTS_IGNORED: &[&str] = &[
    "gicv3_its_cmd_clear",
    "gicv3_its_cmd_discard",
    "gicv3_its_cmd_int",
    "gicv3_its_cmd_inv",
    "gicv3_its_cmd_invall",
    "gicv3_its_cmd_mapc",
    "gicv3_its_cmd_mapd",
    "gicv3_its_cmd_mapi",
    "gicv3_its_cmd_mapti",
    "gicv3_its_cmd_movall",
    "gicv3_its_cmd_movi",
    "gicv3_its_cmd_sync",
    "gicv3_its_cte_read",
    "gicv3_its_dte_read",
    "gicv3_its_process_command",
];

/// ITS trace events that only an error causes.
const ITS_ERROR_EVENTS: &[&str] = &[
    "gicv3_its_badread",
    "gicv3_its_badwrite",
    "gicv3_its_cmd_unknown",
    "gicv3_its_cte_read_fault",
    "gicv3_its_dte_read_fault",
    "gicv3_its_ite_read_fault",
    "gicv3_its_vte_read_fault",
];

/// `trace` in parts, cut at each `phase` marker's line (which is in
/// neither part).
pub fn split_at_marker(trace: &str, phase: Phase) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in trace.split_inclusive('\n') {
        let marker = line.split_whitespace().next() == Some("gicv3_its_read")
            && field(line, "offset").and_then(Phase::from_offset) == Some(phase);
        if marker {
            parts.push(&trace[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    parts.push(&trace[start..]);
    parts
}

pub fn parse(trace: &str) -> Vec<Event> {
    let mut events = Vec::new();
    // Set by a TRANSLATER write until its ITE read: QEMU translates inside
    // the write, so the lines follow each other.
    let mut translating = false;
    for line in trace.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let name = line.split_whitespace().next().unwrap_or("");
        if name != "gicv3_its_dte_read" && name != "gicv3_its_ite_read" {
            translating = name == "gicv3_its_translation_write";
        }
        let error = || Some(Event::GuestError(line.to_string()));
        let event = match name {
            "gicv3_its_read" => field(line, "offset")
                .and_then(Phase::from_offset)
                .map(Event::Marker),
            "gicv3_its_write" => match field(line, "offset") {
                Some(0) => field(line, "data").map(Event::Ctlr),
                Some(0x80) => field(line, "data").map(Event::Cbaser),
                Some(offset @ 0x100..=0x138) if offset % 8 == 0 => Some(Event::Baser {
                    index: (offset as usize - 0x100) / 8,
                    value: field(line, "data").expect("data"),
                }),
                _ => None,
            },
            "gicv3_redist_write" => {
                let register = match field(line, "offset") {
                    Some(0x0) => Some(RedistributorRegister::Ctlr),
                    Some(0x70) => Some(RedistributorRegister::Propbaser),
                    Some(0x78) => Some(RedistributorRegister::Pendbaser),
                    _ => None,
                };
                register.map(|register| Event::Redistributor {
                    redistributor: field(line, "redistributor").expect("redistributor"),
                    register,
                    value: field(line, "data").expect("data"),
                })
            }
            _ if KNOWN_LINUX_GUEST_ERRORS.contains(&line.trim_end()) => None,
            "gicv3_its_dte_write" => Some(Event::Dte {
                device: field(line, "DeviceID").expect("DeviceID"),
                valid: field(line, "valid") == Some(1),
                itt: field(line, "ITTaddr").expect("ITTaddr") << 8,
            }),
            "gicv3_its_ite_write" => Some(Event::Ite {
                itt: field(line, "ITTaddr").expect("ITTaddr"),
                event: field(line, "EventID").expect("EventID"),
                valid: field(line, "valid") == Some(1),
                intid: field(line, "intid").expect("intid"),
                icid: field(line, "ICID").expect("ICID"),
            }),
            "gicv3_its_cte_write" => Some(Event::Cte {
                icid: field(line, "ICID").expect("ICID"),
                valid: field(line, "valid") == Some(1),
                rdbase: field(line, "RDBase").expect("RDBase"),
            }),
            "gicv3_its_translation_write" => Some(Event::Translation {
                requester: field(line, "requester_id").expect("requester_id"),
                event: field(line, "data").expect("data"),
            }),
            "gicv3_its_ite_read" if translating => {
                translating = false;
                Some(Event::Translated {
                    valid: field(line, "valid") == Some(1),
                    intid: field(line, "intid").expect("intid"),
                })
            }
            "gicv3_its_ite_read" => None,
            "gicv3_icc_iar1_read" => field(line, "value")
                .filter(|intid| !(1020..=1023).contains(intid))
                .map(|intid| Event::Acknowledged {
                    intid,
                    cpu: field(line, "cpu").expect("cpu"),
                }),
            // The CPU interface's other register accesses.
            _ if name.starts_with("gicv3_icc_") && !name.ends_with(':') => None,
            _ if ITS_EVENTS_IGNORED.contains(&name) => None,
            _ if ITS_ERROR_EVENTS.contains(&name) => {
                Some(Event::GuestError(format!("ITS error event: {line}")))
            }
            // Guest-error lines (`gicv3_its_write: invalid guest write ...`,
            // `do_process_its_cmd: ...`).
            _ if name.ends_with(':') || !name.starts_with("gicv3_") => error(),
            _ => Some(Event::GuestError(format!(
                "trace event unknown to the checker: {line}"
            ))),
        };
        events.extend(event);
    }
    events
}

/// What the ITS holds, from its table writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItsState {
    /// DeviceID -> ITT address.
    pub devices: BTreeMap<u64, u64>,
    /// (ITT, EventID) -> (INTID, ICID).
    pub ites: BTreeMap<(u64, u64), (u64, u64)>,
    /// ICID -> RDbase.
    pub collections: BTreeMap<u64, u64>,
    /// GITS_CTLR.Enabled as last written.
    pub enabled: bool,
    /// GITS_BASERn as last written while the ITS was disabled (QEMU ignores
    /// writes while it is enabled), by n.
    pub basers: BTreeMap<usize, u64>,
    /// GITS_BASERn.Type of each BASER, learned from writes that carry it.
    pub baser_types: BTreeMap<usize, u64>,
    /// Per redistributor: GICR_CTLR, GICR_PROPBASER and GICR_PENDBASER as
    /// last written.
    pub redistributors: BTreeMap<u64, RedistributorState>,
}

/// What a redistributor's LPI registers were last written with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedistributorState {
    pub ctlr: u64,
    pub propbaser: u64,
    pub pendbaser: u64,
}

impl RedistributorState {
    /// GICR_CTLR.EnableLPIs as last written.
    pub fn lpis_enabled(&self) -> bool {
        self.ctlr & 1 != 0
    }
}

/// The mappings as a device sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mappings {
    /// DeviceID -> ITT address.
    pub devices: BTreeMap<u64, u64>,
    /// (DeviceID, EventID) -> (INTID, ICID).
    pub events: BTreeMap<(u64, u64), (u64, u64)>,
    /// ICID -> RDbase.
    pub collections: BTreeMap<u64, u64>,
}

impl ItsState {
    pub fn apply(&mut self, event: &Event) {
        match *event {
            Event::Ctlr(value) => self.enabled = value & 1 != 0,
            // A table register takes a write only while the ITS is
            // disabled; the table it then names is another (or none), so
            // every mapping held in the old one is gone. Drivers hand the
            // ITS zeroed tables (as they do ITTs, below).
            Event::Baser { index, value } if !self.enabled => {
                let written_type = (value >> 56) & 0x7;
                if written_type != 0 {
                    self.baser_types.insert(index, written_type);
                }
                match self.baser_type(index) {
                    BASER_TYPE_DEVICES => self.devices.clear(),
                    BASER_TYPE_COLLECTIONS => self.collections.clear(),
                    _ => {}
                }
                self.basers.insert(index, value);
            }
            Event::Redistributor {
                redistributor,
                register,
                value,
            } => {
                let state = self.redistributors.entry(redistributor).or_default();
                match register {
                    RedistributorRegister::Ctlr => state.ctlr = value,
                    RedistributorRegister::Propbaser => state.propbaser = value,
                    RedistributorRegister::Pendbaser => state.pendbaser = value,
                }
            }
            Event::Dte { device, valid, itt } => {
                if valid {
                    // A newly mapped ITT holds only what is written into it
                    // after the MAPD (the driver hands the ITS zeroed ITTs):
                    // a restore must write every event again.
                    self.ites.retain(|&(base, _), _| base != itt);
                    self.devices.insert(device, itt);
                } else {
                    self.devices.remove(&device);
                }
            }
            Event::Ite {
                itt,
                event,
                valid,
                intid,
                icid,
            } => {
                if valid {
                    self.ites.insert((itt, event), (intid, icid));
                } else {
                    self.ites.remove(&(itt, event));
                }
            }
            Event::Cte {
                icid,
                valid,
                rdbase,
            } => {
                if valid {
                    self.collections.insert(icid, rdbase);
                } else {
                    self.collections.remove(&icid);
                }
            }
            _ => {}
        }
    }

    /// GITS_BASERn.Type of BASER `index`: as written with a type, else
    /// QEMU's layout (BASER0 Devices, BASER1 Collections).
    pub fn baser_type(&self, index: usize) -> u64 {
        match (self.baser_types.get(&index), index) {
            (Some(&written), _) => written,
            (None, 0) => BASER_TYPE_DEVICES,
            (None, 1) => BASER_TYPE_COLLECTIONS,
            (None, _) => 0,
        }
    }

    /// The collection an LPI is in: the ICID of the ITE, in a mapped
    /// device's ITT, that translates to it.
    pub fn collection_of(&self, intid: u64) -> Option<u64> {
        let itts: std::collections::BTreeSet<u64> = self.devices.values().copied().collect();
        self.ites
            .iter()
            .find(|((itt, _), (lpi, _))| *lpi == intid && itts.contains(itt))
            .map(|(_, &(_, icid))| icid)
    }

    /// The LPI an MSI of (`device`, `event`) raises, if any.
    pub fn translate(&self, device: u64, event: u64) -> Option<u64> {
        let itt = self.devices.get(&device)?;
        self.ites.get(&(*itt, event)).map(|&(intid, _)| intid)
    }

    pub fn mappings(&self) -> Mappings {
        let mut events = BTreeMap::new();
        for (&device, &itt) in &self.devices {
            for (&(base, event), &target) in &self.ites {
                if base == itt {
                    events.insert((device, event), target);
                }
            }
        }
        Mappings {
            devices: self.devices.clone(),
            events,
            collections: self.collections.clone(),
        }
    }
}
