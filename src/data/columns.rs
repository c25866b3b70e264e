//! A file's feature columns matched to a model's features. A model stores
//! the names it was trained on and whether they are real (a CSV header's,
//! an imported model's `feature_names_in_`) or generated (`f0..fN-1`, for
//! synthetic, `.npy` or ONNX data, which have no names). Real names are
//! matched by name; generated ones mean no order, so a file's columns are
//! taken by position whatever its header says (a notice when the header
//! differs) — as scikit-learn does for a model fitted without feature
//! names. `--columns by-position` takes any file's columns in order.

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};

/// The names of features without a header (`.npy`, synthetic data):
/// `f0..fN-1`, as `to_csv_string` writes them.
pub fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|j| format!("f{j}")).collect()
}

/// How a file's columns meet a model's features (`--columns`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColumnRule {
    /// By name (by position for a model trained without feature names).
    #[default]
    ByName,
    /// In the file's order, whatever their names: the user knows the order is right.
    ByPosition,
}

/// A model's features: their names in order, and whether the names were
/// generated (`f0..fN-1`: trained without real names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub names: Vec<String>,
    pub generated: bool,
    /// Whether NaN is a missing value the model routes (else refused).
    pub missing: bool,
    /// The model's task: synthetic rows for a regressor are make_friedman1's
    /// (the inputs regressors are trained on), else make_classification's.
    pub task: super::Task,
}

impl Features {
    /// `n` features without real names.
    pub fn unnamed(n: usize) -> Self {
        Features {
            task: super::Task::Classification,
            names: default_names(n),
            generated: true,
            missing: false,
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// What a file's columns must meet, named as `whose` in messages.
    pub fn wanted<'a>(&'a self, whose: &'a str) -> Wanted<'a> {
        Wanted {
            names: &self.names,
            generated: self.generated,
            whose,
        }
    }
}

/// The features a file's columns must meet: their names in order, whether
/// those names were generated (no real names), and whose they are in
/// messages ("the model's", "the training data's").
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub names: &'a [String],
    pub generated: bool,
    pub whose: &'a str,
}

/// Whether `names` are the generated `f0..fN-1` (files from before the
/// model header said so are read by this rule).
pub fn are_default_names(names: &[String]) -> bool {
    names.is_empty() || names == default_names(names.len()).as_slice()
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
        _ => format!("; columns are matched by name: name them as {whose} features are named, or pass --columns by-position if their order is right"),
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

/// `x` (columns named `have`) with its columns in the order of `want`, by
/// `rule` (see the module's text); and a line for people when they were
/// reordered by name or taken by position.
pub fn align(
    origin: &Path,
    x: Array2<f64>,
    have: &[String],
    want: &Wanted,
    rule: ColumnRule,
) -> Result<(Array2<f64>, Option<String>)> {
    let whose = want.whose;
    if rule == ColumnRule::ByPosition {
        return by_position(
            origin,
            x,
            have,
            want,
            "--columns by-position takes columns in order",
        );
    }
    if want.generated {
        // Every generated name plus one more column: a label by another
        // name (match_names's error says --label).
        let label_like =
            have.len() == want.names.len() + 1 && want.names.iter().all(|n| have.contains(n));
        if label_like {
            match_names(origin, have, want.names, whose)?;
        }
        // Generated names mean nothing: a header is never matched to them.
        return by_position(
            origin,
            x,
            have,
            want,
            &format!(
                "{whose} features have no names (trained on data without a header), so columns are taken by position"
            ),
        );
    }
    match match_names(origin, have, want.names, whose) {
        Ok(None) => Ok((x, None)),
        Ok(Some(order)) => Ok((
            select_columns(x.view(), &order),
            Some(format!(
                "{}: columns are in another order than {whose} features; matched by name",
                origin.display()
            )),
        )),
        Err(e) => Err(e),
    }
}

/// Columns `order` of `x`, as a new row-major array: predicting walks rows,
/// and a column-major copy (what `select` along columns gives) predicts
/// many times slower than the same rows in model order.
fn select_columns(x: ndarray::ArrayView2<'_, f64>, order: &[usize]) -> Array2<f64> {
    let mut out = Vec::with_capacity(x.nrows() * order.len());
    for row in x.rows() {
        out.extend(order.iter().map(|&j| row[j]));
    }
    Array2::from_shape_vec((x.nrows(), order.len()), out).expect("rows x order values")
}

/// `x` as it is, if it has as many columns as `want`: `why` says why the
/// columns are taken in order (in the notice, and in the error).
fn by_position(
    origin: &Path,
    x: Array2<f64>,
    have: &[String],
    want: &Wanted,
    why: &str,
) -> Result<(Array2<f64>, Option<String>)> {
    let n = want.names.len();
    if have.len() != n {
        return Err(Error::data(
            origin,
            format!(
                "{} feature columns, but {} features are {n}: {why}; give data with {n} feature columns",
                have.len(),
                want.whose
            ),
        ));
    }
    let note = (have != want.names).then(|| {
        format!(
            "{}: {why}: {} read as {}",
            origin.display(),
            list(have),
            list(want.names)
        )
    });
    Ok((x, note))
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
        let want = names("a,b,c");
        let wanted = Wanted {
            names: &want,
            generated: false,
            whose: "the model's",
        };
        let (x, note) = align(p, x, &names("c,a,b"), &wanted, ColumnRule::ByName).unwrap();
        assert_eq!(x, array![[2.0, 3.0, 1.0], [5.0, 6.0, 4.0]]);
        assert!(
            x.is_standard_layout(),
            "rows stay contiguous to predict fast"
        );
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

    fn wanted<'a>(n: &'a [String], generated: bool) -> Wanted<'a> {
        Wanted {
            names: n,
            generated,
            whose: "the model's",
        }
    }

