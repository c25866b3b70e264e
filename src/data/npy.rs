//! NumPy `.npy` files (format 1.0–3.0): little- or big-endian f8/f4 features
//! (2-d, C or Fortran order) and integer labels (1-d).

use std::path::Path;

use ndarray::Array2;

use super::read_error;
use crate::error::{Error, Result};

struct Npy {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn read(path: &Path) -> Result<Npy> {
    let bytes = std::fs::read(path).map_err(|e| read_error(path, e))?;
    Ok(read_from_bytes(path, &bytes, false)?.0)
}

/// Parse a `.npy` (header only when `header_only`); also returns where the data starts.
fn read_from_bytes(path: &Path, bytes: &[u8], header_only: bool) -> Result<(Npy, usize)> {
    let bad = |m: &str| Error::data(path, format!("not a readable .npy file: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(&format!("unsupported format version {v}"))),
    };
    if bytes.len() < start + hlen {
        return Err(bad("truncated header"));
    }
    let header =
        std::str::from_utf8(&bytes[start..start + hlen]).map_err(|_| bad("header is not text"))?;
    let descr = dict_value(header, "descr")
        .and_then(|v| {
            let q = v.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            v[1..].split(q).next().map(str::to_string)
        })
        .ok_or_else(|| bad("header has no 'descr' string"))?;
    let fortran = dict_value(header, "fortran_order")
        .map(|v| v.starts_with("True"))
        .ok_or_else(|| bad("header has no 'fortran_order'"))?;
    let shape_text = dict_value(header, "shape").ok_or_else(|| bad("header has no 'shape'"))?;
    let shape = shape_text
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("bad shape")))
        .collect::<Result<Vec<_>>>()?;
    let data = if header_only {
        Vec::new()
    } else {
        bytes[start + hlen..].to_vec()
    };
    Ok((
        Npy {
            descr,
            fortran,
            shape,
            data,
        },
        start + hlen,
    ))
}

/// The text after `'key':` in the header dict, up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let at = header.find(&pat)? + pat.len();
    Some(header[at..].trim_start())
}

fn element_count(path: &Path, npy: &Npy, width: usize) -> Result<usize> {
    let n: usize = npy.shape.iter().product();
    if npy.data.len() < n * width {
        return Err(Error::data(
            path,
            format!(
                "truncated .npy data: shape {:?} needs {} bytes, found {}",
                npy.shape,
                n * width,
                npy.data.len()
            ),
        ));
    }
    Ok(n)
}

fn floats(path: &Path, npy: &Npy) -> Result<Vec<f64>> {
    let (big, kind) = endian(&npy.descr);
    let out = match kind {
        "f8" => {
            let n = element_count(path, npy, 8)?;
            npy.data[..n * 8]
                .chunks_exact(8)
                .map(|c| {
                    let b: [u8; 8] = c.try_into().expect("8 bytes");
                    if big {
                        f64::from_be_bytes(b)
                    } else {
                        f64::from_le_bytes(b)
                    }
                })
                .collect()
        }
        "f4" => {
            let n = element_count(path, npy, 4)?;
            npy.data[..n * 4]
                .chunks_exact(4)
                .map(|c| {
                    let b: [u8; 4] = c.try_into().expect("4 bytes");
                    (if big {
                        f32::from_be_bytes(b)
                    } else {
                        f32::from_le_bytes(b)
                    }) as f64
                })
                .collect()
        }
        _ => integers(path, npy)?.into_iter().map(|v| v as f64).collect(),
    };
    Ok(out)
}

fn integers(path: &Path, npy: &Npy) -> Result<Vec<i64>> {
    let (big, kind) = endian(&npy.descr);
    let width = match kind {
        "i1" | "u1" | "b1" => 1,
        "i2" | "u2" => 2,
        "i4" | "u4" => 4,
        "i8" | "u8" => 8,
        _ => {
            return Err(Error::data(
                path,
                format!(
                "dtype '{}' is not supported here; use float64/float32 features and integer labels",
                npy.descr
            ),
            ))
        }
    };
    let n = element_count(path, npy, width)?;
    let signed = kind.starts_with('i');
    Ok(npy.data[..n * width]
        .chunks_exact(width)
        .map(|c| {
            let mut b = [0u8; 8];
            if big {
                for (k, v) in c.iter().rev().enumerate() {
                    b[k] = *v;
                }
            } else {
                b[..width].copy_from_slice(c);
            }
            let raw = u64::from_le_bytes(b);
            if signed && width < 8 && (raw >> (width * 8 - 1)) & 1 == 1 {
                (raw | (u64::MAX << (width * 8))) as i64
            } else {
                raw as i64
            }
        })
        .collect())
}

fn endian(descr: &str) -> (bool, &str) {
    match descr.as_bytes().first() {
        Some(b'>') => (true, &descr[1..]),
        Some(b'<') | Some(b'|') | Some(b'=') => (false, &descr[1..]),
        _ => (false, descr),
    }
}

