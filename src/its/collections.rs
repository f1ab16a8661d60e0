//! Collections: mapping a collection to a redistributor (MAPC), unmapping
//! it, and moving every collection of one redistributor to another (MAPC
//! and MOVALL), Arm IHI 0069 5.3.8, 5.3.12.

use super::Its;
use crate::command::{ItsCommand, RdBase};
use crate::error::ItsError;
use crate::id::{CollectionId, ProcessorNumber};
use crate::memory::DmaMemory;
use crate::registers::GitsFrame;
use crate::registry::CollectionRecord;

impl<F: GitsFrame, M: DmaMemory> Its<F, M> {
    /// Maps collection `icid` to the redistributor of `processor_number`
    /// (MAPC V=1, 5.3.8), then INVALL for it (5.3.7): the redistributor may
    /// still cache LPI configuration from whoever used it before.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::CollectionOutOfRange`] if `icid` is beyond
    /// what the ITS supports; [`ItsError::CollectionAlreadyMapped`] if `icid`
    /// is mapped already (or waits for its redistributor after a restore);
    /// [`ItsError::UnknownRedistributor`] if the domain never initialised the
    /// redistributor of `processor_number`; [`ItsError::RedistributorNotReady`]
    /// if its LPIs are not enabled now (offline, saved or released);
    /// [`ItsError::OutOfMemory`] or [`ItsError::StorageFull`] if the
    /// registry has no room for it; [`ItsError::Timeout`] if the ITS does
    /// not consume the commands in time, or [`ItsError::CommandStalled`] if
    /// it stalls on one (then [`Its::recover`]).
    pub fn map_collection(
        &mut self,
        icid: CollectionId,
        processor_number: ProcessorNumber,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        self.check_icid(icid)?;
        if self.registry.collection(icid).is_some() {
            return Err(ItsError::CollectionAlreadyMapped { icid });
        }
        let rdbase = self.ready_rdbase(processor_number)?;
        // The registry's room before the ITS changes.
        self.registry.reserve_collection()?;
        self.execute(&map_and_reload(icid, rdbase), &[rdbase])?;
        log::info!("its: MAPC icid {icid} valid 1 rdbase {:#x}", rdbase.field());
        self.registry.set_collection_live(icid, processor_number);
        Ok(())
    }

    fn check_icid(&self, icid: CollectionId) -> Result<(), ItsError> {
        if u32::from(icid.0) >= self.collection_limit {
            return Err(ItsError::CollectionOutOfRange {
                icid,
                max: CollectionId(self.collection_limit.saturating_sub(1) as u16),
            });
        }
        Ok(())
    }

    /// Unmaps a collection that no event targets any more (MAPC V=0).
    ///
    /// Its redistributor need not be ready: a CPU that went offline
    /// ([`crate::LpiDomain::offline`]) before its collection was unmapped
    /// still gets the MAPC V=0, completed by the ITS consuming it rather
    /// than by a SYNC, which must target a redistributor with LPIs enabled
    /// (5.3.23). No event is in the collection, so nothing at the
    /// redistributor waits on it.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::CollectionNotMapped`] if `icid` is not
    /// mapped; [`ItsError::CollectionInUse`] while events still target it;
    /// [`ItsError::Timeout`] if the ITS does not consume the commands in time,
    /// or [`ItsError::CommandStalled`] if it stalls on one (then
    /// [`Its::recover`]).
    pub fn unmap_collection(&mut self, icid: CollectionId) -> Result<(), ItsError> {
        self.check_active()?;
        let record = self
            .registry
            .collection(icid)
            .ok_or(ItsError::CollectionNotMapped { icid })?;
        if record.events() > 0 {
            return Err(ItsError::CollectionInUse {
                icid,
                events: record.events(),
            });
        }
        if record.is_live() {
            let (rdbase, sync) = match self.ready_rdbase(record.processor_number()) {
                Ok(rdbase) => (rdbase, Some(rdbase)),
                Err(ItsError::RedistributorNotReady { .. }) => {
                    (self.rdbase(record.processor_number())?, None)
                }
                Err(error) => return Err(error),
            };
            self.execute(
                &[ItsCommand::Mapc {
                    icid,
                    rdbase,
                    valid: false,
                }],
                sync.as_slice(),
            )?;
            log::info!("its: MAPC icid {icid} valid 0");
        }
        self.registry.remove_collection(icid);
        Ok(())
    }

    /// Moves one collection to another redistributor (MAPC, then INVALL,
    /// 5.3.8, 5.3.7): its events are delivered there from now on. LPIs
    /// already pending on the old redistributor stay there and are taken
    /// by its CPU, so that CPU must still be online; to move off a CPU that
    /// goes offline, use [`Its::move_collections`], whose MOVALL takes its
    /// pending LPIs along.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::CollectionNotMapped`] if `icid` is not
    /// mapped; [`ItsError::CollectionDeferred`] if it waits for its
    /// redistributor after a restore; [`ItsError::UnknownRedistributor`] if the
    /// domain never initialised the redistributor of `to`;
    /// [`ItsError::RedistributorNotReady`] if the collection's redistributor or
    /// that of `to` is not ready now; [`ItsError::Timeout`] if the ITS does not
    /// consume the commands in time, or [`ItsError::CommandStalled`] if it
    /// stalls on one (then [`Its::recover`]).
    pub fn move_collection(
        &mut self,
        icid: CollectionId,
        to: ProcessorNumber,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let from = self.rdbase_of_collection(icid)?;
        let to_rdbase = self.ready_rdbase(to)?;
        if from == to_rdbase {
            return Ok(());
        }
        self.execute(&map_and_reload(icid, to_rdbase), &[from, to_rdbase])?;
        log::info!(
            "its: MAPC icid {icid} valid 1 rdbase {:#x} (moved)",
            to_rdbase.field()
        );
        self.registry.set_collection_live(icid, to);
        Ok(())
    }

