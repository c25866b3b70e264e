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

/// The whole array of a `.npy` file, bounded: the header is read and
/// checked first, then exactly the bytes its shape and dtype declare (a file
/// shorter than that is refused before its data is read; one that would not
/// fit in memory too).
fn read(path: &Path) -> Result<Npy> {
    use std::io::Read;
    let (f, info) = open_header(path)?;
    let need = present_len(path, &f, &info)?;
    super::check_fits(
        need as f64 * 2.0,
        &format!("{}: shape {:?} needs", path.display(), info.shape),
        "(read and converted) ",
        "rows",
    )?;
    let mut data = Vec::with_capacity(need);
    f.take(need as u64)
        .read_to_end(&mut data)
        .map_err(|e| read_error(path, e))?;
    if data.len() < need {
        return Err(truncated(path, &info.shape, need, data.len()));
    }
    Ok(Npy {
        descr: info.descr,
        fortran: info.fortran,
        shape: info.shape,
        data,
    })
}

/// The data bytes the header declares, refusing a regular file that holds
/// fewer (without reading them).
fn present_len(path: &Path, f: &std::fs::File, info: &HeaderInfo) -> Result<usize> {
    let need = data_len(path, info)?;
    let meta = f.metadata().map_err(|e| read_error(path, e))?;
    if meta.is_file() && meta.len() < (info.data_offset + need) as u64 {
        return Err(truncated(
            path,
            &info.shape,
            need,
            (meta.len() as usize).saturating_sub(info.data_offset),
        ));
    }
    Ok(need)
}

/// A whole `.npy` file held in memory, with the checks of [`read`].
#[cfg(test)]
fn decode(path: &Path, bytes: &[u8]) -> Result<Npy> {
    let info = read_header_only(path, bytes)?;
    let need = data_len(path, &info)?;
    let have = bytes.len() - info.data_offset;
    if have < need {
        return Err(truncated(path, &info.shape, need, have));
    }
    Ok(Npy {
        descr: info.descr,
        fortran: info.fortran,
        shape: info.shape,
        data: bytes[info.data_offset..info.data_offset + need].to_vec(),
    })
}

fn truncated(path: &Path, shape: &[usize], need: usize, found: usize) -> Error {
    Error::data(
        path,
        format!("truncated .npy data: shape {shape:?} needs {need} bytes, found {found}"),
    )
}

/// Bytes per element of a supported dtype.
fn item_width(path: &Path, descr: &str) -> Result<usize> {
    Ok(match endian(descr).1 {
        "f8" | "i8" | "u8" => 8,
        "f4" | "i4" | "u4" => 4,
        "i2" | "u2" => 2,
        "i1" | "u1" | "b1" => 1,
        _ => {
            return Err(Error::data(
                path,
                format!(
                    "dtype '{descr}' is not supported here; use float64/float32 features and integer labels"
                ),
            ))
        }
    })
}

/// The data bytes a header declares (shape product times item width),
/// refusing a shape whose size (zero dimensions taken as one) does not fit
/// in a machine word.
fn data_len(path: &Path, info: &HeaderInfo) -> Result<usize> {
    let width = item_width(path, &info.descr)?;
    // ndarray (like NumPy) also refuses an empty shape whose other
    // dimensions overflow: (0, 2^64-1) is no array either.
    let fits = |n: &usize| *n <= isize::MAX as usize;
    info.shape
        .iter()
        .try_fold(width, |acc, &d| acc.checked_mul(d.max(1)))
        .filter(fits)
        .map(|_| width * info.shape.iter().product::<usize>())
        .ok_or_else(|| {
            Error::data(
                path,
                format!(
                    "not a readable .npy file: shape {:?} is impossibly large",
                    info.shape
                ),
            )
        })
}

/// Parse a `.npy` header from the file's first bytes; also where the data
/// starts.
fn read_header_only(path: &Path, bytes: &[u8]) -> Result<HeaderInfo> {
    let bad = |m: &str| Error::data(path, format!("not a readable .npy file: {m}"));
    let (hlen, start) = header_extent(path, bytes)?;
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
    Ok(HeaderInfo {
        descr,
        fortran,
        shape,
        data_offset: start + hlen,
    })
}

/// The longest header read (NumPy's own limit is far below this).
const MAX_HEADER: usize = 1 << 20;

/// (header length, where the header starts), from the magic and version.
fn header_extent(path: &Path, bytes: &[u8]) -> Result<(usize, usize)> {
    let bad = |m: &str| Error::data(path, format!("not a readable .npy file: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let (hlen, start) = match bytes[6] {
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
    if hlen > MAX_HEADER {
        return Err(bad(&format!("a {hlen}-byte header is too long")));
    }
    Ok((hlen, start))
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
    npy.data[..n * width]
        .chunks_exact(width)
        .enumerate()
        .map(|(i, c)| {
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
                Ok((raw | (u64::MAX << (width * 8))) as i64)
            } else if !signed && raw > i64::MAX as u64 {
                // A uint64 above 2^63 - 1 has no i64: a cast would wrap it
                // to a negative class.
                Err(Error::data(
                    path,
                    format!(
                        "label {} is {raw}, beyond the largest class cpuwall keeps (2^63 - 1); renumber the classes",
                        i + 1
                    ),
                ))
            } else {
                Ok(raw as i64)
            }
        })
        .collect()
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
    features_of(path, read(path)?)
}

fn features_of(path: &Path, npy: Npy) -> Result<Array2<f64>> {
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

/// A 1-d array of real regression targets (floats, or integers as
/// floats), each finite.
pub fn read_targets(path: &Path) -> Result<Vec<f64>> {
    let npy = read(path)?;
    if npy.shape.len() != 1 {
        return Err(Error::data(
            path,
            format!("targets must be a 1-d array, found shape {:?}", npy.shape),
        ));
    }
    let (_, kind) = endian(&npy.descr);
    let values = if kind.starts_with('f') {
        floats(path, &npy)?
    } else {
        integers(path, &npy)?
            .into_iter()
            .map(|v| v as f64)
            .collect()
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::data(
            path,
            format!(
                "target {} is {}; regression targets must be finite numbers",
                i + 1,
                values[i]
            ),
        ));
    }
    Ok(values)
}

/// A 1-d array of integer class labels.
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    labels_of(path, read(path)?)
}

