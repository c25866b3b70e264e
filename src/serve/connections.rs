//! The server's connections: the listening socket, and the open
//! connections' bookkeeping that lets a new client in when
//! `--max-connections` are open (the one idle longest is closed; when every
//! one is mid-request, the newcomer is answered 503).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bind and listen with a backlog of 4096 (the kernel caps it at
/// net.core.somaxconn): a burst of connections waits in the kernel while
/// the accept loop makes room, where tokio's default of 1024 overflowed in
/// the 10,000-connection test and cost the dropped clients a 1 s SYN retry.
pub async fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a).and_then(|()| socket.listen(4096)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "no address to listen on",
        )
    }))
}

/// One open connection: requests in progress, when it last finished one,
/// and the signal that closes it.
pub struct ConnState {
    pub id: u64,
    pub busy: std::sync::atomic::AtomicUsize,
    /// Milliseconds since the server's start at its last activity.
    last: std::sync::atomic::AtomicU64,
    pub close: tokio::sync::Notify,
}

impl ConnState {
    pub fn touch(&self) {
        self.last.store(now_ms(), Ordering::Relaxed);
    }
}

fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The connections open now.
#[derive(Default)]
pub struct OpenConnections {
    next: std::sync::atomic::AtomicU64,
    all: std::sync::Mutex<std::collections::HashMap<u64, Arc<ConnState>>>,
}

impl OpenConnections {
    pub fn count(&self) -> usize {
        self.all.lock().expect("not poisoned").len()
    }

    pub fn add(&self) -> Arc<ConnState> {
        let c = Arc::new(ConnState {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            busy: 0.into(),
            last: now_ms().into(),
            close: tokio::sync::Notify::new(),
        });
        self.all
            .lock()
            .expect("not poisoned")
            .insert(c.id, c.clone());
        c
    }

    pub fn remove(&self, id: u64) {
        self.all.lock().expect("not poisoned").remove(&id);
    }

    /// Close the connection idle longest (no request in progress); false
    /// when every connection is mid-request.
    pub fn close_idlest(&self) -> bool {
        let mut all = self.all.lock().expect("not poisoned");
        let idlest = all
            .values()
            .filter(|c| c.busy.load(Ordering::Relaxed) == 0)
            .min_by_key(|c| c.last.load(Ordering::Relaxed))
            .map(|c| c.id);
        match idlest.and_then(|id| all.remove(&id)) {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection beyond `--max-connections` while every open one is
/// mid-request: 503, then closed.
pub async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = br#"{"error":"the server has --max-connections connections, each mid-request; retry after a moment"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.shutdown().await
    })
    .await;
}

/// What went wrong with a client's connection, one line each the first
/// time it happens: a client that resets, vanishes or stalls costs its own
/// request and nothing else, and a flood of them writes no flood of lines.
#[derive(Default)]
pub struct ClientFaults {
    logged: [std::sync::atomic::AtomicBool; 4],
}

impl ClientFaults {
    /// Note `e`, the error that ended one connection (logged if it is the
    /// first of its kind).
    pub fn seen(&self, e: &hyper::Error) {
        let (class, what) = fault_class(e);
        if !self.logged[class].swap(true, Ordering::Relaxed) {
            eprintln!(
                "note: a client {what}; only its own request was lost (later ones like it are not logged)"
            );
        }
    }
}

/// The class (an index) of a connection's error, and what it says.
fn fault_class(e: &hyper::Error) -> (usize, String) {
    use std::error::Error as _;
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    match io {
        Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) => {
            (0, "reset its connection".into())
        }
        _ if e.is_timeout() => (
            1,
            "took longer than --client-timeout to send a request".into(),
        ),
        _ if e.is_incomplete_message() => {
            (2, "closed its connection in the middle of a request".into())
        }
        _ => (3, format!("connection failed: {e}")),
    }
}
