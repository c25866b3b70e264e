//! `cpuwall serve`'s Open Inference Protocol (KServe v2 REST) routes as a
//! client sends them, and the server under hostile clients (slow headers,
//! bodies that never finish, a 1 GB Content-Length, 10,000 idle
//! connections, JSON nested 100,000 deep), each answered or closed while a
//! well-behaved client keeps getting answers. No assertion is about speed
//! beyond "answered at all, in seconds"; the latencies are printed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::serving::{http, peak_rss, rows, Server};
use serde_json::{json, Value};

fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, _, body) = http(addr, "GET", path, b"");
    (status, serde_json::from_slice(&body).expect("a JSON body"))
}

fn infer(addr: SocketAddr, model: &str, body: &Value) -> (u16, Value) {
    let (status, _, b) = http(
        addr,
        "POST",
        &format!("/v2/models/{model}/infer"),
        body.to_string().as_bytes(),
    );
    (status, serde_json::from_slice(&b).expect("a JSON body"))
}

fn tensor(rows: &[Vec<f64>], nested: bool) -> Value {
    let data: Value = if nested {
        json!(rows)
    } else {
        json!(rows.iter().flatten().collect::<Vec<_>>())
    };
    json!({"name": "input", "shape": [rows.len(), rows[0].len()], "datatype": "FP64", "data": data})
}

#[test]
fn v2_health_and_metadata_answer_as_the_protocol_says() {
    let s = Server::start(&[]);
    assert_eq!(get(s.addr, "/v2/health/live"), (200, json!({"live": true})));
    assert_eq!(
        get(s.addr, "/v2/health/ready"),
        (200, json!({"ready": true}))
    );
    let (status, server) = get(s.addr, "/v2");
    assert_eq!(status, 200);
    assert_eq!(server["name"], "cpuwall");
    assert_eq!(server["extensions"], json!(["binary_tensor_data"]));
    let (status, nb) = get(s.addr, "/v2/models/nb");
    assert_eq!(status, 200);
    assert_eq!(
        nb["inputs"],
        json!([{"name": "input", "datatype": "FP64", "shape": [-1, 10]}])
    );
    assert_eq!(
        nb["outputs"],
        json!([{"name": "label", "datatype": "INT64", "shape": [-1]},
               {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]}])
    );
    assert_eq!(nb["platform"], "cpuwall_nb");
    assert_eq!(get(s.addr, "/v2/models/nb/versions/1").1, nb);
    // LinearSVC gives no probabilities: one output.
    let (_, svc) = get(s.addr, "/v2/models/svc");
    assert_eq!(svc["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(s.addr, "/v2/models/rf/ready"),
        (200, json!({"name": "rf", "ready": true}))
    );
    let (status, e) = get(s.addr, "/v2/models/nb/versions/2");
    assert_eq!(status, 404);
    assert!(e["error"].as_str().unwrap().contains("no version \"2\""));
    for path in [
        "/v2/models/lr",
        "/v2/models/..%2Fnb/ready",
        "/v2/models/%2E%2E/infer",
    ] {
        let (status, _, body) = http(
            s.addr,
            if path.ends_with("infer") {
                "POST"
            } else {
                "GET"
            },
            path,
            b"{}",
        );
        assert_eq!(status, 404, "{path}: {}", String::from_utf8_lossy(&body));
        let e: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("this server has nb, rf, svc"),
            "{e}"
        );
    }
}