    /// Maps the collections that [`Its::restore`] left unmapped because
    /// their redistributor was not ready yet: call it when a CPU comes
    /// online after a resume, once [`crate::LpiDomain::init_redistributor`]
    /// ran for it. MAPC and INVALL for each, then SYNC. Fails with
    /// [`ItsError::RedistributorNotReady`] if it is called too early.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::UnknownRedistributor`] if the domain never
    /// initialised the redistributor of `processor_number`;
    /// [`ItsError::RedistributorNotReady`] if it is not ready yet;
    /// [`ItsError::Timeout`] if the ITS does not consume the commands in time,
    /// or [`ItsError::CommandStalled`] if it stalls on one (then
    /// [`Its::recover`]).
    pub fn restore_collections(
        &mut self,
        processor_number: ProcessorNumber,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let rdbase = self.ready_rdbase(processor_number)?;
        self.map_collections_onto(
            |record| !record.is_live() && record.processor_number() == processor_number,
            processor_number,
            rdbase,
            None,
            "restore",
        )
    }

    /// Moves every collection of one redistributor to another, for example
    /// when its CPU goes offline: MAPC to the new one and INVALL for each,
    /// then one MOVALL so that LPIs already pending on the old one follow
    /// (5.3.8, 5.3.7, 5.3.12).
    ///
    /// MOVALL moves *every* pending LPI of the old redistributor, whichever
    /// ITS routed it there, which is why this moves all of this ITS's
    /// collections together, and why it is refused with
    /// [`ItsError::SharedLpiDomain`] when other ITSes of the LPI domain hold
    /// live mappings: their collections on the old redistributor would stay
    /// behind while their pending LPIs moved.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::SharedLpiDomain`] if another ITS of the
    /// domain holds live mappings; [`ItsError::UnknownRedistributor`] if the
    /// domain never initialised the redistributor of `from` or `to`;
    /// [`ItsError::RedistributorNotReady`] if either is not ready now (move the
    /// collections before [`crate::LpiDomain::offline`]); [`ItsError::Timeout`]
    /// if the ITS does not consume the commands in time, or
    /// [`ItsError::CommandStalled`] if it stalls on one (then
    /// [`Its::recover`]).
    pub fn move_collections(
        &mut self,
        from: ProcessorNumber,
        to: ProcessorNumber,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let itses = self.domain.active();
        if itses > 1 {
            return Err(ItsError::SharedLpiDomain { itses });
        }
        let from_rdbase = self.ready_rdbase(from)?;
        let to_rdbase = self.ready_rdbase(to)?;
        if from == to {
            return Ok(());
        }
        self.map_collections_onto(
            |record| record.is_live() && record.processor_number() == from,
            to,
            to_rdbase,
            Some((
                ItsCommand::Movall {
                    from: from_rdbase,
                    to: to_rdbase,
                },
                from_rdbase,
            )),
            "moved",
        )
    }

    /// MAPC and INVALL of every collection `select` picks onto the
    /// redistributor of `to` (at `to_rdbase`), then `then` (a command and
    /// the other redistributor it involves), then SYNC: what
    /// [`Its::restore_collections`] and [`Its::move_collections`] both do.
    /// Once the ITS has consumed it all, each collection is recorded live
    /// on `to`. With nothing selected and nothing `then`, no command is
    /// sent.
    fn map_collections_onto(
        &mut self,
        select: impl Fn(&CollectionRecord) -> bool,
        to: ProcessorNumber,
        to_rdbase: RdBase,
        then: Option<(ItsCommand, RdBase)>,
        why: &str,
    ) -> Result<(), ItsError> {
        let registry = &self.registry;
        if then.is_none() && !registry.collections().any(|(_, record)| select(&record)) {
            return Ok(());
        }
        // Streamed from the registry: no list of the collections is built.
        let commands = registry
            .collections()
            .filter(|(_, record)| select(record))
            .flat_map(|(icid, _)| map_and_reload(icid, to_rdbase))
            .chain(then.map(|(command, _)| command));
        let syncs = then.map(|(_, other)| other).into_iter().chain([to_rdbase]);
        let result = self.channel.send(commands, syncs);
        self.recovery_after(result)?;
        self.registry.set_collections_live(|icid, record| {
            select(&record).then(|| {
                log::info!(
                    "its: MAPC icid {icid} valid 1 rdbase {:#x} ({why})",
                    to_rdbase.field()
                );
                to
            })
        });
        Ok(())
    }
}

/// MAPC of `icid` onto `rdbase`, then INVALL (5.3.8, 5.3.7): the
/// redistributor drops whatever it cached of the collection's LPIs'
/// configuration and reads it again from the property table.
fn map_and_reload(icid: CollectionId, rdbase: RdBase) -> [ItsCommand; 2] {
    [
        ItsCommand::Mapc {
            icid,
            rdbase,
            valid: true,
        },
        ItsCommand::Invall { icid },
    ]
}
