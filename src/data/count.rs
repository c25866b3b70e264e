//! Row counts as people write them: `1e6`, `10000`, `1_000_000`, `2.5e3`.

use crate::error::{Error, Result};

/// Parse a non-negative whole count. Scientific notation must denote an
/// integer (`1.5e0` is refused); underscores are digit separators.
pub fn parse_count(text: &str) -> Result<u64> {
    let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
    let bad = || {
        Error::usage(format!(
            "invalid count '{text}': write a whole number like 10000, 1_000_000 or 1e6"
        ))
    };
    if cleaned.is_empty() || cleaned.starts_with('-') || cleaned.starts_with('+') {
        return Err(bad());
    }
    if let Ok(n) = cleaned.parse::<u64>() {
        return Ok(n);
    }
    let value: f64 = cleaned.parse().map_err(|_| bad())?;
    // 2^63 keeps the cast exact and far above any count that fits in memory.
    if !value.is_finite() || value < 0.0 || value.fract() != 0.0 || value >= 9.2e18 {
        return Err(bad());
    }
    Ok(value as u64)
}

/// clap value parser for counts.
pub fn count_arg(text: &str) -> std::result::Result<u64, String> {
    parse_count(text).map_err(|e| e.to_string())
}

/// clap value parser for a count that is a limit, where 0 would mean
/// nothing can happen (`--chunk-rows 0`, `--max-connections 0`): at least 1.
pub fn positive_count_arg(text: &str) -> std::result::Result<u64, String> {
    match parse_count(text) {
        Ok(0) => Err(format!("'{text}' is 0; this limit must be at least 1")),
        other => other.map_err(|e| e.to_string()),
    }
}

/// Human form of a count, the way the study labels batch sizes: `1e6`, `250`.
pub fn format_count(n: u64) -> String {
    if n >= 1000 {
        let exp = (n as f64).log10().floor() as u32;
        let pow = 10u64.pow(exp);
        if n.is_multiple_of(pow) {
            let mantissa = n / pow;
            return format!("{mantissa}e{exp}");
        }
    }
    n.to_string()
}

/// Batch sizes by decade from `lo` to `hi` (both included when powers of ten).
pub fn decades(lo: u64, hi: u64) -> Result<Vec<usize>> {
    if lo == 0 || hi < lo {
        return Err(Error::usage(format!(
            "empty sweep range {lo}..{hi}: give LOW..HIGH with 1 <= LOW <= HIGH, e.g. 10..1e7"
        )));
    }
    let mut v = Vec::new();
    let mut r = lo;
    while r <= hi {
        v.push(r as usize);
        r = r.saturating_mul(10);
    }
    Ok(v)
}

/// `--rows` of a sweep: `LOW..HIGH` by decade (10..1e7) or a list (10,500,1e4).
pub fn parse_batch_sizes(text: &str) -> Result<Vec<usize>> {
    if let Some((lo, hi)) = text.split_once("..") {
        return decades(parse_count(lo)?, parse_count(hi)?);
    }
    let mut v = Vec::new();
    for p in text.split(',').filter(|s| !s.trim().is_empty()) {
        let n = parse_count(p)?;
        if n == 0 {
            return Err(Error::usage("--rows: batch sizes must be at least 1"));
        }
        v.push(n as usize);
    }
    if v.is_empty() {
        return Err(Error::usage(format!(
            "--rows '{text}' is empty: give LOW..HIGH (10..1e7) or a list"
        )));
    }
    Ok(v)
}

/// A list of positive batch sizes (`4,64,500`).
pub fn parse_batch_list(text: &str) -> Result<Vec<usize>> {
    let list: Vec<usize> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| match parse_count(s.trim()) {
            Ok(0) | Err(_) => Err(Error::usage(format!(
                "--batch-size '{s}' is not a positive whole number"
            ))),
            Ok(v) => Ok(v as usize),
        })
        .collect::<Result<_>>()?;
    if list.is_empty() {
        return Err(Error::usage(
            "--batch-size is empty; e.g. --batch-size 4,64,500",
        ));
    }
    Ok(list)
}

/// The most threads or processes any option starts.
pub const MAX_PARALLELISM: usize = 1024;

/// clap value parser for a thread or process count: 1 to 1024.
pub fn parallelism_arg(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PARALLELISM).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a count from 1 to {MAX_PARALLELISM} (threads or processes)"
        )),
    }
}

/// clap value parser for a timeout (`60`, `90s`, `500ms`): above zero, at
/// most a day.
pub fn timeout_arg(s: &str) -> std::result::Result<f64, String> {
    match parse_seconds(s) {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a timeout above 0 and at most 86400s (a day)"
        )),
    }
}

/// clap value parser for a rate or step size: finite and above zero.
pub fn positive_arg(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a finite number above 0")),
    }
}

/// clap value parser for durations (`0.5s`, `200ms`).
pub fn seconds_arg(s: &str) -> std::result::Result<f64, String> {
    parse_seconds(s).map_err(|e| e.to_string())
}