#[test]
fn v2_answers_equal_the_native_routes_in_json_and_binary() {
    let s = Server::start(&[]);
    let data = rows(40);
    for model in ["nb", "rf", "svc"] {
        let proba = model != "svc";
        let (status, native) =
            common::serving::post(s.addr, model, &json!({"rows": data, "proba": proba}));
        assert_eq!(status, 200, "{native}");
        for nested in [true, false] {
            let (status, v2) = infer(
                s.addr,
                model,
                &json!({"id": "q-7", "inputs": [tensor(&data, nested)]}),
            );
            assert_eq!(status, 200, "{v2}");
            assert_eq!(v2["id"], "q-7");
            assert_eq!(v2["model_name"], model);
            let label = &v2["outputs"][0];
            assert_eq!(
                (label["name"].as_str(), label["shape"].clone()),
                (Some("label"), json!([40]))
            );
            assert_eq!(label["data"], native["labels"], "{model}");
            if proba {
                let p = &v2["outputs"][1];
                assert_eq!(p["shape"], json!([40, 2]));
                let flat: Vec<Value> = native["proba"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.as_array().unwrap().clone())
                    .collect();
                assert_eq!(p["data"], Value::Array(flat), "{model}");
            } else {
                assert_eq!(v2["outputs"].as_array().unwrap().len(), 1);
            }
        }
    }
    // Binary tensors both ways (tritonclient's default): FP32 in, INT64 out.
    let json_part = json!({
        "inputs": [{"name": "input", "shape": [40, 10], "datatype": "FP32", "parameters": {"binary_data_size": 40 * 10 * 4}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": true}}],
    })
    .to_string();
    let mut body = json_part.clone().into_bytes();
    let as_f32: Vec<Vec<f64>> = data
        .iter()
        .map(|r| r.iter().map(|v| *v as f32 as f64).collect())
        .collect();
    for v in as_f32.iter().flatten() {
        body.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    let mut conn = TcpStream::connect(s.addr).unwrap();
    write!(
        conn,
        "POST /v2/models/rf/infer HTTP/1.1\r\nHost: t\r\nConnection: close\r\nInference-Header-Content-Length: {}\r\nContent-Length: {}\r\n\r\n",
        json_part.len(),
        body.len()
    )
    .unwrap();
    conn.write_all(&body).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let json_len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("inference-header-content-length: "))
        .expect("the binary answer names its JSON part")
        .trim()
        .parse()
        .unwrap();
    let answer = &raw[split + 4..];
    let meta: Value = serde_json::from_slice(&answer[..json_len]).unwrap();
    assert_eq!(meta["outputs"][0]["parameters"]["binary_data_size"], 40 * 8);
    let labels: Vec<i64> = answer[json_len..]
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let (_, native) = common::serving::post(s.addr, "rf", &json!({"rows": as_f32}));
    assert_eq!(json!(labels), native["labels"]);
}

#[test]
fn v2_bad_requests_get_400_naming_what_to_send_and_the_server_stays_healthy() {
    let s = Server::start(&[]);
    let one = rows(1);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"inputs": [{"name": "input", "shape": [2, 10], "datatype": "FP64", "data": one[0]}]}),
            "shape [2, 10] (20 values) but its data has 10",
        ),
        (
            json!({"inputs": [{"name": "input", "shape": [1, 9], "datatype": "FP64", "data": one[0]}]}),
            "takes [N, 10]",
        ),
        (
            json!({"inputs": [{"name": "input", "shape": [1, 10], "datatype": "BYTES", "data": one[0]}]}),
            "not numeric",
        ),
        (
            json!({"inputs": [tensor(&one, true)], "outputs": [{"name": "scores"}]}),
            "no output \"scores\"",
        ),
        (
            json!({"inputs": [tensor(&one, true), tensor(&one, true)]}),
            "2 inputs",
        ),
        (json!({"inputs": "x"}), "not an inference request"),
    ];
    for (body, says) in cases {
        let (status, e) = infer(s.addr, "nb", &body);
        assert_eq!(status, 400, "{body}: {e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{body}: {e}");
    }
    let (status, e) = infer(
        s.addr,
        "svc",
        &json!({"inputs": [tensor(&one, true)], "outputs": [{"name": "probabilities"}]}),
    );
    assert_eq!(status, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("gives no probabilities"),
        "{e}"
    );
    // Python's json.dumps writes NaN and Infinity; neither is JSON.
    let nan = r#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [NaN, Infinity]}]}"#;
    let deep = format!(
        r#"{{"inputs": [{{"name": "input", "shape": [1, 10], "datatype": "FP64", "data": {}}}]}}"#,
        "[".repeat(100_000)
    );
    for (body, says) in [
        (nan.to_string(), "NaN and Infinity are not JSON"),
        (deep, "nested too deeply"),
    ] {
        let (status, _, b) = http(s.addr, "POST", "/v2/models/nb/infer", body.as_bytes());
        let e: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(status, 400, "{e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{e}");
    }
    // The native route refuses deep nesting too, as malformed.
    let deep = format!(r#"{{"rows": {}}}"#, "[".repeat(100_000));
    assert_eq!(
        http(s.addr, "POST", "/v1/models/nb/predict", deep.as_bytes()).0,
        400
    );
    let (status, ok) = infer(s.addr, "nb", &json!({"inputs": [tensor(&one, true)]}));
    assert_eq!(status, 200, "{ok}");
}

