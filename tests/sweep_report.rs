//! `cpuwall sweep` and `cpuwall report` as a user runs them.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use cpuwall::measure::env::Environment;
use cpuwall::measure::results::{Cell, Settings, SweepResults};
use cpuwall::measure::run::Measured;
use cpuwall::measure::stats::Spread;

fn parse_svg(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{}: not XML: {e}", path.display()));
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| n.attribute("points").is_some_and(|p| !p.trim().is_empty()))
        .filter_map(|n| n.attribute("data-series").map(str::to_string))
        .collect()
}

#[test]
fn a_small_sweep_becomes_a_report_with_tables_crossovers_and_three_plots() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_in(
        d,
        &[
            "sweep",
            "--models",
            "nb",
            "--rows",
            "10..1e5",
            "--min-time",
            "10ms",
            "--out",
            "results/s.json",
            "--csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let results = SweepResults::load(&d.join("results/s.json")).unwrap();
    assert!(results.complete);
    assert_eq!(results.cells.len(), 5 * 4, "5 sizes x 4 backends");
    assert!(results.cells.iter().all(|c| c.identical_to_direct));
    assert!(d.join("results/s.csv").exists());

    let base = fixture("sklearn_sweep.csv");
    let out = run_in(
        d,
        &[
            "report",
            "results/s.json",
            "-o",
            "reports/s.md",
            "--baseline",
            base.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let md = std::fs::read_to_string(d.join("reports/s.md")).unwrap();
    assert!(md.contains("## nb (Gaussian naive Bayes)"), "{md}");
    assert!(md.contains("| rows | backend | wall (median)"), "{md}");
    assert!(
        md.contains("threads beat direct") || md.contains("threads never beat direct"),
        "{md}"
    );
    assert!(md.contains("scikit-learn wall"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.starts_with("- **nb: ") && l.contains(" than scikit-learn at ")),
        "{md}"
    );
    // Ratios to three significant figures, ">1000×" above, and a note on
    // what such ratios measure.
    assert!(
        md.contains("\"cpuwall faster by\" is scikit-learn's median wall"),
        "{md}"
    );
    for line in md
        .lines()
        .filter(|l| l.starts_with("| ") && l.ends_with("× |"))
    {
        let cell = line.trim_end_matches(" |").rsplit("| ").next().unwrap();
        let digits = cell
            .trim_end_matches('×')
            .trim_start_matches("0.")
            .replace('.', "");
        assert!(
            cell == ">1000×" || digits.trim_start_matches('0').len() <= 4,
            "{cell} in {line}"
        );
    }
    for kind in ["wall", "cpu", "speedup"] {
        let svg = d.join(format!("reports/s-nb-{kind}.svg"));
        assert!(
            md.contains(&format!("s-nb-{kind}.svg")),
            "report does not link {kind} plot"
        );
        let series = parse_svg(&svg);
        for b in [
            "cpuwall direct",
            "cpuwall threads",
            "cpuwall processes",
            "cpuwall auto",
        ] {
            assert!(
                series.iter().any(|s| s == b),
                "{kind}: no {b} series in {series:?}"
            );
        }
        if kind == "wall" {
            assert!(
                series.iter().any(|s| s == "scikit-learn direct"),
                "{series:?}"
            );
        }
        // A backend has one colour; scikit-learn's run of it is dashed.
        let text = std::fs::read_to_string(&svg).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let line = |name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("polyline") && n.attribute("data-series") == Some(name))
                .map(|n| {
                    (
                        n.attribute("stroke").unwrap().to_string(),
                        n.attribute("stroke-dasharray").is_some(),
                    )
                })
        };
        let sk = if kind == "speedup" {
            "threads"
        } else {
            "direct"
        };
        let (ours, theirs) = (
            line(&format!("cpuwall {sk}")),
            line(&format!("scikit-learn {sk}")),
        );
        let (ours, theirs) = (ours.unwrap(), theirs.expect("scikit-learn series"));
        assert_eq!(ours.0, theirs.0, "{kind}: {sk} colours");
        assert!(
            !ours.1 && theirs.1,
            "{kind}: scikit-learn dashed, cpuwall solid"
        );
        // Reference lines: one core and all cores; direct and the ideal.
        let refs: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("data-reference"))
            .collect();
        match kind {
            "cpu" => assert!(
                refs.contains(&"1 core") && refs.iter().any(|r| r.ends_with(" cores")),
                "{refs:?}"
            ),
            "speedup" => assert!(
                refs.contains(&"direct (1×)") && refs.iter().any(|r| r.starts_with("ideal (")),
                "{refs:?}"
            ),
            _ => assert!(
                text.contains(" ms<") || text.contains(" µs<"),
                "time ticks in units"
            ),
        }
    }
}

