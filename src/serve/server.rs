//! `cpuwall serve`: HTTP/1.1 on tokio + hyper, routes by axum: the native
//! routes (`/v1/models/{name}/predict`, the fast path) and the Open
//! Inference Protocol's (`/v2/...`, [`super::v2`]), both through the same
//! batchers.
//!
//! Handlers are thin: the state lives in one `Arc<App>`, every error is one
//! [`ApiError`] (a status and `{"error": "..."}`), and prediction happens on
//! each model's batcher thread ([`super::batcher`]). Connections are served
//! by hyper directly (not `axum::serve`) for two things axum does not expose:
//! a header-read timeout, which closes idle and slow clients' connections,
//! and a graceful shutdown that stops accepting, lets in-flight requests be
//! answered, then returns.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use super::batcher::{has_probabilities, Batcher, Batching, Refused};
use super::connections::{listen, refuse_connection, ClientFaults, OpenConnections};
use super::metrics::Metrics;
use super::request::{self, Problem};
use super::v2::{self, ModelInfo};
use crate::error::{Error, Result};
use crate::exec::build::BackendSetup;
use crate::exec::BackendKind;
use crate::model::store::StoredModel;
use crate::model::Predictor;

/// A model to serve under `name`.
pub struct ServedModel {
    pub name: String,
    pub path: PathBuf,
    pub stored: StoredModel,
}

pub struct ServeConfig {
    pub models: Vec<ServedModel>,
    pub host: String,
    pub port: u16,
    pub backend: BackendKind,
    /// Threads for the threads/auto backends.
    pub threads: usize,
    /// Runtime threads answering connections (they also lead batches).
    pub io_threads: usize,
    /// Batch size from which auto uses threads (None: measured once, cached).
    pub threads_from: Option<usize>,
    pub batching: Batching,
    /// Largest request body, bytes (413 above).
    pub max_body: usize,
    /// How long a connection may take to send a request's headers (idle
    /// keep-alive included) or its body before it is closed.
    pub client_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub grace: Duration,
    /// Connections held open at once. A connection beyond it closes the
    /// one idle longest (no request in progress: keep-alive, or headers
    /// still dribbling in); when every one is mid-request, it is answered
    /// 503 and closed. Idle clients cannot lock others out.
    pub max_connections: usize,
    /// Bytes of request bodies read and parsed at once, all connections
    /// together (503 beyond): with the queue's rows, what bounds memory.
    pub body_memory: usize,
}

/// What a stopped server did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSummary {
    pub answered: u64,
    /// Connections still open when the grace period ran out.
    pub abandoned: usize,
}

/// An error answer: a status and a message for the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut r = json_bytes(self.status, body.into_bytes());
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

struct Entry {
    batcher: Arc<Batcher>,
    n_features: usize,
    /// Whether NaN (v1 `null`) is a missing value the model routes.
    missing: bool,
    classes: Vec<i64>,
    has_proba: bool,
    /// A regressor: v1 answers `{"predictions": [values]}`.
    regression: bool,
    kind: String,
    /// What the v2 protocol says of the model, and its metadata answer.
    info: ModelInfo,
    metadata: Vec<u8>,
}

struct App {
    models: BTreeMap<String, Entry>,
    models_json: Vec<u8>,
    metrics: Arc<Metrics>,
    max_body: usize,
    client_timeout: Duration,
    /// The body budget, in KiB permits.
    bodies: Arc<tokio::sync::Semaphore>,
    /// Set once shutdown starts: readiness answers 503 from then on.
    stopping: std::sync::atomic::AtomicBool,
}

impl App {
    fn entry(&self, name: &str) -> std::result::Result<&Entry, ApiError> {
        self.models.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.models.keys().map(String::as_str).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no model '{name}'; this server has {}", names.join(", ")),
            )
        })
    }
}

impl App {
    fn queued_rows(&self) -> usize {
        self.models.values().map(|e| e.batcher.queued_rows()).sum()
    }
}

