//! `cpuwall serve` against clients that fail: real sockets on loopback
//! that reset (SO_LINGER {1, 0}, then close: an RST, not a FIN) at every
//! point of a request and of its answer, while a well-behaved client goes
//! on. A client fault costs its own request and nothing else.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::serving::{post, rows, rss, Server};
use serde_json::json;

/// Close `s` with an RST: linger on, timeout 0.
fn reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger struct of the size given.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(s);
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// JSON rows for a native request of `n` rows.
fn native_body(n: usize) -> Vec<u8> {
    json!({ "rows": rows(n) }).to_string().into_bytes()
}

/// A v2 JSON request of `n` rows, answered with probabilities (a large reply).
fn v2_json_body(n: usize) -> Vec<u8> {
    let data: Vec<f64> = rows(n).into_iter().flatten().collect();
    json!({"inputs": [{"name": "input", "shape": [n, 10], "datatype": "FP64", "data": data}]})
        .to_string()
        .into_bytes()
}

/// A v2 request with a binary FP32 tensor: its head and its body.
fn v2_binary(n: usize) -> (String, Vec<u8>) {
    let part = json!({
        "inputs": [{"name": "input", "shape": [n, 10], "datatype": "FP32", "parameters": {"binary_data_size": n * 40}}],
    })
    .to_string();
    let mut body = part.clone().into_bytes();
    for v in rows(n).into_iter().flatten() {
        body.extend_from_slice(&(v as f32).to_le_bytes());
    }
    let head = format!(
        "POST /v2/models/rf/infer HTTP/1.1\r\nHost: t\r\nInference-Header-Content-Length: {}\r\nContent-Length: {}\r\n\r\n",
        part.len(),
        body.len()
    );
    (head, body)
}

fn head(path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// One faulty client: what it sends before it resets.
#[derive(Debug, Clone, Copy)]
enum Fault {
    MidHeaders,
    MidNativeBody,
    MidV2JsonBody,
    MidV2BinaryBody,
    AfterRequest,
    MidLargeReply,
}

const FAULTS: [Fault; 6] = [
    Fault::MidHeaders,
    Fault::MidNativeBody,
    Fault::MidV2JsonBody,
    Fault::MidV2BinaryBody,
    Fault::AfterRequest,
    Fault::MidLargeReply,
];

struct Bodies {
    native: Vec<u8>,
    v2_json: Vec<u8>,
    v2_binary: (String, Vec<u8>),
}

impl Bodies {
    fn new() -> Self {
        Bodies {
            native: native_body(2000),
            v2_json: v2_json_body(4000),
            v2_binary: v2_binary(2000),
        }
    }
}

/// Play `fault` against the server; `cut` (0..1) picks where in the
/// request the client stops.
fn play(addr: SocketAddr, fault: Fault, cut: f64, b: &Bodies) {
    let mut s = connect(addr);
    let part = |v: &[u8]| ((v.len() as f64 * cut) as usize).clamp(1, v.len() - 1);
    match fault {
        Fault::MidHeaders => {
            let h = head("/v1/models/rf/predict", b.native.len());
            let _ = s.write_all(&h.as_bytes()[..part(h.as_bytes())]);
        }
        Fault::MidNativeBody => {
            let _ = s.write_all(head("/v1/models/rf/predict", b.native.len()).as_bytes());
            let _ = s.write_all(&b.native[..part(&b.native)]);
        }
        Fault::MidV2JsonBody => {
            let _ = s.write_all(head("/v2/models/rf/infer", b.v2_json.len()).as_bytes());
            let _ = s.write_all(&b.v2_json[..part(&b.v2_json)]);
        }
        Fault::MidV2BinaryBody => {
            let (h, body) = &b.v2_binary;
            let _ = s.write_all(h.as_bytes());
            let _ = s.write_all(&body[..part(body)]);
        }
        Fault::AfterRequest => {
            let _ = s.write_all(head("/v1/models/rf/predict", b.native.len()).as_bytes());
            let _ = s.write_all(&b.native);
        }
        Fault::MidLargeReply => {
            let _ = s.write_all(head("/v2/models/rf/infer", b.v2_json.len()).as_bytes());
            let _ = s.write_all(&b.v2_json);
            let mut one = [0u8; 1];
            let _ = s.read_exact(&mut one);
        }
    }
    reset(s);
}

/// A well-behaved client posting one row at a time until `stop`; every
/// answer must be a 200 with one label. Returns how many it got.
fn steady(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let one = json!({ "rows": rows(1) });
    std::thread::spawn(move || {
        let mut answered = 0;
        while !stop.load(Ordering::Relaxed) {
            let (status, v) = post(addr, "rf", &one);
            assert_eq!(status, 200, "the steady client got {status}: {v}");
            assert_eq!(v["labels"].as_array().map(Vec::len), Some(1), "{v}");
            answered += 1;
        }
        answered
    })
}

#[test]
fn clients_that_reset_at_any_point_cost_only_their_own_request() {
    let mut s = Server::start(&["--model", "rf"]);
    let stop = Arc::new(AtomicBool::new(false));
    let steady = steady(s.addr, stop.clone());
    let b = Bodies::new();
    for round in 0..3 {
        for fault in FAULTS {
            play(s.addr, fault, 0.25 + 0.25 * round as f64, &b);
            assert!(
                s.child.try_wait().unwrap().is_none(),
                "serve died after a client's {fault:?}"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let answered = steady.join().expect("every steady request answered 200");
    assert!(answered > 0);
    // Still serving, and each class of fault logged at most once.
    let (status, v) = post(s.addr, "rf", &json!({ "rows": rows(3) }));
    assert_eq!(
        (status, v["labels"].as_array().map(Vec::len)),
        (200, Some(3))
    );
    assert!(s.child.try_wait().unwrap().is_none());
    let st = s.terminate();
    assert!(st.success(), "serve exits 0 on SIGTERM: {st:?}");
    let log = s.log.lock().unwrap().clone();
    for line in log.lines().filter(|l| l.starts_with("note: a client")) {
        assert_eq!(log.matches(line).count(), 1, "logged more than once: {log}");
    }
}

#[test]
fn a_thousand_resets_at_random_points_leave_the_server_alive_and_small() {
    let mut s = Server::start(&["--model", "rf"]);
    let stop = Arc::new(AtomicBool::new(false));
    let steady = steady(s.addr, stop.clone());
    let b = Bodies::new();
    let mut rng = cpuwall::rng::SplitMix64::new(45);
    for i in 0..1000 {
        let fault = FAULTS[rng.below(FAULTS.len())];
        play(s.addr, fault, rng.below(1000) as f64 / 1000.0, &b);
        if i % 100 == 0 {
            assert!(s.child.try_wait().unwrap().is_none(), "serve died at {i}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let answered = steady.join().expect("every steady request answered 200");
    assert!(answered > 0);
    assert!(s.child.try_wait().unwrap().is_none(), "serve died");
    let (status, _) = post(s.addr, "rf", &json!({ "rows": rows(1) }));
    assert_eq!(status, 200);
    let resident = rss(s.child.id());
    assert!(
        resident < 64 << 20,
        "serve holds {} MiB after 1,000 resets",
        resident >> 20
    );
    assert!(s.terminate().success());
}
