//! CIFAR-10 images: a reader for the standard binary files
//! (`data_batch_N.bin`, `test_batch.bin`: per record 1 label byte, then
//! 3072 pixel bytes, the 1024 red, 1024 green and 1024 blue values of a
//! 32x32 image in row-major order) and a seeded synthetic generator of the
//! same shape for offline runs (class-dependent patterns plus noise).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;

pub const SIDE: usize = 32;
pub const CHANNELS: usize = 3;
pub const PIXELS: usize = SIDE * SIDE * CHANNELS;
pub const RECORD: usize = 1 + PIXELS;
pub const CLASSES: usize = 10;

/// Images as stored: `n x 3072` bytes, channel-major within an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i`'s 3072 bytes (R plane, G plane, B plane).
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The standard binary encoding of these images.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * RECORD);
        for i in 0..self.len() {
            out.push(self.labels[i]);
            out.extend_from_slice(self.image(i));
        }
        out
    }
}

/// The largest batch file read: 100,000 images (a batch holds 10,000).
const MAX_BATCH_BYTES: u64 = 100_000 * RECORD as u64;

fn not_records(path: &Path, size: u64) -> Error {
    Error::data(
        path,
        format!(
            "{size} bytes is not a whole number of 3073-byte records (1 label + 3072 pixels): the file is truncated or not CIFAR-10 binary (CIFAR-100 records are 3074 bytes)"
        ),
    )
}

/// One CIFAR-10 binary batch file.
pub fn read_batch(path: &Path) -> Result<Images> {
    let not_found =
        "file not found; give a CIFAR-10 binary batch (data_batch_1.bin, test_batch.bin)";
    let size = std::fs::metadata(path)
        .map_err(|e| super::read_error_hint(path, e, not_found))?
        .len();
    // A regular file's size says what it is before any byte is read.
    if !size.is_multiple_of(RECORD as u64) {
        return Err(not_records(path, size));
    }
    let bytes = super::bounded::read(
        path,
        &super::bounded::Limit {
            what: "CIFAR-10 batch",
            max: MAX_BATCH_BYTES,
            not_found,
        },
        &|_| Ok(()),
    )?;
    decode_batch(path, &bytes)
}

/// A CIFAR-10 batch from its bytes (`path` names it in errors).
fn decode_batch(path: &Path, bytes: &[u8]) -> Result<Images> {
    if bytes.is_empty() {
        return Err(Error::data(
            path,
            "empty file; expected CIFAR-10 records of 3073 bytes",
        ));
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(not_records(path, bytes.len() as u64));
    }
    let n = bytes.len() / RECORD;
    let mut images = Images {
        pixels: Vec::with_capacity(n * PIXELS),
        labels: Vec::with_capacity(n),
    };
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= CLASSES {
            return Err(Error::data(
                path,
                format!(
                    "record {} has label {}, but CIFAR-10 labels are 0..9",
                    i + 1,
                    rec[0]
                ),
            ));
        }
        images.labels.push(rec[0]);
        images.pixels.extend_from_slice(&rec[1..]);
    }
    Ok(images)
}

