//! CPUs: starting each secondary with PSCI CPU_ON on a stack of its own,
//! giving it work, and stopping it with PSCI CPU_OFF.
//!
//! A CPU is known by its index in the DTB's `/cpus` ([`this_cpu`], kept in
//! TPIDR_EL1), not by its MPIDR. A secondary enters `secondary_boot`
//! (boot.rs) at EL1 with the initial page table, switches to the kernel's,
//! runs the bring-up work its starter gave it (the GIC side: `hotplug.rs`),
//! and then waits for work in `wfi` with IRQs unmasked, taking interrupts.
//!
//! Work goes through a mailbox per CPU and is announced with an SGI
//! ([`KICK_SGI`]), which ends the `wfi`; the mailbox is checked with IRQs
//! masked, so a kick that comes between the check and the `wfi` keeps the
//! SGI pending and the `wfi` returns at once. (`wfe` would not do: under
//! TCG it only yields, so an idle CPU would spin on a host core.) The
//! caller waits until the work is done, so the work may borrow from its
//! stack, as with `std::thread::scope`; work that does not finish in time
//! is a panic (a deadlock ends the run, it never returns half-done).
//!
//! Nothing here takes a lock, and neither does the IRQ path.

use crate::cpu::{self, IrqGuard, MAX_CPUS, set_this_cpu, this_cpu};
use crate::gic::cpu_interface;
use crate::platform::PsciConduit;
use crate::{irq, paging, power};
use aarch64_cpu::registers::{MPIDR_EL1, Readable};
use aarch64_rt::Stack;
use core::fmt;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;
use gicv3_its::IntId;
use smccc::psci::{AffinityState, LowestAffinityLevel};
use smccc::{Hvc, Smc};

/// The SGI that announces work to a waiting CPU.
pub const KICK_SGI: u32 = 0;
/// Stack pages of each secondary CPU.
const STACK_PAGES: usize = 8;
/// How long a CPU may take to come up, or to go down.
const POWER_LIMIT: Duration = Duration::from_secs(2);
/// How long work given to another CPU may take.
const WORK_LIMIT: Duration = Duration::from_secs(60);

static mut STACKS: [Stack<STACK_PAGES>; MAX_CPUS] = [const { Stack::new() }; MAX_CPUS];

/// Where a CPU is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CpuState {
    /// Powered off (or never started).
    Off = 0,
    /// CPU_ON issued; its bring-up work runs.
    Starting = 1,
    /// Waiting for work, taking interrupts.
    Online = 2,
    /// Told to power off.
    Stopping = 3,
}

impl CpuState {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Starting,
            2 => Self::Online,
            3 => Self::Stopping,
            _ => Self::Off,
        }
    }
}

/// Why a CPU could not be started, stopped or given work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmpError {
    /// The DTB describes no PSCI.
    NoPsci,
    /// No CPU with that index.
    NoSuchCpu(usize),
    /// The CPU is not in the state the operation needs.
    WrongState(usize, CpuState),
    /// CPU_ON failed.
    CpuOn(smccc::psci::Error),
    /// The CPU did not power off in time (AFFINITY_INFO).
    StillOn(usize),
    /// The CPU already has work.
    Busy(usize),
}

impl fmt::Display for SmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPsci => write!(f, "the DTB describes no PSCI"),
            Self::NoSuchCpu(cpu) => write!(f, "no CPU {cpu}"),
            Self::WrongState(cpu, state) => write!(f, "CPU {cpu} is {state:?}"),
            Self::CpuOn(error) => write!(f, "PSCI CPU_ON: {error:?}"),
            Self::StillOn(cpu) => write!(f, "CPU {cpu} did not power off"),
            Self::Busy(cpu) => write!(f, "CPU {cpu} already has work"),
        }
    }
}

struct CpuSlot {
    /// MPIDR_EL1 of the CPU (affinity fields).
    mpidr: AtomicU64,
    state: AtomicU8,
    /// Work for the CPU, or null.
    work: AtomicPtr<Work>,
}

