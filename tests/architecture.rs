//! The folder order of ARCHITECTURE.md as a test: every `crate::NAME` a
//! folder (or ground-floor file) of `src/` names must be an edge listed
//! here. A new edge fails until it is added here and in ARCHITECTURE.md,
//! so the layering is a decision, not a drift.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The ground floor: used by every room, importing only the ground floor.
const GROUND: &[&str] = &[
    "atomic",
    "clock",
    "error",
    "interrupt",
    "isa",
    "rng",
    "units",
    // #[cfg(test)] helpers in lib.rs.
    "fuzz_cases",
    "mutate",
    // `crate::Result` / `crate::Error`, re-exported by lib.rs.
    "Result",
    "Error",
];

/// Which rooms each room may import, beyond the ground floor.
const ALLOWED: &[(&str, &[&str])] = &[
    ("data", &[]),
    ("model", &["data"]),
    ("interop", &["data", "model"]),
    ("exec", &["data", "model"]),
    // tune spreads its fits over MPI ranks with exec's cluster runner.
    ("tune", &["data", "model", "exec"]),
    ("ensemble", &["data", "exec"]),
    // measure resolves model names through tune (training a missing default)
    // and benches the ensemble.
    ("measure", &["data", "model", "exec", "tune", "ensemble"]),
    // serve sits beside measure: drives exec, writes measure's results
    // (load); model names are resolved by the command that starts it.
    ("serve", &["data", "model", "exec", "measure"]),
    // report reads results (measure's types) and names what they name.
    (
        "report",
        &["data", "model", "exec", "tune", "ensemble", "measure"],
    ),
    (
        "cli",
        &[
            "data", "model", "interop", "exec", "tune", "ensemble", "measure", "serve", "report",
        ],
    ),
];

/// The rooms named after `crate::` in `text`: `crate::a::...` and each
/// name in `crate::{a::x, b}`.
fn named_rooms(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Room -> the rooms its files name.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let room = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if room == "lib" || room == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let named = named_rooms(&text);
        let entry = edges.entry(room.clone()).or_default();
        entry.extend(named.into_iter().filter(|n| *n != room));
    }
    edges
}

#[test]
fn every_room_imports_only_the_rooms_architecture_md_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let edges = edges();
    let mut bad = Vec::new();
    for (room, named) in &edges {
        let ground = GROUND.contains(&room.as_str());
        for n in named {
            let ok = GROUND.contains(&n.as_str())
                || (!ground
                    && allowed
                        .get(room.as_str())
                        .is_some_and(|a| a.contains(&n.as_str())));
            if !ok {
                bad.push(format!("{room} -> {n}"));
            }
        }
        assert!(
            ground || allowed.contains_key(room.as_str()),
            "src/{room} is a room ARCHITECTURE.md does not place; add it to ALLOWED and the doc"
        );
    }
    assert!(
        bad.is_empty(),
        "imports ARCHITECTURE.md does not allow (move the code, or add the edge here and in the doc): {bad:?}"
    );
    // The scan sees real edges (a reader that found nothing would pass).
    assert!(edges["cli"].contains("report") && edges["report"].contains("measure"));
    assert!(edges["serve"].contains("exec") && edges["tune"].contains("model"));
}

#[test]
fn nothing_imports_cli_and_the_order_has_no_cycle() {
    for (room, others) in ALLOWED {
        assert!(
            !others.contains(&"cli") || *room == "cli",
            "{room} may not import cli"
        );
    }
    // Rooms in ALLOWED's order import only rooms listed before them.
    let order: Vec<&str> = ALLOWED.iter().map(|(r, _)| *r).collect();
    for (i, (room, others)) in ALLOWED.iter().enumerate() {
        for o in *others {
            let j = order.iter().position(|r| r == o).unwrap();
            assert!(j < i, "{room} -> {o} runs back up the order");
        }
    }
}

#[test]
fn the_scanner_reads_grouped_and_plain_paths() {
    let text = "use crate::{data::x, model};\nlet a = crate::exec::build();\n// crate::tune";
    let rooms: Vec<String> = named_rooms(text).into_iter().collect();
    assert_eq!(rooms, vec!["data", "exec", "model", "tune"]);
}

/// Lines of a source file.
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn the_tree_engine_is_one_room_of_files_of_one_concern_each() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
    let forest = model.join("forest");
    for f in [
        "mod.rs",
        "predict.rs",
        "layout.rs",
        "tree.rs",
        "cut_tree.rs",
        "quantised/mod.rs",
        "quantised/chain.rs",
        "quantised/rows.rs",
        "quantised/simd.rs",
        "boosted.rs",
    ] {
        assert!(forest.join(f).is_file(), "src/model/forest/{f} is missing");
    }
    for gone in [
        "forest.rs",
        "tree.rs",
        "cut_tree.rs",
        "quantised.rs",
        "quantised",
    ] {
        assert!(
            !model.join(gone).exists(),
            "src/model/{gone}: the tree engine lives in src/model/forest/"
        );
    }
    // One concern a file: none over ~600 lines but the pure SIMD kernels.
    let mut files = Vec::new();
    rs_files(&forest, &mut files);
    for f in files {
        let n = lines(&f);
        let kernels = f.ends_with("quantised/simd.rs");
        assert!(
            kernels || n <= 620,
            "{} has {n} lines: split it by concern",
            f.display()
        );
    }
    // Nothing outside the room reaches past its door.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    rs_files(&src, &mut all);
    for f in all.iter().filter(|f| !f.starts_with(&forest)) {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            !text.contains("forest::quantised::") && !text.contains("forest::cut_tree::"),
            "{} reaches into the tree engine's layout",
            f.display()
        );
    }
}

#[test]
fn the_cut_circles_stay_cut() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let read = |f: &str| std::fs::read_to_string(src.join(f)).unwrap();
    // tune: top_k builds on train, never the other way round.
    assert!(!read("tune/train.rs").contains("top_k"));
    assert!(read("tune/top_k.rs").contains("train::"));
    // report: the formats implement the exporter; it names none of them.
    let exporter = read("report/exporter.rs");
    for format in ["markdown::", "json::", "csv::"] {
        assert!(!exporter.contains(format), "exporter.rs names {format}");
    }
    // serve is handed its model resolver: it names no tune.
    let mut files = Vec::new();
    rs_files(&src.join("serve"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("crate::tune"), "{} names tune", f.display());
    }
}

#[test]
fn the_python_package_is_a_face_of_the_library_as_cli_is() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/src");
    let allowed: BTreeSet<&str> = ALLOWED
        .iter()
        .find(|(r, _)| *r == "cli")
        .unwrap()
        .1
        .iter()
        .chain(GROUND)
        .copied()
        .collect();
    let mut files = Vec::new();
    rs_files(&python, &mut files);
    assert!(!files.is_empty(), "python/src has the binding");
    let mut named = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .unwrap()
            .replace("cpuwall::", "crate::");
        named.extend(named_rooms(&text));
    }
    let bad: Vec<&String> = named
        .iter()
        .filter(|n| !allowed.contains(n.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "python/ names {bad:?}: it may use the library's rooms, never cli/"
    );
    assert!(
        named.contains("model"),
        "the scan sees the binding's imports"
    );
}
