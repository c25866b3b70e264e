//! The server's counters, exported in Prometheus' text format on `/metrics`.
//!
//! Lock-free atomics on the request path; the text is rendered on scrape.
//! Besides requests, latency and batch sizes, the server reports its own
//! process CPU seconds and CPU/wall over the last sampling interval, the
//! figure cpuwall exists to make honest: `cpuwall load` reads the counters
//! before and after a run to give the server's CPU/wall and mean batch size
//! over exactly that run.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::process_cpu;

/// Upper bounds of the latency buckets, seconds.
const LATENCY_BOUNDS: [f64; 16] = [
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0, 2.5, 10.0,
];

/// Upper bounds of the batch-size buckets, rows.
const BATCH_BOUNDS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// Status codes counted one by one; anything else is counted as `other`.
const STATUSES: [u16; 10] = [200, 400, 404, 405, 408, 413, 422, 500, 503, 504];

/// A cumulative histogram over fixed bounds (+Inf implied).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum of observations, in millionths of the unit (exact enough, atomic).
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((v * 1e6).round() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn sum(&self) -> f64 {
        self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(b) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum());
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

pub struct Metrics {
    started: Instant,
    requests: Vec<AtomicU64>,
    requests_other: AtomicU64,
    pub latency: Histogram,
    pub batch_rows: Histogram,
    /// Requests being answered now.
    pub in_flight: AtomicU64,
    /// Connections open now.
    pub connections: AtomicU64,
    /// Rows in batches being predicted now.
    pub predicting_rows: AtomicU64,
    /// (wall, process CPU) at the last sample, and CPU/wall since the one before.
    interval: Mutex<(Instant, Duration, f64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            started: Instant::now(),
            requests: STATUSES.iter().map(|_| AtomicU64::new(0)).collect(),
            requests_other: AtomicU64::new(0),
            latency: Histogram::new(&LATENCY_BOUNDS),
            batch_rows: Histogram::new(&BATCH_BOUNDS),
            in_flight: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            predicting_rows: AtomicU64::new(0),
            interval: Mutex::new((Instant::now(), process_cpu(), 0.0)),
        }
    }

    /// One answered request: its status and seconds from arrival to answer.
    pub fn request(&self, status: u16, seconds: f64) {
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => self.requests[i].fetch_add(1, Ordering::Relaxed),
            None => self.requests_other.fetch_add(1, Ordering::Relaxed),
        };
        self.latency.observe(seconds);
    }

    /// One predicted batch of `rows` rows.
    pub fn batch(&self, rows: usize) {
        self.batch_rows.observe(rows as f64);
    }

    /// Take a CPU/wall sample (called every second by the server).
    pub fn sample(&self) {
        let now = Instant::now();
        let cpu = process_cpu();
        let mut g = self.interval.lock().unwrap_or_else(|e| e.into_inner());
        let wall = now.duration_since(g.0).as_secs_f64();
        if wall > 0.0 {
            *g = (now, cpu, cpu.saturating_sub(g.1).as_secs_f64() / wall);
        }
    }

    /// Everything in Prometheus' text exposition format; `queued_rows` is the
    /// rows now waiting in every model's queue.
    pub fn render(&self, queued_rows: usize) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP cpuwall_http_requests_total Requests answered, by status.\n# TYPE cpuwall_http_requests_total counter"
        );
        for (s, c) in STATUSES.iter().zip(&self.requests) {
            let _ = writeln!(
                out,
                "cpuwall_http_requests_total{{status=\"{s}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "cpuwall_http_requests_total{{status=\"other\"}} {}",
            self.requests_other.load(Ordering::Relaxed)
        );
        self.latency.render(
            &mut out,
            "cpuwall_request_duration_seconds",
            "Seconds from a request's arrival to its answer.",
        );
        self.batch_rows.render(
            &mut out,
            "cpuwall_batch_rows",
            "Rows per predicted batch (micro-batching).",
        );
        let (cpu_now, interval_ratio) = {
            let g = self.interval.lock().unwrap_or_else(|e| e.into_inner());
            (process_cpu(), g.2)
        };
        let gauges: [(&str, &str, &str, f64); 7] = [
            (
                "cpuwall_queue_rows",
                "gauge",
                "Rows waiting to be predicted.",
                queued_rows as f64,
            ),
            (
                "cpuwall_requests_in_flight",
                "gauge",
                "Requests being answered now (this scrape included).",
                self.in_flight.load(Ordering::Relaxed) as f64,
            ),
            (
                "cpuwall_predicting_rows",
                "gauge",
                "Rows in batches being predicted now.",
                self.predicting_rows.load(Ordering::Relaxed) as f64,
            ),
            (
                "cpuwall_open_connections",
                "gauge",
                "Client connections open now.",
                self.connections.load(Ordering::Relaxed) as f64,
            ),
            (
                "process_cpu_seconds_total",
                "counter",
                "CPU seconds (user + system) of the server process, every thread.",
                cpu_now.as_secs_f64(),
            ),
            (
                "cpuwall_uptime_seconds",
                "counter",
                "Wall seconds since the server started.",
                self.started.elapsed().as_secs_f64(),
            ),
            (
                "cpuwall_cpu_per_wall",
                "gauge",
                "Process CPU seconds per wall second over the last interval (1 s).",
                interval_ratio,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

/// The value of an unlabelled sample (or one with exactly `labels`) in a
/// Prometheus text page.
pub fn sample_value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == name).then(|| value.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let m = Metrics::new();
        for s in [30e-6, 0.002, 0.002, 20.0] {
            m.request(200, s);
        }
        m.request(422, 1e-4);
        m.batch(1);
        m.batch(3);
        m.batch(5000);
        let text = m.render(7);
        let v = |k: &str| sample_value(&text, k).unwrap_or_else(|| panic!("{k} in\n{text}"));
        assert_eq!(v("cpuwall_http_requests_total{status=\"200\"}"), 4.0);
        assert_eq!(v("cpuwall_http_requests_total{status=\"422\"}"), 1.0);
        assert_eq!(
            v("cpuwall_request_duration_seconds_bucket{le=\"0.00005\"}"),
            1.0
        );
        assert_eq!(
            v("cpuwall_request_duration_seconds_bucket{le=\"0.0001\"}"),
            2.0
        );
        assert_eq!(
            v("cpuwall_request_duration_seconds_bucket{le=\"0.0025\"}"),
            4.0
        );
        assert_eq!(v("cpuwall_request_duration_seconds_bucket{le=\"10\"}"), 4.0);
        assert_eq!(
            v("cpuwall_request_duration_seconds_bucket{le=\"+Inf\"}"),
            5.0
        );
        assert_eq!(v("cpuwall_request_duration_seconds_count"), 5.0);
        assert!((v("cpuwall_request_duration_seconds_sum") - 20.00413).abs() < 1e-9);
        assert_eq!(v("cpuwall_batch_rows_bucket{le=\"4\"}"), 2.0);
        assert_eq!(v("cpuwall_batch_rows_sum"), 5004.0);
        assert_eq!(v("cpuwall_batch_rows_count"), 3.0);
        assert_eq!(v("cpuwall_queue_rows"), 7.0);
        assert!(v("process_cpu_seconds_total") > 0.0);
    }
}