static CPUS: [CpuSlot; MAX_CPUS] = [const {
    CpuSlot {
        mpidr: AtomicU64::new(u64::MAX),
        state: AtomicU8::new(CpuState::Off as u8),
        work: AtomicPtr::new(null_mut()),
    }
}; MAX_CPUS];
static COUNT: AtomicUsize = AtomicUsize::new(1);

/// Work handed to another CPU: a closure on the giver's stack, called
/// through a function made for its type.
struct Work {
    call: unsafe fn(*const ()),
    data: *const (),
    done: AtomicBool,
    /// Power off after the work (with IRQs masked throughout).
    then_off: bool,
}

impl Work {
    fn new<F: Fn() + Sync>(f: &F, then_off: bool) -> Self {
        /// # Safety
        /// `data` must point at an `F` that is alive.
        unsafe fn call<F: Fn()>(data: *const ()) {
            // SAFETY: `data` is the `&F` given to `Work::new`; the giver
            // keeps it alive until `done` is set.
            unsafe { (*data.cast::<F>())() }
        }
        Self {
            call: call::<F>,
            data: core::ptr::from_ref(f).cast(),
            done: AtomicBool::new(false),
            then_off,
        }
    }
}

unsafe extern "C" {
    fn secondary_boot();
}

/// Records the CPUs the DTB describes (their MPIDRs, in order) and which of
/// them this one is; registers the kick SGI's handler. Returns this CPU's
/// index. Called once, on the boot CPU.
pub fn init(mpidrs: &[u64]) -> usize {
    let count = mpidrs.len().clamp(1, MAX_CPUS);
    for (slot, &mpidr) in CPUS.iter().zip(mpidrs) {
        slot.mpidr.store(mpidr, Ordering::Relaxed);
        slot.state.store(CpuState::Off as u8, Ordering::Relaxed);
    }
    COUNT.store(count, Ordering::Release);
    let me = index_of(MPIDR_EL1.get()).unwrap_or(0);
    set_this_cpu(me);
    CPUS[me]
        .state
        .store(CpuState::Online as u8, Ordering::Release);
    // The kick only ends a `wfi`: nothing to do when it is taken.
    let _ = irq::register(IntId(KICK_SGI), |_, _| {}, 0);
    me
}

/// Number of CPUs (at most [`MAX_CPUS`]).
pub fn count() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// The MPIDR of CPU `cpu`.
pub fn mpidr(cpu: usize) -> u64 {
    CPUS.get(cpu)
        .map_or(u64::MAX, |slot| slot.mpidr.load(Ordering::Relaxed))
}

/// The affinity of CPU `cpu` in GICR_TYPER's layout.
pub fn affinity(cpu: usize) -> u32 {
    cpu::affinity_of(mpidr(cpu))
}

/// Where CPU `cpu` is.
pub fn state(cpu: usize) -> CpuState {
    CPUS.get(cpu).map_or(CpuState::Off, |slot| {
        CpuState::from_u8(slot.state.load(Ordering::Acquire))
    })
}

/// The CPUs online now, by index.
pub fn online() -> impl Iterator<Item = usize> {
    (0..count()).filter(|&cpu| state(cpu) == CpuState::Online)
}

fn index_of(mpidr: u64) -> Option<usize> {
    let affinity = cpu::affinity_of(mpidr);
    (0..count()).find(|&cpu| cpu::affinity_of(CPUS[cpu].mpidr.load(Ordering::Relaxed)) == affinity)
}

fn slot(cpu: usize) -> Result<&'static CpuSlot, SmpError> {
    if cpu >= count() {
        return Err(SmpError::NoSuchCpu(cpu));
    }
    Ok(&CPUS[cpu])
}

