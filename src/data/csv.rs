//! CSV with a header line: numeric feature columns and (for training) an
//! integer label column, `y` unless told otherwise. Errors name the line.

use std::path::Path;

use ndarray::Array2;

use super::Dataset;
use crate::error::{Error, Result};

/// The separator unless `--delimiter` says otherwise.
pub const COMMA: u8 = b',';

/// clap value parser for `--delimiter`: one ASCII character, or `\t` / `tab`.
pub fn delimiter_arg(s: &str) -> std::result::Result<u8, String> {
    match s {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "'{s}' is not one character; e.g. --delimiter ';' or --delimiter tab"
        )),
    }
}

/// The feature columns of a CSV file: values, header names, and lines for
/// people about what was read.
#[derive(Debug, Clone)]
pub struct Frame {
    pub x: Array2<f64>,
    pub names: Vec<String>,
    pub notes: Vec<String>,
}

/// Which columns of a header are what.
struct Layout {
    header: Vec<String>,
    /// A pandas index column (first, unnamed): checked, not used.
    index: bool,
    /// The label column, if the header has one.
    label: Option<usize>,
    /// The feature columns, in file order.
    features: Vec<usize>,
    notes: Vec<String>,
}

fn reader<R: std::io::Read>(input: R, delimiter: u8) -> ::csv::Reader<R> {
    ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(input)
}

fn csv_error(path: &Path, e: ::csv::Error) -> Error {
    match e.kind() {
        ::csv::ErrorKind::Utf8 { .. } => Error::data(
            path,
            "not UTF-8 text; expected a CSV file with a header line",
        ),
        ::csv::ErrorKind::Io(_) => Error::data(path, format!("cannot read: {e}")),
        _ => Error::data(path, format!("not valid CSV: {e}")),
    }
}

/// Read and check the header: names unique and present (a first unnamed
/// column is taken as a pandas index), the label column found.
fn layout<R: std::io::Read>(
    path: &Path,
    rdr: &mut ::csv::Reader<R>,
    delimiter: u8,
    label: &str,
) -> Result<Layout> {
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(Error::data(
            path,
            "empty file; expected a header line and rows",
        ));
    }
    // One column whose name holds another common separator: the file is
    // most likely separated by it.
    if let [only] = header.as_slice() {
        if let Some(sep) = [';', '\t', '|']
            .into_iter()
            .find(|c| only.contains(*c) && *c as u8 != delimiter)
        {
            let shown = if sep == '\t' {
                "'\\t'".to_string()
            } else {
                format!("'{sep}'")
            };
            return Err(Error::data(
                path,
                format!(
                    "the header is one column '{only}': the file looks {shown}-separated; add --delimiter {shown}"
                ),
            ));
        }
    }
    // A file without a header would lose its first row to column names.
    let named: Vec<&String> = header.iter().filter(|h| !h.is_empty()).collect();
    if named.iter().all(|h| h.trim().parse::<f64>().is_ok()) {
        let shown: Vec<&str> = named.iter().take(3).map(|h| h.as_str()).collect();
        return Err(Error::data(
            path,
            format!(
                "the first line holds only numbers ({}{}), not column names: the file has no header line; add one naming the columns (e.g. f0,f1,...,y), or write the file with pandas' to_csv",
                shown.join(", "),
                if named.len() > 3 { ", ..." } else { "" }
            ),
        ));
    }
    // pandas' `to_csv()` writes the index as a first column with an empty
    // name: leave it out (its cells are checked to be integers) rather than
    // let it become a feature. Any other column without a name is refused.
    let index = header[0].is_empty() && header.len() > 1;
    let mut notes = Vec::new();
    if index {
        notes.push(format!(
            "{}: the first column has no name and holds integers, a pandas index: not used as a feature (write with to_csv(index=False) to leave it out)",
            path.display()
        ));
    }
    let first = usize::from(index);
    if let Some(i) = header[first..].iter().position(String::is_empty) {
        return Err(Error::data(
            path,
            format!(
                "column {} has no name in the header; give every column a name (columns are matched by name)",
                i + 1 + first
            ),
        ));
    }
    super::columns::check_unique(path, &header[first..])?;
    let label_at = header.iter().position(|h| h == label);
    let features: Vec<usize> = (first..header.len())
        .filter(|c| Some(*c) != label_at)
        .collect();
    if features.is_empty() {
        return Err(Error::data(path, "no feature columns besides the label"));
    }
    Ok(Layout {
        header,
        index,
        label: label_at,
        features,
        notes,
    })
}

fn parse_feature(path: &Path, line: usize, column: &str, cell: &str) -> Result<f64> {
    cell.parse::<f64>().map_err(|_| {
        Error::data(
            path,
            format!("line {line}, column '{column}': '{cell}' is not a number"),
        )
    })
}