/// Serve until SIGTERM or Ctrl-C. `on_ready` gets the bound address once
/// the server accepts connections.
pub fn serve(config: ServeConfig, on_ready: &dyn Fn(SocketAddr)) -> Result<ServeSummary> {
    if config.models.is_empty() {
        return Err(Error::usage("serve needs at least one model (--model nb)"));
    }
    let metrics = Arc::new(Metrics::new());
    let mut models = BTreeMap::new();
    let mut listing = Vec::new();
    for m in config.models {
        if models.contains_key(&m.name) {
            return Err(Error::usage(format!(
                "two models are named '{}'; serve each name once",
                m.name
            )));
        }
        let model = Arc::new(m.stored.model);
        let mut setup = BackendSetup::new(
            model.clone(),
            m.path.clone(),
            m.stored.header.data_hash.clone(),
        )?;
        setup.threads = config.threads;
        setup.threads_from = config.threads_from;
        let batcher = Arc::new(Batcher::new(
            setup,
            config.backend,
            config.batching,
            metrics.clone(),
        )?);
        let h = &m.stored.header;
        let has_proba = has_probabilities(&model);
        let info = ModelInfo {
            name: m.name.clone(),
            platform: format!("cpuwall_{}", model.kind()),
            n_features: model.n_features(),
            classes: model.classes().to_vec(),
            class_names: h.class_names.clone(),
            has_proba,
            missing: model.routes_missing(),
            regression: model.task() == crate::model::Task::Regression,
            outputs: model.n_outputs(),
        };
        listing.push(serde_json::json!({
            "name": m.name,
            "family": model.kind().long(),
            "n_features": model.n_features(),
            "feature_names": h.feature_names(),
            // Rows are lists of numbers, taken in the order of these names;
            // generated names (f0..fN-1) mean the model had no real ones.
            "feature_names_generated": h.features().generated,
            "task": model.task(),
            "outputs": model.n_outputs(),
            "classes": model.classes(),
            "class_names": h.class_names,
            "probabilities": has_proba,
            "missing_values": model.routes_missing(),
            "path": m.path.display().to_string(),
            "backend": config.backend.to_string(),
        }));
        models.insert(
            m.name.clone(),
            Entry {
                batcher,
                n_features: model.n_features(),
                missing: model.routes_missing(),
                classes: model.classes().to_vec(),
                has_proba,
                regression: model.task() == crate::model::Task::Regression,
                kind: model.kind().to_string(),
                metadata: serde_json::to_vec(&info.metadata()).expect("json"),
                info,
            },
        );
    }
    let app = Arc::new(App {
        models,
        models_json: serde_json::to_vec(&serde_json::json!({ "models": listing })).expect("json"),
        metrics: metrics.clone(),
        max_body: config.max_body,
        client_timeout: config.client_timeout,
        stopping: false.into(),
        bodies: Arc::new(tokio::sync::Semaphore::new(
            kib(config.body_memory).min(tokio::sync::Semaphore::MAX_PERMITS),
        )),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.io_threads)
        .thread_name("serve")
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the server's runtime", e))?;
    let addr = format!("{}:{}", config.host, config.port);
    let limits = Limits {
        client_timeout: config.client_timeout,
        grace: config.grace,
        max_connections: config.max_connections,
    };
    let result = runtime.block_on(run(app.clone(), addr, limits, on_ready));
    // Connections the grace period gave up on go with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let abandoned = result?;
    Ok(ServeSummary {
        answered: metrics.latency.count(),
        abandoned,
    })
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/models", get(list_models))
        .route("/metrics", get(metrics_page))
        .route("/v1/models/{name}/predict", post(predict))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(v2_live))
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/models/{name}", get(v2_model))
        .route("/v2/models/{name}/versions/{version}", get(v2_model))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(v2_model_ready),
        )
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(v2_infer))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

struct Limits {
    client_timeout: Duration,
    grace: Duration,
    max_connections: usize,
}

