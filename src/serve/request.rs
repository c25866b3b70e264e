//! The predict request body, parsed straight into one flat row-major buffer.
//!
//! `{"rows": [[f0, f1, ...], ...], "proba": true}`; `instances` is accepted
//! for `rows` (TF-Serving / KServe v1). Cells stream into the buffer as they
//! are read (no `serde_json::Value` tree), and every problem a client can fix
//! names the row and column: a ragged row, a string or null cell, or a
//! non-finite number (JSON has none, but Python's `json.dumps` writes `NaN`
//! and `Infinity`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A valid request: `n` rows of the model's feature count, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub values: Vec<f64>,
    pub n: usize,
    pub proba: bool,
}

/// Why a body was refused: `Malformed` is not JSON of this shape (400);
/// `Invalid` is well-formed but unusable for this model (422).
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Malformed(String),
    Invalid(String),
}

/// Parse a predict body for a model taking `d` features; with `missing`
/// (a model that routes missing values) a `null` cell is NaN.
pub fn parse(body: &[u8], d: usize, missing: bool) -> Result<Rows, Problem> {
    let mut state = State {
        d,
        missing,
        values: Vec::new(),
        n: 0,
        proba: false,
        seen_rows: false,
        at: None,
        problem: None,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = (&mut de)
        .deserialize_map(BodyVisitor(&mut state))
        .and_then(|()| de.end());
    if let Err(e) = parsed {
        if let Some((row, col)) = state.at {
            if let Some(what) = non_finite_at(body, &e) {
                return Err(Problem::Invalid(format!(
                    "row {row}, column {col}: {what} is not a finite number; send finite values (Python: json.dumps(..., allow_nan=False) catches this)"
                )));
            }
        }
        return Err(Problem::Malformed(format!(
            "malformed JSON ({e}); send {{\"rows\": [[...], ...]}}"
        )));
    }
    if let Some(p) = state.problem.take() {
        return Err(Problem::Invalid(p));
    }
    if !state.seen_rows {
        return Err(Problem::Invalid(
            "no \"rows\" (or \"instances\") in the body; send {\"rows\": [[...], ...]}".into(),
        ));
    }
    if state.n == 0 {
        return Err(Problem::Invalid(
            "\"rows\" is empty; send at least one row".into(),
        ));
    }
    Ok(Rows {
        values: state.values,
        n: state.n,
        proba: state.proba,
    })
}

/// The literal serde_json stopped at, when it is one of Python's non-finite
/// spellings (or a number too large for f64).
fn non_finite_at(body: &[u8], e: &serde_json::Error) -> Option<&'static str> {
    if e.to_string().contains("number out of range") {
        return Some("a number beyond f64's range");
    }
    // serde_json reports 1-based line and column of the offending byte.
    let mut line = 1;
    let mut start = 0;
    for (i, b) in body.iter().enumerate() {
        if line == e.line() {
            break;
        }
        if *b == b'\n' {
            line += 1;
            start = i + 1;
        }
    }
    let at = start + e.column().saturating_sub(1);
    let rest = &body[at.min(body.len())..];
    let rest = rest.strip_prefix(b"-").unwrap_or(rest);
    [("NaN", "NaN"), ("Infinity", "Infinity"), ("inf", "inf")]
        .into_iter()
        .find(|(lit, _)| {
            rest.len() >= lit.len() && rest[..lit.len()].eq_ignore_ascii_case(lit.as_bytes())
        })
        .map(|(_, what)| what)
        .or_else(|| {
            // serde_json may point just past the first byte of the literal.
            let before = &body[at.saturating_sub(1).min(body.len())..];
            let before = before.strip_prefix(b"-").unwrap_or(before);
            (before.starts_with(b"N") || before.starts_with(b"I")).then_some("NaN or Infinity")
        })
}

struct State {
    d: usize,
    missing: bool,
    values: Vec<f64>,
    n: usize,
    proba: bool,
    seen_rows: bool,
    /// The (row, column) being read, for messages.
    at: Option<(usize, usize)>,
    /// The first problem worth a 422.
    problem: Option<String>,
}