fn parse_label(path: &Path, line: usize, column: &str, cell: &str) -> Result<i64> {
    if let Ok(v) = cell.parse::<i64>() {
        return Ok(v);
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 9e15 => Ok(v as i64),
        Ok(v) if v.is_finite() => Err(Error::data(
            path,
            format!("line {line}, label column '{column}': '{cell}' is not an integer class label; for real targets train regressors with --task regression"),
        )),
        _ => Err(Error::data(
            path,
            format!("line {line}, label column '{column}': '{cell}' is not an integer class label"),
        )),
    }
}

/// A regression target: a finite number.
fn parse_target(path: &Path, line: usize, column: &str, cell: &str) -> Result<f64> {
    match cell.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(Error::data(
            path,
            format!("line {line}, target column '{column}': {v}; regression targets must be finite numbers"),
        )),
        Err(_) => Err(Error::data(
            path,
            format!("line {line}, target column '{column}': '{cell}' is not a number"),
        )),
    }
}

/// How the label column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelMode {
    /// Integer class labels.
    Classes,
    /// Real regression targets.
    Targets,
}

/// Stream the rows of `input` (a CSV with a header), parsing each cell as
/// it comes: features into one flat `f64` buffer (8 bytes a cell, so memory
/// stays a small multiple of the file), labels when `with_labels`.
fn parse<R: std::io::Read>(
    path: &Path,
    input: R,
    delimiter: u8,
    label: &str,
    with_labels: bool,
) -> Result<(Frame, Vec<i64>)> {
    let (frame, y, _) = parse_as(
        path,
        input,
        delimiter,
        label,
        with_labels,
        LabelMode::Classes,
    )?;
    Ok((frame, y))
}

/// [`parse`], the label column read as `mode` says: classes into the
/// first list, targets into the second.
fn parse_as<R: std::io::Read>(
    path: &Path,
    input: R,
    delimiter: u8,
    label: &str,
    with_labels: bool,
    mode: LabelMode,
) -> Result<(Frame, Vec<i64>, Vec<f64>)> {
    let mut rdr = reader(input, delimiter);
    let lay = layout(path, &mut rdr, delimiter, label)?;
    let li = match (lay.label, with_labels) {
        (None, true) => {
            return Err(Error::data(
                path,
                format!(
                    "no label column '{label}' in the header ({}); name it with --label COLUMN",
                    lay.header.join(",")
                ),
            ))
        }
        (li, _) => li.filter(|_| with_labels),
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut targets = Vec::new();
    let mut rows = 0usize;
    let mut rec = ::csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.len() == 1 && rec.get(0).is_some_and(str::is_empty) {
            continue;
        }
        if rec.len() != lay.header.len() {
            return Err(Error::data(
                path,
                format!(
                    "line {line}: {} fields, but the header has {}; fix or remove that row",
                    rec.len(),
                    lay.header.len()
                ),
            ));
        }
        if lay.index && rec[0].parse::<i64>().is_err() {
            return Err(Error::data(
                path,
                format!(
                    "column 1 has no name in the header, and line {line} holds '{}' there, not a pandas index; give every column a name",
                    &rec[0]
                ),
            ));
        }
        for &c in &lay.features {
            x.push(parse_feature(path, line, &lay.header[c], &rec[c])?);
        }
        if let Some(li) = li {
            match mode {
                LabelMode::Classes => y.push(parse_label(path, line, label, &rec[li])?),
                LabelMode::Targets => targets.push(parse_target(path, line, label, &rec[li])?),
            }
        }
        rows += 1;
    }
    let names: Vec<String> = lay
        .features
        .iter()
        .map(|&c| lay.header[c].clone())
        .collect();
    let frame = Frame {
        x: Array2::from_shape_vec((rows, names.len()), x).expect("shape matches"),
        names,
        notes: lay.notes,
    };
    Ok((frame, y, targets))
}

/// The longest line read: the csv crate buffers a whole record, so an input
/// without line ends (`/dev/zero`, a binary file) would grow without bound.
const MAX_LINE: usize = 16 << 20;

/// A reader that fails on a line longer than [`MAX_LINE`] bytes.
struct LineLimit<R> {
    inner: R,
    since_newline: usize,
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match buf[..n].iter().rposition(|&b| b == b'\n') {
            Some(at) => self.since_newline = n - at - 1,
            None => self.since_newline += n,
        }
        if self.since_newline > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a line longer than {} MB; is this a CSV file?",
                    MAX_LINE >> 20
                ),
            ));
        }
        Ok(n)
    }
}

fn open(path: &Path) -> Result<LineLimit<std::io::BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path).map_err(|e| super::read_error(path, e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::data(path, "is a directory; expected a CSV file"));
    }
    Ok(LineLimit {
        inner: std::io::BufReader::new(file),
        since_newline: 0,
    })
}

