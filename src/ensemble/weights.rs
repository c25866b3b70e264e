//! A member's weights: the canonical in-memory form (named f32 tensors in
//! candle's layouts) and its file, safetensors with a metadata header.
//!
//! One file per member (`member-<i>.safetensors`), so a process-per-member
//! worker loads only its own. The safetensors `__metadata__` map carries
//! `format = cpuwall-cnn-member`, `version`, `architecture`, `member`,
//! `members` and how it was trained. Loading checks all of it, every
//! tensor's dtype and shape, and that every value is finite; each problem is
//! one line naming the file and what to do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

pub const FORMAT: &str = "cpuwall-cnn-member";
pub const VERSION: u32 = 1;
/// The member net, as the issue gives it (Keras notation).
pub const ARCHITECTURE: &str =
    "conv3x3(32,relu)-maxpool2-conv3x3(64,relu)-maxpool2-conv3x3(64,relu)-flatten-dense(64,relu)-dense(10)-softmax; input 32x32x3";

/// Tensor names and shapes (candle layouts: conv `[out, in, kh, kw]`,
/// linear `[out, in]`; `fc1` reads the NCHW flatten of conv3's output).
pub const TENSORS: [(&str, &[usize]); 10] = [
    ("conv1.weight", &[32, 3, 3, 3]),
    ("conv1.bias", &[32]),
    ("conv2.weight", &[64, 32, 3, 3]),
    ("conv2.bias", &[64]),
    ("conv3.weight", &[64, 64, 3, 3]),
    ("conv3.bias", &[64]),
    ("fc1.weight", &[64, 1024]),
    ("fc1.bias", &[64]),
    ("fc2.weight", &[10, 64]),
    ("fc2.bias", &[10]),
];

/// How a member was made (stored in the file's metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub member: usize,
    pub members: usize,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub train_images: usize,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberWeights {
    /// In [`TENSORS`] order.
    pub tensors: Vec<Vec<f32>>,
    pub provenance: Provenance,
}

impl MemberWeights {
    pub fn get(&self, name: &str) -> &[f32] {
        let i = TENSORS
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no tensor {name} in the member architecture"));
        &self.tensors[i]
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let p = &self.provenance;
        let meta: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("architecture", ARCHITECTURE.to_string()),
            ("member", p.member.to_string()),
            ("members", p.members.to_string()),
            ("seed", p.seed.to_string()),
            ("epochs", p.epochs.to_string()),
            ("batch_size", p.batch_size.to_string()),
            ("train_images", p.train_images.to_string()),
            ("data", p.data.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes: Vec<Vec<u8>> = self
            .tensors
            .iter()
            .map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views = TENSORS
            .iter()
            .zip(&bytes)
            .map(|((name, shape), b)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.to_vec(), b)
                    .map(|v| (name.to_string(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Runtime(format!("cannot encode member weights: {e}")))?;
        safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::Runtime(format!("cannot encode member weights: {e}")))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.encode()?)
    }

    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |why: String| {
            Error::data(
                path,
                format!("{why}; retrain with `cpuwall ensemble train` or point --models at another directory"),
            )
        };
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors weights file ({e})")))?;
        let meta = header
            .metadata()
            .clone()
            .ok_or_else(|| bad("safetensors file without cpuwall metadata".into()))?;
        let field = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("metadata lacks '{k}'")))
        };
        if field("format")? != FORMAT {
            return Err(bad(format!(
                "metadata format is '{}', not {FORMAT}",
                field("format")?
            )));
        }
        let version: u32 = field("version")?
            .parse()
            .map_err(|_| bad("metadata version is not a number".into()))?;
        if version > VERSION {
            return Err(Error::data(
                path,
                format!("weights format version {version} is newer than this cpuwall supports ({VERSION}); upgrade cpuwall"),
            ));
        }
        if field("architecture")? != ARCHITECTURE {
            return Err(bad(format!(
                "architecture '{}' is not the member net this cpuwall runs",
                field("architecture")?
            )));
        }
        let num = |k: &str| -> Result<u64> {
            field(k)?
                .parse()
                .map_err(|_| bad(format!("metadata '{k}' is not a number")))
        };
        let provenance = Provenance {
            member: num("member")? as usize,
            members: num("members")? as usize,
            seed: num("seed")?,
            epochs: num("epochs")? as usize,
            batch_size: num("batch_size")? as usize,
            train_images: num("train_images")? as usize,
            data: field("data")?,
        };
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors weights file ({e})")))?;
        let mut tensors = Vec::with_capacity(TENSORS.len());
        for (name, shape) in TENSORS {
            let view = st
                .tensor(name)
                .map_err(|_| bad(format!("tensor '{name}' is missing")))?;
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(bad(format!(
                    "tensor '{name}' is {:?}, expected F32",
                    view.dtype()
                )));
            }
            if view.shape() != shape {
                return Err(bad(format!(
                    "tensor '{name}' has shape {:?}, expected {:?}",
                    view.shape(),
                    shape
                )));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if let Some(at) = values.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "tensor '{name}' holds a non-finite value at index {at}"
                )));
            }
            tensors.push(values);
        }
        if st.len() != TENSORS.len() {
            return Err(bad(format!(
                "{} tensors, expected {}",
                st.len(),
                TENSORS.len()
            )));
        }
        Ok(MemberWeights {
            tensors,
            provenance,
        })
    }

    pub fn load(path: &Path) -> Result<Self> {
        // safetensors: an 8-byte header length, then a JSON header.
        let first = |b: &[u8]| {
            if b.get(8) == Some(&b'{') {
                Ok(())
            } else {
                Err(
                    "not a safetensors weights file (no 8-byte header length and JSON header)"
                        .into(),
                )
            }
        };
        let bytes = crate::data::bounded::read(
            path,
            &crate::data::bounded::Limit {
                what: "weights file",
                max: 1 << 30,
                not_found:
                    "weights file not found; train an ensemble with `cpuwall ensemble train`",
            },
            &first,
        )?;
        Self::decode(&bytes, path)
    }
}