/// Bytes in KiB permits, rounded up.
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

async fn run(
    app: Arc<App>,
    addr: String,
    limits: Limits,
    on_ready: &dyn Fn(SocketAddr),
) -> Result<usize> {
    let listener = listen(&addr).await.map_err(|e| {
        Error::usage(format!(
            "cannot listen on {addr}: {e}; choose another --port (0 picks a free one) or --host"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listening address", e))?;
    let service = TowerToHyperService::new(router(app.clone()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let sampler = {
        let m = app.metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                m.sample();
            }
        })
    };
    let mut stop = std::pin::pin!(shutdown_signal());
    let open = Arc::new(OpenConnections::default());
    let faults = Arc::new(ClientFaults::default());
    on_ready(local);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => break,
        };
        let (stream, _) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: pause, go on.
                eprintln!("warning: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if open.count() >= limits.max_connections && !open.close_idlest() {
            tokio::spawn(refuse_connection(stream));
            continue;
        }
        let conn_state = open.add();
        let st = conn_state.clone();
        let svc = service.clone();
        let tracked = hyper::service::service_fn(move |req| {
            st.busy.fetch_add(1, Ordering::Relaxed);
            let answer = hyper::service::Service::call(&svc, req);
            let st = st.clone();
            async move {
                let r = answer.await;
                st.busy.fetch_sub(1, Ordering::Relaxed);
                st.touch();
                r
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.client_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), tracked);
        let watched = graceful.watch(conn);
        let metrics = app.metrics.clone();
        metrics.connections.fetch_add(1, Ordering::Relaxed);
        let open = open.clone();
        let faults = faults.clone();
        tokio::spawn(async move {
            // Dropping the connection (when evicted) closes its socket.
            tokio::select! {
                r = watched => {
                    if let Err(e) = r {
                        faults.seen(&e);
                    }
                }
                _ = conn_state.close.notified() => {}
            }
            open.remove(conn_state.id);
            metrics.connections.fetch_sub(1, Ordering::Relaxed);
        });
    }
    // Requests already received are answered; hyper closes each connection
    // after its current request.
    app.stopping.store(true, Ordering::Relaxed);
    drop(listener);
    let open = graceful.count();
    let abandoned = match tokio::time::timeout(limits.grace, graceful.shutdown()).await {
        Ok(()) => 0,
        Err(_) => open,
    };
    sampler.abort();
    Ok(abandoned)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Count every answer by status and time it from arrival.
async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let t = Instant::now();
    app.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let r = next.run(req).await;
    app.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    app.metrics
        .request(r.status().as_u16(), t.elapsed().as_secs_f64());
    r
}

async fn health() -> Response {
    json_bytes(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

async fn list_models(State(app): State<Arc<App>>) -> Response {
    json_bytes(StatusCode::OK, app.models_json.clone())
}

async fn metrics_page(State(app): State<Arc<App>>) -> Response {
    let mut r = Response::new(Body::from(app.metrics.render(app.queued_rows())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}; routes: GET /health, GET /models, GET /metrics, POST /v1/models/{{name}}/predict, and the Open Inference Protocol's under /v2 (POST /v2/models/{{name}}/infer)", uri.path()),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}; predictions are POST /v1/models/{{name}}/predict or POST /v2/models/{{name}}/infer, the rest GET", uri.path()),
    )
}

/// Bodies above this are parsed off the runtime's worker threads.
const PARSE_INLINE_BYTES: usize = 64 << 10;

async fn predict(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> std::result::Result<Response, ApiError> {
    let entry = app.entry(&name)?;
    refuse_encoded(&headers)?;
    let arrival = entry.batcher.arrive();
    let (bytes, budget) = read_body(&app, body).await?;
    let (d, missing) = (entry.n_features, entry.missing);
    let parsed = if bytes.len() > PARSE_INLINE_BYTES {
        tokio::task::spawn_blocking(move || request::parse(&bytes, d, missing))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    } else {
        request::parse(&bytes, d, missing)
    };
    // The body's bytes are gone once parsed; the rows wait in the queue,
    // which --queue bounds.
    drop(budget);
    let rows = parsed.map_err(|p| match p {
        Problem::Malformed(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
        Problem::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
    })?;
    if rows.proba && entry.regression {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("model '{name}' is a regressor: it answers \"predictions\", one value per row, and has no probabilities; drop \"proba\""),
        ));
    }
    if rows.proba && !entry.has_proba {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "model '{name}' ({}) gives no probabilities (as scikit-learn's LinearSVC); drop \"proba\"",
                entry.kind
            ),
        ));
    }
    let answer = run_batch(entry, &name, arrival, rows.values, rows.n, rows.proba).await?;
    let body = match &answer.proba {
        None if entry.regression => {
            let values: Vec<f64> = answer
                .labels
                .iter()
                .map(|&w| crate::model::word_value(w))
                .collect();
            // One value a row, or a list of a multi-output model's values.
            let k = entry.info.outputs;
            if k > 1 {
                let rows: Vec<&[f64]> = values.chunks(k).collect();
                serde_json::to_vec(&serde_json::json!({ "predictions": rows }))
            } else {
                serde_json::to_vec(&serde_json::json!({ "predictions": values }))
            }
        }
        None => serde_json::to_vec(&serde_json::json!({ "labels": answer.labels })),
        Some(p) => {
            let k = entry.classes.len().max(1);
            let rows: Vec<&[f64]> = p.chunks(k).collect();
            serde_json::to_vec(&serde_json::json!({
                "labels": answer.labels,
                "classes": entry.classes,
                "proba": rows,
            }))
        }
    }
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(json_bytes(StatusCode::OK, body))
}

/// Predict on `entry`'s batcher, its refusals as answers.
async fn run_batch(
    entry: &Entry,
    name: &str,
    arrival: super::batcher::Arrival<'_>,
    values: Vec<f64>,
    n: usize,
    proba: bool,
) -> std::result::Result<super::batcher::Answer, ApiError> {
    entry
        .batcher
        .predict(arrival, values, n, proba)
        .await
        .map_err(|r| match r {
            Refused::Full { queued_rows } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("model '{name}' has a full queue ({queued_rows} rows waiting); retry after a moment"),
            ),
            Refused::TooLarge { rows, queue_rows } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{rows} rows in one request, more than model '{name}' queues at once (--queue {queue_rows}); send at most {queue_rows} rows a request"),
            ),
            Refused::Closed => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the batch this request joined was abandoned",
            ),
            Refused::Failed(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e),
        })
}

