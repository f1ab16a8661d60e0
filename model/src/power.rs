//! GICR_PWRR: the redistributors' power on Arm's GIC-600, GIC-600AE and
//! GIC-700 ([`RedistributorPower`]), in groups that power up and down
//! together, each transition taking some reads of the register.

use crate::redistributor::Redistributor;
use crate::state::Gic;
use crate::{GicrRegister, RedistributorPower, Violation};
use gicv3_its::registers::{GICR_PWRR, GICR_WAKER};
use std::ops::Range;

/// The actual power state of a group (RDGPO) and how far its transition
/// towards the intended one (RDGPD) has gone.
#[derive(Clone, Copy, Default)]
pub(crate) struct PowerGroup {
    /// RDGPO: the group is powered off.
    off: bool,
    /// GICR_PWRR reads before RDGPO follows RDGPD.
    reads_left: u32,
}

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
        let value = GICR_PWRR::RDPD.val((self.rds[index].rdpd || off).into())
            + GICR_PWRR::RDGPD.val(intended.into())
            + GICR_PWRR::RDGPO.val(off.into());
        // RDGO (bits [14:8]): the index in the group; RDG (bits [23:15]):
        // the group.
        let place = (index - members.start) << 8 | group << 15;
        u64::from(value.value) | place as u64
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

#[cfg(test)]
mod tests {
    use crate::{GicrRegister as R, ItsModel, ModelConfig, RedistributorPower, Violation};

    const RDPD: u64 = 1;
    const RDAG: u64 = 1 << 1;
    const RDGPD: u64 = 1 << 2;
    const RDGPO: u64 = 1 << 3;

    fn pwrr_bits(model: &ItsModel, index: usize) -> u64 {
        model.gicr(index).read_register(R::Pwrr) & 0xf
    }

    #[test]
    fn a_redistributor_powers_up_some_reads_after_rdpd_is_cleared() {
        let model = ItsModel::new(ModelConfig::gic600());
        let gicr = model.gicr(1);
        assert_eq!(pwrr_bits(&model, 1), RDPD | RDGPD | RDGPO);
        // Powered down: LPI registers read 0 and ignore writes.
        gicr.write_register(R::Propbaser, 0x4000_0000 | 15);
        assert_eq!(gicr.read_register(R::Propbaser), 0);
        assert_eq!(gicr.read_register(R::Typer) & 1, 1);
        assert_eq!(
            model.take_violations(),
            [Violation::RedistributorPoweredDown(1, R::Propbaser)]
        );
        gicr.write_register(R::Pwrr, 0);
        // The group's intent changed at once; its state follows after
        // three reads, and RDPD reads 0 only then.
        let reads: Vec<u64> = (0..3).map(|_| pwrr_bits(&model, 1)).collect();
        assert_eq!(reads, [RDPD | RDGPO, RDPD | RDGPO, 0]);
        gicr.write_register(R::Propbaser, 0x4000_0000 | 15);
        assert_eq!(gicr.read_register(R::Propbaser), 0x4000_0000 | 15);
        // Group of two (RDGO 1, RDG 0): its partner is powered too, though
        // it did not ask (its RDPD still reads 1); the next group is not.
        assert_eq!(gicr.read_register(R::Pwrr) >> 8, 1);
        assert_eq!(pwrr_bits(&model, 0), RDPD);
        assert_eq!(model.gicr(0).read_register(R::Ctlr) & 0b10, 0b10);
        assert_eq!(pwrr_bits(&model, 2), RDPD | RDGPD | RDGPO);
        assert_eq!(model.gicr(2).read_register(R::Pwrr) >> 15, 1);
        assert_eq!(model.violations(), []);
    }

    #[test]
    fn power_down_needs_processor_sleep_and_a_settled_group() {
        let model = ItsModel::new(ModelConfig::gic600());
        let gicr = model.gicr(2);
        // RDAG powers the whole group.
        gicr.write_register(R::Pwrr, RDAG);
        // Mid-transition, a write away from the intent is ignored.
        gicr.write_register(R::Pwrr, RDPD | RDAG);
        while pwrr_bits(&model, 2) != 0 {}
        assert_eq!(pwrr_bits(&model, 3), 0);
        // RDPD = 1 only once the PE sleeps; then the group goes down when
        // both members allow it, and the redistributors lose their state.
        gicr.write_register(R::Propbaser, 0x4000_0000 | 15);
        gicr.write_register(R::Pwrr, RDPD | RDAG);
        assert_eq!(pwrr_bits(&model, 2), 0);
        gicr.write_register(R::Waker, 0b10);
        gicr.write_register(R::Pwrr, RDPD | RDAG);
        let reads: Vec<u64> = (0..3).map(|_| pwrr_bits(&model, 3)).collect();
        assert_eq!(reads, [RDPD | RDGPD, RDPD | RDGPD, RDPD | RDGPD | RDGPO]);
        gicr.write_register(R::Pwrr, 0);
        while pwrr_bits(&model, 2) != 0 {}
        assert_eq!(gicr.read_register(R::Propbaser), 0);
        assert_eq!(model.violations(), []);
    }

    #[test]
    fn a_group_that_never_powers_up() {
        let model = ItsModel::new(ModelConfig {
            redistributor_power: Some(RedistributorPower {
                never_powers_up: true,
                ..RedistributorPower::default()
            }),
            ..ModelConfig::default()
        });
        model.gicr(0).write_register(R::Pwrr, 0);
        assert!((0..100).all(|_| pwrr_bits(&model, 0) == RDPD | RDGPO));
        // Without GICR_PWRR the register is RAZ/WI and the redistributors
        // are always powered.
        let plain = ItsModel::new(ModelConfig::default());
        assert_eq!(plain.gicr(0).read_register(R::Pwrr), 0);
        assert_eq!(plain.gicr(0).read_register(R::Ctlr) & 0b10, 0b10);
    }
}
