//! Tensors of the Open Inference Protocol as this server reads them: the
//! numeric datatypes (JSON values and little-endian binary elements, each
//! becoming the f64 a model reads) and `data`, flat or nested, streamed
//! into one list.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::BadRequest;

/// A numeric datatype of the protocol: element size and how an element
/// becomes the f64 the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    I(u8),
    U(u8),
    Bool,
}

impl Dtype {
    pub fn parse(name: &str) -> Result<Dtype, BadRequest> {
        Ok(match name {
            "FP64" => Dtype::F64,
            "FP32" => Dtype::F32,
            "INT8" => Dtype::I(1),
            "INT16" => Dtype::I(2),
            "INT32" => Dtype::I(4),
            "INT64" => Dtype::I(8),
            "UINT8" => Dtype::U(1),
            "UINT16" => Dtype::U(2),
            "UINT32" => Dtype::U(4),
            "UINT64" => Dtype::U(8),
            "BOOL" => Dtype::Bool,
            other => {
                return Err(BadRequest(format!(
                    "input datatype {other:?} is not numeric here; send FP64, FP32, INT8-64, UINT8-64 or BOOL"
                )))
            }
        })
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::F64 => 8,
            Dtype::F32 => 4,
            Dtype::I(b) | Dtype::U(b) => b as usize,
            Dtype::Bool => 1,
        }
    }

    /// A JSON number as this datatype's element: FP32 rounds to f32 (the
    /// value the client's float32 array holds), integer types must hold an
    /// integer in their range.
    pub fn read_json(self, v: f64) -> Result<f64, String> {
        match self {
            Dtype::F64 => Ok(v),
            Dtype::F32 => Ok(v as f32 as f64),
            Dtype::Bool => Err("a number where BOOL takes true or false".into()),
            Dtype::I(b) | Dtype::U(b) => {
                let bits = 8 * b as i32;
                let (lo, hi) = match self {
                    Dtype::I(_) => (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0),
                    _ => (0.0, 2f64.powi(bits) - 1.0),
                };
                if v.fract() != 0.0 || v < lo || v > hi {
                    Err(format!("{v} is not an integer of this datatype's range"))
                } else {
                    Ok(v)
                }
            }
        }
    }

    /// One little-endian element of the binary section.
    pub fn read_le(self, b: &[u8]) -> f64 {
        match self {
            Dtype::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")),
            Dtype::F32 => f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
            Dtype::Bool => f64::from(u8::from(b[0] != 0)),
            Dtype::I(1) => b[0] as i8 as f64,
            Dtype::I(2) => i16::from_le_bytes([b[0], b[1]]) as f64,
            Dtype::I(4) => i32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
            Dtype::I(_) => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
            Dtype::U(1) => b[0] as f64,
            Dtype::U(2) => u16::from_le_bytes([b[0], b[1]]) as f64,
            Dtype::U(4) => u32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
            Dtype::U(_) => u64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
        }
    }
}

/// `data`, flat or nested, read straight into one list of numbers (no
/// `Value` tree: a body of numbers costs 8 bytes a value). Depth is bounded
/// by serde_json's recursion limit (a 400, not a stack overflow).
pub struct Flat {
    pub values: Vec<f64>,
    /// Booleans were read (as 1 and 0): only a BOOL tensor may hold them.
    pub bools: bool,
    /// The first value that is no number or boolean.
    pub problem: Option<String>,
    /// How deeply the lists nest (1: flat).
    pub depth: usize,
    /// The first value that is an integer above INT64's range (it reads as
    /// a float that rounds into range).
    pub above_i64: Option<usize>,
}

impl<'de> Deserialize<'de> for Flat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Flat, D::Error> {
        let mut flat = Flat {
            values: Vec::new(),
            bools: false,
            problem: None,
            depth: 0,
            above_i64: None,
        };
        d.deserialize_any(FlatSeed(&mut flat, 0))?;
        Ok(flat)
    }
}

/// The list being read, and how deep it is.
struct FlatSeed<'f>(&'f mut Flat, usize);

impl<'de> DeserializeSeed<'de> for FlatSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl FlatSeed<'_> {
    fn note(self, what: &str) {
        if self.0.problem.is_none() {
            self.0.problem = Some(format!(
                "value {} is {what}; tensors here hold numbers",
                self.0.values.len()
            ));
        }
        self.0.values.push(0.0);
    }
}

impl<'de> Visitor<'de> for FlatSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of numbers, flat or nested")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let level = self.1 + 1;
        self.0.depth = self.0.depth.max(level);
        while seq
            .next_element_seed(FlatSeed(&mut *self.0, level))?
            .is_some()
        {}
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.values.push(v);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        if v > i64::MAX as u64 && self.0.above_i64.is_none() {
            self.0.above_i64 = Some(self.0.values.len());
        }
        self.visit_f64(v as f64)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.bools = true;
        self.visit_f64(f64::from(u8::from(v)))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.note("a string");
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.note("null");
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.note("an object");
        Ok(())
    }
}
