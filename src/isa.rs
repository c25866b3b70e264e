//! Which vector instructions the kernels use: chosen once per process, the
//! best this CPU has unless `CPUWALL_ISA` names another it also has.
//!
//! Every kernel with vector code (the row kernel of nb/lr/svc, the forest's
//! quantised blocks, the ensemble's convolutions, the memory floor) asks
//! [`current`] and runs that path; results record it (`isa`). Each path
//! gives the same answers bit for bit (the kernels' own tests compare them),
//! so forcing a narrower ISA changes speed only: `CPUWALL_ISA=avx2` on an
//! AVX-512 machine measures what an AVX2-only machine would run, and the
//! test suite runs the identity tests once per ISA the CPU has
//! ([`available`]).

use std::sync::OnceLock;

/// The environment variable that forces an ISA.
pub const ENV: &str = "CPUWALL_ISA";

/// A kernel path, narrowest first (so `a <= b` means b's CPU runs a too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust, no vector intrinsics (the forest walks node by node).
    Scalar,
    /// AVX2 (256-bit integer and float vectors).
    Avx2,
    /// AVX-512 F, BW, DQ and VL (x86-64-v4: every AVX-512 server CPU since
    /// Skylake-SP and Zen 4).
    Avx512,
}

impl Isa {
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == s.trim())
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every path this CPU runs, narrowest first.
pub fn available() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.supported()).collect()
}

/// The widest path this CPU runs.
pub fn detected() -> Isa {
    *available().last().unwrap_or(&Isa::Scalar)
}

/// The path `CPUWALL_ISA` asks for: `Ok(None)` when unset or empty, an
/// error (one line: what, and what to do) when it names no path or one this
/// CPU lacks.
pub fn from_env() -> Result<Option<Isa>, String> {
    let Ok(value) = std::env::var(ENV) else {
        return Ok(None);
    };
    if value.trim().is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = available().iter().map(|i| i.name()).collect();
    match Isa::parse(&value) {
        None => Err(format!(
            "{ENV}={value:?} names no instruction set: use one of {} (or unset it for the best, {})",
            names.join(", "),
            detected()
        )),
        Some(isa) if !isa.supported() => Err(format!(
            "{ENV}={isa}: this CPU lacks it; it runs {} (unset {ENV} for the best, {})",
            names.join(", "),
            detected()
        )),
        Some(isa) => Ok(Some(isa)),
    }
}

/// The path every kernel takes in this process: `CPUWALL_ISA` when it names
/// one this CPU has, else the widest. Decided on first use. (A bad
/// `CPUWALL_ISA` falls back to the widest here; the CLI and the Python
/// package refuse it first with [`from_env`]'s message.)
pub fn current() -> Isa {
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| from_env().ok().flatten().unwrap_or_else(detected))
}

/// Whether the CPU is AMD's (cpuid's vendor string, "AuthenticAMD"). Zen 4
/// runs AVX-512's forest crossing faster with fewer rows in flight than
/// Intel's cores do (`quantised::QuantisedForest::lanes`).
pub fn amd() -> bool {
    static AMD: OnceLock<bool> = OnceLock::new();
    *AMD.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            // (Safe in newer Rust; cpuid leaf 0 exists on every x86-64.)
            #[allow(unused_unsafe)]
            let id = unsafe { std::arch::x86_64::__cpuid(0) };
            let vendor: Vec<u8> = [id.ebx, id.edx, id.ecx]
                .iter()
                .flat_map(|r| r.to_le_bytes())
                .collect();
            vendor == b"AuthenticAMD"
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_narrowest_first() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse("sse9"), None);
        assert!(Isa::Scalar < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }

    #[test]
    fn the_cpu_runs_scalar_and_every_narrower_path_than_its_widest() {
        let all = available();
        assert_eq!(all[0], Isa::Scalar);
        assert_eq!(*all.last().unwrap(), detected());
        // AVX-512 machines run AVX2 too.
        if detected() == Isa::Avx512 {
            assert!(all.contains(&Isa::Avx2));
        }
        assert!(all.contains(&current()));
    }
}