/// Raise this process's open-file limit toward `want` (the server inherits
/// it); the limit reached.
fn raise_open_files(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let target = want.min(lim.rlim_max);
    if lim.rlim_cur < target {
        lim.rlim_cur = target;
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur
}

fn status_line(mut conn: TcpStream, wait: Duration) -> String {
    conn.set_read_timeout(Some(wait)).unwrap();
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .lines()
        .next()
        .unwrap_or("(closed)")
        .to_string()
}

/// One-row v2 requests on a keep-alive connection for `n` answers:
/// latencies in µs, sorted, reconnecting when the server closes it.
fn probe(addr: SocketAddr, n: usize) -> Vec<u64> {
    let body =
        json!({"inputs": [tensor(&rows(1), true)], "outputs": [{"name": "label"}]}).to_string();
    let request = format!(
        "POST /v2/models/nb/infer HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut out = Vec::with_capacity(n);
    let mut conn: Option<TcpStream> = None;
    while out.len() < n {
        let t = Instant::now();
        let c = conn.get_or_insert_with(|| {
            let c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            c.set_nodelay(true).unwrap();
            c
        });
        let mut buf = [0u8; 4096];
        let ok = c.write_all(request.as_bytes()).is_ok()
            && matches!(c.read(&mut buf), Ok(k) if k > 0 && buf.starts_with(b"HTTP/1.1 200"));
        if ok {
            out.push(t.elapsed().as_micros() as u64);
        } else {
            conn = None;
        }
    }
    out.sort_unstable();
    out
}

fn p99(sorted: &[u64]) -> u64 {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

#[test]
fn hostile_clients_are_closed_or_refused_and_the_others_keep_getting_answers() {
    let files = raise_open_files(12_000);
    let mut s = Server::start(&[
        "--model",
        "nb",
        "--client-timeout",
        "1s",
        "--max-connections",
        "256",
        "--max-body",
        "1MiB",
        "--body-memory",
        "4MiB",
        "--grace",
        "5s",
    ]);
    let idle = probe(s.addr, 2000);

    // A 1 GB Content-Length with a small body: 413 before reading it.
    let mut big = TcpStream::connect(s.addr).unwrap();
    write!(big, "POST /v2/models/nb/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n{{\"inputs\": [").unwrap();
    let t = Instant::now();
    let line = status_line(big, Duration::from_secs(10));
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "413 took {:?}",
        t.elapsed()
    );

    // A body that never finishes: 408 after --client-timeout.
    let mut stalled = TcpStream::connect(s.addr).unwrap();
    write!(stalled, "POST /v2/models/nb/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{{\"inputs\": [").unwrap();
    let stalled = std::thread::spawn(move || status_line(stalled, Duration::from_secs(10)));

    // Slow-loris: headers dribbled a byte every 200 ms, past --client-timeout.
    let loris: Vec<_> = (0..20)
        .map(|_| {
            let addr = s.addr;
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let t = Instant::now();
                for b in b"POST /v2/models/nb/infer HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa" {
                    if c.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    let mut probe = [0u8; 1];
                    c.set_nonblocking(true).unwrap();
                    let gone = matches!(c.read(&mut probe), Ok(0) | Ok(1));
                    c.set_nonblocking(false).unwrap();
                    if gone {
                        break;
                    }
                }
                t.elapsed()
            })
        })
        .collect();

    // 10,000 idle connections (or as many as this process may open) against
    // --max-connections 256: each new one closes the idlest; the
    // well-behaved client, sending all along, keeps getting answers.
    let flood_n = 10_000.min(files.saturating_sub(500) as usize);
    let addr = s.addr;
    let flood = std::thread::spawn(move || {
        let mut held = Vec::with_capacity(flood_n);
        for _ in 0..flood_n {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(c) => held.push(c),
                Err(e) => panic!("connection {} refused: {e}", held.len()),
            }
            // Paced (some thousands a second), so the flood is one client among
            // others on this machine's cores rather than a busy loop on one.
            std::thread::sleep(Duration::from_micros(100));
        }
        held
    });
    let mut during = Vec::new();
    while !flood.is_finished() {
        during.extend(probe(s.addr, 50));
    }
    during.sort_unstable();
    let held = flood.join().unwrap();
    // A fresh client, after the flood, is answered at once (an idle
    // connection is closed to make room).
    let t = Instant::now();
    let (status, _) = infer(s.addr, "nb", &json!({"inputs": [tensor(&rows(1), true)]}));
    assert_eq!(status, 200);
    let fresh = t.elapsed();
    assert!(
        fresh < Duration::from_secs(2),
        "a fresh client waited {fresh:?}"
    );

    assert!(stalled.join().unwrap().starts_with("HTTP/1.1 408"));
    for l in loris {
        let took = l.join().unwrap();
        assert!(
            took < Duration::from_secs(8),
            "a slow-loris client was held {took:?}"
        );
    }
    let rss = peak_rss(s.child.id());
    println!(
        "{flood_n} idle connections: one-row v2 p99 {} µs idle, {} µs during the flood ({} requests, x{:.1}); fresh client {fresh:?}; server peak RSS {} MiB",
        p99(&idle),
        p99(&during),
        during.len(),
        p99(&during) as f64 / p99(&idle) as f64,
        rss >> 20
    );
    assert!(rss < 256 << 20, "server peak RSS {} MiB", rss >> 20);

    // SIGTERM with the idle connections still open: exit 0 within the grace.
    let status = s.terminate();
    drop(held);
    let log = s.log.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
