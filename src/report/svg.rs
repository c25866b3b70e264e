//! Line charts as SVG, written directly. (plotters needs a font backend —
//! system fontconfig or a bundled TTF — just to place axis labels; these
//! charts only need lines, ticks and <text>, which any SVG viewer lays out.)

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Dashed: a peer's (scikit-learn's) run of the same backend.
    pub dashed: bool,
    /// Palette index; `None`: by position.
    pub color: Option<usize>,
    /// Square markers and a dotted line (auto, which often lies on threads).
    pub square: bool,
}

impl Series {
    /// A series coloured by its backend (`direct`, `threads`, ...: the
    /// same colour for cpuwall's and a peer's run of it), dashed for a
    /// peer, squares and dots for auto.
    pub fn for_backend(name: String, backend: &str, points: Vec<(f64, f64)>, peer: bool) -> Self {
        let color = match backend {
            "direct" => 0,
            "threads" => 1,
            "processes" => 2,
            "auto" => 3,
            "mpi" => 4,
            b if b.starts_with("onnxruntime") => 5,
            _ => 7,
        };
        Series {
            name,
            points,
            dashed: peer,
            color: Some(color),
            square: backend == "auto",
        }
    }
}

/// A horizontal line across the plot with a label (one core, the ideal
/// speedup, ...).
pub struct Reference {
    pub y: f64,
    pub label: String,
}

/// How the y axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YAxis {
    /// Log scale, plain numbers.
    Log,
    /// Log scale of seconds, ticks in µs / ms / s.
    Seconds,
    /// Linear from 0, ticks at round steps.
    Linear,
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
];

/// A duration tick: `100 ns`, `1 µs`, `10 ms`, `1 s`.
fn seconds_tick(v: f64) -> String {
    let (scaled, unit) = if v < 1e-6 {
        (v * 1e9, "ns")
    } else if v < 1e-3 {
        (v * 1e6, "µs")
    } else if v < 1.0 {
        (v * 1e3, "ms")
    } else {
        (v, "s")
    };
    format!("{} {unit}", trim(scaled))
}

