//! `CPUWALL_ISA`: every kernel path this CPU has gives the same labels
//! through the CLI, results record the path that ran, and a path the CPU
//! lacks (or a name that is no path) is refused in one line with exit 2.

mod common;

use std::path::Path;
use std::process::Output;

use common::{assert_fails, assert_succeeds, run_in_env, stdout};
use cpuwall::isa::{self, Isa};

fn cpuwall_on(dir: &Path, isa: &str, args: &[&str]) -> Output {
    run_in_env(dir, args, &[(isa::ENV, isa)])
}

#[test]
fn every_isa_the_cpu_runs_gives_the_same_labels_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let isas = isa::available();
    assert!(isas.contains(&Isa::Scalar));
    for model in ["nb", "lr", "svc", "rf"] {
        let mut first: Option<String> = None;
        for &i in &isas {
            let out = format!("{model}-{i}.csv");
            let o = cpuwall_on(
                d,
                i.name(),
                &[
                    "predict",
                    "--model",
                    model,
                    "--rows",
                    "3000",
                    "--backend",
                    "direct",
                    "--min-time",
                    "1ms",
                    "--format",
                    "json",
                    "--out",
                    &out,
                ],
            );
            assert_succeeds(&o);
            let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert_eq!(
                doc["environment"]["isa"],
                i.name(),
                "{model}: results name the path"
            );
            let labels = std::fs::read_to_string(d.join(&out)).unwrap();
            assert!(labels.lines().count() > 3000);
            match &first {
                None => first = Some(labels),
                Some(l) => assert!(*l == labels, "{model}: {i} labels differ from scalar's"),
            }
        }
    }
    // inspect names the forest's traversal on each path.
    for &i in &isas {
        let o = cpuwall_on(d, i.name(), &["inspect", "models/rf.cpuwall"]);
        assert_succeeds(&o);
        let text = stdout(&o);
        let traversal = match i {
            Isa::Scalar => "node by node",
            Isa::Avx2 => "shuffle",
            Isa::Avx512 => "permute",
        };
        assert!(
            text.contains(&format!("isa                    {i}")),
            "{text}"
        );
        assert!(text.contains(traversal), "{i}: {text}");
        assert!(text.contains("pure leaves"), "{text}");
    }
}

#[test]
fn an_isa_that_is_no_path_or_that_the_cpu_lacks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = cpuwall_on(
        dir.path(),
        "sse9",
        &["predict", "--model", "nb", "--rows", "10"],
    );
    assert_fails(
        &o,
        2,
        "CPUWALL_ISA=\"sse9\" names no instruction set: use one of scalar",
    );
    if !Isa::Avx512.supported() {
        let o = cpuwall_on(
            dir.path(),
            "avx512",
            &["predict", "--model", "nb", "--rows", "10"],
        );
        assert_fails(&o, 2, "CPUWALL_ISA=avx512: this CPU lacks it");
    }
    // Empty means unset: the widest path.
    let o = cpuwall_on(
        dir.path(),
        "",
        &["predict", "--model", "nb", "--rows", "10"],
    );
    assert_succeeds(&o);
}
