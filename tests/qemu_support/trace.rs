//! QEMU's trace of the ITS and the GIC CPU interface (`-trace 'gicv3_its*'
//! -trace 'gicv3_icc*' -d guest_errors`, as `qemu/run --trace` takes it):
//! the lines parsed into the events that matter, in order ([`parse`]), and
//! the ITS's table writes replayed into what it holds ([`ItsState`]).
//!
//! Included by `tests/qemu_hibernate.rs`, for the hibernation checker.

use crate::qemu_support::field;
use crate::qemu_support::protocol::Phase;
use std::collections::BTreeMap;

/// What matters in the trace, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Marker(Phase),
    /// A GITS_CTLR write.
    Ctlr(u64),
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
            "gicv3_its_write" if field(line, "offset") == Some(0) => {
                field(line, "data").map(Event::Ctlr)
            }
            "gicv3_its_write" => None,
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