impl State {
    /// Note the first problem worth a 422 and read on: a body that turns
    /// out not to be JSON at all is a 400 whatever came before.
    fn note(&mut self, message: String) {
        if self.problem.is_none() {
            self.problem = Some(message);
        }
    }
}

struct BodyVisitor<'s>(&'s mut State);

impl<'de> Visitor<'de> for BodyVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with \"rows\"")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let st = self.0;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "rows" | "instances" => {
                    if st.seen_rows {
                        st.note("give the rows once (\"rows\" or \"instances\", not both)".into());
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    st.seen_rows = true;
                    map.next_value_seed(RowsSeed(&mut *st))?;
                }
                "proba" => match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::Bool(b) => st.proba = b,
                    _ => st.note("\"proba\" must be true or false".into()),
                },
                other => {
                    st.note(format!(
                        "unknown field \"{other}\"; a predict body has \"rows\" (or \"instances\") and optionally \"proba\""
                    ));
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct RowsSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.0;
        if let Some(hint) = seq.size_hint() {
            st.values.reserve(hint.saturating_mul(st.d).min(1 << 20));
        }
        loop {
            let row = st.n;
            st.at = Some((row, 0));
            if seq.next_element_seed(RowSeed(&mut *st))?.is_none() {
                break;
            }
            st.n += 1;
        }
        st.at = None;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        drain_map(map)?;
        self.0
            .note("\"rows\" must be a list of rows (lists of numbers), not an object".into());
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.0
            .note("\"rows\" must be a list of rows, not a string".into());
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.0
            .note("\"rows\" must be a list of rows, not a number (one row is [[...]])".into());
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0.note("\"rows\" must be a list of rows".into());
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.note("\"rows\" is null; send a list of rows".into());
        Ok(())
    }
}

struct RowSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row: a list of numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.0;
        let row = st.n;
        let mut col = 0;
        loop {
            st.at = Some((row, col));
            match seq.next_element_seed(CellSeed(&mut *st))? {
                None => break,
                Some(v) => {
                    if col < st.d {
                        st.values.push(v);
                    }
                    col += 1;
                }
            }
        }
        if col != st.d {
            st.note(format!(
                "row {row} has {col} values; the model takes {} features",
                st.d
            ));
        }
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.other("a number, not a list (one row is [[...]])")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.other("a string")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.other("a boolean")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.other("null")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        drain_map(map)?;
        self.other("an object")
    }
}

impl RowSeed<'_> {
    fn other<E: de::Error>(self, found: &str) -> Result<(), E> {
        let row = self.0.n;
        let d = self.0.d;
        self.0.note(format!(
            "row {row} is {found}; each row is a list of {d} numbers"
        ));
        Ok(())
    }
}