/// The longest duration any option takes: a week. Longer ones are
/// mistakes (`1e20`), and `Duration` cannot hold every f64 of seconds.
pub const MAX_SECONDS: f64 = 604_800.0;

/// A duration: `0.2s`, `200ms`, `500us` or plain seconds, from 0 to a week
/// ([`MAX_SECONDS`]). The one parser every duration option goes through.
pub fn parse_seconds(text: &str) -> Result<f64> {
    let t = text.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix("us").or_else(|| t.strip_suffix("µs")) {
        (v, 1e-6)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale <= MAX_SECONDS => Ok(v * scale),
        Ok(v) if v.is_finite() && v > 0.0 => Err(Error::usage(format!(
            "duration '{text}' is too long: at most {MAX_SECONDS}s (a week)"
        ))),
        Ok(v) if v < 0.0 => Err(Error::usage(format!(
            "invalid duration '{text}': a duration cannot be negative; write 0.2s, 200ms or 500us"
        ))),
        _ => Err(Error::usage(format!(
            "invalid duration '{text}': write 0.2s, 200ms or 500us"
        ))),
    }
}

/// A duration option's value as a `Duration` (see [`parse_seconds`]).
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    parse_seconds(text).map(std::time::Duration::from_secs_f64)
}

/// clap value parser for a size in bytes: `8MiB`, `64KiB`, `1MB`, `1000`.
pub fn bytes_arg(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let units: [(&str, f64); 7] = [
        ("GiB", 1073741824.0),
        ("MiB", 1048576.0),
        ("KiB", 1024.0),
        ("GB", 1e9),
        ("MB", 1e6),
        ("kB", 1e3),
        ("B", 1.0),
    ];
    let (num, scale) = units
        .iter()
        .find_map(|(u, k)| t.strip_suffix(u).map(|v| (v, *k)))
        .unwrap_or((t, 1.0));
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 && v * scale <= (1u64 << 40) as f64 => {
            Ok((v * scale) as usize)
        }
        _ => Err(format!(
            "'{s}' is not a size: write 8MiB, 64KiB, 1MB or a byte count"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_scientific_and_underscored_counts() {
        assert_eq!(parse_count("10000").unwrap(), 10_000);
        assert_eq!(parse_count("1e6").unwrap(), 1_000_000);
        assert_eq!(parse_count("1E3").unwrap(), 1_000);
        assert_eq!(parse_count("2.5e3").unwrap(), 2_500);
        assert_eq!(parse_count("1_000_000").unwrap(), 1_000_000);
        assert_eq!(parse_count("0").unwrap(), 0);
    }

    #[test]
    fn refuses_fractions_negatives_and_words() {
        for bad in ["1.5", "-3", "abc", "", "1e400", "nan", "+5"] {
            let err = parse_count(bad).unwrap_err().to_string();
            assert!(err.contains("invalid count"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_round_powers_as_scientific() {
        assert_eq!(format_count(10), "10");
        assert_eq!(format_count(1000), "1e3");
        assert_eq!(format_count(10_000_000), "1e7");
        assert_eq!(format_count(5000), "5e3");
        assert_eq!(format_count(1234), "1234");
    }

    #[test]
    fn durations_take_s_ms_and_us() {
        assert_eq!(parse_seconds("0.5s").unwrap(), 0.5);
        assert_eq!(parse_seconds("200ms").unwrap(), 0.2);
        assert!((parse_seconds("500us").unwrap() - 5e-4).abs() < 1e-15);
        assert!((parse_seconds("250µs").unwrap() - 2.5e-4).abs() < 1e-15);
        assert_eq!(parse_seconds("3").unwrap(), 3.0);
        assert!(parse_seconds("5 minutes").is_err());
    }

    #[test]
    fn durations_beyond_a_week_or_below_zero_are_refused_with_the_limit() {
        for huge in ["1e20", "1e300", "1e300s", "18446744073709551616", "604801"] {
            let e = parse_seconds(huge).unwrap_err().to_string();
            assert!(e.contains("at most 604800s (a week)"), "{huge}: {e}");
        }
        assert_eq!(parse_seconds("604800").unwrap(), MAX_SECONDS);
        assert_eq!(
            parse_duration("7e8ms").unwrap_err().to_string(),
            "duration '7e8ms' is too long: at most 604800s (a week)"
        );
        let e = parse_seconds("-1ms").unwrap_err().to_string();
        assert!(e.contains("cannot be negative"), "{e}");
        assert!(timeout_arg("1e300").is_err());
        assert_eq!(timeout_arg("90s").unwrap(), 90.0);
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(bytes_arg("8MiB").unwrap(), 8 << 20);
        assert_eq!(bytes_arg("64KiB").unwrap(), 64 << 10);
        assert_eq!(bytes_arg("1MB").unwrap(), 1_000_000);
        assert_eq!(bytes_arg("1000").unwrap(), 1000);
        for bad in ["0", "-1MiB", "lots", "2TiB", "nan"] {
            assert!(bytes_arg(bad).is_err(), "{bad}");
        }
    }
}
