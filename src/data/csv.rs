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

struct Table {
    header: Vec<String>,
    /// Cells row-major, as text, with the 1-based line each row came from.
    rows: Vec<(usize, Vec<String>)>,
    /// Lines for people (a pandas index column dropped).
    notes: Vec<String>,
}

/// The feature columns of a CSV file: values, header names, and lines for
/// people about what was read.
#[derive(Debug, Clone)]
pub struct Frame {
    pub x: Array2<f64>,
    pub names: Vec<String>,
    pub notes: Vec<String>,
}

/// The table of a CSV file, read by the `csv` crate (quoted fields with
/// commas, CRLF, blank lines), cells trimmed.
fn read_table(path: &Path, delimiter: u8) -> Result<Table> {
    let file = std::fs::File::open(path).map_err(|e| super::read_error(path, e))?;
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let bad = |e: ::csv::Error| match e.kind() {
        ::csv::ErrorKind::Utf8 { .. } => Error::data(
            path,
            "not UTF-8 text; expected a CSV file with a header line",
        ),
        ::csv::ErrorKind::Io(_) => Error::data(path, format!("cannot read: {e}")),
        _ => Error::data(path, format!("not valid CSV: {e}")),
    };
    let header: Vec<String> = rdr
        .headers()
        .map_err(bad)?
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
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(bad)?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.len() == 1 && rec.get(0).is_some_and(str::is_empty) {
            continue;
        }
        if rec.len() != header.len() {
            return Err(Error::data(
                path,
                format!(
                    "line {line}: {} fields, but the header has {}; fix or remove that row",
                    rec.len(),
                    header.len()
                ),
            ));
        }
        rows.push((line, rec.iter().map(str::to_string).collect()));
    }
    let mut table = Table {
        header,
        rows,
        notes: Vec::new(),
    };
    drop_index_column(path, &mut table)?;
    super::columns::check_unique(path, &table.header)?;
    Ok(table)
}

/// pandas' `to_csv()` writes the index as a first column with an empty
/// name: drop it (with a note) rather than let it become a feature. Any
/// other column without a name is refused.
fn drop_index_column(path: &Path, table: &mut Table) -> Result<()> {
    let is_index = table.header[0].is_empty()
        && table.header.len() > 1
        && table.rows.iter().all(|(_, c)| c[0].parse::<i64>().is_ok());
    if is_index {
        table.header.remove(0);
        for (_, cells) in &mut table.rows {
            cells.remove(0);
        }
        table.notes.push(format!(
            "{}: the first column has no name and holds integers, a pandas index: not used as a feature (write with to_csv(index=False) to leave it out)",
            path.display()
        ));
    }
    if let Some(i) = table.header.iter().position(String::is_empty) {
        return Err(Error::data(
            path,
            format!(
                "column {} has no name in the header; give every column a name (columns are matched by name)",
                i + 1 + usize::from(is_index)
            ),
        ));
    }
    Ok(())
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
        _ => Err(Error::data(
            path,
            format!("line {line}, label column '{column}': '{cell}' is not an integer class label"),
        )),
    }
}

/// The columns other than `skip` (the label), parsed, with their names.
fn features_of(path: &Path, table: &Table, skip: Option<usize>) -> Result<Frame> {
    let cols: Vec<usize> = (0..table.header.len())
        .filter(|c| Some(*c) != skip)
        .collect();
    if cols.is_empty() {
        return Err(Error::data(path, "no feature columns besides the label"));
    }
    let mut data = Vec::with_capacity(table.rows.len() * cols.len());
    for (line, cells) in &table.rows {
        for &c in &cols {
            data.push(parse_feature(path, *line, &table.header[c], &cells[c])?);
        }
    }
    Ok(Frame {
        x: Array2::from_shape_vec((table.rows.len(), cols.len()), data).expect("shape matches"),
        names: cols.iter().map(|&c| table.header[c].clone()).collect(),
        notes: table.notes.clone(),
    })
}

/// Features (named by the header) and labels; `label` names the label
/// column. Also lines for people about what was read.
pub fn read_labelled(path: &Path, label: &str, delimiter: u8) -> Result<(Dataset, Vec<String>)> {
    let table = read_table(path, delimiter)?;
    let li = table
        .header
        .iter()
        .position(|h| h == label)
        .ok_or_else(|| {
            Error::data(
                path,
                format!(
                    "no label column '{label}' in the header ({}); name it with --label COLUMN",
                    table.header.join(",")
                ),
            )
        })?;
    let frame = features_of(path, &table, Some(li))?;
    let y = table
        .rows
        .iter()
        .map(|(line, cells)| parse_label(path, *line, label, &cells[li]))
        .collect::<Result<Vec<_>>>()?;
    let data = Dataset::new(frame.x, y).with_names(frame.names);
    Ok((data, frame.notes))
}

/// Features only; a column named `label` is dropped if present (so the same
/// file can be used to train and to predict).
pub fn read_features(path: &Path, label: &str, delimiter: u8) -> Result<Frame> {
    let table = read_table(path, delimiter)?;
    let li = table.header.iter().position(|h| h == label);
    features_of(path, &table, li)
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
