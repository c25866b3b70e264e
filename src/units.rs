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

/// A ratio for people: three significant figures (`0.452×`, `2.35×`,
/// `26.2×`, `262×`), and `>1000×` above a thousand, where the figure says
/// more about what was compared (a fixed dispatch cost against a
/// sub-microsecond call) than about either side.
pub fn times(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "-".into()
    } else if r > 1000.0 {
        ">1000×".into()
    } else if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else if r >= 1.0 {
        format!("{r:.2}×")
    } else {
        let s = format!("{r:.3}");
        // 0.9995 and above round up to 1: written as the ratios above it.
        if s.starts_with('1') {
            "1.00×".into()
        } else {
            format!("{}×", s.trim_end_matches('0'))
        }
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
        assert_eq!(times(26245.1), ">1000×");
        assert_eq!(times(1000.0), "1000×");
        assert_eq!(times(262.4), "262×");
        assert_eq!(times(26.24), "26.2×");
        assert_eq!(times(2.0), "2.00×");
        assert_eq!(times(0.452), "0.452×");
        assert_eq!(times(0.5), "0.5×");
        assert_eq!(times(0.9996), "1.00×");
        assert_eq!(times(0.9994), "0.999×");
        assert_eq!(times(f64::NAN), "-");
    }
}