/// Starts CPU `cpu` (PSCI CPU_ON into `secondary_boot`, on its own stack)
/// and has it run `bring_up` first, with IRQs masked; returns once that is
/// done and the CPU waits for work. `bring_up` is where the CPU sets up its
/// own GIC state, so that it can be kicked.
pub fn start<F: Fn() + Sync>(cpu: usize, bring_up: &F) -> Result<(), SmpError> {
    let slot = slot(cpu)?;
    let conduit = power::psci_conduit().ok_or(SmpError::NoPsci)?;
    if slot
        .state
        .compare_exchange(
            CpuState::Off as u8,
            CpuState::Starting as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        return Err(SmpError::WrongState(cpu, state(cpu)));
    }
    let work = Work::new(bring_up, false);
    slot.work
        .store(core::ptr::from_ref(&work).cast_mut(), Ordering::Release);
    // SAFETY: only the address of the CPU's own stack is taken; the stack
    // is used by that CPU alone, from its entry until it powers off.
    let stack_end = unsafe { (&raw mut STACKS[cpu]).wrapping_add(1) } as u64;
    let entry = secondary_boot as *const () as u64;
    let mpidr = slot.mpidr.load(Ordering::Relaxed);
    let result = match conduit {
        PsciConduit::Hvc => smccc::psci::cpu_on::<Hvc>(mpidr, entry, stack_end),
        PsciConduit::Smc => smccc::psci::cpu_on::<Smc>(mpidr, entry, stack_end),
    };
    if let Err(error) = result {
        slot.work.store(null_mut(), Ordering::Release);
        slot.state.store(CpuState::Off as u8, Ordering::Release);
        return Err(SmpError::CpuOn(error));
    }
    // The CPU now runs with `work` borrowed: never return before it is done.
    if !cpu::wait_until(POWER_LIMIT, || {
        work.done.load(Ordering::Acquire) && state(cpu) == CpuState::Online
    }) {
        panic!("CPU {cpu} (MPIDR {mpidr:#x}) did not come up within {POWER_LIMIT:?}");
    }
    Ok(())
}

/// Stops CPU `cpu`: it masks its IRQs, runs `last` (where it turns its GIC
/// CPU interface off) and calls PSCI CPU_OFF; returns once PSCI
/// AFFINITY_INFO says it is off.
pub fn stop<F: Fn() + Sync>(cpu: usize, last: &F) -> Result<(), SmpError> {
    let slot = slot(cpu)?;
    let conduit = power::psci_conduit().ok_or(SmpError::NoPsci)?;
    if cpu == this_cpu() {
        return Err(SmpError::WrongState(cpu, CpuState::Online));
    }
    let work = Work::new(last, true);
    post(cpu, &work)?;
    slot.state
        .store(CpuState::Stopping as u8, Ordering::Release);
    wait_done(cpu, &work);
    let mpidr = slot.mpidr.load(Ordering::Relaxed);
    let off = cpu::wait_until(POWER_LIMIT, || {
        let state = match conduit {
            PsciConduit::Hvc => smccc::psci::affinity_info::<Hvc>(mpidr, LowestAffinityLevel::All),
            PsciConduit::Smc => smccc::psci::affinity_info::<Smc>(mpidr, LowestAffinityLevel::All),
        };
        state == Ok(AffinityState::Off)
    });
    if !off {
        return Err(SmpError::StillOn(cpu));
    }
    slot.state.store(CpuState::Off as u8, Ordering::Release);
    Ok(())
}

