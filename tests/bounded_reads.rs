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
