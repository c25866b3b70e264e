//! CSV input is parsed by a real CSV parser: quoted fields, other
//! separators (`--delimiter`), and a clear word when the separator is wrong.

mod common;

use common::*;

/// The study's test rows with `sep` between fields and the first feature's
/// name quoted with a comma inside.
fn study_csv(sep: &str) -> String {
    let text = std::fs::read_to_string(fixture("test.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().replacen("f0", "\"f0, first\"", 1);
    let mut out = header
        .replace(',', sep)
        .replace(&format!("\"f0{sep} first\""), "\"f0, first\"");
    out.push('\n');
    for l in lines {
        out.push_str(&l.replace(',', sep));
        out.push('\n');
    }
    out
}

fn train_on(dir: &std::path::Path, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--models", "nb", "--data", file, "--out", "m"];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

#[test]
fn a_quoted_header_field_with_a_comma_is_one_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.csv"), study_csv(",")).unwrap();
    assert_succeeds(&train_on(dir.path(), "q.csv", &[]));
    let out = run_in(dir.path(), &["inspect", "m/nb.cpuwall", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n_features"], 10, "{v}");
}

#[test]
fn a_semicolon_file_is_named_as_such_and_reads_with_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.csv"), study_csv(";")).unwrap();
    assert_fails(&train_on(d, "s.csv", &[]), 2, "add --delimiter ';'");
    assert_succeeds(&train_on(d, "s.csv", &["--delimiter", ";"]));
    std::fs::write(d.join("t.tsv"), study_csv("\t")).unwrap();
    assert_fails(&train_on(d, "t.tsv", &[]), 2, "--delimiter '\\t'");
    assert_succeeds(&train_on(d, "t.tsv", &["--delimiter", "tab"]));
}

#[test]
fn a_bad_delimiter_value_is_refused_when_parsed() {
    let out = cpuwall(&["train", "--delimiter", ";;"]);
    assert_fails(&out, 2, "is not one character");
}