/// `dir/member-<i>.safetensors`.
pub fn member_path(dir: &Path, member: usize) -> PathBuf {
    dir.join(format!("member-{member}.safetensors"))
}

/// The member files of an ensemble directory, in member order: every
/// `member-<i>.safetensors` for i = 0.. until one is missing.
pub fn member_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::data(
            dir,
            "no ensemble directory here; train one with `cpuwall ensemble train --out DIR`",
        ));
    }
    let paths: Vec<PathBuf> = (0..)
        .map(|i| member_path(dir, i))
        .take_while(|p| p.exists())
        .collect();
    if paths.is_empty() {
        return Err(Error::data(
            dir,
            "no member-0.safetensors in this directory; train one with `cpuwall ensemble train --out DIR`",
        ));
    }
    Ok(paths)
}

/// Load all members of an ensemble directory and check they belong together.
pub fn load_ensemble(dir: &Path) -> Result<Vec<MemberWeights>> {
    let paths = member_paths(dir)?;
    let members: Vec<MemberWeights> = paths
        .iter()
        .map(|p| MemberWeights::load(p))
        .collect::<Result<_>>()?;
    for (i, (m, p)) in members.iter().zip(&paths).enumerate() {
        if m.provenance.member != i || m.provenance.members != paths.len() {
            return Err(Error::data(
                p,
                format!(
                    "says it is member {} of {}, but it is file {i} of {} here; retrain the ensemble or remove stray files",
                    m.provenance.member,
                    m.provenance.members,
                    paths.len()
                ),
            ));
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MemberWeights {
        MemberWeights {
            tensors: TENSORS
                .iter()
                .enumerate()
                .map(|(t, (_, s))| {
                    (0..s.iter().product::<usize>())
                        .map(|i| (i as f32 * 0.001) - t as f32)
                        .collect()
                })
                .collect(),
            provenance: Provenance {
                member: 0,
                members: 1,
                seed: 7,
                epochs: 1,
                batch_size: 4,
                train_images: 10,
                data: "synthetic".into(),
            },
        }
    }

    #[test]
    fn round_trips_values_and_metadata() {
        let w = sample();
        let bytes = w.encode().unwrap();
        let back = MemberWeights::decode(&bytes, Path::new("m.safetensors")).unwrap();
        assert_eq!(back, w);
        let again = MemberWeights::decode(&back.encode().unwrap(), Path::new("m")).unwrap();
        assert_eq!(again, w);
    }

    #[test]
    fn garbage_and_truncation_are_clear_errors() {
        let bytes = sample().encode().unwrap();
        let p = Path::new("m.safetensors");
        let e = MemberWeights::decode(b"hello, not weights", p).unwrap_err();
        assert!(e.to_string().contains("not a safetensors"), "{e}");
        let e = MemberWeights::decode(&bytes[..bytes.len() - 100], p).unwrap_err();
        assert!(e.to_string().contains("not a safetensors"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_wrong_shape_is_named() {
        let mut w = sample();
        // A file written by some other net: conv2 with 16 input channels.
        let meta_ok = w.encode().unwrap();
        w.tensors[2].truncate(64 * 16 * 9);
        let bytes: Vec<Vec<u8>> = w
            .tensors
            .iter()
            .map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let mut shapes: Vec<Vec<usize>> = TENSORS.iter().map(|(_, s)| s.to_vec()).collect();
        shapes[2] = vec![64, 16, 3, 3];
        let views: Vec<_> = TENSORS
            .iter()
            .zip(&bytes)
            .zip(shapes)
            .map(|(((n, _), b), s)| {
                (
                    n.to_string(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s, b).unwrap(),
                )
            })
            .collect();
        let (_, header) = safetensors::SafeTensors::read_metadata(&meta_ok).unwrap();
        let encoded = safetensors::serialize(views, header.metadata().clone()).unwrap();
        let e = MemberWeights::decode(&encoded, Path::new("m.safetensors")).unwrap_err();
        assert!(
            e.to_string()
                .contains("'conv2.weight' has shape [64, 16, 3, 3], expected [64, 32, 3, 3]"),
            "{e}"
        );
    }

    #[test]
    fn a_plain_safetensors_file_without_metadata_is_refused() {
        let data = vec![0u8; 8];
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
        let bytes = safetensors::serialize([("x", view)], None).unwrap();
        let e = MemberWeights::decode(&bytes, Path::new("m.safetensors")).unwrap_err();
        assert!(e.to_string().contains("without cpuwall metadata"), "{e}");
    }

    #[test]
    fn non_finite_values_are_refused() {
        let mut w = sample();
        w.tensors[9][3] = f32::NAN;
        let bytes = w.encode().unwrap();
        let e = MemberWeights::decode(&bytes, Path::new("m.safetensors")).unwrap_err();
        assert!(
            e.to_string()
                .contains("'fc2.bias' holds a non-finite value at index 3"),
            "{e}"
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        use std::sync::OnceLock;

        fn good() -> &'static Vec<u8> {
            static B: OnceLock<Vec<u8>> = OnceLock::new();
            B.get_or_init(|| sample().encode().unwrap())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(1000)))]

            /// A member file with bytes of its header or data overwritten
            /// and maybe cut short: a typed error or weights of the right
            /// shapes; never a panic.
            #[test]
            fn mutated_weights_never_panic(
                edits in proptest::collection::vec((0usize..2048, any::<u8>()), 1..8),
                cut in any::<prop::sample::Index>(),
                truncate in any::<bool>(),
            ) {
                let mut b = good().clone();
                for (at, v) in edits {
                    let k = at % b.len();
                    b[k] = v;
                }
                if truncate {
                    b.truncate(cut.index(b.len()));
                }
                if let Ok(w) = MemberWeights::decode(&b, Path::new("m.safetensors")) {
                    for (t, (_, shape)) in w.tensors.iter().zip(TENSORS) {
                        prop_assert_eq!(t.len(), shape.iter().product::<usize>());
                    }
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = MemberWeights::decode(&b, Path::new("m.safetensors"));
            }
        }
    }
}