    #[test]
    fn a_model_without_names_takes_other_names_by_position_with_a_notice() {
        let p = Path::new("my.csv");
        let x = array![[1.0, 2.0], [3.0, 4.0]];
        let f = default_names(2);
        let (got, note) = align(
            p,
            x.clone(),
            &names("x0,x1"),
            &wanted(&f, true),
            ColumnRule::ByName,
        )
        .unwrap();
        assert_eq!(got, x);
        let note = note.unwrap();
        assert!(
            note.contains("my.csv: the model's features have no names"),
            "{note}"
        );
        assert!(note.contains("'x0', 'x1' read as 'f0', 'f1'"), "{note}");
        // Generated names mean no order: a header that happens to use
        // them is still taken by position, never matched.
        let (got, note) = align(
            p,
            x.clone(),
            &names("f1,f0"),
            &wanted(&f, true),
            ColumnRule::ByName,
        )
        .unwrap();
        assert_eq!(got, x);
        assert!(note.unwrap().contains("taken by position"));
    }

    #[test]
    fn by_position_needs_the_same_count_and_says_both() {
        let p = Path::new("my.csv");
        let x = array![[1.0, 2.0, 3.0]];
        let f = default_names(2);
        let e = align(
            p,
            x.clone(),
            &names("a,b,c"),
            &wanted(&f, true),
            ColumnRule::ByName,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("3 feature columns, but the model's features are 2"),
            "{e}"
        );
        let real = names("age,income");
        let e = align(
            p,
            x,
            &names("a,b,c"),
            &wanted(&real, false),
            ColumnRule::ByPosition,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--columns by-position takes columns in order"),
            "{e}"
        );
    }

    #[test]
    fn real_names_are_strict_unless_the_user_says_by_position() {
        let p = Path::new("my.csv");
        let x = array![[1.0, 2.0]];
        let real = names("age,income");
        let e = align(
            p,
            x.clone(),
            &names("years,income"),
            &wanted(&real, false),
            ColumnRule::ByName,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing 'age'; unexpected 'years'"), "{e}");
        assert!(e.contains("--columns by-position"), "{e}");
        let (got, note) = align(
            p,
            x.clone(),
            &names("years,income"),
            &wanted(&real, false),
            ColumnRule::ByPosition,
        )
        .unwrap();
        assert_eq!(got, x);
        assert!(note
            .unwrap()
            .contains("'years', 'income' read as 'age', 'income'"));
    }

    #[test]
    fn generated_names_are_exactly_f0_to_fn() {
        assert!(are_default_names(&default_names(3)));
        assert!(are_default_names(&[]));
        assert!(!are_default_names(&names("f0,f2")));
        assert!(!are_default_names(&names("x0,x1")));
    }
}
