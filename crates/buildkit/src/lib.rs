//! What the workspace's build scripts share.
//!
//! [`pack_relative_relocations`] links a package's programs with their relative relocations
//! packed (`-z pack-relative-relocs`, `DT_RELR`). A position-independent Rust program has
//! one relative relocation for nearly every pointer in its constant data (vtables, string
//! tables, panic locations): `meridian` has 36,000 of them, 847 KiB as `RELA` entries that
//! the loader reads once at start and that then stay resident. Packed, they take a few
//! kilobytes. What the loader writes is the same, so nothing else changes.
//!
//! The loader must know the format: glibc 2.36 or later, and the linker must write it. A
//! build script cannot see where its program will run, so it asks the machine that builds
//! it: a small C program with a relative relocation is linked with the option and run. When
//! that fails, when cross-compiling, or with `MERIDIAN_NO_RELR` set (to build for an older
//! system), programs are linked as before.

use std::path::PathBuf;
use std::process::Command;

/// A C program with one relative relocation (`p`'s value is `x`'s address), so that it
/// needs the loader's support for packed relocations to run.
const PROBE: &str = "static int x = 1;\nint *p = &x;\nint main(void) { return *p - 1; }\n";

/// The linker option.
const OPTION: &str = "-Wl,-z,pack-relative-relocs";

/// Tells Cargo to link this package's programs (binaries, examples, tests, benchmarks) with
/// packed relative relocations when this machine both links and runs them (see the crate's
/// documentation).
pub fn pack_relative_relocations() {
    println!("cargo:rerun-if-env-changed=MERIDIAN_NO_RELR");
    println!("cargo:rerun-if-env-changed=CC");
    if std::env::var_os("MERIDIAN_NO_RELR").is_some() || !builds_for_itself() {
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    if probe(&out) {
        println!("cargo:rustc-link-arg={OPTION}");
    }
}

/// Whether the program is built for this machine, on Linux with glibc.
fn builds_for_itself() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    target == std::env::var("HOST").unwrap_or_default() && target.ends_with("-linux-gnu")
}

/// Links the probe with the option and runs it.
fn probe(out: &std::path::Path) -> bool {
    let source = out.join("relr_probe.c");
    let program = out.join("relr_probe");
    if std::fs::write(&source, PROBE).is_err() {
        return false;
    }
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let linked = Command::new(cc)
        .args(["-fPIE", "-pie", OPTION, "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
