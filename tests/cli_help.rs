//! Every option of every subcommand says what it does: a walk over the clap
//! command tree fails on any argument without help text, and every visible
//! subcommand's `--help` ends with examples.

use clap::{CommandFactory, Parser};

/// Words of a shell line: whitespace-separated, single quotes grouping.
fn words(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !out.last().unwrap().is_empty() {
                    out.push(String::new());
                }
            }
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.retain(|w| !w.is_empty());
    out
}

fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>, no_examples: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" || arg.is_hide_set() {
            continue;
        }
        if arg.get_help().is_none() && arg.get_long_help().is_none() {
            missing.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
        }
    }
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if subs.is_empty() && !path.is_empty() {
        let after = cmd
            .get_after_help()
            .map(|s| s.to_string())
            .unwrap_or_default();
        if !after.contains("Examples:") {
            no_examples.push(path.to_string());
        }
    }
    for s in subs {
        walk(
            s,
            format!("{path} {}", s.get_name()).trim(),
            missing,
            no_examples,
        );
    }
}

#[test]
fn every_option_has_help_and_every_command_has_examples() {
    let cmd = cpuwall::cli::Cli::command();
    let (mut missing, mut no_examples) = (Vec::new(), Vec::new());
    walk(&cmd, "", &mut missing, &mut no_examples);
    assert!(missing.is_empty(), "options without help: {missing:#?}");
    assert!(
        no_examples.is_empty(),
        "commands without examples: {no_examples:#?}"
    );
}

/// Every `cpuwall ...` example in the help parses as a command line.
#[test]
fn every_example_in_the_help_parses() {
    fn examples(cmd: &clap::Command, out: &mut Vec<String>) {
        if let Some(after) = cmd.get_after_help() {
            out.extend(
                after
                    .to_string()
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("cpuwall "))
                    // The command itself, before a comment, pipe or redirect.
                    .map(|l| {
                        l.split(['#', '|', '>', '&'])
                            .next()
                            .unwrap()
                            .trim()
                            .to_string()
                    }),
            );
        }
        for s in cmd.get_subcommands() {
            examples(s, out);
        }
    }
    let mut lines = Vec::new();
    examples(&cpuwall::cli::Cli::command(), &mut lines);
    assert!(lines.len() >= 20, "{lines:?}");
    for line in lines {
        if let Err(e) = cpuwall::cli::Cli::try_parse_from(words(&line)) {
            panic!("{line}: {e}");
        }
    }
}

#[test]
fn completions_and_the_man_page_cover_every_subcommand() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cpuwall"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = run(&["completions", shell]);
        for sub in [
            "train",
            "predict",
            "sweep",
            "import",
            "export",
            "--min-time",
        ] {
            assert!(script.contains(sub), "{shell}: no {sub}");
        }
    }
    let man = run(&["man"]);
    assert!(
        man.contains(".TH cpuwall 1"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(
        man.contains("cpuwall\\-import") || man.contains("import"),
        "no import in the man page"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cpuwall"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
