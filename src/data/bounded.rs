//! Bounded reads of input files: the first bytes are checked before the
//! rest is read, and nothing is read past a ceiling, so `/dev/zero`, a pipe
//! or a 1 GB foreign file cost a few bytes and a clear error, not memory.

use std::io::Read;
use std::path::Path;

use super::read_error_hint;
use crate::error::{Error, Result};

/// Bytes handed to the prefix check before the rest of a file is read.
pub const PREFIX: usize = 64;

/// How one kind of input file is read.
pub struct Limit<'a> {
    /// What the file is, for messages ("results file").
    pub what: &'a str,
    /// The most bytes such a file may hold.
    pub max: u64,
    /// Advice when the file does not exist.
    pub not_found: &'a str,
}

/// `what` with its indefinite article: "a grid file", "an ensemble ...".
pub fn a(what: &str) -> String {
    match what.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {what}"),
        _ => format!("a {what}"),
    }
}

/// Refuse the first bytes of a file (up to [`PREFIX`]) with the reason.
pub type PrefixCheck<'a> = &'a dyn Fn(&[u8]) -> std::result::Result<(), String>;

/// A whole input file of at most `limit.max` bytes, whose first bytes pass
/// `first` before anything else is read. A directory, a regular file over
/// the limit and a stream (pipe, device) running past it are refused.
pub fn read(path: &Path, limit: &Limit<'_>, first: PrefixCheck<'_>) -> Result<Vec<u8>> {
    let cannot = |e: std::io::Error| read_error_hint(path, e, limit.not_found);
    let file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if meta.is_dir() {
        return Err(Error::data(
            path,
            format!("is a directory; expected {}", a(limit.what)),
        ));
    }
    let too_big = || {
        Error::data(
            path,
            format!(
                "larger than {}, the most {} may be; is this the right file?",
                crate::units::bytes(limit.max as f64),
                a(limit.what)
            ),
        )
    };
    if meta.is_file() && meta.len() > limit.max {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    let mut reader = file.take(PREFIX as u64);
    reader.read_to_end(&mut bytes).map_err(cannot)?;
    first(&bytes).map_err(|m| Error::data(path, m))?;
    // A regular file is read to its size; anything else up to the ceiling.
    let cap = if meta.is_file() {
        meta.len()
    } else {
        limit.max + 1
    };
    let mut reader = reader
        .into_inner()
        .take(cap.saturating_sub(bytes.len() as u64));
    reader.read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > limit.max {
        return Err(too_big());
    }
    Ok(bytes)
}

/// A prefix check for JSON documents holding one object: the first byte
/// that is not white space must be `{`.
pub fn json_object(what: &str) -> impl Fn(&[u8]) -> std::result::Result<(), String> + '_ {
    move |b: &[u8]| match b.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(format!(
            "not {}: expected a JSON object starting with '{{'",
            a(what)
        )),
    }
}

/// [`read`] for a UTF-8 JSON document holding one object.
pub fn read_json_text(path: &Path, limit: &Limit<'_>) -> Result<String> {
    let bytes = read(path, limit, &json_object(limit.what))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::data(path, format!("not {}: not UTF-8 text", a(limit.what))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Limit<'static> = Limit {
        what: "test file",
        max: 1000,
        not_found: "no such test file",
    };

    #[test]
    fn a_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        let text = format!("  {{\"a\": \"{}\"}}", "x".repeat(500));
        std::fs::write(&p, &text).unwrap();
        assert_eq!(read_json_text(&p, &LIMIT).unwrap(), text);
    }

    #[test]
    fn a_file_over_the_limit_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.json");
        std::fs::write(&p, vec![b'{'; 1001]).unwrap();
        let e = read_json_text(&p, &LIMIT).unwrap_err().to_string();
        assert!(
            e.contains("larger than 1.0 KB, the most a test file may be"),
            "{e}"
        );
    }

    #[test]
    fn an_endless_stream_stops_at_the_limit() {
        // /dev/zero passes a check that accepts anything, then is cut.
        let e = read(Path::new("/dev/zero"), &LIMIT, &|_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger than"), "{e}");
        // With a JSON check, it costs the first bytes only.
        let e = read_json_text(Path::new("/dev/zero"), &LIMIT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a test file: expected a JSON object"), "{e}");
    }

    #[test]
    fn directories_and_missing_files_say_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_json_text(dir.path(), &LIMIT).unwrap_err().to_string();
        assert!(e.contains("is a directory; expected a test file"), "{e}");
        let e = read_json_text(&dir.path().join("none"), &LIMIT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such test file"), "{e}");
    }
}
