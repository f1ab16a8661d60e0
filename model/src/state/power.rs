//! GICR_PWRR: the redistributors' power, one group at a time.

use super::Gic;
use crate::power::PowerGroup;
use crate::redistributor::Redistributor;
use crate::{GicrRegister, RedistributorPower, Violation};
use gicv3_its::registers::GICR_PWRR_RO;
use gicv3_its::registers::{GICR_PWRR, GICR_WAKER};
use std::ops::Range;

impl Gic {
    fn power(&self) -> Option<RedistributorPower> {
        self.config.redistributor_power
    }

    /// The power groups at reset: every one off (RDPD = 1 everywhere).
    pub(crate) fn reset_power(&mut self) {
        let Some(power) = self.power() else {
            return self.power_groups.clear();
        };
        assert!(power.group_size >= 1, "redistributor_power.group_size");
        let groups = self.rds.len().div_ceil(power.group_size);
        let off = PowerGroup {
            off: true,
            reads_left: 0,
        };
        self.power_groups = vec![off; groups];
        for rd in &mut self.rds {
            rd.rdpd = true;
        }
    }

    /// Whether redistributor `index` is powered, so that its registers
    /// work.
    pub(crate) fn powered(&self, index: usize) -> bool {
        self.power()
            .is_none_or(|power| !self.power_groups[index / power.group_size].off)
    }

    /// A register access to a powered-down redistributor: GICR_PWRR,
    /// GICR_IIDR and GICR_TYPER work, anything else reads 0 and ignores
    /// writes (which are violations). Returns whether the access goes on.
    pub(crate) fn power_gate(&mut self, index: usize, register: GicrRegister, write: bool) -> bool {
        let always_on = matches!(
            register,
            GicrRegister::Pwrr | GicrRegister::Iidr | GicrRegister::Typer
        );
        if always_on || self.powered(index) {
            return true;
        }
        if write {
            self.violations
                .push(Violation::RedistributorPoweredDown(index, register));
        }
        false
    }

    fn group(&self, index: usize, power: RedistributorPower) -> (usize, Range<usize>) {
        let group = index / power.group_size;
        let start = group * power.group_size;
        (group, start..(start + power.group_size).min(self.rds.len()))
    }

    /// RDGPD: every member of the group asks to be powered down.
    fn intended_off(&self, members: Range<usize>) -> bool {
        self.rds[members].iter().all(|rd| rd.rdpd)
    }

    pub(crate) fn pwrr_read(&mut self, index: usize) -> u64 {
        let Some(power) = self.power() else { return 0 };
        let (group, members) = self.group(index, power);
        let intended = self.intended_off(members.clone());
        let state = &mut self.power_groups[group];
        if state.off != intended {
            state.reads_left = state.reads_left.saturating_sub(1);
            if state.reads_left == 0 && (intended || !power.never_powers_up) {
                state.off = intended;
                if intended {
                    // Powered off: the redistributors lose their state.
                    for rd in &mut self.rds[members.clone()] {
                        *rd = Redistributor {
                            rdpd: true,
                            waker: rd.waker,
                            ..Redistributor::default()
                        };
                    }
                }
            }
        }
        let off = self.power_groups[group].off;
        let value = GICR_PWRR::RDPD
            .val((self.rds[index].rdpd || off).into())
            .value
            | (GICR_PWRR_RO::RDGPD.val(intended.into()) + GICR_PWRR_RO::RDGPO.val(off.into()))
                .value;
        // RDGO (bits [14:8]): the index in the group; RDG (bits [23:15]):
        // the group.
        let place = (index - members.start) << 8 | group << 15;
        u64::from(value) | place as u64
    }

    pub(crate) fn pwrr_write(&mut self, index: usize, value: u64) {
        let Some(power) = self.power() else { return };
        let (group, members) = self.group(index, power);
        let value = value as u32;
        let rdpd = GICR_PWRR::RDPD.is_set(value);
        let intended = self.intended_off(members.clone());
        let transitioning = self.power_groups[group].off != intended;
        let asleep = GICR_WAKER::ProcessorSleep.is_set(self.rds[index].waker as u32);
        if (transitioning && rdpd != intended) || (rdpd && !asleep) {
            return;
        }
        let targets = if GICR_PWRR::RDAG.is_set(value) {
            members.clone()
        } else {
            index..index + 1
        };
        for rd in &mut self.rds[targets] {
            rd.rdpd = rdpd;
        }
        if self.intended_off(members) != intended {
            self.power_groups[group].reads_left = power.transition_reads;
        }
    }
}
