// Records, for the environment block of results files: the compiler
// version, and cpuwall's own commit, dirty flag and build profile (read
// here from cpuwall's checkout, so a run from any directory reports the
// commit of the binary, not of the directory it runs in).
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CPUWALL_RUSTC_VERSION={version}");

    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let commit =
        git(&dir, &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Tracked files changed since the commit (untracked ones do not count).
    let dirty = git(&dir, &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=CPUWALL_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=CPUWALL_GIT_DIRTY={dirty}");
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=CPUWALL_BUILD_PROFILE={profile}");
    println!(
        "cargo:rustc-env=CPUWALL_VERSION_LINE={} (commit {commit}{}, {profile} build)",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        if dirty { "-dirty" } else { "" }
    );
    onnx_messages(&dir);
    println!("cargo:rerun-if-changed=build.rs");
    // Rerun when the commit or the working tree changes; only paths that
    // exist (a missing one would rerun this script on every build).
    if let Some(git_dir) = git(&dir, &["rev-parse", "--git-dir"]) {
        let git_dir = dir.join(git_dir);
        for p in ["HEAD", "index", "refs", "packed-refs"] {
            let path = git_dir.join(p);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        for p in ["src", "benches", "tests", "Cargo.toml"] {
            if dir.join(p).exists() {
                println!("cargo:rerun-if-changed={}", dir.join(p).display());
            }
        }
    }
}

/// The ONNX protobuf messages (`proto/onnx-ml.proto`, vendored from the
/// onnx Python package, Apache-2.0) as Rust types in `OUT_DIR/onnx.rs`.
fn onnx_messages(dir: &Path) {
    let proto = dir.join("proto/onnx-ml.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let fds = protox::compile([&proto], [dir.join("proto")]).expect("proto/onnx-ml.proto compiles");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost generates the ONNX messages");
}
