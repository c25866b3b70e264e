//! One documented, versioned schema for every results file
//! (docs/results.md, docs/results.schema.json): every JSON document cpuwall
//! writes validates against it, the committed reports' results files too,
//! and the same-run exports (`--export-json/--export-csv/--export-markdown`)
//! parse and hold every raw sample.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

fn stdout_json(o: &std::process::Output) -> Value {
    assert_succeeds(o);
    serde_json::from_slice(&o.stdout).expect("one JSON document on stdout")
}

/// The raw samples of one measurement: as many as `samples`, whose wall
/// totals give back the median the document states (per call).
fn assert_raw_matches(m: &Value, median: f64, what: &str) {
    let raw = &m["raw"];
    let samples = m["samples"].as_u64().unwrap() as usize;
    let calls = raw["calls"].as_array().unwrap();
    let wall = raw["wall_ns"].as_array().unwrap();
    assert_eq!(wall.len(), samples, "{what}: one raw sample per sample");
    assert_eq!(calls.len(), samples, "{what}");
    let mut per_call: Vec<f64> = wall
        .iter()
        .zip(calls)
        .map(|(w, c)| w.as_f64().unwrap() / 1e9 / c.as_f64().unwrap())
        .collect();
    per_call.sort_by(f64::total_cmp);
    let n = per_call.len();
    let mid = if n % 2 == 1 {
        per_call[n / 2]
    } else {
        (per_call[n / 2 - 1] + per_call[n / 2]) / 2.0
    };
    assert!(
        (mid - median).abs() <= 1e-9 + 1e-6 * median,
        "{what}: the raw samples' median {mid} is not the stated median {median}"
    );
}

#[test]
fn the_schema_rejects_what_it_should() {
    // A valid document, then one change at a time: a test that cannot fail
    // would accept these.
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &[
            "predict",
            "--model",
            "nb",
            "--rows",
            "100",
            "--backend",
            "direct",
            "--min-time",
            "1ms",
            "--warmup",
            "0",
            "--format",
            "json",
        ],
    );
    let good = stdout_json(&o);
    assert_valid_results(&good, "predict --format json");
    for (what, edit) in [
        (
            "no format",
            Box::new(|v: &mut Value| {
                v.as_object_mut().unwrap().remove("format");
            }) as Box<dyn Fn(&mut Value)>,
        ),
        (
            "a newer version",
            Box::new(|v: &mut Value| v["version"] = Value::from(3)),
        ),
        (
            "an undocumented field",
            Box::new(|v: &mut Value| v["surprise"] = Value::from(1)),
        ),
        (
            "a string for a number",
            Box::new(|v: &mut Value| v["rows"] = Value::from("100")),
        ),
        (
            "no environment",
            Box::new(|v: &mut Value| {
                v.as_object_mut().unwrap().remove("environment");
            }),
        ),
        (
            "a negative raw time",
            Box::new(|v: &mut Value| {
                v["backends"]["direct"]["raw"]["wall_ns"][0] = Value::from(-1)
            }),
        ),
    ] {
        let mut bad = good.clone();
        edit(&mut bad);
        let r = std::panic::catch_unwind(|| assert_valid_results(&bad, what));
        assert!(r.is_err(), "the schema accepted {what}");
    }
}

#[test]
fn every_committed_results_file_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
    let mut found = 0;
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let v = read_json(&p);
                assert_eq!(v["version"], 2, "{}: regenerate it", p.display());
                assert_valid_results(&v, &p.display().to_string());
                found += 1;
            }
        }
    }
    assert!(found >= 4, "only {found} results files under reports/");
}

