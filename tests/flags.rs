//! Every option's value is checked when the command line is parsed: a bad
//! count, duration or rate is exit code 2 with a message about that value,
//! before any work (never a panic, a hang or a late exit 1).

mod common;

use std::time::{Duration, Instant};

use common::*;

fn refused_at_once(args: &[&str], needle: &str) {
    let start = Instant::now();
    let out = cpuwall(args);
    assert_fails(&out, 2, needle);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{args:?} took {:?}",
        start.elapsed()
    );
}

#[test]
fn timeouts_must_be_finite_positive_seconds() {
    for v in ["inf", "1e300", "0", "nan", "-3"] {
        refused_at_once(
            &["predict", "--model", "nb", "--worker-timeout", v],
            "not a timeout",
        );
        refused_at_once(
            &["ensemble", "bench", "--worker-timeout", v],
            "not a timeout",
        );
    }
}

#[test]
fn thread_and_process_counts_are_bounded() {
    refused_at_once(
        &["predict", "--model", "nb", "--threads", "100000"],
        "from 1 to 1024",
    );
    refused_at_once(
        &["predict", "--model", "nb", "--workers", "0"],
        "from 1 to 1024",
    );
    refused_at_once(&["train", "--jobs", "100000"], "from 1 to 1024");
    refused_at_once(&["sweep", "--threads", "5000"], "from 1 to 1024");
}

#[test]
fn a_learning_rate_must_be_a_finite_positive_number() {
    for v in ["nan", "-0.1", "0", "inf"] {
        refused_at_once(
            &["ensemble", "train", "--learning-rate", v],
            "finite number above 0",
        );
    }
}

#[test]
fn a_negative_count_gets_a_message_about_the_value() {
    refused_at_once(&["predict", "--model", "nb", "--rows", "-5"], "-5");
    let out = cpuwall(&["predict", "--model", "nb", "--rows", "-5"]);
    assert!(
        !stderr(&out).contains("unexpected argument"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_models_dir_that_does_not_exist_is_refused_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    let t = typo.to_str().unwrap();
    refused_at_once(
        &["sweep", "--models", "nb", "--models-dir", t],
        "is not a directory",
    );
    refused_at_once(
        &["predict", "--model", "nb", "--models-dir", t],
        "is not a directory",
    );
    assert!(!typo.exists(), "the typo was created");
}