struct CellSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        self.not_a_number(&format!("the string {v:?}"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<f64, E> {
        self.not_a_number("a boolean")
    }
    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        if self.0.missing {
            return Ok(f64::NAN);
        }
        self.not_a_number("null (a missing value this model does not route)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<f64, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_a_number("a list")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<f64, A::Error> {
        drain_map(map)?;
        self.not_a_number("an object")
    }
}

impl CellSeed<'_> {
    fn not_a_number<E: de::Error>(self, found: &str) -> Result<f64, E> {
        let (row, col) = self.0.at.unwrap_or((0, 0));
        self.0.note(format!(
            "row {row}, column {col} is {found}; every value must be a finite number"
        ));
        Ok(0.0)
    }
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(body: &str, d: usize) -> String {
        match parse(body.as_bytes(), d, false) {
            Err(Problem::Invalid(m)) => m,
            other => panic!("{body}: expected a 422 problem, got {other:?}"),
        }
    }

    #[test]
    fn rows_flatten_row_major_with_integers_as_floats() {
        let r = parse(br#"{"rows": [[1, 2.5, -3], [4e2, 0, 1e-3]]}"#, 3, false).unwrap();
        assert_eq!(r.values, vec![1.0, 2.5, -3.0, 400.0, 0.0, 1e-3]);
        assert_eq!(r.n, 2);
        assert!(!r.proba);
        let r = parse(br#"{"proba": true, "instances": [[7, 8]]}"#, 2, false).unwrap();
        assert_eq!((r.values, r.n, r.proba), (vec![7.0, 8.0], 1, true));
    }

    #[test]
    fn null_is_a_missing_value_only_for_a_model_that_routes_it() {
        let r = parse(br#"{"rows": [[1, null], [null, 2]]}"#, 2, true).unwrap();
        assert_eq!(r.values[0], 1.0);
        assert!(r.values[1].is_nan() && r.values[2].is_nan());
        assert_eq!(r.values[3], 2.0);
        match parse(br#"{"rows": [[1, null]]}"#, 2, false) {
            Err(Problem::Invalid(m)) => assert!(
                m.contains("null (a missing value this model does not route)"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        // NaN spelled as Python writes it is still not JSON.
        assert!(matches!(
            parse(br#"{"rows": [[1, NaN]]}"#, 2, true),
            Err(Problem::Invalid(_))
        ));
    }

    #[test]
    fn problems_a_client_can_fix_name_the_row_and_column() {
        assert_eq!(
            invalid(r#"{"rows": [[1,2,3],[1,2]]}"#, 3),
            "row 1 has 2 values; the model takes 3 features"
        );
        assert!(invalid(r#"{"rows": [[1,2,3,4]]}"#, 3).starts_with("row 0 has 4 values"));
        assert!(invalid(r#"{"rows": [[1,null]]}"#, 2).starts_with("row 0, column 1 is null"));
        assert!(invalid(r#"{"rows": [[1,2],[3,"4"]]}"#, 2)
            .starts_with("row 1, column 1 is the string \"4\""));
        assert!(invalid(r#"{"rows": [[1,2],[3,NaN]]}"#, 2)
            .starts_with("row 1, column 1: NaN is not a finite number"));
        assert!(invalid(r#"{"rows": [[-Infinity,2]]}"#, 2)
            .starts_with("row 0, column 0: Infinity is not a finite number"));
        assert!(invalid(r#"{"rows": [[1e999,2]]}"#, 2).contains("beyond f64's range"));
        assert!(invalid(r#"{"rows": []}"#, 2).contains("empty"));
        assert!(invalid(r#"{"proba": true}"#, 2).contains("no \"rows\""));
        assert!(invalid(r#"{"row": [[1,2]]}"#, 2).contains("unknown field \"row\""));
        assert!(invalid(r#"{"rows": [1,2]}"#, 2).starts_with("row 0 is a number"));
        assert!(invalid(r#"{"rows": [[1,2]], "proba": "yes"}"#, 2).contains("true or false"));
    }

    #[test]
    fn what_is_not_json_of_this_shape_is_malformed() {
        for body in [
            "",
            "{",
            "[[1,2]]",
            "{\"rows\": [[1,2]]} trailing",
            "nope",
            "{\"rows\": [[1,2],]}",
        ] {
            assert!(
                matches!(parse(body.as_bytes(), 2, false), Err(Problem::Malformed(_))),
                "{body:?}: {:?}",
                parse(body.as_bytes(), 2, false)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::fuzz_cases(3000)))]

        /// A valid body with bytes overwritten and cut.
        #[test]
        fn mutated_bodies_never_panic(
            edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..6),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            truncate in proptest::prelude::any::<bool>(),
        ) {
            let mut body = br#"{"rows": [[1.5, -2, 3e-4], [NaN, 1, 2]], "proba": true}"#.to_vec();
            crate::mutate(&mut body, &edits, cut, truncate);
            if let Ok(r) = parse(&body, 3, false) {
                proptest::prop_assert_eq!(r.values.len(), r.n * 3);
            }
        }
    }
}
