//! The device map: `--devices cpu,cpu,cuda:0,cuda:0` puts member i on
//! device i (one entry applies to every member). CPU members run cpuwall's
//! native kernels; CUDA members run through candle on that GPU, which needs
//! the cargo feature `cuda` (and a CUDA toolkit to build it).

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s == "cpu" {
            return Ok(DeviceSpec::Cpu);
        }
        let ordinal = match s {
            "cuda" | "gpu" => Some(0),
            _ => s
                .strip_prefix("cuda:")
                .or_else(|| s.strip_prefix("gpu:"))
                .and_then(|n| n.parse().ok()),
        };
        ordinal.map(DeviceSpec::Cuda).ok_or_else(|| {
            Error::usage(format!(
                "unknown device '{s}' in --devices; use cpu or cuda:N (e.g. --devices cpu,cpu,cuda:0,cuda:0)"
            ))
        })
    }
}

impl DeviceSpec {
    /// A comma-separated list (`cpu,cuda:0`).
    pub fn parse_list(text: &str) -> Result<Vec<DeviceSpec>> {
        let list: Vec<DeviceSpec> = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_>>()?;
        if list.is_empty() {
            return Err(Error::usage("--devices is empty; e.g. --devices cpu"));
        }
        Ok(list)
    }

    /// The candle device, or a clear error when this build cannot use it.
    pub fn candle(self) -> Result<candle_core::Device> {
        match self {
            DeviceSpec::Cpu => Ok(candle_core::Device::Cpu),
            DeviceSpec::Cuda(i) => cuda_device(i),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(i: usize) -> Result<candle_core::Device> {
    candle_core::Device::new_cuda(i)
        .map_err(|e| Error::Runtime(format!("cannot open CUDA device cuda:{i}: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(i: usize) -> Result<candle_core::Device> {
    Err(Error::usage(format!(
        "device cuda:{i} needs a cpuwall built with the `cuda` feature (cargo build --release --features cuda, with a CUDA toolkit installed); map the member to cpu instead"
    )))
}

/// One device per member: the list as given, or one entry for all.
pub fn assign(list: &[DeviceSpec], members: usize) -> Result<Vec<DeviceSpec>> {
    match list.len() {
        0 => Ok(vec![DeviceSpec::Cpu; members]),
        1 => Ok(vec![list[0]; members]),
        n if n == members => Ok(list.to_vec()),
        n => Err(Error::usage(format!(
            "--devices lists {n} devices for {members} members; give one per member or one for all"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issues_example_map() {
        assert_eq!(
            DeviceSpec::parse_list("cpu,cpu,cuda:0,cuda:1").unwrap(),
            vec![
                DeviceSpec::Cpu,
                DeviceSpec::Cpu,
                DeviceSpec::Cuda(0),
                DeviceSpec::Cuda(1)
            ]
        );
        assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
    }

    #[test]
    fn bad_entries_and_counts_are_usage_errors() {
        let e = DeviceSpec::parse_list("cpu,tpu:0").unwrap_err();
        assert!(e.to_string().contains("unknown device 'tpu:0'"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let e = assign(&[DeviceSpec::Cpu, DeviceSpec::Cpu], 4).unwrap_err();
        assert!(e.to_string().contains("2 devices for 4 members"), "{e}");
        assert_eq!(assign(&[DeviceSpec::Cuda(0)], 3).unwrap().len(), 3);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_cuda_device_without_the_feature_says_how_to_get_it() {
        let e = DeviceSpec::Cuda(0).candle().unwrap_err();
        assert!(e.to_string().contains("`cuda` feature"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}
