//! `cpuwall serve` and `cpuwall load` as a user runs them: every endpoint's
//! contract, every bad-request class, labels equal to `cpuwall predict`,
//! many clients at once, a full queue, SIGTERM with requests in flight, and
//! the load generator's counts and its coordinated-omission correction.
//! No assertion is about speed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::serving::{http, metric, models_dir, post, rows, rss, Server};
use common::{assert_fails, assert_valid_results, cpuwall, run_in, stdout};
use serde_json::{json, Value};

#[test]
fn endpoints_answer_their_contract() {
    let s = Server::start(&[]);
    let (status, headers, body) = http(s.addr, "GET", "/health", b"");
    assert_eq!(status, 200);
    assert!(headers.contains("content-type: application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"status": "ok"})
    );

    let (status, _, body) = http(s.addr, "GET", "/models", b"");
    assert_eq!(status, 200);
    let listing: Value = serde_json::from_slice(&body).unwrap();
    let models = listing["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["nb", "rf", "svc"]);
    for m in models {
        assert_eq!(m["n_features"], 10);
        assert_eq!(m["feature_names"][0], "f0");
        assert_eq!(m["classes"], json!([0, 1]));
    }
    assert_eq!(models[0]["family"], "Gaussian naive Bayes");
    assert_eq!(models[2]["probabilities"], false);

    // Probabilities: one row per input row, each summing to 1, argmax = label.
    let (status, answer) = post(s.addr, "nb", &json!({"rows": rows(5), "proba": true}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["classes"], json!([0, 1]));
    let labels = answer["labels"].as_array().unwrap();
    let proba = answer["proba"].as_array().unwrap();
    assert_eq!((labels.len(), proba.len()), (5, 5));
    for (l, p) in labels.iter().zip(proba) {
        let p: Vec<f64> = p
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!((p[0] + p[1] - 1.0).abs() < 1e-12, "{p:?}");
        assert_eq!(l.as_i64().unwrap(), i64::from(p[1] > p[0]));
    }
    // TF-Serving's "instances" is the same request.
    let (_, a) = post(s.addr, "nb", &json!({"rows": rows(5)}));
    let (_, b) = post(s.addr, "nb", &json!({"instances": rows(5)}));
    assert_eq!(a, b);
    assert_eq!(a["labels"], answer["labels"]);

    let (status, headers, body) = http(s.addr, "GET", "/metrics", b"");
    assert_eq!(status, 200);
    assert!(headers.contains("content-type: text/plain"));
    let text = String::from_utf8(body).unwrap();
    for name in [
        "cpuwall_http_requests_total{status=\"200\"}",
        "cpuwall_request_duration_seconds_count",
        "cpuwall_batch_rows_count",
        "cpuwall_queue_rows",
        "process_cpu_seconds_total",
        "cpuwall_cpu_per_wall",
    ] {
        assert!(
            cpuwall::serve::metrics::sample_value(&text, name).is_some(),
            "{name}:\n{text}"
        );
    }
    // Five 200s so far (health, models, three predictions), the batches held 15 rows.
    assert_eq!(
        cpuwall::serve::metrics::sample_value(&text, "cpuwall_http_requests_total{status=\"200\"}"),
        Some(5.0)
    );
    assert_eq!(
        cpuwall::serve::metrics::sample_value(&text, "cpuwall_batch_rows_sum"),
        Some(15.0)
    );
}

#[test]
fn served_labels_equal_cpuwall_predict_for_the_same_rows() {
    let s = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let data = rows(300);
    let mut csv = String::from("f0,f1,f2,f3,f4,f5,f6,f7,f8,f9\n");
    for r in &data {
        csv.push_str(
            &r.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        csv.push('\n');
    }
    std::fs::write(dir.path().join("rows.csv"), csv).unwrap();
    for model in ["nb", "rf", "svc"] {
        let path = models_dir().join(format!("{model}.cpuwall"));
        let o = run_in(
            dir.path(),
            &[
                "predict",
                "--model",
                path.to_str().unwrap(),
                "--data",
                "rows.csv",
                "--backend",
                "direct",
                "--min-time",
                "1ms",
                "--out",
                "labels.csv",
            ],
        );
        assert!(o.status.success(), "{}", common::stderr(&o));
        let expected: Vec<i64> = std::fs::read_to_string(dir.path().join("labels.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.parse().unwrap())
            .collect();
        // Whole, and in requests of 7 rows sent at once (so they batch).
        let (status, whole) = post(s.addr, model, &json!({"rows": data}));
        assert_eq!(status, 200);
        let got: Vec<i64> = serde_json::from_value(whole["labels"].clone()).unwrap();
        assert_eq!(got, expected, "{model}");
        let parts: Vec<std::thread::JoinHandle<Vec<i64>>> = data
            .chunks(7)
            .map(|c| {
                let (addr, body, model) = (s.addr, json!({"rows": c}), model.to_string());
                std::thread::spawn(move || {
                    let (status, a) = post(addr, &model, &body);
                    assert_eq!(status, 200, "{a}");
                    serde_json::from_value(a["labels"].clone()).unwrap()
                })
            })
            .collect();
        let got: Vec<i64> = parts.into_iter().flat_map(|h| h.join().unwrap()).collect();
        assert_eq!(got, expected, "{model} in parts");
    }
}

#[test]
fn bad_requests_get_their_status_and_a_json_error_and_leave_the_server_healthy() {
    let s = Server::start(&["--max-body", "4KiB"]);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("nb", "{\"rows\": [[1,2]".into(), 400, "malformed JSON"),
        ("nb", "not json".into(), 400, "malformed JSON"),
        (
            "nb",
            json!({"rows": [vec![1.0; 9]]}).to_string(),
            422,
            "row 0 has 9 values; the model takes 10 features",
        ),
        (
            "nb",
            json!({"rows": [vec![1.0; 10], vec![1.0; 11]]}).to_string(),
            422,
            "row 1 has 11 values",
        ),
        (
            "nb",
            "{\"rows\": [[1,2,3,4,5,6,7,8,NaN,10]]}".into(),
            422,
            "row 0, column 8: NaN is not a finite number",
        ),
        (
            "nb",
            "{\"rows\": [[1,2,3,4,5,6,7,8,9,Infinity]]}".into(),
            422,
            "row 0, column 9: Infinity",
        ),
        (
            "nb",
            json!({"rows": [[1,2,3,4,5,6,7,8,9,null]]}).to_string(),
            422,
            "row 0, column 9 is null",
        ),
        ("nb", json!({"rows": []}).to_string(), 422, "empty"),
        (
            "svc",
            json!({"rows": [vec![1.0; 10]], "proba": true}).to_string(),
            422,
            "gives no probabilities",
        ),
        (
            "forest",
            json!({"rows": [vec![1.0; 10]]}).to_string(),
            404,
            "no model 'forest'; this server has nb, rf, svc",
        ),
        (
            "nb",
            json!({"rows": vec![[1.5; 10]; 200]}).to_string(),
            413,
            "larger than this server's --max-body",
        ),
    ];
    for (model, body, status, needle) in &cases {
        let (got, _, answer) = http(
            s.addr,
            "POST",
            &format!("/v1/models/{model}/predict"),
            body.as_bytes(),
        );
        let answer: Value =
            serde_json::from_slice(&answer).unwrap_or_else(|_| panic!("{body}: not JSON"));
        assert_eq!(got, *status, "{body}: {answer}");
        let message = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(message.contains(needle), "{body}: {message}");
        assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    }
    let (status, _, body) = http(s.addr, "GET", "/nowhere", b"");
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("no route GET /nowhere"));
    let (status, _, body) = http(s.addr, "GET", "/v1/models/nb/predict", b"");
    assert_eq!(status, 405);
    assert!(String::from_utf8_lossy(&body).contains("\"error\""));
    // Still serving, and every refusal counted by its status.
    let (status, answer) = post(s.addr, "nb", &json!({"rows": rows(1)}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        metric(s.addr, "cpuwall_http_requests_total{status=\"400\"}"),
        2.0
    );
    assert_eq!(
        metric(s.addr, "cpuwall_http_requests_total{status=\"422\"}"),
        7.0
    );
    assert_eq!(
        metric(s.addr, "cpuwall_http_requests_total{status=\"404\"}"),
        2.0
    );
    assert_eq!(
        metric(s.addr, "cpuwall_http_requests_total{status=\"413\"}"),
        1.0
    );
    assert_eq!(
        metric(s.addr, "cpuwall_http_requests_total{status=\"405\"}"),
        1.0
    );
}

#[test]
fn two_hundred_concurrent_clients_are_all_answered() {
    let s = Server::start(&["--model", "nb"]);
    let data = rows(200);
    let expected: Vec<i64> = {
        let (_, a) = post(s.addr, "nb", &json!({"rows": data}));
        serde_json::from_value(a["labels"].clone()).unwrap()
    };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(200));
    let handles: Vec<_> = data
        .into_iter()
        .map(|row| {
            let (addr, b) = (s.addr, barrier.clone());
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                b.wait();
                let body = json!({"rows": [row]}).to_string();
                write!(conn, "POST /v1/models/nb/predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
                let mut raw = String::new();
                conn.read_to_string(&mut raw).unwrap();
                assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
                let v: Value = serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
                v["labels"][0].as_i64().unwrap()
            })
        })
        .collect();
    let got: Vec<i64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_memory_stays_bounded() {
    // The forest predicts 100,000 rows in about half a second on one
    // thread: while it does, a second such request fills the queue
    // (100,000 rows fit) and one-row requests are refused.
    let s = Server::start(&[
        "--model",
        "rf",
        "--backend",
        "direct",
        "--queue",
        "100000",
        "--max-body",
        "64MiB",
    ]);
    let big = json!({"rows": rows(100_000)}).to_string();
    let one = json!({"rows": rows(1)}).to_string();
    let mut refused = 0;
    for _round in 0..5 {
        let (addr, b) = (s.addr, big.clone());
        let leader =
            std::thread::spawn(move || http(addr, "POST", "/v1/models/rf/predict", b.as_bytes()).0);
        // Wait until the big request is being predicted.
        let t = Instant::now();
        while metric(s.addr, "cpuwall_predicting_rows") < 100_000.0
            && t.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let (addr, b) = (s.addr, big.clone());
        let queued =
            std::thread::spawn(move || http(addr, "POST", "/v1/models/rf/predict", b.as_bytes()).0);
        let t = Instant::now();
        while metric(s.addr, "cpuwall_queue_rows") < 100_000.0
            && t.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let small: Vec<_> = (0..12)
            .map(|_| {
                let (addr, b) = (s.addr, one.clone());
                std::thread::spawn(move || {
                    let (status, headers, body) =
                        http(addr, "POST", "/v1/models/rf/predict", b.as_bytes());
                    (status, headers, String::from_utf8_lossy(&body).into_owned())
                })
            })
            .collect();
        for h in small {
            let (status, headers, body) = h.join().unwrap();
            match status {
                200 => assert!(body.contains("labels"), "{body}"),
                503 => {
                    refused += 1;
                    assert!(headers.contains("retry-after: 1"), "{headers}");
                    assert!(body.contains("full queue"), "{body}");
                }
                other => panic!("status {other}: {body}"),
            }
        }
        assert_eq!(leader.join().unwrap(), 200);
        assert_eq!(queued.join().unwrap(), 200);
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "no request was refused in 5 rounds");
    assert!(metric(s.addr, "cpuwall_http_requests_total{status=\"503\"}") >= 1.0);
    assert_eq!(metric(s.addr, "cpuwall_queue_rows"), 0.0);
    // 2 x 100,000 x 10 values held a few times over, plus the forest: far below this.
    let bytes = rss(s.child.id());
    assert!(bytes < 400 << 20, "server RSS {} MB", bytes >> 20);
}

#[test]
fn sigterm_answers_requests_in_flight_then_exits_0() {
    let mut s = Server::start(&[
        "--model",
        "rf",
        "--backend",
        "direct",
        "--queue",
        "60000",
        "--max-body",
        "64MiB",
    ]);
    let big = json!({"rows": rows(60_000)}).to_string();
    let addr = s.addr;
    let client = std::thread::spawn(move || {
        let (status, _, body) = http(addr, "POST", "/v1/models/rf/predict", big.as_bytes());
        let v: Value = serde_json::from_slice(&body).unwrap();
        (status, v["labels"].as_array().map_or(0, |l| l.len()))
    });
    let t = Instant::now();
    // In flight: the big request and this scrape itself.
    while metric(s.addr, "cpuwall_requests_in_flight") < 2.0 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the request never arrived"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    assert_eq!(client.join().unwrap(), (200, 60_000));
    let status = s.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", s.log.lock().unwrap());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        s.log.lock().unwrap().contains("stopped: "),
        "{}",
        s.log.lock().unwrap()
    );
    assert!(
        TcpStream::connect(s.addr).is_err(),
        "still accepting after SIGTERM"
    );
}

#[test]
fn idle_clients_are_disconnected_after_the_client_timeout() {
    let s = Server::start(&["--model", "nb", "--client-timeout", "0.5s"]);
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    // The server closes the connection (EOF, or a 408 first).
    let _ = idle.read(&mut buf);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "idle connection kept open"
    );
    let (status, _) = post(s.addr, "nb", &json!({"rows": rows(1)}));
    assert_eq!(status, 200);
}

#[test]
fn serve_refuses_bad_options_in_one_line() {
    let dir = models_dir().to_str().unwrap();
    // `cpuwall serve --model nb` on the test models, with `extra` options.
    let serve_nb = |extra: &[&str]| {
        let mut args = vec!["serve", "--model", "nb", "--models-dir", dir];
        args.extend_from_slice(extra);
        cpuwall(&args)
    };
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_fails(
        &serve_nb(&["--port", &port]),
        2,
        "cannot listen on 127.0.0.1:",
    );
    assert_fails(
        &serve_nb(&["--backend", "processes"]),
        2,
        "--backend processes cannot serve",
    );
    let o = cpuwall(&[
        "serve",
        "--model",
        "bad name=x.cpuwall",
        "--models-dir",
        dir,
    ]);
    assert_fails(&o, 2, "model name 'bad name'");
    let o = cpuwall(&["serve", "--model", "nb,nb", "--models-dir", dir]);
    assert_fails(&o, 2, "two models are named 'nb'");
    let o = cpuwall(&["load", "--model", "nb", "--url", "ftp://x", "--rate", "10"]);
    assert_fails(&o, 2, "is not an http:// URL");
    assert_fails(
        &serve_nb(&["--max-body", "8MiB", "--body-memory", "1MiB"]),
        2,
        "--body-memory (1048576 bytes) is below --max-body",
    );
    let o = cpuwall(&["load", "--model", "nb", "--protocol", "v3", "--rate", "10"]);
    assert_fails(&o, 2, "\"v3\" is no protocol; use native or v2");
}

fn load_json(args: &[&str]) -> Value {
    let o = cpuwall(args);
    assert!(o.status.success(), "{}", common::stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn load_counts_answers_errors_and_the_servers_batches() {
    let s = Server::start(&["--model", "nb"]);
    let url = s.url();
    let r = load_json(&[
        "load",
        "--url",
        &url,
        "--model",
        "nb",
        "--rate",
        "400",
        "--duration",
        "1s",
        "--warmup",
        "0.2s",
        "--rows-per-request",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(r["format"], "cpuwall-load");
    assert_valid_results(&r, "load --format json");
    assert_eq!(r["requests"], 400, "{r}");
    assert_eq!(r["ok"], 400);
    assert_eq!(r["errors"], json!({}));
    let l = &r["latency_ms"];
    let p = |k: &str| l[k].as_f64().unwrap();
    assert!(
        0.0 < p("p50")
            && p("p50") <= p("p90")
            && p("p90") <= p("p99")
            && p("p99") <= p("p999")
            && p("p999") <= p("max"),
        "{l}"
    );
    assert!(r["throughput_rps"].as_f64().unwrap() > 300.0, "{r}");
    let cpu = r["server_cpu_per_wall"].as_f64().unwrap();
    assert!(
        cpu > 0.0 && cpu <= 2.0 * std::thread::available_parallelism().unwrap().get() as f64,
        "{cpu}"
    );
    assert!(r["mean_batch_rows"].as_f64().unwrap() >= 3.0, "{r}");
    // The server counted what the generator sent (warm-up included).
    assert!(metric(s.addr, "cpuwall_batch_rows_sum") >= 3.0 * 400.0);

    // Rows of the wrong width: the server's 422 would answer every
    // request, so the load stops at once with the server's own message.
    let o = cpuwall(&[
        "load",
        "--url",
        &url,
        "--model",
        "nb",
        "--features",
        "3",
        "--rate",
        "200",
        "--duration",
        "0.5s",
        "--warmup",
        "0s",
        "--format",
        "json",
    ]);
    assert_fails(
        &o,
        2,
        "refused the load's request (422: row 0 has 3 values; the model takes 10 features); fix --features",
    );
    assert!(stdout(&o).is_empty(), "no results for a run of errors");

    // An unknown model is named before any load is sent.
    let o = cpuwall(&["load", "--url", &url, "--model", "forest", "--rate", "10"]);
    assert_fails(&o, 2, "the server has no model 'forest' (it serves nb)");
}

/// A server that answers every request at once, except that it stalls for
/// `stall` once, `after` into the run: what coordinated omission hides.
fn stalling_server(stall: Duration, after: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let started: std::sync::Arc<OnceLock<Instant>> = Default::default();
    let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let (started, stalled) = (started.clone(), stalled.clone());
            std::thread::spawn(move || {
                let mut conn = BufReader::new(conn.unwrap());
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    let mut path = String::new();
                    loop {
                        line.clear();
                        if conn.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if path.is_empty() {
                            path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                        }
                        if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    conn.read_exact(&mut body).unwrap();
                    let (status, answer) = if path.ends_with("/predict") {
                        let t0 = *started.get_or_init(Instant::now);
                        if t0.elapsed() >= after
                            && !stalled.swap(true, std::sync::atomic::Ordering::SeqCst)
                        {
                            std::thread::sleep(stall);
                        }
                        ("200 OK", "{\"labels\":[0]}")
                    } else {
                        ("404 Not Found", "{\"error\":\"no\"}")
                    };
                    let out = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}", answer.len());
                    if conn.get_mut().write_all(out.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// `cpuwall load` (2 s, no warm-up, 2-feature rows) against a fresh
/// server that stalls 500 ms once, 600 ms in; `mode` picks the loop.
fn load_a_stalling_server(mode: &[&str]) -> Value {
    let url = format!(
        "http://{}",
        stalling_server(Duration::from_millis(500), Duration::from_millis(600))
    );
    let mut args = vec![
        "load",
        "--url",
        &url,
        "--model",
        "m",
        "--features",
        "2",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--format",
        "json",
    ];
    args.extend_from_slice(mode);
    load_json(&args)
}

#[test]
fn open_loop_latency_counts_from_the_due_time_so_a_stall_shows() {
    // 1000 requests/s on one connection for 2 s; the server stalls 500 ms
    // once. About 500 requests fall due during the stall: measured from
    // their due time, a quarter of all requests waited, up to 500 ms.
    let open = load_a_stalling_server(&["--rate", "1000", "--connections", "1"]);
    let l = &open["latency_ms"];
    assert!(l["max"].as_f64().unwrap() >= 450.0, "{l}");
    assert!(l["p90"].as_f64().unwrap() >= 100.0, "{l}");
    assert!(open["server_cpu_per_wall"].is_null(), "no /metrics there");
    // A closed loop only sees the one slow request among thousands.
    let closed = load_a_stalling_server(&["--concurrency", "1"]);
    let l = &closed["latency_ms"];
    assert!(l["max"].as_f64().unwrap() >= 450.0, "{l}");
    assert!(l["p90"].as_f64().unwrap() < 50.0, "{l}");
}

#[test]
fn the_serving_report_opens_with_verdicts_and_plots_p99_against_the_rate() {
    let s = Server::start(&["--model", "nb"]);
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = d.join("a.json");
    let b = d.join("b.json");
    let pid = s.child.id().to_string();
    let o = cpuwall(&[
        "load",
        "--url",
        &url,
        "--model",
        "nb",
        "--find-max",
        "--rate",
        "200",
        "--max-steps",
        "2",
        // A target no stall of a shared machine misses: this checks the
        // pipeline (steps, verdicts, plots), not the server's speed.
        "--p99",
        "500ms",
        // Long enough that one stall does not lose 5% of the answers (the
        // "kept up" rule).
        "--duration",
        "1s",
        "--warmup",
        "0.1s",
        "--label",
        "cpuwall test",
        "--server-pid",
        &pid,
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    // Two doubling steps, both met: 400 req/s is the highest.
    assert!(
        stdout(&o).contains("highest rate with p99 <= 500.00 ms"),
        "{}",
        stdout(&o)
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    assert_eq!(saved["runs"].as_array().unwrap().len(), 2);
    assert_eq!(saved["find_max"]["best_rps"], 400.0);
    // --server-pid: the server's CPU read from /proc.
    assert!(
        saved["server_cpu_per_wall"].as_f64().unwrap() > 0.0,
        "{saved}"
    );
    let o = cpuwall(&[
        "load",
        "--url",
        &url,
        "--model",
        "nb",
        "--concurrency",
        "1",
        "--duration",
        "0.3s",
        "--warmup",
        "0s",
        "--label",
        "cpuwall test",
        "--out",
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let md = d.join("serving.md");
    let o = cpuwall(&[
        "report",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        md.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = std::fs::read_to_string(&md).unwrap();
    let verdicts = text.find("## Verdicts").expect("verdicts");
    assert!(verdicts < text.find("## Highest rate").unwrap());
    assert!(
        text.contains("- **nb**: cpuwall test 400 req/s (p99 ≤ 500.00 ms)."),
        "{text}"
    );
    assert!(
        text.contains("## One connection sending back to back"),
        "{text}"
    );
    assert!(
        text.contains("![nb: p99 vs offered rate](serving-nb-p99.svg)"),
        "{text}"
    );
    let svg = std::fs::read_to_string(d.join("serving-nb-p99.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert!(doc.descendants().any(|n| n.text() == Some("cpuwall test")));
    // The report never replaces its inputs.
    let o = cpuwall(&["report", a.to_str().unwrap(), "-o", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
}
