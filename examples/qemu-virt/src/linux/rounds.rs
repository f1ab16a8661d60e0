//! Rounds of handovers with Linux in one QEMU process (`qemu/run
//! --linux-rounds N`): Linux kexecs into this kernel, which hibernates and
//! resumes, then boots Linux as a boot loader would, which kexecs into this
//! kernel again, round after round.
//!
//! The command line carries the round: `linux-rounds=N linux-round=KK`
//! (two digits), the same line for this kernel and for Linux (each ignores
//! the other's words), and Linux's `/init` passes its own command line on
//! to the kernel it kexecs (`gicits.next=self`). Before booting Linux this
//! kernel writes round KK + 1 into the DTB it gives Linux, in place.
//!
//! What survives a reset: QEMU's generic loader puts Linux's Image at
//! `linux-image=ADDRESS` and the initramfs at `linux-initrd=ADDRESS,SIZE`
//! again at every reset, above the memory Linux is given after a reset
//! (`mem=`), so no kernel in between writes them. The DTB does not survive:
//! the kernel that hibernates keeps a copy in its heap, which its image
//! holds. kexec gives this kernel a stub initrd (`/payload/initrd-stub`)
//! only so that the DTB has `/chosen/linux,initrd-start` and `-end`, which
//! this kernel points at the loader's copy.

use crate::Kernel;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::ops::Range;
use flat_device_tree::Fdt;

/// This round and how many there are (`linux-round=`, `linux-rounds=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounds {
    /// This round, from 1.
    pub round: u32,
    /// Rounds in all.
    pub rounds: u32,
}

/// The rounds the command line asks for, if it does.
pub fn requested(bootargs: &str) -> Option<Rounds> {
    let value = |key: &str| {
        bootargs
            .split_whitespace()
            .find_map(|arg| arg.strip_prefix(key)?.parse().ok())
    };
    Some(Rounds {
        rounds: value("linux-rounds=")?,
        round: value("linux-round=")?,
    })
}

/// `linux-initrd=ADDRESS,SIZE`: where QEMU's loader keeps the initramfs for
/// the Linux this kernel boots.
pub fn initrd(bootargs: &str) -> Option<Range<usize>> {
    let value = bootargs
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("linux-initrd="))?;
    let (address, size) = value.split_once(',')?;
    let number = |text: &str| match text.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    let start = number(address)?;
    Some(start..start.checked_add(number(size)?)?)
}

/// A copy of the DTB at `dtb` in the heap, 8-byte aligned as Linux wants
/// it, kept for ever: the copy is in the hibernation image, the original
/// is not.
pub fn keep_dtb(dtb: &Range<usize>) -> Range<usize> {
    let mut copy = vec![0u64; dtb.len().div_ceil(8)].into_boxed_slice();
    // SAFETY: the DTB range is mapped RAM that nothing writes; the copy is
    // a fresh heap block of at least its length.
    unsafe {
        core::ptr::copy_nonoverlapping(
            dtb.start as *const u8,
            copy.as_mut_ptr().cast::<u8>(),
            dtb.len(),
        );
    }
    let start = Box::leak(copy).as_mut_ptr() as usize;
    start..start + dtb.len()
}

/// Writes the next round into the kernel's DTB (its copy, [`keep_dtb`])
/// and points its initrd at the loader's copy: what the Linux it boots,
/// and the kernel that Linux kexecs, must get. Returns the next round.
pub fn prepare_next(kernel: &Kernel, rounds: Rounds) -> Result<u32, String> {
    let initrd = kernel
        .platform
        .initrd
        .clone()
        .ok_or("no linux-initrd=ADDRESS,SIZE on the command line")?;
    let next = rounds.round + 1;
    if next > 99 {
        return Err(format!("round {next}: the DTB holds two digits"));
    }
    // SAFETY: the kernel's DTB is its heap copy, which nothing else uses.
    let dtb =
        unsafe { core::slice::from_raw_parts_mut(kernel.dtb.start as *mut u8, kernel.dtb.len()) };
    let (round_at, start_at, end_at) = {
        let fdt = Fdt::new(dtb).map_err(|error| format!("the DTB: {error:?}"))?;
        let chosen = fdt.find_node("/chosen").ok_or("no /chosen")?;
        let offset_of = |name: &str| {
            chosen
                .property(name)
                .map(|property| {
                    (
                        property.value.as_ptr() as usize - kernel.dtb.start,
                        property.value.len(),
                    )
                })
                .ok_or(format!("no /chosen/{name}"))
        };
        let (bootargs, length) = offset_of("bootargs")?;
        let text = &dtb[bootargs..bootargs + length];
        let key = b"linux-round=";
        let found = text
            .windows(key.len())
            .position(|window| window == key)
            .ok_or("no linux-round= in /chosen/bootargs")?;
        (
            bootargs + found + key.len(),
            offset_of("linux,initrd-start")?,
            offset_of("linux,initrd-end")?,
        )
    };
    let digits = &mut dtb[round_at..round_at + 2];
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(String::from("linux-round= needs two digits"));
    }
    digits.copy_from_slice(&[b'0' + (next / 10) as u8, b'0' + (next % 10) as u8]);
    for ((offset, length), value) in [(start_at, initrd.start), (end_at, initrd.end)] {
        let cell = &mut dtb[offset..offset + length];
        match length {
            4 => cell.copy_from_slice(
                &u32::try_from(value)
                    .map_err(|_| "initrd above 4 GiB")?
                    .to_be_bytes(),
            ),
            8 => cell.copy_from_slice(&value.to_be_bytes()),
            _ => return Err(format!("a {length}-byte initrd property")),
        }
    }
    Ok(next)
}
