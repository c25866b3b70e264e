//! What a hostile but ordinary user tries, through the CLI: option values
//! that used to panic, files that used to be misread in silence, outputs
//! that two runs used to share. Each gets one clear line and its exit code.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::serving::{rows, Server};
use common::*;

/// Exit 2, one line naming `needle`, and no panic.
fn refused(args: &[&str], needle: &str) {
    let o = cpuwall(args);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_fails(&o, 2, needle);
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
}

#[test]
fn every_duration_option_is_bounded_at_parse_time_and_says_its_limit() {
    let week = "at most 604800s (a week)";
    let cases: &[&[&str]] = &[
        &["serve", "--model", "nb", "--client-timeout", "1e20"],
        &["serve", "--model", "nb", "--grace", "1e300"],
        &["serve", "--model", "nb", "--max-wait", "1e300"],
        &["predict", "--model", "nb", "--warmup", "1e300s"],
        &["predict", "--model", "nb", "--min-time", "1e300"],
        &["sweep", "--models", "nb", "--warmup", "1e300s"],
        &["sweep", "--models", "nb", "--min-time", "1e20"],
        &["load", "--model", "nb", "--rate", "1", "--duration", "1e20"],
        &["load", "--model", "nb", "--rate", "1", "--warmup", "1e300s"],
        &["load", "--model", "nb", "--rate", "1", "--timeout", "1e300"],
        &["serve", "--model", "nb", "--grace", "18446744073709551616"],
    ];
    for args in cases {
        refused(args, week);
    }
    refused(
        &[
            "predict",
            "--model",
            "nb",
            "--warmup",
            "18446744073709551616",
        ],
        week,
    );
    refused(
        &["predict", "--model", "nb", "--worker-timeout", "1e300"],
        "at most 86400s",
    );
}

#[test]
fn a_negative_duration_reads_the_same_with_or_without_an_equals_sign() {
    let a = cpuwall(&["serve", "--model", "nb", "--max-wait", "-1ms"]);
    let b = cpuwall(&["serve", "--model", "nb", "--max-wait=-1ms"]);
    assert_fails(&a, 2, "cannot be negative");
    assert_eq!(stderr(&a), stderr(&b));
}

#[test]
fn zero_limits_are_refused() {
    refused(
        &["predict", "--model", "nb", "--chunk-rows", "0"],
        "'0' is 0; this limit must be at least 1",
    );
    refused(
        &["serve", "--model", "nb", "--max-connections", "0"],
        "this limit must be at least 1",
    );
    refused(
        &["serve", "--model", "nb", "--max-batch", "0"],
        "this limit must be at least 1",
    );
}

#[test]
fn uint64_labels_beyond_i64_are_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 40;
    let x = ndarray::Array2::from_shape_fn((n, 4), |(i, j)| (i * 7 + j) as f64 % 5.0);
    std::fs::write(
        d.join("x.npy"),
        cpuwall::data::npy::features_to_bytes(x.view()),
    )
    .unwrap();
    let mut y = cpuwall::data::npy::header_bytes("<u8", &format!("({n},)"));
    for i in 0..n as u64 {
        let v: u64 = if i % 2 == 0 {
            3
        } else {
            18_000_000_000_000_000_000
        };
        y.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(d.join("y.npy"), y).unwrap();
    let o = run_in(
        d,
        &[
            "train", "--models", "nb", "--data", "x.npy", "--labels", "y.npy", "--out", "m",
        ],
    );
    assert_fails(&o, 2, "label 2 is 18000000000000000000");
    assert!(!d.join("m/nb.cpuwall").exists());
}

#[test]
fn a_csv_without_a_header_is_refused_rather_than_losing_its_first_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rows.csv");
    std::fs::write(&p, "0.5,1,2,3,4,5,6,7,8,9\n1,2,3,4,5,6,7,8,9,10\n").unwrap();
    refused(
        &["predict", "--model", "nb", "--data", p.to_str().unwrap()],
        "has no header line",
    );
}