fn trim(v: f64) -> String {
    let t = format!("{v:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A round step for about five linear ticks up to `top`.
fn nice_step(top: f64) -> f64 {
    let raw = (top / 5.0).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A decade tick on a log axis: `1e3` from 1e3 up (cpuwall's counts),
/// plain below (`1`, `10`, `100`, `0.1`).
fn decade_tick(v: f64) -> String {
    let e = v.log10().round() as i32;
    if e >= 3 {
        format!("1e{e}")
    } else {
        trim(v)
    }
}

/// A chart with a log x axis; `log_y` picks a log or linear y axis.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> String {
    chart(
        title,
        x_label,
        y_label,
        series,
        if log_y { YAxis::Log } else { YAxis::Linear },
        &[],
    )
}

/// A chart with a log x axis (decades), a `y` axis and reference lines.
pub fn chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y: YAxis,
    refs: &[Reference],
) -> String {
    let log_y = y != YAxis::Linear;
    // The legend sits right of the plot: widen the chart for long names
    // (about 7 px a character at the legend's font size).
    let longest = series
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let r = (190.0f64).max(50.0 + 7.0 * longest);
    let (w, h) = (530.0 + r, 440.0);
    let (l, t, b) = (80.0, 40.0, 60.0);
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| *x > 0.0 && y.is_finite() && (!log_y || *y > 0.0))
        .collect();
    let fx = |x: f64| x.log10();
    let fy = |y: f64| if log_y { y.log10() } else { y };
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, y) in &pts {
        x0 = x0.min(fx(*x));
        x1 = x1.max(fx(*x));
        y0 = y0.min(fy(*y));
        y1 = y1.max(fy(*y));
    }
    if pts.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if log_y {
        y0 = y0.floor();
        y1 = y1.ceil().max(y0 + 1.0);
    } else {
        y0 = y0.min(0.0);
        let top = refs.iter().map(|r| r.y).fold(y1, f64::max);
        y1 = if top <= y0 { y0 + 1.0 } else { top * 1.1 };
        let step = nice_step(y1 - y0);
        y1 = (y1 / step).ceil() * step;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let px = |x: f64| l + (fx(x) - x0) / (x1 - x0) * (w - l - r);
    let py = |y: f64| h - b - (fy(y) - y0) / (y1 - y0) * (h - t - b);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        (l + w - r) / 2.0,
        esc(title)
    );
    // Axes and ticks.
    s.push_str(&format!(
        "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - b,
        w - r,
        h - b,
        h - b
    ));
    let mut e = x0.ceil();
    while e <= x1 + 1e-9 {
        let v = 10f64.powf(e);
        let x = px(v);
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{t}\" stroke=\"#ddd\"/>\n<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            h - b,
            h - b + 18.0,
            decade_tick(v)
        ));
        e += 1.0;
    }
    let ticks: Vec<f64> = if log_y {
        (y0 as i32..=y1 as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        let step = nice_step(y1 - y0);
        (0..)
            .map(|i| y0 + step * i as f64)
            .take_while(|v| *v <= y1 + 1e-9)
            .collect()
    };
    let y_tick = |v: f64| match y {
        YAxis::Seconds => seconds_tick(v),
        YAxis::Log => decade_tick(v),
        YAxis::Linear => trim(v),
    };
    for v in ticks {
        let y = py(v);
        s.push_str(&format!(
            "<line x1=\"{l}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            w - r,
            l - 6.0,
            y + 4.0,
            y_tick(v)
        ));
    }
    for rf in refs
        .iter()
        .filter(|r| r.y.is_finite() && (!log_y || r.y > 0.0))
    {
        let yy = py(rf.y);
        s.push_str(&format!(
            "<line data-reference=\"{}\" x1=\"{l}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#444\" stroke-width=\"1\" stroke-dasharray=\"2 3\"/>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#444\">{}</text>\n",
            esc(&rf.label),
            w - r,
            w - r - 4.0,
            yy - 4.0,
            esc(&rf.label)
        ));
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">{}</text>\n",
        (l + w - r) / 2.0,
        h - 16.0,
        esc(x_label),
        (t + h - b) / 2.0,
        (t + h - b) / 2.0,
        esc(y_label)
    ));
    for (i, ser) in series.iter().enumerate() {
        let color = COLORS[ser.color.unwrap_or(i) % COLORS.len()];
        let dash = if ser.dashed {
            " stroke-dasharray=\"6 4\""
        } else if ser.square {
            " stroke-dasharray=\"2 2\""
        } else {
            ""
        };
        let coords: Vec<String> = ser
            .points
            .iter()
            .filter(|(x, y)| *x > 0.0 && y.is_finite() && (!log_y || *y > 0.0))
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        s.push_str(&format!(
            "<polyline data-series=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>\n",
            esc(&ser.name),
            coords.join(" ")
        ));
        for c in &coords {
            let (cx, cy) = c.split_once(',').expect("pair");
            let (cx, cy): (f64, f64) = (cx.parse().expect("number"), cy.parse().expect("number"));
            s.push_str(&if ser.square {
                format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"white\" stroke=\"{color}\" stroke-width=\"1.5\"/>\n",
                    cx - 3.5,
                    cy - 3.5
                )
            } else if ser.dashed {
                format!("<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3\" fill=\"white\" stroke=\"{color}\" stroke-width=\"1.5\"/>\n")
            } else {
                format!("<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3\" fill=\"{color}\"/>\n")
            });
        }
        let ly = t + 10.0 + 20.0 * i as f64;
        s.push_str(&format!(
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\n<text x=\"{}\" y=\"{}\">{}</text>\n",
            w - r + 10.0,
            w - r + 34.0,
            w - r + 40.0,
            ly + 4.0,
            esc(&ser.name)
        ));
    }
    s.push_str("</svg>\n");
    s
}
