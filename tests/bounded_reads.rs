//! Reading untrusted files costs what their headers justify, not their
//! size: a model loader never reads a whole unknown file.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn inspect_of_an_endless_device_is_refused_at_once_as_not_a_model() {
    let start = Instant::now();
    let out = cpuwall(&["inspect", "/dev/zero"]);
    assert_fails(&out, 2, "not a cpuwall model");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_huge_file_with_a_models_magic_is_refused_by_its_size_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.cpuwall");
    let f = std::fs::File::create(&path).unwrap();
    std::io::Write::write_all(&mut &f, b"CPUWALL\x1a").unwrap();
    f.set_len(5 << 30).unwrap(); // sparse: no disk, no memory
    let start = Instant::now();
    let out = cpuwall(&["inspect", path.to_str().unwrap()]);
    assert_fails(&out, 2, "larger than 4 GB");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// `f` must finish within a few seconds (it reads a header, not the file).
fn quickly<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    out
}

/// A sparse file of `len` bytes starting with `head`: no disk, no memory.
fn sparse(dir: &std::path::Path, name: &str, head: &[u8], len: u64) -> String {
    let path = dir.join(name);
    let f = std::fs::File::create(&path).unwrap();
    std::io::Write::write_all(&mut &f, head).unwrap();
    f.set_len(len).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn results_and_grid_files_are_checked_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = quickly(|| run_in(d, &["report", "/dev/zero", "--out", "r.md"]));
    assert_fails(
        &out,
        2,
        "not a cpuwall sweep results file: expected a JSON object",
    );
    let big = sparse(d, "big.json", b"{", 1 << 30);
    let out = quickly(|| run_in(d, &["report", &big, "--out", "r.md"]));
    assert_fails(
        &out,
        2,
        "larger than 268.4 MB, the most a cpuwall sweep results file may be",
    );
    let out = quickly(|| {
        run_in(
            d,
            &[
                "train",
                "--models",
                "nb",
                "--grid-file",
                "/dev/zero",
                "--out",
                "m",
            ],
        )
    });
    assert_fails(&out, 2, "not a grid file: expected a JSON object");
}

#[test]
fn a_csv_without_line_ends_is_refused_without_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = quickly(|| {
        run_in(
            d,
            &[
                "predict",
                "--model",
                "nb",
                "--data",
                "/dev/zero",
                "--backend",
                "direct",
            ],
        )
    });
    assert_fails(&out, 2, "a line longer than 16 MB; is this a CSV file?");
}

/// A `.npy` header claiming `shape`, followed by `data` bytes.
fn npy_claiming(shape: &str, data: usize) -> Vec<u8> {
    let mut out = cpuwall::data::npy::header_bytes("<f8", shape);
    out.extend(std::iter::repeat_n(0u8, data));
    out
}

#[test]
fn a_npy_header_is_held_to_the_files_real_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("lies.npy"), npy_claiming("(1000000000000, 10)", 800)).unwrap();
    std::fs::write(
        d.join("huge.npy"),
        npy_claiming("(4294967296, 4294967296, 8)", 8),
    )
    .unwrap();
    std::fs::write(d.join("short.npy"), npy_claiming("(100, 10)", 7992)).unwrap();
    let predict = |f: &str| {
        run_in(
            d,
            &[
                "predict",
                "--model",
                "nb",
                "--data",
                f,
                "--backend",
                "direct",
            ],
        )
    };
    assert_fails(
        &quickly(|| predict("lies.npy")),
        2,
        "truncated .npy data: shape [1000000000000, 10] needs 80000000000000 bytes, found 800",
    );
    assert_fails(&quickly(|| predict("huge.npy")), 2, "is impossibly large");
    assert_fails(&predict("short.npy"), 2, "needs 8000 bytes, found 7992");
}

#[test]
fn a_cifar_batch_of_the_wrong_size_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("cifar")).unwrap();
    sparse(&d.join("cifar"), "data_batch_1.bin", &[3], (1 << 30) + 1);
    let out = quickly(|| {
        run_in(
            d,
            &[
                "ensemble",
                "train",
                "--data",
                "cifar",
                "--out",
                "e",
                "--members",
                "1",
            ],
        )
    });
    assert_fails(&out, 2, "is not a whole number of 3073-byte records");
}

#[test]
fn an_ensemble_member_that_is_not_safetensors_costs_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("e")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join("e/member-0.safetensors")).unwrap();
    std::fs::write(d.join("img.bin"), vec![1u8; 3073]).unwrap();
    let out = quickly(|| {
        run_in(
            d,
            &[
                "ensemble", "predict", "--images", "img.bin", "--models", "e",
            ],
        )
    });
    assert_fails(&out, 2, "not a safetensors weights file");
}

/// Run cpuwall with `args`: its output and its own peak resident memory
/// (wait4's rusage, so no other process counts), bytes.
fn cpuwall_peak_rss(args: &[&str]) -> (std::process::ExitStatus, String, u64) {
    use std::os::unix::process::ExitStatusExt;
    // Reaped by wait4 below, which also gives its rusage.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.unwrap(), &mut stderr).unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid);
    (
        std::process::ExitStatus::from_raw(status),
        stderr,
        usage.ru_maxrss as u64 * 1024,
    )
}

/// The first 16 bytes of a model file: magic, version, header length.
fn model_head(version: u32, head_len: u32) -> Vec<u8> {
    let mut b = b"CPUWALL\x1a".to_vec();
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&head_len.to_le_bytes());
    b
}

#[test]
fn a_future_version_is_refused_from_its_header_without_reading_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = sparse(dir.path(), "future.cpuwall", &model_head(99, 40), 1 << 30);
    let (st, err, peak) = cpuwall_peak_rss(&["inspect", &p]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.contains("format version 99 is newer"), "{err}");
    assert!(peak < 64 << 20, "read {} MiB of a 1 GiB file", peak >> 20);
}

#[test]
fn a_damaged_payload_length_is_called_corrupt_and_costs_no_read() {
    // A real model, its payload length field's top byte flipped.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run_in(
        dir.path(),
        &["train", "--models", "nb", "--rows", "200", "--out", d],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let model = dir.path().join("nb.cpuwall");
    let mut b = std::fs::read(&model).unwrap();
    let head_len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    b[16 + head_len + 6] ^= 0xff;
    let bad = dir.path().join("bad.cpuwall");
    std::fs::write(&bad, &b).unwrap();
    let (st, err, peak) = cpuwall_peak_rss(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.contains("corrupted"), "{err}");
    assert!(!err.contains("truncated"), "{err}");
    assert!(peak < 64 << 20);
}
