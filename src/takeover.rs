//! Taking the GIC over from whoever ran before: a kernel that kexec'd into
//! this one, a boot loader, firmware. A previous owner may have left an ITS
//! enabled with its tables, commands it never saw consumed, and
//! redistributors with LPIs enabled on tables in memory this kernel is about
//! to use. In this order, before anything allocates memory the GIC could
//! write:
//!
//! 1. [`quiesce`] every ITS (disabled, quiescent, its tables invalid);
//! 2. [`stop_lpis`] on every redistributor (and [`retire_resident_vpe`]
//!    where GICv4 is in use), so that none writes pending state back into
//!    memory after it has been handed out;
//! 3. then [`crate::LpiDomain`] and [`crate::Its::probe`].

pub use crate::its::quiesce;
pub use crate::lpi::{retire_resident_vpe, stop_lpis};
