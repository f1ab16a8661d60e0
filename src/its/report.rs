//! What the driver reports about itself: where it is in its life
//! ([`ItsState`]) and the memory it holds ([`MemoryUse`]).

/// Where the driver is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItsState {
    /// Mappings are live; map and unmap work.
    Active,
    /// `save` ran: the ITS holds no mapping and is disabled.
    Saved,
    /// `restore` started but did not replay every device; call it again.
    Restoring,
    /// A command stalled or timed out; call [`Its::recover`](crate::Its::recover).
    NeedsRecovery,
}

/// Memory use, for benchmarks and leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Device table (flat or level 1, plus level-2 pages).
    pub device_table: usize,
    /// Collection table.
    pub collection_table: usize,
    /// All ITTs.
    pub itts: usize,
    /// Command queue.
    pub queue: usize,
    /// LPI property and pending tables (the domain's, shared by every ITS
    /// of the domain).
    pub lpi_tables: usize,
    /// The registry's own heap use (approximate).
    pub registry: usize,
}
