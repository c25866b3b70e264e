//! Feature columns matched by name: a model stores the names it was trained
//! on, and a file's columns are matched to them by name, never by position.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array2, Axis};

use crate::error::{Error, Result};

/// The names of features without a header (`.npy`, synthetic data):
/// `f0..fN-1`, as `to_csv_string` writes them.
pub fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|j| format!("f{j}")).collect()
}

/// Refuse a header naming a column twice (two `y` columns would train on a
/// copy of the label).
pub fn check_unique(origin: &Path, header: &[String]) -> Result<()> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if let Some(first) = seen.insert(name, i) {
            return Err(Error::data(
                origin,
                format!(
                    "column '{name}' appears twice in the header (columns {} and {}); column names must be unique",
                    first + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

/// `'a', 'b', 'c'` for at most six names, then `and N more`.
pub fn list<S: AsRef<str>>(names: &[S]) -> String {
    const SHOWN: usize = 6;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("'{}'", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// For each name of `want` (the model's features, in the model's order), the
/// index of that column in `have` (the file's feature columns); `None` when
/// the file's order is already the model's. Missing or unexpected columns
/// are an error naming them (one unexpected column, with none missing, is
/// probably a label by another name: the error says `--label`); `whose`
/// names the side of `want` ("the model's").
pub fn match_names(
    origin: &Path,
    have: &[String],
    want: &[String],
    whose: &str,
) -> Result<Option<Vec<usize>>> {
    if have == want {
        return Ok(None);
    }
    let index: HashMap<&str, usize> = have
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let wanted: HashMap<&str, usize> = want
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let missing: Vec<&str> = want
        .iter()
        .map(String::as_str)
        .filter(|n| !index.contains_key(n))
        .collect();
    let extra: Vec<&str> = have
        .iter()
        .map(String::as_str)
        .filter(|n| !wanted.contains_key(n))
        .collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(Some(want.iter().map(|n| index[n.as_str()]).collect()));
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", list(&missing)));
    }
    if !extra.is_empty() {
        parts.push(format!("unexpected {}", list(&extra)));
    }
    let hint = match (missing.len(), extra.as_slice()) {
        (0, [one]) => format!("; if '{one}' is the label column, name it with --label {one}"),
        _ => format!("; columns are matched by name: name them as {whose} features are named"),
    };
    Err(Error::data(
        origin,
        format!(
            "{} feature columns do not match {whose} {}: {}{hint}",
            have.len(),
            want.len(),
            parts.join("; ")
        ),
    ))
}

/// `x` (columns named `have`) with its columns in the order of `want`,
/// matched by name; and a line for people when they had to be reordered.
pub fn align(
    origin: &Path,
    x: Array2<f64>,
    have: &[String],
    want: &[String],
    whose: &str,
) -> Result<(Array2<f64>, Option<String>)> {
    match match_names(origin, have, want, whose)? {
        None => Ok((x, None)),
        Some(order) => Ok((
            x.select(Axis(1), &order),
            Some(format!(
                "{}: columns are in another order than {whose} features; matched by name",
                origin.display()
            )),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn names(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn same_order_is_kept_as_it_is() {
        let p = Path::new("d.csv");
        assert_eq!(
            match_names(p, &names("a,b"), &names("a,b"), "the model's").unwrap(),
            None
        );
    }

    #[test]
    fn reordered_columns_are_put_back_in_the_model_order() {
        let p = Path::new("d.csv");
        let x = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let (x, note) = align(p, x, &names("c,a,b"), &names("a,b,c"), "the model's").unwrap();
        assert_eq!(x, array![[2.0, 3.0, 1.0], [5.0, 6.0, 4.0]]);
        assert!(note.unwrap().contains("matched by name"));
    }

    #[test]
    fn missing_and_unexpected_columns_are_named() {
        let p = Path::new("d.csv");
        let e = match_names(p, &names("a,x,c"), &names("a,b,c"), "the model's")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing 'b'; unexpected 'x'"), "{e}");
        assert!(e.contains("matched by name"), "{e}");
    }

    #[test]
    fn one_unexpected_column_suggests_it_is_the_label() {
        let p = Path::new("d.csv");
        let e = match_names(p, &names("a,b,target"), &names("a,b"), "the model's")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--label target"), "{e}");
    }

    #[test]
    fn long_lists_are_cut_after_six_names() {
        let p = Path::new("d.csv");
        let e = match_names(p, &default_names(10), &names("a"), "the model's")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing 'a'; unexpected 'f0',"), "{e}");
        assert!(e.contains("'f5' and 4 more;"), "{e}");
    }

    #[test]
    fn duplicate_names_are_refused_with_both_positions() {
        let e = check_unique(Path::new("d.csv"), &names("a,y,b,y"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'y' appears twice") && e.contains("columns 2 and 4"),
            "{e}"
        );
    }
}
