//! Adaptive micro-batching by combining: requests for one model wait in a
//! bounded queue, and whichever request handler finds no batch in progress
//! becomes the *leader*: it takes its own rows plus what is waiting (up to
//! `max_batch` rows), predicts them as one batch through the model's
//! backend, and answers the others. Requests that arrive meanwhile queue up
//! and form the next batch; the leader hands the lead to the first of them.
//!
//! An idle server therefore answers a lone request at once, on the thread
//! that parsed it, with no hand-off at all, and a loaded one predicts in
//! batches. A first version had a batcher thread per model woken through a
//! condition variable: at 30,000 single-row requests/s a quarter of the
//! server's CPU went to futex waits and wake-ups (perf), which combining
//! removes (see the serving report for the rates).
//!
//! While other requests for the model are still being read or parsed, a
//! leader waits for them up to `max_wait` from its own arrival, yielding to
//! the runtime meanwhile (so that they can be parsed on the same thread and
//! join its batch). With one runtime thread, a batch would otherwise never
//! hold more than one request: nothing else runs while the leader predicts. The queue is
//! bounded in rows, so memory stays bounded under overload: a request that
//! does not fit is refused at once (the server answers 503).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ndarray::ArrayView2;
use tokio::sync::oneshot;

use super::metrics::Metrics;
use crate::error::Result;
use crate::exec::build::BackendSetup;
use crate::exec::{Backend, BackendKind};
use crate::model::{Model, Predictor, ScoreKind};

/// Batches expected to take longer than this (nanoseconds, from the model's
/// cost per row) are predicted with the runtime told that this thread blocks.
const LONG_BATCH_NS: f64 = 200_000.0;

/// One request's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub labels: Vec<i64>,
    /// Row-major probabilities (n × classes) when asked for.
    pub proba: Option<Vec<f64>>,
}

/// How batches are formed.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub max_batch: usize,
    pub max_wait: Duration,
    /// Rows the queue may hold.
    pub queue_rows: usize,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The queue holds too many rows to take the request now.
    Full { queued_rows: usize },
    /// The request alone has more rows than the queue ever takes: no retry
    /// can help.
    TooLarge { rows: usize, queue_rows: usize },
    /// The request's leader went away without answering (a bug, not load).
    Closed,
    /// The backend failed.
    Failed(String),
}

/// One request's rows.
struct Job {
    values: Vec<f64>,
    n: usize,
    proba: bool,
}

enum Msg {
    Answer(std::result::Result<Answer, Refused>),
    /// The previous leader is done: lead the next batch, starting with these
    /// rows (yours, taken off the queue) that arrived then.
    Lead(Job, Instant),
}

struct Waiting {
    job: Job,
    arrived: Instant,
    reply: oneshot::Sender<Msg>,
}

enum Enqueued {
    Lead(Job),
    Wait(oneshot::Receiver<Msg>),
    Refused(Refused),
}

struct State {
    queue: VecDeque<Waiting>,
    rows: usize,
    leading: bool,
}

/// A model's queue, its backend and its counters.
pub struct Batcher {
    model: Arc<Model>,
    backend: Mutex<Box<dyn Backend>>,
    state: Mutex<State>,
    batching: Batching,
    queued: AtomicUsize,
    /// Requests for this model being read or parsed: they will join soon.
    arriving: AtomicUsize,
    started: Instant,
    /// When the last batch was answered, nanoseconds after `started`.
    last_batch_end_ns: AtomicU64,
    metrics: Arc<Metrics>,
}

