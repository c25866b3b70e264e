//! Ground floor (imports nothing of cpuwall). Numbers for people: durations and rates with sensible units.

pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return "-".into();
    }
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

pub fn rate(per_second: f64) -> String {
    if per_second >= 1e9 {
        format!("{:.2}e9", per_second / 1e9)
    } else if per_second >= 1e6 {
        format!("{:.2}e6", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.2}e3", per_second / 1e3)
    } else {
        format!("{per_second:.0}")
    }
}

pub fn bytes(b: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_readable_units() {
        assert_eq!(seconds(0.000_012_3), "12.3 µs");
        assert_eq!(seconds(0.0123), "12.30 ms");
        assert_eq!(seconds(2.5), "2.500 s");
        assert_eq!(rate(71_400_000.0), "71.40e6");
        assert_eq!(bytes(88e12), "88.0 TB");
    }
}