/// Runs each `(cpu, work)` on its CPU while `here` runs on this one, and
/// returns `here`'s result once all are done. The CPUs must be online,
/// distinct and not this one.
pub fn run_parallel<R>(
    jobs: &[(usize, &(dyn Fn() + Sync))],
    here: impl FnOnce() -> R,
) -> Result<R, SmpError> {
    let me = this_cpu();
    for (n, &(cpu, _)) in jobs.iter().enumerate() {
        let slot = slot(cpu)?;
        if cpu == me || jobs[..n].iter().any(|&(other, _)| other == cpu) {
            return Err(SmpError::Busy(cpu));
        }
        let state = CpuState::from_u8(slot.state.load(Ordering::Acquire));
        if state != CpuState::Online {
            return Err(SmpError::WrongState(cpu, state));
        }
    }
    let works: alloc::vec::Vec<Work> = jobs.iter().map(|(_, job)| Work::new(job, false)).collect();
    let mut posted = 0;
    let mut failure = None;
    for ((cpu, _), work) in jobs.iter().zip(&works) {
        if let Err(error) = post(*cpu, work) {
            failure = Some(error);
            break;
        }
        posted += 1;
    }
    let result = if failure.is_none() {
        Some(here())
    } else {
        None
    };
    for ((cpu, _), work) in jobs.iter().zip(&works).take(posted) {
        wait_done(*cpu, work);
    }
    match (result, failure) {
        (Some(result), _) => Ok(result),
        (None, Some(error)) => Err(error),
        (None, None) => unreachable!("either `here` ran or a post failed"),
    }
}

fn post(cpu: usize, work: &Work) -> Result<(), SmpError> {
    let slot = slot(cpu)?;
    let state = CpuState::from_u8(slot.state.load(Ordering::Acquire));
    if state != CpuState::Online {
        return Err(SmpError::WrongState(cpu, state));
    }
    slot.work
        .compare_exchange(
            null_mut(),
            core::ptr::from_ref(work).cast_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .map_err(|_| SmpError::Busy(cpu))?;
    cpu_interface::send_sgi(KICK_SGI, affinity(cpu));
    Ok(())
}

fn wait_done(cpu: usize, work: &Work) {
    // The CPU runs with `work` borrowed: never return before it is done.
    if !cpu::wait_until(WORK_LIMIT, || work.done.load(Ordering::Acquire)) {
        panic!("CPU {cpu} did not finish its work within {WORK_LIMIT:?} (a deadlock?)");
    }
}

/// Runs the work in `slot`'s mailbox, if any; returns whether there was.
fn run_mailbox(slot: &CpuSlot) -> bool {
    let work = slot.work.swap(null_mut(), Ordering::AcqRel);
    if work.is_null() {
        return false;
    }
    // SAFETY: the giver keeps the `Work` alive until `done` is set, which
    // is the last thing this CPU does with it.
    let work = unsafe { &*work };
    let then_off = work.then_off;
    let _masked = then_off.then(IrqGuard::new);
    // SAFETY: `call` was made for the type `data` points at (`Work::new`).
    unsafe { (work.call)(work.data) };
    work.done.store(true, Ordering::Release);
    if then_off {
        cpu_off();
    }
    true
}

fn cpu_off() -> ! {
    // On success CPU_OFF does not return.
    let _ = match power::psci_conduit() {
        Some(PsciConduit::Hvc) => smccc::psci::cpu_off::<Hvc>(),
        Some(PsciConduit::Smc) => smccc::psci::cpu_off::<Smc>(),
        None => Ok(()),
    };
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// The secondary's Rust entry, from `secondary_boot` with the MMU on (the
/// initial map), the stack set, the vectors installed and IRQs masked.
#[unsafe(no_mangle)]
extern "C" fn secondary_main() -> ! {
    paging::activate_on_this_cpu();
    let Some(index) = index_of(MPIDR_EL1.get()) else {
        // Not a CPU this kernel started: it should not run at all.
        cpu_off();
    };
    set_this_cpu(index);
    let slot = &CPUS[index];
    // The bring-up work `start` left, with IRQs still masked.
    run_mailbox(slot);
    slot.state.store(CpuState::Online as u8, Ordering::Release);
    cpu::enable_irqs();
    loop {
        let masked = IrqGuard::new();
        if slot.work.load(Ordering::Acquire).is_null() {
            // With IRQs masked a kick sent since the check is still
            // pending, so this returns at once; otherwise it sleeps until
            // an interrupt comes.
            aarch64_cpu::asm::wfi();
            // Unmasked: the pending interrupt is taken here.
            drop(masked);
            continue;
        }
        // Work runs with IRQs unmasked.
        drop(masked);
        run_mailbox(slot);
    }
}