fn spread(v: f64) -> Spread {
    Spread {
        min: v * 0.9,
        median: v,
        max: v * 1.2,
    }
}

fn cell(backend: &str, rows: u64, wall: f64, direct: f64) -> Cell {
    Cell {
        model: "lr".into(),
        backend: backend.into(),
        measured: Measured {
            rows: rows as usize,
            runs: 5,
            samples: 5,
            wall_seconds: spread(wall),
            wall_seconds_ci95: [wall * 0.9, wall * 1.1],
            cpu_seconds: spread(wall * 1.5),
            worker_cpu_seconds: spread(0.0),
            cpu_per_wall: 1.5,
            rows_per_second: rows as f64 / wall,
            parallelism: 2,
            raw: Default::default(),
        },
        speedup_vs_direct: Some(direct / wall),
        identical_to_direct: true,
    }
}

fn fixed_results(version: u32) -> SweepResults {
    let mut env = Environment::capture();
    env.cpu_model = "Test CPU 9000".into();
    let mut r = SweepResults::new(
        env,
        Settings {
            models: vec!["lr".into()],
            backends: vec!["direct".into(), "threads".into()],
            rows: vec![1000, 1_000_000],
            min_time_seconds: 0.2,
            max_repeats: 10,
            threads: 2,
            workers: 2,
            seed: 1,
        },
    );
    r.header.version = version;
    r.complete = true;
    r.cells = vec![
        cell("direct", 1000, 0.001, 0.001),
        cell("threads", 1000, 0.002, 0.001),
        cell("direct", 1_000_000, 0.02, 0.02),
        cell("threads", 1_000_000, 0.01, 0.02),
    ];
    r
}

#[test]
fn the_report_shows_the_results_files_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_results(1).save(&d.join("fixed.json")).unwrap();
    let out = run_in(d, &["report", "fixed.json", "-o", "r.md"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = std::fs::read_to_string(d.join("r.md")).unwrap();
    // The report opens with one verdict per model, before the environment.
    assert!(
        md.contains("## Verdicts\n\n- **lr: threads from 1e6 rows (2.00× at 1e6)**\n"),
        "{md}"
    );
    assert!(md.find("## Verdicts") < md.find("## Environment"), "{md}");
    assert!(md.contains("| CPU | Test CPU 9000 |"), "{md}");
    // Median (5 samples: too few for a 95% CI, so flagged ~), CI, runs,
    // CPU per call = CPU/wall x median wall.
    assert!(md.contains("| 1e3 | threads | 2.00 ms ~ | 1.80 ms–2.20 ms | 5 | 3.00 ms | 1.50 | 500.00e3 | 0.5× | yes |"), "{md}");
    assert!(md.contains("| 1e6 | threads | 10.00 ms ~ | 9.00 ms–11.00 ms | 5 | 15.00 ms | 1.50 | 100.00e6 | 2.00× | yes |"), "{md}");
    assert!(md.contains("cells are marked `~`"), "{md}");
    assert!(
        md.contains("threads beat direct (by 5% or more) from 1e6 rows"),
        "{md}"
    );
    let out = run_in(d, &["report", "fixed.json", "-o", "r.csv"]);
    assert!(out.status.success());
    let csv = std::fs::read_to_string(d.join("r.csv")).unwrap();
    assert!(
        csv.contains(
            "lr,threads,1000000,5,0.009000000000000001,0.01,0.012,0.015,0,1.5,100000000,2,true"
        ),
        "{csv}"
    );
}

#[test]
fn bad_results_and_bad_sweep_arguments_get_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_results(cpuwall::measure::results::VERSION + 1)
        .save(&d.join("newer.json"))
        .unwrap();
    fixed_results(0).save(&d.join("older.json")).unwrap();
    std::fs::write(
        d.join("broken.json"),
        "{\"format\": \"cpuwall-sweep\", \"version\": 1, \"cells\": [",
    )
    .unwrap();
    std::fs::write(d.join("other.json"), "{\"hello\": 1}").unwrap();
    assert_fails(
        &run_in(d, &["report", "newer.json"]),
        2,
        "newer than this cpuwall reads",
    );
    assert_fails(
        &run_in(d, &["report", "older.json"]),
        2,
        "has no valid schema \"version\"",
    );
    assert_fails(
        &run_in(d, &["report", "broken.json"]),
        2,
        "corrupted results file",
    );
    assert_fails(
        &run_in(d, &["report", "other.json"]),
        2,
        "not a cpuwall sweep results file",
    );
    assert_fails(
        &run_in(d, &["sweep", "--rows", "1e5..10"]),
        2,
        "empty sweep range",
    );
    assert_fails(
        &run_in(d, &["sweep", "--backends", "direct,gpu"]),
        2,
        "unknown backend 'gpu'",
    );
}