async fn v2_server() -> Response {
    json_bytes(
        StatusCode::OK,
        v2::server_metadata().to_string().into_bytes(),
    )
}

async fn v2_live() -> Response {
    json_bytes(StatusCode::OK, br#"{"live":true}"#.to_vec())
}

async fn v2_ready(State(app): State<Arc<App>>) -> Response {
    if app.stopping.load(Ordering::Relaxed) {
        return json_bytes(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"ready":false}"#.to_vec(),
        );
    }
    json_bytes(StatusCode::OK, br#"{"ready":true}"#.to_vec())
}

/// A v2 path's model name and, when given, version ("1": models here have
/// one version).
fn v2_entry<'a>(
    app: &'a App,
    path: &BTreeMap<String, String>,
) -> std::result::Result<(&'a Entry, &'a str), ApiError> {
    let name = path.get("name").map(String::as_str).unwrap_or_default();
    let entry = app.entry(name)?;
    match path.get("version").map(String::as_str) {
        None | Some("1") | Some("") => Ok((entry, entry.info.name.as_str())),
        Some(v) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("model '{name}' has no version {v:?}; it has version \"1\""),
        )),
    }
}

async fn v2_model(
    State(app): State<Arc<App>>,
    Path(path): Path<BTreeMap<String, String>>,
) -> std::result::Result<Response, ApiError> {
    let (entry, _) = v2_entry(&app, &path)?;
    Ok(json_bytes(StatusCode::OK, entry.metadata.clone()))
}