/// The training batches (`data_batch_*.bin`, in name order) and the test
/// batch (`test_batch.bin`) of a CIFAR-10 binary directory.
pub fn read_dir(dir: &Path) -> Result<(Images, Images)> {
    let mut batches: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::data(dir, format!("cannot list the CIFAR-10 directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("data_batch_") && n.ends_with(".bin"))
        })
        .collect();
    batches.sort();
    if batches.is_empty() {
        return Err(Error::data(
            dir,
            "no data_batch_*.bin files; point --data at the cifar-10-batches-bin directory",
        ));
    }
    let mut train = Images {
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for b in &batches {
        let part = read_batch(b)?;
        train.pixels.extend_from_slice(&part.pixels);
        train.labels.extend_from_slice(&part.labels);
    }
    let test = read_batch(&dir.join("test_batch.bin"))?;
    Ok((train, test))
}

const JITTER_ANGLE: f32 = 0.4;
const JITTER_FREQ: f32 = 0.06;
const JITTER_TINT: f32 = 0.3;
const WAVE: f32 = 0.2;
const NOISE: f32 = 0.5;

/// `n` synthetic CIFAR-shaped images, seeded. Class c is a sinusoidal
/// grating with its own orientation and frequency, tinted with its own
/// colour, at a random phase, plus noise: structure a small CNN learns in
/// one epoch, and no two images alike.
pub fn synthetic(n: usize, seed: u64) -> Images {
    let mut rng = SplitMix64::new(seed ^ 0xC1FA_0010);
    let mut images = Images {
        pixels: Vec::with_capacity(n * PIXELS),
        labels: Vec::with_capacity(n),
    };
    let uniform = |r: &mut SplitMix64| (r.next_u64() >> 11) as f32 / (1u64 << 53) as f32;
    for _ in 0..n {
        let c = rng.below(CLASSES);
        // Per-image jitter of orientation, frequency and tint makes the
        // classes overlap, so one epoch learns them well but not perfectly.
        let angle = c as f32 * std::f32::consts::PI / CLASSES as f32
            + JITTER_ANGLE * (uniform(&mut rng) - 0.5);
        let freq = 0.25 + 0.05 * (c % 5) as f32 + JITTER_FREQ * (uniform(&mut rng) - 0.5);
        let phase = uniform(&mut rng) * std::f32::consts::TAU;
        let mut tint = [
            0.35 + 0.3 * ((c * 3) % 10) as f32 / 10.0,
            0.35 + 0.3 * ((c * 7) % 10) as f32 / 10.0,
            0.35 + 0.3 * ((c * 9) % 10) as f32 / 10.0,
        ];
        for t in tint.iter_mut() {
            *t += JITTER_TINT * (uniform(&mut rng) - 0.5);
        }
        let (sa, ca) = angle.sin_cos();
        images.labels.push(c as u8);
        for (ch, t) in tint.iter().enumerate() {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let u = x as f32 * ca + y as f32 * sa;
                    let wave = (u * freq + phase).sin();
                    let noise = uniform(&mut rng) - 0.5;
                    let v = t + WAVE * wave + NOISE * noise + 0.02 * ch as f32;
                    images
                        .pixels
                        .push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nearest_mean_accuracy(train: &Images, test: &Images) -> f64 {
        let mut means = vec![vec![0f64; PIXELS]; CLASSES];
        let mut counts = [0usize; CLASSES];
        for i in 0..train.len() {
            let c = train.labels[i] as usize;
            counts[c] += 1;
            for (m, &p) in means[c].iter_mut().zip(train.image(i)) {
                *m += p as f64;
            }
        }
        for (m, n) in means.iter_mut().zip(counts) {
            m.iter_mut().for_each(|v| *v /= n.max(1) as f64);
        }
        let correct = (0..test.len())
            .filter(|&i| {
                let img = test.image(i);
                let best = (0..CLASSES)
                    .min_by(|&a, &b| {
                        let d = |c: usize| {
                            means[c]
                                .iter()
                                .zip(img)
                                .map(|(m, &p)| (m - p as f64).powi(2))
                                .sum::<f64>()
                        };
                        d(a).total_cmp(&d(b))
                    })
                    .expect("classes");
                best == test.labels[i] as usize
            })
            .count();
        correct as f64 / test.len() as f64
    }

    #[test]
    fn synthetic_images_are_seeded_shaped_and_learnable() {
        let a = synthetic(300, 1);
        assert_eq!(a, synthetic(300, 1));
        assert_ne!(a, synthetic(300, 2));
        assert_eq!(a.pixels.len(), 300 * PIXELS);
        assert!(a.labels.iter().all(|&l| (l as usize) < CLASSES));
        // Even a nearest-class-mean rule beats chance (0.1) clearly.
        let acc = nearest_mean_accuracy(&synthetic(1000, 3), &synthetic(300, 4));
        assert!(acc > 0.3, "nearest-mean accuracy {acc}");
    }

    #[test]
    fn binary_batches_round_trip_and_bad_files_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let imgs = synthetic(7, 9);
        std::fs::write(dir.path().join("data_batch_1.bin"), imgs.to_bytes()).unwrap();
        std::fs::write(
            dir.path().join("data_batch_2.bin"),
            synthetic(3, 10).to_bytes(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("test_batch.bin"),
            synthetic(2, 11).to_bytes(),
        )
        .unwrap();
        assert_eq!(
            read_batch(&dir.path().join("data_batch_1.bin")).unwrap(),
            imgs
        );
        let (train, test) = read_dir(dir.path()).unwrap();
        assert_eq!((train.len(), test.len()), (10, 2));
        assert_eq!(&train.labels[..7], &imgs.labels[..]);

        let bytes = imgs.to_bytes();
        let short = dir.path().join("short.bin");
        std::fs::write(&short, &bytes[..bytes.len() - 5]).unwrap();
        let e = read_batch(&short).unwrap_err().to_string();
        assert!(e.contains("not a whole number of 3073-byte records"), "{e}");

        let cifar100 = dir.path().join("c100.bin");
        std::fs::write(&cifar100, vec![0u8; 3074 * 2]).unwrap();
        let e = read_batch(&cifar100).unwrap_err().to_string();
        assert!(e.contains("CIFAR-100 records are 3074 bytes"), "{e}");

        let mut bad = bytes.clone();
        bad[RECORD] = 12;
        let badp = dir.path().join("bad.bin");
        std::fs::write(&badp, bad).unwrap();
        let e = read_batch(&badp).unwrap_err().to_string();
        assert!(e.contains("record 2 has label 12"), "{e}");

        let e = read_dir(&dir.path().join("nothing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot list"), "{e}");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(1000)))]

            /// Any bytes: images whose count matches the bytes, or a typed
            /// error; never a panic.
            #[test]
            fn arbitrary_batches_never_panic(
                records in 0usize..3,
                extra in 0usize..3,
                label in any::<u8>(),
                fill in any::<u8>(),
            ) {
                let mut b = vec![fill; records * RECORD + extra];
                if let Some(first) = b.first_mut() {
                    *first = label;
                }
                if let Ok(images) = decode_batch(Path::new("b.bin"), &b) {
                    prop_assert_eq!(images.len() * RECORD, b.len());
                    prop_assert!(images.labels.iter().all(|&l| (l as usize) < CLASSES));
                }
            }
        }
    }
}
