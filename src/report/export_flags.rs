//! Same-run exports, named as hyperfine names them: `--export-json`,
//! `--export-csv`, `--export-markdown` on `predict`, `sweep` and `ensemble
//! bench`. The JSON is the command's results document (docs/results.md,
//! every raw sample included); the CSV has one line per timed sample, so
//! the raw times load into a data frame without reading JSON; the markdown
//! is the command's table.

use std::path::{Path, PathBuf};

use crate::atomic::{refuse_overwriting_inputs, write_set};
use crate::error::{Error, Result};
use crate::measure::run::RawSamples;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExportArgs {
    /// Also write the results document (JSON, docs/results.md) to FILE, every raw sample included.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Also write every timed sample (one CSV line each: calls, wall/CPU nanoseconds) to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Also write the results as a markdown table to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
}

impl ExportArgs {
    fn outputs(&self) -> Vec<(&'static str, &Path)> {
        [
            ("--export-json", &self.export_json),
            ("--export-csv", &self.export_csv),
            ("--export-markdown", &self.export_markdown),
        ]
        .into_iter()
        .filter_map(|(o, p)| p.as_deref().map(|p| (o, p)))
        .collect()
    }

    pub fn any(&self) -> bool {
        !self.outputs().is_empty()
    }

    /// Before measuring: the exports name different files, none of them an
    /// input (`inputs`: option and path) or one of the command's other
    /// outputs (`outputs`), each in a directory that exists (so a long run
    /// does not end in an error).
    pub fn check(&self, inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<()> {
        let outs = self.outputs();
        refuse_overwriting_inputs(&outs, inputs)?;
        for (i, (opt, p)) in outs.iter().enumerate() {
            for (other, q) in outs[..i].iter().chain(outputs) {
                // The same file by any path (`./`, links), as for inputs.
                if p == q
                    || crate::atomic::resolve(p)
                        .is_some_and(|r| crate::atomic::resolve(q) == Some(r))
                {
                    return Err(Error::usage(format!(
                        "{opt} and {other} both name {}: give each export its own file",
                        p.display()
                    )));
                }
            }
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            if dir.is_some_and(|d| !d.is_dir()) {
                return Err(Error::usage(format!(
                    "{opt} {}: directory {} does not exist; create it or choose another path",
                    p.display(),
                    dir.unwrap().display()
                )));
            }
        }
        Ok(())
    }

    /// [`check`](Self::check) with owned paths (inputs, outputs).
    pub fn check_paths(
        &self,
        paths: &(crate::atomic::NamedPaths, crate::atomic::NamedPaths),
    ) -> Result<()> {
        fn view<'a>(v: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
            v.iter().map(|(n, p)| (*n, p.as_path())).collect()
        }
        self.check(&view(&paths.0), &view(&paths.1))
    }

    /// Write the exports asked for, all or none (`json`, `csv`, `markdown`
    /// render each on demand).
    pub fn write(
        &self,
        json: impl FnOnce() -> String,
        csv: impl FnOnce() -> String,
        markdown: impl FnOnce() -> String,
    ) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        if let Some(p) = &self.export_json {
            files.push((p.clone(), ensure_newline(json()).into_bytes()));
        }
        if let Some(p) = &self.export_csv {
            files.push((p.clone(), csv().into_bytes()));
        }
        if let Some(p) = &self.export_markdown {
            files.push((p.clone(), ensure_newline(markdown()).into_bytes()));
        }
        write_set(&files)?;
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }
}

fn ensure_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// One CSV line per timed sample: the measurement's key columns (`keys`
/// names them; each row gives their values), then the sample's index, its
/// calls and its totals in nanoseconds, and wall and CPU per call in seconds.
pub fn raw_csv(keys: &[&str], rows: &[(Vec<String>, &RawSamples)]) -> String {
    let mut s = keys.join(",");
    s.push_str(
        ",sample,calls,wall_ns,cpu_ns,worker_cpu_ns,wall_seconds_per_call,cpu_seconds_per_call\n",
    );
    for (values, raw) in rows {
        for i in 0..raw.len() {
            let (calls, wall, cpu, _) = raw.per_call(i);
            s.push_str(&format!(
                "{},{i},{calls},{},{},{},{wall:e},{cpu:e}\n",
                values.join(","),
                raw.wall_ns[i],
                raw.cpu_ns.get(i).copied().unwrap_or(0),
                raw.worker_cpu_ns.get(i).copied().unwrap_or(0),
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Usage;

    #[test]
    fn raw_csv_has_one_line_per_sample_with_exact_totals() {
        let usages = [
            Usage {
                wall_seconds: 0.5e-6,
                own_cpu_seconds: 0.25e-6,
                worker_cpu_seconds: 0.0,
                calls: 4,
                parallelism: 1,
            },
            Usage {
                wall_seconds: 0.003,
                own_cpu_seconds: 0.001,
                worker_cpu_seconds: 0.004,
                calls: 1,
                parallelism: 2,
            },
        ];
        let raw = RawSamples::of(&usages);
        let csv = raw_csv(
            &["model", "backend"],
            &[(vec!["nb".into(), "threads".into()], &raw)],
        );
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert_eq!(lines[0], "model,backend,sample,calls,wall_ns,cpu_ns,worker_cpu_ns,wall_seconds_per_call,cpu_seconds_per_call");
        // 4 calls of 0.5 us: 2000 ns in all, 1000 ns of CPU.
        assert_eq!(lines[1], "nb,threads,0,4,2000,1000,0,5e-7,2.5e-7");
        assert_eq!(lines[2], "nb,threads,1,1,3000000,5000000,4000000,3e-3,5e-3");
    }

    #[test]
    fn exports_may_not_share_a_file_or_replace_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let same = dir.path().join("r.json");
        let e = ExportArgs {
            export_json: Some(same.clone()),
            export_csv: Some(same.clone()),
            export_markdown: None,
        };
        assert!(e
            .check(&[], &[])
            .unwrap_err()
            .to_string()
            .contains("both name"));
        let e = ExportArgs {
            export_json: Some(same.clone()),
            ..Default::default()
        };
        let err = e
            .check(&[], &[("--out", same.as_path())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--export-json and --out both name"), "{err}");
        let e = ExportArgs {
            export_json: None,
            export_csv: Some(same.clone()),
            export_markdown: None,
        };
        std::fs::write(&same, "x").unwrap();
        let err = e
            .check(&[("--data", same.as_path())], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("would destroy the input"), "{err}");
        let e = ExportArgs {
            export_markdown: Some(dir.path().join("no/such/dir/r.md")),
            ..Default::default()
        };
        assert!(e
            .check(&[], &[])
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
    }
}
