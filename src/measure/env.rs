//! The machine a measurement was taken on, recorded beside the numbers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    pub cores: usize,
    pub os: String,
    pub rustc: String,
    pub cpuwall_version: String,
    /// cpuwall's own commit (recorded at build time), `-dirty` when its
    /// tracked files differed from the commit.
    pub git_commit: String,
    /// `release` or `debug`: timings of a debug build mean little.
    #[serde(default)]
    pub build_profile: String,
    /// The vector ISA the kernels use on this CPU (`avx512`, `scalar`).
    #[serde(default)]
    pub isa: String,
    /// What one read of a CPU clock costs here (median of 1000), seconds.
    #[serde(default)]
    pub clock_overhead_seconds: f64,
    /// UTC, RFC 3339.
    pub date: String,
    /// 1-minute load average when the run started and ended.
    pub load_average_start: f64,
    pub load_average_end: f64,
}

impl Environment {
    pub fn capture() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Environment {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{} {}", std::env::consts::OS, kernel.trim()),
            rustc: env!("CPUWALL_RUSTC_VERSION").to_string(),
            cpuwall_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: build_commit(),
            build_profile: env!("CPUWALL_BUILD_PROFILE").to_string(),
            isa: crate::isa::current().name().to_string(),
            clock_overhead_seconds: clock_overhead(),
            date: utc_now(),
            load_average_start: load_average(),
            load_average_end: 0.0,
        }
    }
}

/// cpuwall's commit as recorded when this binary was built.
pub fn build_commit() -> String {
    let dirty = if env!("CPUWALL_GIT_DIRTY") == "true" {
        "-dirty"
    } else {
        ""
    };
    format!("{}{dirty}", env!("CPUWALL_GIT_COMMIT"))
}

/// Median cost of one thread-CPU clock read, over 1000 reads in batches of 10.
pub fn clock_overhead() -> f64 {
    let mut per_read: Vec<f64> = (0..100)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..10 {
                std::hint::black_box(crate::clock::thread_cpu());
            }
            t.elapsed().as_secs_f64() / 10.0
        })
        .collect();
    per_read.sort_by(f64::total_cmp);
    per_read[per_read.len() / 2]
}

pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no tz crate).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
