//! Links the kernel with aarch64-rt's `image.ld` and `memory.ld`, which
//! says where QEMU's virt board has its RAM.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo::rustc-link-arg-bins=-Timage.ld");
    println!("cargo::rustc-link-arg-bins=-T{dir}/memory.ld");
    println!("cargo::rerun-if-changed=memory.ld");
}
