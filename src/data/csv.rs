//! CSV with a header line: numeric feature columns and (for training) an
//! integer label column, `y` unless told otherwise. Errors name the line.

use std::path::Path;

use ndarray::Array2;

use super::Dataset;
use crate::error::{Error, Result};

struct Table {
    header: Vec<String>,
    /// Cells row-major, as text, with the 1-based line each row came from.
    rows: Vec<(usize, Vec<String>)>,
}

fn read_table(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => Error::data(
            path,
            "not UTF-8 text; expected a CSV file with a header line",
        ),
        _ => super::read_error(path, e),
    })?;
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            None => {
                return Err(Error::data(
                    path,
                    "empty file; expected a header line and rows",
                ))
            }
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) => break split(l),
        }
    };
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cells = split(line);
        if cells.len() != header.len() {
            return Err(Error::data(
                path,
                format!(
                    "line {}: {} fields, but the header has {}; fix or remove that row",
                    i + 1,
                    cells.len(),
                    header.len()
                ),
            ));
        }
        rows.push((i + 1, cells));
    }
    Ok(Table { header, rows })
}

fn split(line: &str) -> Vec<String> {
    line.trim_end_matches('\r')
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect()
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

fn features_of(path: &Path, table: &Table, skip: Option<usize>) -> Result<Array2<f64>> {
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
    Ok(Array2::from_shape_vec((table.rows.len(), cols.len()), data).expect("shape matches"))
}

/// Features and labels; `label` names the label column.
pub fn read_labelled(path: &Path, label: &str) -> Result<Dataset> {
    let table = read_table(path)?;
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
    let x = features_of(path, &table, Some(li))?;
    let y = table
        .rows
        .iter()
        .map(|(line, cells)| parse_label(path, *line, label, &cells[li]))
        .collect::<Result<Vec<_>>>()?;
    Ok(Dataset::new(x, y))
}

/// Features only; a column named `label` is dropped if present (so the same
/// file can be used to train and to predict).
pub fn read_features(path: &Path, label: &str) -> Result<Array2<f64>> {
    let table = read_table(path)?;
    let li = table.header.iter().position(|h| h == label);
    features_of(path, &table, li)
}

/// Write features (and optional labels) as CSV with an `f0..fN,y` header.
pub fn to_csv_string(x: ndarray::ArrayView2<'_, f64>, y: Option<&[i64]>) -> String {
    let mut s = String::new();
    let header: Vec<String> = (0..x.ncols()).map(|j| format!("f{j}")).collect();
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
