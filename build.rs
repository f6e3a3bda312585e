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

    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        compile_cuda_kernels();
    }
}

/// Compiles kernels/*.cu to PTX in OUT_DIR with nvcc, for the architecture candle's own
/// kernels are built for (`CUDA_COMPUTE_CAP`, default 90). Only under the `cuda` feature:
/// a CPU-only build needs no CUDA toolchain.
fn compile_cuda_kernels() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = std::env::var("NVCC")
        .ok()
        .or_else(|| {
            ["CUDA_ROOT", "CUDA_PATH"].iter().find_map(|v| {
                let p = std::path::PathBuf::from(std::env::var(v).ok()?).join("bin/nvcc");
                p.exists().then(|| p.display().to_string())
            })
        })
        .unwrap_or_else(|| "nvcc".into());
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-changed=kernels");
    let mut sources: Vec<std::path::PathBuf> = std::fs::read_dir("kernels")
        .expect("the kernels directory is part of the source tree")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .collect();
    sources.sort();
    for src in sources {
        let name = src
            .file_stem()
            .expect("a .cu file has a stem")
            .to_string_lossy();
        let src = src.display().to_string();
        println!("cargo:rerun-if-changed={src}");
        let ptx = out.join(format!("{name}.ptx"));
        let status = Command::new(&nvcc)
            .args(["--ptx", "-O3", &format!("-arch=compute_{cap}"), &src, "-o"])
            .arg(&ptx)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("nvcc failed on {src} ({s}): see its messages above"),
            Err(e) => panic!(
                "cannot run nvcc ({nvcc}) for {src}: {e}; the cuda feature needs the CUDA \
                 toolchain (eval \"$(kernels/cuda-toolchain.sh)\")"
            ),
        }
    }
}