async fn v2_model_ready(
    State(app): State<Arc<App>>,
    Path(path): Path<BTreeMap<String, String>>,
) -> std::result::Result<Response, ApiError> {
    let (_, name) = v2_entry(&app, &path)?;
    let ready = !app.stopping.load(Ordering::Relaxed);
    let body = serde_json::json!({ "name": name, "ready": ready }).to_string();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_bytes(status, body.into_bytes()))
}

async fn v2_infer(
    State(app): State<Arc<App>>,
    Path(path): Path<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> std::result::Result<Response, ApiError> {
    let (entry, name) = v2_entry(&app, &path)?;
    refuse_encoded(&headers)?;
    let mut lengths = headers.get_all(v2::HEADER_LENGTH).iter();
    let first = lengths.next();
    if lengths.any(|v| Some(v) != first) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "two different Inference-Header-Content-Length headers; send one",
        ));
    }
    let json_length = match first {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "Inference-Header-Content-Length must be a byte count",
                    )
                })?,
        ),
    };
    let arrival = entry.batcher.arrive();
    let (bytes, budget) = read_body(&app, body).await?;
    let parsed = if bytes.len() > PARSE_INLINE_BYTES {
        let info = entry.info.clone();
        tokio::task::spawn_blocking(move || v2::parse_infer(&bytes, json_length, &info))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    } else {
        v2::parse_infer(&bytes, json_length, &entry.info)
    };
    drop(budget);
    let req = parsed.map_err(|v2::BadRequest(m)| ApiError::new(StatusCode::BAD_REQUEST, m))?;
    let proba = req.wanted.probabilities.is_some();
    let answer = run_batch(entry, name, arrival, req.values, req.n, proba).await?;
    let (out, json_part) = v2::encode_infer(
        &entry.info,
        req.id.as_deref(),
        req.wanted,
        &answer.labels,
        answer.proba.as_deref(),
    );
    let mut r = json_bytes(StatusCode::OK, out);
    if let Some(l) = json_part {
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(v2::HEADER_LENGTH, HeaderValue::from(l));
    }
    Ok(r)
}

/// Bodies are read as sent: a compressed one (`Content-Encoding: gzip`)
/// is refused with 415, naming what is taken, never parsed as it is.
fn refuse_encoded(headers: &HeaderMap) -> std::result::Result<(), ApiError> {
    for v in headers.get_all(header::CONTENT_ENCODING) {
        let coding = v.to_str().unwrap_or("?").trim();
        if !coding.eq_ignore_ascii_case("identity") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding '{coding}' is not accepted; send the body uncompressed (identity)"),
            ));
        }
    }
    Ok(())
}

/// A request's body, read whole within `app`'s limits: at most
/// `--max-body` bytes, within `--client-timeout`, and holding its share of
/// the body budget (`--body-memory`) until the permit is dropped (after
/// parsing).
async fn read_body(
    app: &App,
    body: Body,
) -> std::result::Result<(bytes::Bytes, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let max = app.max_body;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than this server's --max-body ({max} bytes); send fewer rows per request"),
        )
    };
    let hint = axum::body::HttpBody::size_hint(&body);
    // A declared length over the limit is refused before any byte is read.
    if hint.lower() > max as u64 {
        return Err(too_large());
    }
    let need = kib(hint.upper().map_or(max, |u| u as usize).min(max)).max(1);
    let permit = app
        .bodies
        .clone()
        .try_acquire_many_owned(need.min(u32::MAX as usize) as u32)
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is reading as many request bodies as its --body-memory allows; retry after a moment",
            )
        })?;
    let timeout = app.client_timeout;
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body took longer than {} s to arrive",
                timeout.as_secs_f64()
            ),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("could not read the body: {e}"),
        )),
        Ok(Ok(c)) => Ok((c.to_bytes(), permit)),
    }
}
