//! `cpuwall serve` as the serving tests run it: default models trained
//! once, a server on a free port (killed when dropped), one HTTP/1.1
//! exchange per fresh connection, its metrics and memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use super::run_in;

/// Models trained once for every test here: nb, rf and svc defaults.
pub fn models_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cpuwall-serve-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for m in ["nb", "rf", "svc"] {
            // Predicting with a missing default model trains it.
            let o = run_in(
                &dir,
                &[
                    "predict",
                    "--model",
                    m,
                    "--rows",
                    "10",
                    "--backend",
                    "direct",
                    "--min-time",
                    "1ms",
                ],
            );
            assert!(o.status.success(), "{}", super::stderr(&o));
        }
        dir.join("models")
    })
}

/// A running `cpuwall serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        let dir = models_dir();
        let mut args = vec!["serve", "--port", "0", "--models-dir"];
        let d = dir.to_str().unwrap();
        args.push(d);
        args.extend_from_slice(extra);
        if !extra.contains(&"--model") {
            args.extend_from_slice(&["--model", "nb,rf,svc"]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_cpuwall"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cpuwall serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let addr = loop {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap() == 0 {
                panic!("serve exited before listening: {seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(seen));
        let l = log.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Server { child, addr, log }
    }

    /// SIGTERM, then its exit status (within 20 s, or the test fails).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait_exit()
    }

    /// Its exit status, once it exits (within 20 s, or the test fails).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let t = std::time::Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange on a fresh connection: status, headers (lower-case
/// names), body.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading all of a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&raw)));
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = headers[9..12].parse().unwrap();
    (status, headers, raw[split + 4..].to_vec())
}

pub fn post(addr: SocketAddr, model: &str, body: &Value) -> (u16, Value) {
    let (status, _, b) = http(
        addr,
        "POST",
        &format!("/v1/models/{model}/predict"),
        body.to_string().as_bytes(),
    );
    (status, serde_json::from_slice(&b).expect("a JSON body"))
}

/// Rows of a 10-feature study-like set (make_classification seed 7).
pub fn rows(n: usize) -> Vec<Vec<f64>> {
    let d = cpuwall::data::synth::MakeClassification::new(n, 10, 7)
        .generate()
        .unwrap();
    d.x.rows().into_iter().map(|r| r.to_vec()).collect()
}

pub fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, _, b) = http(addr, "GET", "/metrics", b"");
    cpuwall::serve::metrics::sample_value(&String::from_utf8_lossy(&b), name)
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// Resident memory of a process, bytes.
pub fn rss(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") * 1024
}

/// Peak resident memory of a process, bytes.
pub fn peak_rss(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}

/// A `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}
