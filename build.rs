//! Records build facts for the run manifest: the git sha, the enabled cargo features, the
//! compiler and the flags, so that every result can be traced to the binary that made it.

use std::process::Command;

fn main() {
    let sha = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let sha = if dirty { format!("{sha}-dirty") } else { sha };

    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS")
        .unwrap_or_default()
        .replace('\x1f', " ");

    println!("cargo:rustc-env=NATIVEBENCH_GIT_SHA={sha}");
    println!(
        "cargo:rustc-env=NATIVEBENCH_FEATURES={}",
        features.join(",")
    );
    println!("cargo:rustc-env=NATIVEBENCH_RUSTC={rustc_version}");
    println!("cargo:rustc-env=NATIVEBENCH_RUSTFLAGS={flags}");
    println!(
        "cargo:rustc-env=NATIVEBENCH_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_default()
    );
    // Rebuild when HEAD moves, so the sha in the manifest is the one that was built.
    for p in [".git/HEAD", ".git/index"] {
        if std::path::Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