fn labels_of(path: &Path, npy: Npy) -> Result<Vec<i64>> {
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

/// A C-order `.npy` header (format 1.0) for `descr` (e.g. `<f8`) and `shape`
/// written as Python does (`(3, 2)`, `(5,)`).
pub fn header_bytes(descr: &str, shape: &str) -> Vec<u8> {
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
    present_len(path, &f, &info)?;
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

/// The shape in a `.npy` header, reading only the header (and refusing a
/// file shorter than the shape declares).
pub fn shape(path: &Path) -> Result<Vec<usize>> {
    let (f, info) = open_header(path)?;
    present_len(path, &f, &info)?;
    Ok(info.shape)
}

/// Open a `.npy` file and parse its header: the magic and version (12
/// bytes) first, then the header they announce (at most 1 MiB), nothing else.
fn open_header(path: &Path) -> Result<(std::fs::File, HeaderInfo)> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::data(path, "is a directory; expected a .npy file"));
    }
    let mut head = Vec::new();
    let mut r = f.take(12);
    r.read_to_end(&mut head).map_err(|e| read_error(path, e))?;
    let (hlen, start) = header_extent(path, &head)?;
    let mut r = r.into_inner();
    (&mut r)
        .take((start + hlen).saturating_sub(head.len()) as u64)
        .read_to_end(&mut head)
        .map_err(|e| read_error(path, e))?;
    let info = read_header_only(path, &head)?;
    Ok((r, info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let x = ndarray::Array2::from_shape_fn((4, 3), |(i, j)| i as f64 - j as f64 * 0.5);
        features_to_bytes(x.view())
    }

    #[test]
    fn written_features_and_labels_read_back() {
        let p = Path::new("t.npy");
        let x = features_of(p, decode(p, &sample()).unwrap()).unwrap();
        assert_eq!(x[[3, 2]], 2.0);
        let y = labels_of(p, decode(p, &labels_to_bytes(&[5, -1, 7])).unwrap()).unwrap();
        assert_eq!(y, [5, -1, 7]);
    }

    #[test]
    fn uint64_labels_above_i64_are_refused_never_wrapped() {
        let p = Path::new("y.npy");
        let mut bytes = header_bytes("<u8", "(3,)");
        for v in [3u64, 10_000_000_000_000_000_000, 7] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let err = labels_of(p, decode(p, &bytes).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("label 2 is 10000000000000000000"), "{err}");
        let mut fine = header_bytes("<u8", "(2,)");
        for v in [i64::MAX as u64, 0] {
            fine.extend_from_slice(&v.to_le_bytes());
        }
        let y = labels_of(p, decode(p, &fine).unwrap()).unwrap();
        assert_eq!(y, [i64::MAX, 0]);
    }

    /// Whatever decodes holds exactly the bytes its header declares, and
    /// turns into a matrix or labels, or a typed error; never a panic.
    fn check(bytes: &[u8]) {
        let p = Path::new("fuzz.npy");
        if let Ok(npy) = decode(p, bytes) {
            assert!(npy.data.len() <= bytes.len());
            let _ = features_of(
                p,
                Npy {
                    data: npy.data.clone(),
                    shape: npy.shape.clone(),
                    descr: npy.descr.clone(),
                    fortran: npy.fortran,
                },
            );
            let _ = labels_of(p, npy);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(3000)))]

        #[test]
        fn arbitrary_bytes_after_the_magic_never_panic(
            version in 0u8..5,
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut b = b"\x93NUMPY".to_vec();
            b.push(version);
            b.push(0);
            b.extend(bytes);
            check(&b);
        }

        /// Headers with other dtypes, orders and shapes (huge ones too),
        /// followed by as many bytes as chance gives.
        #[test]
        fn hostile_headers_never_panic(
            descr in prop::sample::select(vec!["<f8", ">f8", "<f4", "|u1", "<i2", ">i4", "<i8", "<c16", "|O", "", "<f"]),
            fortran in any::<bool>(),
            dims in proptest::collection::vec(prop_oneof![0usize..6, Just(usize::MAX), Just(1usize << 40)], 0..4),
            data in 0usize..200,
        ) {
            let shape = format!("({})", dims.iter().map(|d| format!("{d},")).collect::<String>());
            let order = if fortran { "True" } else { "False" };
            let h = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}\n");
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(h.len() as u16).to_le_bytes());
            b.extend_from_slice(h.as_bytes());
            b.extend(std::iter::repeat_n(7u8, data));
            check(&b);
        }

        /// A valid file with bytes overwritten and maybe cut short.
        #[test]
        fn mutated_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut b = sample();
            crate::mutate(&mut b, &edits, cut, truncate);
            check(&b);
        }
    }
}