/// Start a long sweep into `r.json`, wait for its first saved cell, send
/// `signal`; the exit status.
fn interrupt_sweep(d: &Path, signal: i32) -> (std::process::ExitStatus, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args([
            "sweep",
            "--models",
            "nb",
            "--rows",
            "10..1e6",
            "--min-time",
            "2s",
            "--out",
            "r.json",
        ])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = d.join("r.partial.json");
    let start = Instant::now();
    while !partial.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(partial.exists(), "no cell was ever written");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_interrupted_sweep_keeps_its_cells_in_a_partial_file_marked_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (status, err) = interrupt_sweep(d, libc::SIGINT);
    assert_eq!(status.code(), Some(130));
    assert!(err.contains("r.partial.json"), "{err}");
    assert!(
        !d.join("r.json").exists(),
        "an incomplete sweep took the results name"
    );
    let r = SweepResults::load(&d.join("r.partial.json")).unwrap();
    assert!(!r.complete);
    assert!(
        !r.cells.is_empty() && r.cells.len() < 24,
        "{} cells",
        r.cells.len()
    );
    let out = run_in(d, &["report", "r.partial.json", "-o", "r.md"]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(d.join("r.md"))
        .unwrap()
        .contains("INCOMPLETE"));
}

#[test]
fn sigterm_during_a_rerun_leaves_the_complete_results_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tiny_sweep(d, "r.json");
    assert_succeeds(&out);
    assert!(
        !d.join("r.partial.json").exists(),
        "a complete sweep left its partial file"
    );
    let complete = std::fs::read(d.join("r.json")).unwrap();
    assert!(SweepResults::load(&d.join("r.json")).unwrap().complete);
    let (status, _) = interrupt_sweep(d, libc::SIGTERM);
    assert_eq!(status.code(), Some(130));
    assert_eq!(std::fs::read(d.join("r.json")).unwrap(), complete);
    assert!(
        !SweepResults::load(&d.join("r.partial.json"))
            .unwrap()
            .complete
    );
}

#[test]
fn results_record_cpuwalls_own_commit_from_inside_another_repository() {
    let git = |dir: &Path, args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let ours = git(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["rev-parse", "--short=12", "HEAD"],
    )
    .unwrap_or_else(|| "unknown".into());
    // The user's own project, with a commit of its own, as the working directory.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let theirs = git(d, &["init", "-q"]).and_then(|_| {
        std::fs::write(d.join("a.txt"), "a").unwrap();
        git(d, &["add", "a.txt"])?;
        git(
            d,
            &[
                "-c",
                "user.name=u",
                "-c",
                "user.email=u@x",
                "commit",
                "-qm",
                "theirs",
            ],
        )?;
        git(d, &["rev-parse", "--short=12", "HEAD"])
    });
    let out = tiny_sweep(d, "r.json");
    assert_succeeds(&out);
    let r = SweepResults::load(&d.join("r.json")).unwrap();
    let recorded = r.header.environment.git_commit.trim_end_matches("-dirty");
    assert_eq!(recorded, ours, "recorded {recorded}, cpuwall is at {ours}");
    if let Some(theirs) = theirs {
        assert_ne!(
            recorded, theirs,
            "the working directory's commit was recorded"
        );
    }
    assert!(["release", "debug"].contains(&r.header.environment.build_profile.as_str()));
    assert!(!r.header.environment.isa.is_empty());
    assert!(r.header.environment.clock_overhead_seconds > 0.0);
    let version = run_in(d, &["--version"]);
    assert!(
        stdout(&version).contains(&format!("commit {ours}")),
        "{}",
        stdout(&version)
    );
}
