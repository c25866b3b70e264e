//! A minimal HTTP/1.1 client for the load generator: one hyper connection
//! per simulated client, kept alive, with `TCP_NODELAY` (Nagle + delayed
//! ACK would add 40 ms stalls to small requests).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::error::{Error, Result};

/// Where a server listens, from `http://host:port`.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
}

impl Target {
    /// Parse and resolve a base URL (`http://127.0.0.1:8080`, no path).
    pub async fn resolve(url: &str) -> Result<Target> {
        let bad = |why: &str| {
            Error::usage(format!(
                "--url '{url}' {why}; write http://HOST:PORT (e.g. http://127.0.0.1:8080)"
            ))
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("is not an http:// URL"))?;
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(bad("must be the server's base URL, without a path"));
        }
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| bad(&format!("does not resolve ({e})")))?
            .next()
            .ok_or_else(|| bad("does not resolve"))?;
        Ok(Target {
            addr,
            host: host.to_string(),
        })
    }
}

/// One kept-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

/// What came back: the status and the body.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Conn {
    pub async fn open(target: &Target, timeout: Duration) -> Result<Conn> {
        let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target.addr))
            .await
            .map_err(|_| Error::Runtime(format!("connecting to {} timed out", target.addr)))?
            .map_err(|e| Error::Runtime(format!("cannot connect to {}: {e}", target.addr)))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Runtime(format!("HTTP handshake with {}: {e}", target.addr)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: target.host.clone(),
        })
    }

    /// Send one request and read the whole answer.
    pub async fn call(&mut self, method: Method, path: &str, body: Bytes) -> Result<Reply> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        if !body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| Error::Runtime(format!("building a request for {path}: {e}")))?;
        self.sender
            .ready()
            .await
            .map_err(|e| Error::Runtime(format!("connection closed: {e}")))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| Error::Runtime(format!("request to {path} failed: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Runtime(format!("reading the answer from {path}: {e}")))?
            .to_bytes();
        Ok(Reply { status, body })
    }
}

/// GET `path` on a fresh connection.
pub async fn get(target: &Target, path: &str, timeout: Duration) -> Result<Reply> {
    let mut c = Conn::open(target, timeout).await?;
    tokio::time::timeout(timeout, c.call(Method::GET, path, Bytes::new()))
        .await
        .map_err(|_| Error::Runtime(format!("GET {path} timed out")))?
}
