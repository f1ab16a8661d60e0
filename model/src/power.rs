//! GICR_PWRR: the redistributors' power on Arm's GIC-600, GIC-600AE and
//! GIC-700 ([`RedistributorPower`]), in groups that power up and down
//! together, each transition taking some reads of the register.

/// The actual power state of a group (RDGPO) and how far its transition
/// towards the intended one (RDGPD) has gone.
#[derive(Clone, Copy, Default)]
pub(crate) struct PowerGroup {
    /// RDGPO: the group is powered off.
    pub(crate) off: bool,
    /// GICR_PWRR reads before RDGPO follows RDGPD.
    pub(crate) reads_left: u32,
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
