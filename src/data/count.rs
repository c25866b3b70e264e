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
}
