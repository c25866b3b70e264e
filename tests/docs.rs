//! The documents a reader follows: README is a front door (one screen,
//! nothing outside the repository), and every relative link in README,
//! ARCHITECTURE and docs/ leads to a file that exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The markdown files a reader is sent through.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    docs
}

/// The targets of `[text](target)` links in `text`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_string());
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_documents_resolves() {
    let mut broken = Vec::new();
    let mut seen = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for link in links(&text) {
            let target = link.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            seen += 1;
            let path = doc.parent().unwrap().join(target);
            if !path.exists() {
                broken.push(format!("{}: {link}", doc.display()));
            }
        }
    }
    assert!(seen > 20, "the scan found only {seen} links");
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
}

#[test]
fn readme_is_a_front_door() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines: the reference belongs in docs/"
    );
    // The two set-up commands.
    assert!(text.contains("cargo run --release -- predict --model nb --rows 1e6"));
    assert!(text.contains("\ncargo test "));
    // Nothing outside the repository.
    for link in links(&text) {
        assert!(
            !link.starts_with("../"),
            "README links outside the repository: {link}"
        );
    }
    assert!(
        !text.contains("../shared"),
        "README points outside the repository"
    );
    // Figures come from reports, between the generator's markers.
    let (start, end) = ("<!-- figures:start -->", "<!-- figures:end -->");
    assert!(text.contains(start) && text.contains(end));
    let block = text.split(start).nth(1).unwrap().split(end).next().unwrap();
    for row in block
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| what"))
    {
        assert!(
            row.contains("](reports/"),
            "a figure without its report: {row}"
        );
    }
}

#[test]
fn the_reference_lives_in_docs() {
    for page in [
        "cli.md",
        "serving.md",
        "python.md",
        "file-format.md",
        "forest.md",
    ] {
        assert!(
            Path::new(&root().join("docs").join(page)).is_file(),
            "docs/{page} is missing"
        );
    }
}
