//! The PL011 console as the `log` backend.
//!
//! Log calls come from the main flow and from the IRQ handler, so the UART
//! lock is taken with IRQs masked: an interrupt can never find it held by
//! the code it interrupted.

use crate::cpu::IrqGuard;
use arm_pl011_uart::{PL011Registers, Uart, UniqueMmioPointer};
use core::fmt::Write;
use core::ptr::NonNull;
use log::{Level, LevelFilter, Log, Metadata, Record};
use spin::Mutex;

static CONSOLE: Console = Console {
    uart: Mutex::new(None),
};

struct Console {
    uart: Mutex<Option<Uart<'static>>>,
}

/// Starts logging to the PL011 at `base`.
///
/// # Safety
/// `base` must be a PL011's register block, mapped as Device memory for the
/// rest of the kernel's life, and used by nothing else.
pub unsafe fn init(base: NonNull<PL011Registers>, level: LevelFilter) {
    // SAFETY: the caller promised the registers are mapped and ours alone.
    let mut uart = Uart::new(unsafe { UniqueMmioPointer::new(base) });
    // QEMU's PL011 needs no baud rate setup; real hardware would need
    // `uart.enable(...)` with the DTB's clock.
    let _ = writeln!(uart);
    *lock().uart = Some(uart);
    if log::set_logger(&CONSOLE).is_ok() {
        log::set_max_level(level);
    }
}

/// Writes a line even before or outside `log` (the panic handler).
pub fn write_fmt(args: core::fmt::Arguments) {
    let mut held = lock();
    if let Some(uart) = held.uart.as_mut() {
        let _ = uart.write_fmt(args);
        let _ = uart.write_str("\n");
    }
}

/// Like [`write_fmt`], but gives up instead of waiting for the lock: for the
/// panic handler, which may run while the console is held.
pub fn try_write_fmt(args: core::fmt::Arguments) {
    let _guard = IrqGuard::new();
    if let Some(mut uart) = CONSOLE.uart.try_lock()
        && let Some(uart) = uart.as_mut()
    {
        let _ = uart.write_fmt(args);
        let _ = uart.write_str("\n");
    }
}

/// The console, held with IRQs masked. The fields drop in order: the lock
/// is released before IRQs are unmasked, so an interrupt can never find it
/// held by the code it interrupted. (Two locals would drop the other way
/// round, leaving a window in which the IRQ handler's log line waits for
/// ever on the lock its own CPU holds.)
struct Held {
    uart: spin::MutexGuard<'static, Option<Uart<'static>>>,
    _irqs: IrqGuard,
}

fn lock() -> Held {
    let irqs = IrqGuard::new();
    Held {
        uart: CONSOLE.uart.lock(),
        _irqs: irqs,
    }
}

impl Log for Console {
    fn enabled(&self, _metadata: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        match record.level() {
            Level::Error | Level::Warn => {
                write_fmt(format_args!("{}: {}", record.level(), record.args()))
            }
            _ => write_fmt(format_args!("{}", record.args())),
        }
    }

    fn flush(&self) {}
}
