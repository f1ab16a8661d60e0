//! Links the kernel with `kernel.ld`, which puts the arm64 Image header first.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo::rustc-link-arg-bins=-T{dir}/kernel.ld");
    println!("cargo::rerun-if-changed=kernel.ld");
}
