//! Records the compiler and target for `meridian version`, and links the program with its
//! relative relocations packed where this machine can run it so
//! ([`meridian_buildkit::pack_relative_relocations`]).

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown)".into());
    println!("cargo:rustc-env=MERIDIAN_RUSTC_VERSION={version}");
    println!(
        "cargo:rustc-env=MERIDIAN_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    println!("cargo:rerun-if-changed=build.rs");
    meridian_buildkit::pack_relative_relocations();
}