/// Features (named by the header) and labels; `label` names the label
/// column. Also lines for people about what was read.
pub fn read_labelled(path: &Path, label: &str, delimiter: u8) -> Result<(Dataset, Vec<String>)> {
    let (frame, y) = parse(path, open(path)?, delimiter, label, true)?;
    let data = Dataset::new(frame.x, y).with_names(frame.names);
    Ok((data, frame.notes))
}

/// Features (named by the header) and real regression targets from the
/// `label` column; also lines for people about what was read.
pub fn read_targets(path: &Path, label: &str, delimiter: u8) -> Result<(Dataset, Vec<String>)> {
    let (frame, _, t) = parse_as(
        path,
        open(path)?,
        delimiter,
        label,
        true,
        LabelMode::Targets,
    )?;
    let data = Dataset::regression(frame.x, t).with_names(frame.names);
    Ok((data, frame.notes))
}

/// Features only; a column named `label` is dropped if present (so the same
/// file can be used to train and to predict).
pub fn read_features(path: &Path, label: &str, delimiter: u8) -> Result<Frame> {
    Ok(parse(path, open(path)?, delimiter, label, false)?.0)
}

/// The names of the feature columns (header only; `label` left out).
pub fn feature_names(path: &Path, label: &str, delimiter: u8) -> Result<Vec<String>> {
    let mut rdr = reader(open(path)?, delimiter);
    let lay = layout(path, &mut rdr, delimiter, label)?;
    Ok(lay
        .features
        .iter()
        .map(|&c| lay.header[c].clone())
        .collect())
}

/// Write features (and optional labels) as CSV with an `f0..fN,y` header.
pub fn to_csv_string(x: ndarray::ArrayView2<'_, f64>, y: Option<&[i64]>) -> String {
    let mut s = String::new();
    let header = super::columns::default_names(x.ncols());
    s.push_str(&header.join(","));
    if y.is_some() {
        s.push_str(",y");
    }
    s.push('\n');
    for (i, row) in x.rows().into_iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        s.push_str(&cells.join(","));
        if let Some(y) = y {
            s.push_str(&format!(",{}", y[i]));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_bytes(bytes: &[u8], with_labels: bool) -> Result<(Frame, Vec<i64>)> {
        parse(Path::new("fuzz.csv"), bytes, COMMA, "y", with_labels)
    }

    #[test]
    fn a_small_table_reads_by_name() {
        let (f, y) = parse_bytes(b",b,y,a\n0,1.5,3,2\n1,-1,4,1e3\n", true).unwrap();
        assert_eq!(f.names, ["b", "a"]);
        assert_eq!(f.x, ndarray::array![[1.5, 2.0], [-1.0, 1000.0]]);
        assert_eq!(y, [3, 4]);
        assert_eq!(f.notes.len(), 1, "the pandas index is named");
    }

    #[test]
    fn a_first_line_of_numbers_is_refused_not_taken_as_names() {
        let err = parse_bytes(b"0.5,1.25,3\n1,2,4\n", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no header line"), "{err}");
        assert!(err.contains("0.5, 1.25, 3"), "{err}");
        // One numeric name among words is still a header.
        let (f, _) = parse_bytes(b"2019,b,y\n1,2,4\n", true).unwrap();
        assert_eq!(f.names, ["2019", "b"]);
    }

    /// Whatever parses is consistent (one value per row and name, one
    /// label per row) and holds at most four times the input's bytes:
    /// every cell took at least a character and a separator.
    fn check(bytes: &[u8]) {
        for with_labels in [false, true] {
            if let Ok((f, y)) = parse_bytes(bytes, with_labels) {
                assert_eq!(f.x.ncols(), f.names.len());
                assert!(!with_labels || y.len() == f.x.nrows());
                assert!(f.x.len() * 8 <= 4 * bytes.len().max(1), "{}", f.x.len());
            }
        }
    }

    /// Bytes drawn mostly from what CSV files are made of.
    fn csvish() -> impl Strategy<Value = Vec<u8>> {
        let alphabet: Vec<u8> = b",,,;\n\n\r\"\t y1234567890.-+eEnaif\xff\x00".to_vec();
        proptest::collection::vec(
            prop_oneof![9 => prop::sample::select(alphabet), 1 => any::<u8>()],
            0..300,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            check(&bytes);
        }

        #[test]
        fn csv_like_bytes_never_panic(bytes in csvish()) {
            check(&bytes);
        }

        /// A valid table with characters overwritten.
        #[test]
        fn mutated_tables_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut b = b",f0,f1,y\n0,1.5,2,0\n1,3,4.25,1\n2,-0.5,1e3,1\n".to_vec();
            for (at, v) in edits {
                let k = at.index(b.len());
                b[k] = v;
            }
            check(&b);
        }
    }
}