/// A request on its way to the batcher (see [`Batcher::arrive`]).
pub struct Arrival<'a> {
    batcher: &'a Batcher,
    arrived: Instant,
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        self.batcher.arriving.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Batcher {
    /// A batcher predicting through `backend` (built here, so a measured
    /// crossover or a failure to build shows before the server listens).
    pub fn new(
        setup: BackendSetup,
        backend: BackendKind,
        batching: Batching,
        metrics: Arc<Metrics>,
    ) -> Result<Batcher> {
        Ok(Batcher {
            model: setup.model.clone(),
            backend: Mutex::new(backend.build(&setup)?),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                rows: 0,
                leading: false,
            }),
            batching,
            queued: AtomicUsize::new(0),
            arriving: AtomicUsize::new(0),
            started: Instant::now(),
            last_batch_end_ns: AtomicU64::new(0),
            metrics,
        })
    }

    /// Predict `n` rows (row-major `values`), batched with whatever else is
    /// waiting.
    pub async fn predict(
        &self,
        arrival: Arrival<'_>,
        values: Vec<f64>,
        n: usize,
        proba: bool,
    ) -> std::result::Result<Answer, Refused> {
        let arrived = arrival.arrived;
        drop(arrival);
        let job = Job { values, n, proba };
        let rx = match self.enqueue(job, arrived) {
            Enqueued::Lead(job) => return self.lead(job, arrived).await,
            Enqueued::Wait(rx) => rx,
            Enqueued::Refused(r) => return Err(r),
        };
        match rx.await {
            Ok(Msg::Answer(a)) => a,
            Ok(Msg::Lead(job, arrived)) => self.lead(job, arrived).await,
            Err(_) => Err(Refused::Closed),
        }
    }

    /// A request for this model has arrived (its body is still to be read
    /// and parsed): a leader may wait for it to join its batch.
    pub fn arrive(&self) -> Arrival<'_> {
        self.arriving.fetch_add(1, Ordering::Relaxed);
        Arrival {
            batcher: self,
            arrived: Instant::now(),
        }
    }

    /// Lead at once when no batch is in progress, else queue the job.
    fn enqueue(&self, job: Job, arrived: Instant) -> Enqueued {
        if job.n > self.batching.queue_rows {
            return Enqueued::Refused(Refused::TooLarge {
                rows: job.n,
                queue_rows: self.batching.queue_rows,
            });
        }
        let mut st = self.lock();
        if !st.leading {
            st.leading = true;
            return Enqueued::Lead(job);
        }
        if st.rows + job.n > self.batching.queue_rows {
            return Enqueued::Refused(Refused::Full {
                queued_rows: st.rows,
            });
        }
        let (tx, rx) = oneshot::channel();
        st.rows += job.n;
        self.queued.store(st.rows, Ordering::Relaxed);
        st.queue.push_back(Waiting {
            job,
            arrived,
            reply: tx,
        });
        Enqueued::Wait(rx)
    }

    /// Rows waiting now.
    pub fn queued_rows(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lead one batch starting with `own`, answer the rest, hand the lead on.
    async fn lead(&self, own: Job, arrived: Instant) -> std::result::Result<Answer, Refused> {
        let mut guard = LeadGuard {
            batcher: self,
            armed: true,
        };
        // Other requests are being read or parsed: give them a moment to
        // join (yielding, so that on a one-thread runtime they can), up to
        // max_wait from this request's arrival. An idle server, with no one
        // arriving, predicts at once.
        let deadline = arrived + self.batching.max_wait;
        if !self.batching.max_wait.is_zero() {
            // A busy server (the last batch ended moments ago) most likely
            // has requests parked on other connections, not yet read: let
            // the runtime read them first, once.
            let since_last = self.started.elapsed().saturating_sub(Duration::from_nanos(
                self.last_batch_end_ns.load(Ordering::Relaxed),
            ));
            if since_last < self.batching.max_wait {
                tokio::task::yield_now().await;
            }
            while self.arriving.load(Ordering::Relaxed) > 0
                && own.n + self.queued.load(Ordering::Relaxed) < self.batching.max_batch
                && Instant::now() < deadline
            {
                tokio::task::yield_now().await;
            }
        }
        // From here on nothing awaits: the batch cannot be abandoned halfway.
        let others = self.take(own.n);
        let rows = own.n + others.iter().map(|w| w.job.n).sum::<usize>();
        let answers = if rows as f64 * self.model.row_cost_ns() > LONG_BATCH_NS {
            // A long batch must not hold up the other connections this
            // runtime thread has queued: hand them to another thread first.
            tokio::task::block_in_place(|| self.run_batch(&own, &others))
        } else {
            self.run_batch(&own, &others)
        };
        let mut answers = answers.into_iter();
        let mine = answers.next().expect("own answer");
        for (w, a) in others.into_iter().zip(answers) {
            let _ = w.reply.send(Msg::Answer(a));
        }
        self.last_batch_end_ns
            .store(self.started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        guard.armed = false;
        self.hand_off();
        mine
    }

    /// Take queued requests that fit beside `rows` rows.
    fn take(&self, mut rows: usize) -> Vec<Waiting> {
        let mut st = self.lock();
        let mut out = Vec::new();
        while let Some(w) = st.queue.front() {
            if rows + w.job.n > self.batching.max_batch {
                break;
            }
            rows += w.job.n;
            st.rows -= w.job.n;
            out.push(st.queue.pop_front().expect("front exists"));
        }
        self.queued.store(st.rows, Ordering::Relaxed);
        out
    }

    /// Pass the lead to the first queued request still waiting, or stop
    /// leading when none is.
    fn hand_off(&self) {
        loop {
            let mut st = self.lock();
            let Some(next) = st.queue.pop_front() else {
                st.leading = false;
                drop(st);
                // Nothing to do: stop helper threads spinning for the next call.
                self.backend
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .rest();
                return;
            };
            st.rows -= next.job.n;
            self.queued.store(st.rows, Ordering::Relaxed);
            drop(st);
            // A handler whose client went away has dropped its receiver: try the next.
            if next.reply.send(Msg::Lead(next.job, next.arrived)).is_ok() {
                return;
            }
        }
    }

    /// Predict `own` and `others` as one batch; one answer per request, own first.
    fn run_batch(
        &self,
        own: &Job,
        others: &[Waiting],
    ) -> Vec<std::result::Result<Answer, Refused>> {
        let d = self.model.n_features();
        let rows = own.n + others.iter().map(|w| w.job.n).sum::<usize>();
        self.metrics.batch(rows);
        // A multi-output regressor's values sit side by side, a row's together.
        let k = self.model.n_outputs();
        let mut labels = vec![0i64; rows * k];
        self.metrics
            .predicting_rows
            .fetch_add(rows as u64, Ordering::Relaxed);
        // Probabilities, when any request asks, for the whole batch through
        // the same backend as the labels.
        let scores = own.proba || others.iter().any(|w| w.job.proba);
        let result = {
            let mut backend = self.backend.lock().unwrap_or_else(|e| e.into_inner());
            if others.is_empty() {
                predict_into(backend.as_mut(), &own.values, rows, d, &mut labels, scores)
            } else {
                let mut x = Vec::with_capacity(rows * d);
                x.extend_from_slice(&own.values);
                for w in others {
                    x.extend_from_slice(&w.job.values);
                }
                predict_into(backend.as_mut(), &x, rows, d, &mut labels, scores)
            }
        };
        self.metrics
            .predicting_rows
            .fetch_sub(rows as u64, Ordering::Relaxed);
        let mut at = 0;
        std::iter::once(own)
            .chain(others.iter().map(|w| &w.job))
            .map(|job| {
                let range = at..at + job.n;
                at += job.n;
                match &result {
                    Ok(scores) => Ok(Answer {
                        labels: labels[range.start * k..range.end * k].to_vec(),
                        proba: job.proba.then(|| {
                            let s = scores.as_ref().expect("scores when a request asks");
                            s.slice(ndarray::s![range, ..]).iter().copied().collect()
                        }),
                    }),
                    Err(e) => Err(Refused::Failed(e.clone())),
                }
            })
            .collect()
    }
}

/// Hands the lead on if a leader's future is dropped while it waits for
/// others to join (its client went away): the queue must not stall.
struct LeadGuard<'a> {
    batcher: &'a Batcher,
    armed: bool,
}

impl Drop for LeadGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.batcher.hand_off();
        }
    }
}

/// Labels of the `rows x d` batch in `values` into `out`, and its scores
/// when `scores` (both through `backend`).
fn predict_into(
    backend: &mut dyn Backend,
    values: &[f64],
    rows: usize,
    d: usize,
    out: &mut [i64],
    scores: bool,
) -> std::result::Result<Option<ndarray::Array2<f64>>, String> {
    let view = ArrayView2::from_shape((rows, d), values).map_err(|e| e.to_string())?;
    let failed = |e: crate::error::Error| format!("prediction failed: {e}");
    backend.predict(view, out).map_err(failed)?;
    match scores {
        true => Ok(Some(backend.scores(view).map_err(failed)?.0)),
        false => Ok(None),
    }
}

/// Whether a model gives probabilities (`"proba": true`).
pub fn has_probabilities(model: &Model) -> bool {
    model.score_kind() == ScoreKind::Probability
}
