//! Atomic file writes: write a temp file beside the target, flush it to
//! disk, then rename over the target. A crash or error never leaves a
//! half-written file where a good one was.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Write several files as one set: every file is written and flushed to a
/// temporary sibling first; only when all are on disk are they renamed into
/// place. A failure while writing (disk full) removes the temporaries and
/// leaves every old file as it was: the set lands whole or not at all.
pub fn write_set(files: &[(std::path::PathBuf, Vec<u8>)]) -> Result<()> {
    let mut written: Vec<(std::path::PathBuf, &Path)> = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        match write_temp(path, bytes) {
            Ok(tmp) => written.push((tmp, path)),
            Err(e) => {
                for (tmp, _) in &written {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(e);
            }
        }
    }
    for (tmp, path) in &written {
        std::fs::rename(tmp, path)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}

/// `bytes` in a flushed temporary file beside `path`; its name.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<std::path::PathBuf> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("cannot create directory {}", dir.display()), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("cannot write {}", path.display()), e)
    })?;
    Ok(tmp)
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("cannot write {}", path.display()), e)
    })
}

/// An exclusive hold on a directory that one run writes a set of files into
/// (released when dropped, or when the process dies). Dropping it removes
/// the lock file, so a finished run leaves nothing behind; a run killed
/// outright leaves the file, unlocked, for the next run to take.
pub struct DirLock {
    _file: std::fs::File,
    path: std::path::PathBuf,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock: a run waiting on this file
        // then finds, after taking it, that the name no longer leads to it
        // and opens the name afresh (see `take_lock`).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Take `dir` for this run (creating it), or fail at once, naming the
/// process that holds it: two runs writing one set of files would leave a
/// mix of both.
pub fn lock_dir(dir: &Path, what: &str) -> Result<DirLock> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create directory {}", dir.display()), e))?;
    take_lock(&dir.join(".cpuwall.lock"), dir, what)
}

/// Take the output file `out` for this run, or fail at once, naming the
/// process that holds it: two runs writing one results file (and its
/// partial file) would lose one run's results. The lock is a hidden file
/// beside it (`.NAME.lock`).
pub fn lock_output(out: &Path, what: &str) -> Result<DirLock> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create directory {}", dir.display()), e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    take_lock(&dir.join(format!(".{name}.lock")), out, what)
}

fn take_lock(path: &Path, subject: &Path, what: &str) -> Result<DirLock> {
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    // A holder removes the file when it finishes, so the lock taken may be
    // on a file no longer at `path`; then open the name again. Bounded: each
    // retry means another run finished in between.
    for _ in 0..64 {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(Error::Runtime(format!(
                "another {what} is writing {} (pid {}); wait for it to finish or choose another --out",
                subject.display(),
                holder.trim()
            )));
        }
        let same = match (file.metadata(), std::fs::metadata(path)) {
            (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
            _ => false,
        };
        if !same {
            continue;
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        return Ok(DirLock {
            _file: file,
            path: path.to_path_buf(),
        });
    }
    Err(Error::Runtime(format!(
        "cannot take the lock {} for {}: other runs keep taking it; try again",
        path.display(),
        subject.display()
    )))
}

/// Where `path` really is: links and `..` resolved. A path that does not
/// exist yet resolves through its parent (the file a write would create).
pub(crate) fn resolve(path: &Path) -> Option<std::path::PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(resolve(parent)?.join(name))
}

/// Files named by the option that names them (`--data`, `--out`).
pub type NamedPaths = Vec<(&'static str, std::path::PathBuf)>;

/// Refuse, before anything runs, an output that is one of the command's
/// inputs (the same file by any path: links, `./`, `..`). Each path comes
/// with the option that named it, for the message.
pub fn refuse_overwriting_inputs(
    outputs: &[(&str, &Path)],
    inputs: &[(&str, &Path)],
) -> Result<()> {
    for (out_opt, out) in outputs {
        let Some(target) = resolve(out) else { continue };
        for (in_opt, input) in inputs {
            if resolve(input).as_ref() == Some(&target) {
                return Err(Error::usage(format!(
                    "{out_opt} {} is the input {in_opt} {}: writing it would destroy the input; choose another output path",
                    out.display(),
                    input.display()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_that_fails_to_write_leaves_every_old_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("r.md"), "old report").unwrap();
        std::fs::write(d.join("blocker"), "a file, not a directory").unwrap();
        let set = vec![
            (d.join("r.md"), b"new report".to_vec()),
            (d.join("r-nb-wall.svg"), b"<svg/>".to_vec()),
            // Its directory cannot be made: the write fails after the others.
            (d.join("blocker/r-nb-cpu.svg"), b"<svg/>".to_vec()),
        ];
        assert!(write_set(&set).is_err());
        assert_eq!(
            std::fs::read_to_string(d.join("r.md")).unwrap(),
            "old report"
        );
        assert!(!d.join("r-nb-wall.svg").exists());
        let left: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "temporaries left behind: {left:?}");
        // Without the blocker, the whole set lands.
        write_set(&set[..2]).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("r.md")).unwrap(),
            "new report"
        );
        assert!(d.join("r-nb-wall.svg").exists());
    }

    #[test]
    fn a_directory_is_held_by_one_run_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_dir(dir.path(), "cpuwall train").unwrap();
        let err = lock_dir(dir.path(), "cpuwall train").err().expect("held");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        lock_dir(dir.path(), "cpuwall train").unwrap();
    }

    #[test]
    fn an_output_reaching_an_input_by_any_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("in.csv"), "a\n1\n").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink(d.join("in.csv"), d.join("link.csv")).unwrap();
        let input = d.join("in.csv");
        for out in [
            d.join("in.csv"),
            d.join("sub/../in.csv"),
            d.join("link.csv"),
            d.join("./in.csv"),
        ] {
            let err = refuse_overwriting_inputs(&[("--out", &out)], &[("--data", &input)])
                .expect_err("same file");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("--data"), "{err}");
        }
        // A new file, even beside the input, is fine.
        refuse_overwriting_inputs(&[("--out", &d.join("new.csv"))], &[("--data", &input)]).unwrap();
        refuse_overwriting_inputs(
            &[("--out", &d.join("nodir/new.csv"))],
            &[("--data", &input)],
        )
        .unwrap();
    }

    #[test]
    fn the_output_lock_admits_one_holder_at_a_time_though_each_removes_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let holders = AtomicUsize::new(0);
        let taken = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..300 {
                        if let Ok(lock) = lock_output(&out, "test") {
                            assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                            taken.fetch_add(1, Ordering::SeqCst);
                            std::thread::yield_now();
                            holders.fetch_sub(1, Ordering::SeqCst);
                            drop(lock);
                        }
                    }
                });
            }
        });
        assert!(taken.load(Ordering::SeqCst) > 0);
        assert!(!dir.path().join(".r.json.lock").exists());
    }
}