#[test]
fn predict_exports_hold_every_raw_sample_from_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run_in(
        d,
        &[
            "predict",
            "--model",
            "nb",
            "--rows",
            "1000",
            "--backend",
            "direct,threads",
            "--min-time",
            "20ms",
            "--warmup",
            "1",
            "--format",
            "json",
            "--export-json",
            "p.json",
            "--export-csv",
            "p.csv",
            "--export-markdown",
            "p.md",
        ],
    );
    let printed = stdout_json(&o);
    let exported = read_json(&d.join("p.json"));
    // The same run: the file is the printed document.
    assert_eq!(printed, exported);
    assert_valid_results(&exported, "predict --export-json");
    assert_eq!(exported["format"], "cpuwall-predict");
    let mut lines_expected = 1;
    for b in ["direct", "threads"] {
        let m = &exported["backends"][b];
        assert_raw_matches(m, m["wall_seconds"].as_f64().unwrap(), b);
        lines_expected += m["samples"].as_u64().unwrap() as usize;
    }
    let csv = std::fs::read_to_string(d.join("p.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), lines_expected, "{csv}");
    assert!(lines[0].starts_with("model,backend,rows,sample,calls,wall_ns,"));
    // Every CSV line is the JSON's raw sample, in order.
    let direct_raw = &exported["backends"]["direct"]["raw"];
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(
        &first[..5],
        &[
            "nb",
            "direct",
            "1000",
            "0",
            &direct_raw["calls"][0].to_string()
        ]
    );
    assert_eq!(first[5], direct_raw["wall_ns"][0].to_string());
    let md = std::fs::read_to_string(d.join("p.md")).unwrap();
    assert!(
        md.contains("| backend | rows | wall (median, 95% CI) |"),
        "{md}"
    );
    assert!(md.contains("| direct | 1e3 |"), "{md}");
}

#[test]
fn sweep_report_train_and_ensemble_documents_validate_and_exports_hold_raw_samples() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run_in(
        d,
        &[
            "sweep",
            "--models",
            "nb",
            "--backends",
            "direct,threads",
            "--rows",
            "10,1000",
            "--min-time",
            "5ms",
            "--out",
            "s.json",
            "--export-json",
            "e.json",
            "--export-csv",
            "e.csv",
            "--export-markdown",
            "e.md",
        ],
    );
    assert_succeeds(&o);
    let results = read_json(&d.join("s.json"));
    assert_valid_results(&results, "sweep --out");
    assert_eq!(
        results,
        read_json(&d.join("e.json")),
        "the export is the results file"
    );
    let cells = results["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    let mut samples = 0;
    for c in cells {
        assert_raw_matches(
            c,
            c["wall_seconds"]["median"].as_f64().unwrap(),
            "sweep cell",
        );
        samples += c["samples"].as_u64().unwrap() as usize;
    }
    let csv = std::fs::read_to_string(d.join("e.csv")).unwrap();
    assert_eq!(csv.lines().count(), samples + 1);
    let md = std::fs::read_to_string(d.join("e.md")).unwrap();
    assert!(md.starts_with("# cpuwall sweep report"), "{md}");
    assert!(md.contains("## Verdicts"), "{md}");

    // The report's merged cells.
    assert_succeeds(&run_in(d, &["report", "s.json", "-o", "cells.json"]));
    let merged = read_json(&d.join("cells.json"));
    assert_valid_results(&merged, "report -o cells.json");

    // train --format json.
    let o = run_in(
        d,
        &[
            "train", "--models", "nb,lr", "--rows", "600", "--grid", "lr.C=1", "--format", "json",
        ],
    );
    assert_valid_results(&stdout_json(&o), "train --format json");

    // ensemble bench: --out, --format json and the exports, one run.
    let o = run_in(
        d,
        &[
            "ensemble",
            "bench",
            "--images",
            "16",
            "--batch-size",
            "8",
            "--strategy",
            "sequential,fused",
            "--repeat",
            "2",
            "--format",
            "json",
            "--out",
            "cnn.json",
            "--export-json",
            "cnn-e.json",
            "--export-csv",
            "cnn.csv",
            "--export-markdown",
            "cnn.md",
        ],
    );
    let printed = stdout_json(&o);
    let saved = read_json(&d.join("cnn.json"));
    assert_eq!(printed, saved);
    assert_eq!(saved, read_json(&d.join("cnn-e.json")));
    assert_valid_results(&saved, "ensemble bench --out");
    assert!(saved["roofline"]["gemm_gflops_one_core"].as_f64().unwrap() > 0.0);
    for c in saved["cells"].as_array().unwrap() {
        assert_raw_matches(
            c,
            c["wall_seconds"]["median"].as_f64().unwrap(),
            "bench cell",
        );
        assert_eq!(c["samples"], 2);
    }
    let csv = std::fs::read_to_string(d.join("cnn.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "{csv}");
    assert!(csv.starts_with("strategy,device,batch_size,images,sample,calls,wall_ns"));
    let md = std::fs::read_to_string(d.join("cnn.md")).unwrap();
    assert!(
        md.contains("| device | batch | sequential | fused |"),
        "{md}"
    );
}

#[test]
fn exports_that_would_destroy_an_input_or_collide_are_refused_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("rows.csv"), "f0,f1\n1,2\n").unwrap();
    let o = run_in(
        d,
        &[
            "predict",
            "--model",
            "nb",
            "--data",
            "rows.csv",
            "--export-csv",
            "rows.csv",
        ],
    );
    assert_fails(&o, 2, "would destroy the input");
    assert_eq!(
        std::fs::read_to_string(d.join("rows.csv")).unwrap(),
        "f0,f1\n1,2\n"
    );
    let o = run_in(
        d,
        &[
            "sweep",
            "--rows",
            "10",
            "--out",
            "s.json",
            "--export-json",
            "s.json",
        ],
    );
    assert_fails(&o, 2, "--export-json and --out both name");
    assert!(!d.join("s.json").exists());
    let o = run_in(
        d,
        &[
            "predict",
            "--model",
            "nb",
            "--rows",
            "10",
            "--export-markdown",
            "nowhere/p.md",
        ],
    );
    assert_fails(&o, 2, "does not exist");
}