/// The labels `predict --out` writes for `data` with the model `model`.
fn labels_of(dir: &std::path::Path, model: &str, data: &str, out: &str) -> (String, String) {
    let o = run_in(
        dir,
        &[
            "predict",
            "--model",
            model,
            "--data",
            data,
            "--backend",
            "direct",
            "--min-time",
            "1ms",
            "--warmup",
            "0",
            "--out",
            out,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    (std::fs::read_to_string(dir.join(out)).unwrap(), stderr(&o))
}

#[test]
fn a_model_without_feature_names_takes_a_csv_by_position_whatever_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Trained on synthetic rows: generated names f0..f9.
    let data = rows(50);
    let csv = |names: &[String]| {
        let mut s = names.join(",") + "\n";
        for r in &data {
            let cells: Vec<String> = r.iter().map(|v| format!("{v:?}")).collect();
            s += &(cells.join(",") + "\n");
        }
        s
    };
    let ordered: Vec<String> = (0..10).map(|j| format!("f{j}")).collect();
    let reversed: Vec<String> = ordered.iter().rev().cloned().collect();
    std::fs::write(d.join("ordered.csv"), csv(&ordered)).unwrap();
    std::fs::write(d.join("reversed.csv"), csv(&reversed)).unwrap();
    let (a, _) = labels_of(d, "lr", "ordered.csv", "a.csv");
    let (b, note) = labels_of(d, "lr", "reversed.csv", "b.csv");
    assert_eq!(a, b, "the same rows in the same order give the same labels");
    assert!(note.contains("taken by position"), "{note}");
}

#[test]
fn a_named_model_given_a_npy_says_its_columns_are_taken_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let json = fixtures.join("nb-multi.json");
    let o = run_in(
        d,
        &["import", json.to_str().unwrap(), "--out", "named.cpuwall"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let x = ndarray::Array2::from_shape_fn((5, 6), |(i, j)| (i + j) as f64);
    std::fs::write(
        d.join("x.npy"),
        cpuwall::data::npy::features_to_bytes(x.view()),
    )
    .unwrap();
    let (_, note) = labels_of(d, "named.cpuwall", "x.npy", "y.csv");
    assert!(
        note.contains("a .npy file has no column names, so its columns are taken by position as the model's features 'age', 'income'"),
        "{note}"
    );
}

#[test]
fn export_to_onnx_then_import_keeps_the_feature_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let train = fixtures.join("test-multi.csv");
    let o = run_in(
        d,
        &[
            "train",
            "--models",
            "lr",
            "--data",
            train.to_str().unwrap(),
            "--out",
            "m",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_in(d, &["export", "m/lr.cpuwall", "--onnx", "lr.onnx"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_in(d, &["import", "lr.onnx", "--out", "back.cpuwall"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_in(d, &["inspect", "back.cpuwall", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["feature_names"],
        serde_json::json!(["age", "income", "ratio", "score", "visits", "depth"])
    );
    assert_eq!(v["feature_names_generated"], false);
}

#[test]
fn a_second_sweep_into_the_same_results_file_is_refused() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("results")).unwrap();
    // This test holds the results file, as a running sweep would.
    let held = std::fs::File::create(d.join("results/.sweep.json.lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let o = run_in(
        d,
        &[
            "sweep",
            "--models",
            "nb",
            "--rows",
            "10",
            "--backends",
            "direct",
            "--min-time",
            "1ms",
            "--out",
            "results/sweep.json",
        ],
    );
    assert_fails(&o, 1, "another cpuwall sweep is writing results/sweep.json");
    assert!(!d.join("results/sweep.json").exists());
    assert!(!d.join("results/sweep.partial.json").exists());
    drop(held);
    let o = run_in(
        d,
        &[
            "sweep",
            "--models",
            "nb",
            "--rows",
            "10",
            "--backends",
            "direct",
            "--min-time",
            "1ms",
            "--out",
            "results/sweep.json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.join("results/sweep.json").exists());
    assert!(
        !d.join("results/.sweep.json.lock").exists(),
        "a finished sweep leaves no lock file behind"
    );
}

#[test]
fn train_checks_every_output_is_writable_before_it_fits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("m/lr.cpuwall")).unwrap();
    let o = run_in(
        d,
        &["train", "--models", "nb,lr", "--rows", "2000", "--out", "m"],
    );
    assert_fails(&o, 2, "m/lr.cpuwall is a directory");
    assert!(
        !d.join("m/nb.cpuwall").exists(),
        "nothing fitted or written"
    );
}

#[test]
fn a_train_that_leaves_an_older_ensemble_of_other_data_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = run_in(
        d,
        &[
            "train", "--models", "lr", "--rows", "2000", "--top-k", "2", "--out", "m",
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(d.join("m/ensemble.cpuwall").exists());
    let again = run_in(
        d,
        &[
            "train", "--models", "lr", "--rows", "3000", "--seed", "9", "--out", "m",
        ],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("m/ensemble.cpuwall is from an earlier run on other data"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_json_file_is_never_called_an_onnx_model_and_class_names_must_differ() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("list.json"), "[1, 2, 3]").unwrap();
    let o = run_in(d, &["import", "list.json", "--out", "x.cpuwall"]);
    assert_fails(&o, 2, "not a scikit-learn exchange file");
    assert!(!stderr(&o).contains("ONNX"), "{}", stderr(&o));
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("nb-multi.json")).unwrap())
            .unwrap();
    v["class_names"] = serde_json::json!(["cat", "dog", "cat"]);
    std::fs::write(d.join("twice.json"), v.to_string()).unwrap();
    let o = run_in(d, &["import", "twice.json", "--out", "x.cpuwall"]);
    assert_fails(&o, 2, "class name 'cat' is given to two classes");
}

/// One raw HTTP/1.1 exchange: the status and the body.
fn exchange(s: &Server, head: &str, body: &[u8]) -> (u16, String) {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    let _ = c.write_all(body);
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

#[test]
fn the_server_refuses_what_it_cannot_read_or_queue_with_the_right_status() {
    let s = Server::start(&["--model", "nb", "--queue", "100"]);
    let one = serde_json::json!({ "rows": rows(1) }).to_string();
    // A compressed body: 415, naming the encoding.
    let (status, body) = exchange(
        &s,
        &format!("POST /v1/models/nb/predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", one.len()),
        one.as_bytes(),
    );
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("Content-Encoding 'gzip'"), "{body}");
    // Two different lengths of the v2 JSON part: 400.
    let v2 = serde_json::json!({"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP64", "data": rows(1)[0]}]}).to_string();
    let (status, body) = exchange(
        &s,
        &format!("POST /v2/models/nb/infer HTTP/1.1\r\nHost: t\r\nConnection: close\r\nInference-Header-Content-Length: {}\r\nInference-Header-Content-Length: 3\r\nContent-Length: {}\r\n\r\n", v2.len(), v2.len()),
        v2.as_bytes(),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("two different Inference-Header-Content-Length"),
        "{body}"
    );
    // More rows than the queue ever takes: 413 naming --queue, even idle.
    let big = serde_json::json!({ "rows": rows(101) }).to_string();
    let (status, body) = exchange(
        &s,
        &format!("POST /v1/models/nb/predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", big.len()),
        big.as_bytes(),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("--queue 100"), "{body}");
}