/// (rows, columns) of a feature array: 2-d, or 1-d as one feature per row.
fn matrix_shape(path: &Path, shape: &[usize]) -> Result<(usize, usize)> {
    match shape {
        [r, c] => Ok((*r, *c)),
        [r] => Ok((*r, 1)),
        s => Err(Error::data(
            path,
            format!("features must be a 2-d array, found shape {s:?}"),
        )),
    }
}

/// A 2-d feature matrix (a 1-d array is one feature per row).
pub fn read_features(path: &Path) -> Result<Array2<f64>> {
    let npy = read(path)?;
    let (rows, cols) = matrix_shape(path, &npy.shape)?;
    let values = floats(path, &npy)?;
    let x = if npy.fortran {
        Array2::from_shape_vec((cols, rows), values)
            .expect("shape checked")
            .reversed_axes()
            .as_standard_layout()
            .to_owned()
    } else {
        Array2::from_shape_vec((rows, cols), values).expect("shape checked")
    };
    Ok(x)
}

/// A 1-d array of integer class labels.
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let npy = read(path)?;
    if npy.shape.len() != 1 {
        return Err(Error::data(
            path,
            format!("labels must be a 1-d array, found shape {:?}", npy.shape),
        ));
    }
    let (_, kind) = endian(&npy.descr);
    if kind.starts_with('f') {
        let v = floats(path, &npy)?;
        return v
            .iter()
            .enumerate()
            .map(|(i, x)| {
                // Beyond 2^53 floats skip integers, and beyond i64 a cast
                // saturates: 1e19 and 2e19 would both become one class.
                if x.is_finite() && x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 {
                    Ok(*x as i64)
                } else {
                    Err(Error::data(
                        path,
                        format!(
                            "label {} is {x}, not an integer class (whole numbers up to 2^53)",
                            i + 1
                        ),
                    ))
                }
            })
            .collect();
    }
    integers(path, &npy)
}

fn header_bytes(descr: &str, shape: &str) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out
}

/// `.npy` bytes of an f64 matrix (C order).
pub fn features_to_bytes(x: ndarray::ArrayView2<'_, f64>) -> Vec<u8> {
    let mut out = header_bytes("<f8", &format!("({}, {})", x.nrows(), x.ncols()));
    for v in x.iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// `.npy` bytes of i64 labels.
pub fn labels_to_bytes(y: &[i64]) -> Vec<u8> {
    let mut out = header_bytes("<i8", &format!("({},)", y.len()));
    for v in y {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Rows `range` of a C-order 2-d f8/f4 `.npy` file, reading only those bytes
/// (how MPI ranks each read their share of one file).
pub fn read_feature_rows(path: &Path, range: std::ops::Range<usize>) -> Result<Array2<f64>> {
    use std::io::{Read, Seek, SeekFrom};
    let (mut f, info) = open_header(path)?;
    let (rows, cols) = matrix_shape(path, &info.shape)?;
    if info.fortran {
        return Err(Error::data(
            path,
            "Fortran-order .npy cannot be read by row range; save it in C order",
        ));
    }
    if range.end > rows {
        return Err(Error::data(
            path,
            format!(
                "rows {}..{} asked of a file with {rows} rows",
                range.start, range.end
            ),
        ));
    }
    let width = match endian(&info.descr).1 {
        "f8" => 8,
        "f4" => 4,
        _ => {
            return Err(Error::data(
                path,
                format!("dtype '{}' is not float64/float32", info.descr),
            ))
        }
    };
    let start = info.data_offset + range.start * cols * width;
    let mut bytes = vec![0u8; range.len() * cols * width];
    f.seek(SeekFrom::Start(start as u64))
        .and_then(|_| f.read_exact(&mut bytes))
        .map_err(|e| Error::data(path, format!("truncated .npy data: {e}")))?;
    let npy = Npy {
        descr: info.descr.clone(),
        fortran: false,
        shape: vec![range.len(), cols],
        data: bytes,
    };
    let values = floats(path, &npy)?;
    Ok(Array2::from_shape_vec((range.len(), cols), values).expect("shape checked"))
}

struct HeaderInfo {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
    data_offset: usize,
}

fn read_header_only(path: &Path, head: &[u8]) -> Result<HeaderInfo> {
    let npy = read_from_bytes(path, head, true)?;
    Ok(HeaderInfo {
        descr: npy.0.descr,
        fortran: npy.0.fortran,
        shape: npy.0.shape,
        data_offset: npy.1,
    })
}

/// The shape in a `.npy` header, reading only the header.
pub fn shape(path: &Path) -> Result<Vec<usize>> {
    Ok(open_header(path)?.1.shape)
}

/// Open a `.npy` file and parse its header from the first 4 KiB.
fn open_header(path: &Path) -> Result<(std::fs::File, HeaderInfo)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let mut head = vec![0u8; 4096];
    let n = f.read(&mut head).map_err(|e| read_error(path, e))?;
    head.truncate(n);
    let info = read_header_only(path, &head)?;
    Ok((f, info))
}
