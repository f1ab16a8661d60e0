//! One type per kind of ID the ITS deals in, so that passing one where
//! another is meant does not compile:
//!
//! ```compile_fail
//! use gicv3_its::{CollectionId, ProcessorNumber};
//!
//! fn route(collection: CollectionId, cpu: ProcessorNumber) {}
//! let (collection, cpu) = (CollectionId(1), ProcessorNumber(2));
//! route(cpu, collection); // swapped
//! ```
//!
//! The fields are public: an ID is just a number once the caller has said
//! which kind it is.

use core::fmt;

/// A device as the ITS knows it: the DeviceID that comes with each of its
/// MSIs (for PCI, the requester ID mapped through `msi-map`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DeviceId(pub u32);

/// One of a device's MSIs: the EventID it writes to GITS_TRANSLATER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId(pub u32);

/// A collection (ICID): a group of LPIs delivered to one redistributor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CollectionId(pub u16);

/// An interrupt ID; for an LPI, 8192 or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IntId(pub u32);

/// A redistributor's processor number (GICR_TYPER.Processor_Number): how a
/// collection names its target when GITS_TYPER.PTA = 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ProcessorNumber(pub u16);

impl IntId {
    /// The first LPI (5.1).
    pub const FIRST_LPI: Self = Self(8192);

    /// Whether this is an LPI's INTID.
    pub const fn is_lpi(self) -> bool {
        self.0 >= Self::FIRST_LPI.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

macro_rules! display_decimal {
    ($($id:ty),*) => {$(
        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_decimal!(EventId, CollectionId, IntId, ProcessorNumber);

macro_rules! lower_hex {
    ($($id:ty),*) => {$(
        impl fmt::LowerHex for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    )*};
}
lower_hex!(DeviceId, EventId, CollectionId, IntId, ProcessorNumber);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn lpis_start_at_8192() {
        assert!(!IntId(8191).is_lpi(), "LPIs start at 8192 (5.1)");
        assert!(IntId(8192).is_lpi());
        assert!(IntId(u32::MAX).is_lpi());
    }

    #[test]
    fn device_ids_print_in_hex_like_requester_ids_and_the_rest_in_decimal() {
        assert_eq!(format!("{}", DeviceId(0x18)), "0x18");
        assert_eq!(format!("{}", EventId(10)), "10");
        assert_eq!(format!("{:x}", IntId(8192)), "2000");
    }
}
