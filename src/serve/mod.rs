//! Serving predictions over HTTP, and measuring a server honestly.
//!
//! - [`server`]: `cpuwall serve`, routes and graceful shutdown;
//! - [`connections`]: the listening socket and the open connections (the
//!   idlest closed to let a new client in);
//! - [`batcher`]: adaptive micro-batching, one queue and thread per model;
//! - [`request`]: the predict body parsed straight into rows;
//! - [`v2`]: the Open Inference Protocol (KServe v2 REST), parsing and
//!   encoding, binary tensors included;
//! - [`metrics`]: Prometheus counters, the server's own CPU/wall;
//! - [`load`]: `cpuwall load`, an open-loop (coordinated-omission corrected)
//!   or closed-loop load generator with HDR histograms.

pub mod batcher;
pub mod client;
pub mod connections;
pub mod load;
pub mod metrics;
pub mod options;
pub mod request;
pub mod server;
pub mod v2;
