//! A pool of `cpuwall worker` processes, each holding the model. Rows go
//! in and labels come back through one shared-memory segment; pipes carry
//! only short control lines. A worker that dies mid-job is replaced and its
//! rows are redone; one that stays silent past the timeout is killed and
//! the call fails with a clear error.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use ndarray::ArrayView2;

use super::chunks::split_even;
use super::pipe;
use super::shm::SharedBatch;
use super::{Backend, CallCost};
use crate::error::{Error, Result};

/// How many times one call may replace dead workers before giving up.
const MAX_REPLACEMENTS: usize = 3;

#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The `cpuwall` executable to start workers from.
    pub exe: PathBuf,
    pub model_path: PathBuf,
    pub workers: usize,
    /// Longest a worker may take to start or to finish its share of a call.
    pub timeout: Duration,
    /// Extra environment for the workers (tests inject faults with it).
    pub env: Vec<(String, String)>,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    pending: Vec<u8>,
}

pub struct ProcessPool {
    cfg: PoolConfig,
    n_features: usize,
    workers: Vec<Worker>,
    shm: Option<SharedBatch>,
    /// Seconds the pool took to start (spawn + model load, all workers).
    pub startup_seconds: f64,
    /// Workers replaced after dying, over the pool's life.
    pub replaced: usize,
}

impl ProcessPool {
    pub fn start(cfg: PoolConfig) -> Result<Self> {
        if cfg.workers == 0 {
            return Err(Error::usage("--workers must be at least 1"));
        }
        let t = Instant::now();
        let mut workers = Vec::with_capacity(cfg.workers);
        let mut n_features = 0;
        for _ in 0..cfg.workers {
            let (w, nf) = spawn(&cfg)?;
            n_features = nf;
            workers.push(w);
        }
        Ok(ProcessPool {
            cfg,
            n_features,
            workers,
            shm: None,
            startup_seconds: t.elapsed().as_secs_f64(),
            replaced: 0,
        })
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Process ids of the live workers.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.child.id()).collect()
    }

    fn send(&mut self, w: usize, job: &str) -> Result<()> {
        let worker = &mut self.workers[w];
        worker
            .stdin
            .write_all(job.as_bytes())
            .and_then(|_| worker.stdin.flush())
            .map_err(|e| {
                Error::io(
                    format!("cannot send a job to worker pid {}", worker.child.id()),
                    e,
                )
            })
    }

    /// Replace worker `w` (dead or killed) with a fresh one.
    fn replace(&mut self, w: usize) -> Result<String> {
        let old = &mut self.workers[w];
        let _ = old.child.kill();
        let status = old
            .child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| format!("unknown status ({e})"));
        let pid = old.child.id();
        let (fresh, _) = spawn(&self.cfg)?;
        self.workers[w] = fresh;
        self.replaced += 1;
        Ok(format!("worker pid {pid} {status}"))
    }
}

fn spawn(cfg: &PoolConfig) -> Result<(Worker, usize)> {
    let mut child = Command::new(&cfg.exe)
        .arg("worker")
        .arg("--model")
        .arg(&cfg.model_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .envs(cfg.env.iter().map(|(k, v)| (k, v)))
        // Own process group: a terminal's Ctrl-C reaches only the parent,
        // which cleans up; if the parent dies anyway, PDEATHSIG ends them.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(format!("cannot start worker {}", cfg.exe.display()), e))?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let mut w = Worker {
        child,
        stdin,
        stdout,
        pending: Vec::new(),
    };
    let deadline = Instant::now() + cfg.timeout;
    let line = read_line(&mut w, deadline)?.ok_or_else(|| {
        let status = w.child.wait().map(|s| s.to_string()).unwrap_or_default();
        Error::Runtime(format!(
            "worker for {} exited before it was ready ({status})",
            cfg.model_path.display()
        ))
    })?;
    let nf = line
        .strip_prefix("ready ")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| Error::Runtime(format!("worker said '{line}' instead of ready")))?;
    Ok((w, nf))
}

/// One line from a worker, waiting at most until `deadline`. `Ok(None)`:
/// the worker closed its output (it died).
fn read_line(w: &mut Worker, deadline: Instant) -> Result<Option<String>> {
    loop {
        if let Some(line) = pipe::take_line(&mut w.pending) {
            return Ok(Some(line));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let pid = w.child.id();
            let _ = w.child.kill();
            let _ = w.child.wait();
            return Err(Error::Runtime(format!(
                "worker pid {pid} did not answer within the timeout; it was killed (raise --worker-timeout if jobs are this long)"
            )));
        }
        let mut pfd = [pipe::readable(w.stdout.as_raw_fd())];
        pipe::poll(&mut pfd, left)?;
        if pfd[0].revents == 0 {
            continue;
        }
        if !pipe::fill(&mut w.stdout, &mut w.pending)
            .map_err(|e| Error::io("cannot read from a worker", e))?
        {
            return Ok(None);
        }
    }
}

impl Backend for ProcessPool {
    fn name(&self) -> String {
        format!("processes({})", self.workers.len())
    }

    fn startup_seconds(&self) -> Option<f64> {
        Some(self.startup_seconds)
    }

    fn predict(&mut self, x: ArrayView2<'_, f64>, out: &mut [i64]) -> Result<CallCost> {
        super::check_batch(self.n_features, x, out)?;
        let (rows, cols) = (x.nrows(), x.ncols());
        if rows == 0 {
            return Ok(CallCost::default());
        }
        let need = SharedBatch::bytes_for(rows, cols);
        if self.shm.as_ref().is_none_or(|s| s.capacity() < need) {
            // Grow geometrically so a sweep of rising batch sizes remaps rarely.
            let cap = need.max(self.shm.as_ref().map_or(0, |s| s.capacity() * 2));
            self.shm = Some(SharedBatch::new(cap)?);
        }
        let shm = self.shm.as_mut().expect("just made");
        shm.write_input(x);
        let (path, bytes) = (shm.peer_path(), shm.capacity());
        let job =
            |r: &Range<usize>| format!("job {path} {bytes} {rows} {cols} {} {}\n", r.start, r.end);

        let ranges = split_even(rows, self.workers.len());
        let mut outstanding: HashMap<usize, Range<usize>> = HashMap::new();
        for (w, r) in ranges.into_iter().enumerate() {
            self.send(w, &job(&r))?;
            outstanding.insert(w, r);
        }
        let mut worker_cpu = Duration::ZERO;
        let mut replacements = 0;
        let mut deadline = Instant::now() + self.cfg.timeout;
        // Workers finish in any order; wait on each (they run concurrently).
        let mut order: Vec<usize> = outstanding.keys().copied().collect();
        order.sort_unstable();
        while let Some(w) = order.pop() {
            let range = outstanding[&w].clone();
            match read_line(&mut self.workers[w], deadline)? {
                Some(line) => {
                    if let Some(ns) = line
                        .strip_prefix("done ")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                    {
                        worker_cpu += Duration::from_nanos(ns);
                        outstanding.remove(&w);
                    } else {
                        return Err(Error::Runtime(format!(
                            "worker pid {} failed on rows {}..{}: {}",
                            self.workers[w].child.id(),
                            range.start,
                            range.end,
                            line.trim_start_matches("error ")
                        )));
                    }
                }
                None => {
                    replacements += 1;
                    let what = self.replace(w)?;
                    if replacements > MAX_REPLACEMENTS {
                        return Err(Error::Runtime(format!(
                            "workers keep dying ({what}, while predicting rows {}..{}); gave up after {MAX_REPLACEMENTS} replacements",
                            range.start, range.end
                        )));
                    }
                    eprintln!(
                        "warning: {what} while predicting rows {}..{}; replaced it and redid those rows",
                        range.start, range.end
                    );
                    self.send(w, &job(&range))?;
                    deadline = Instant::now() + self.cfg.timeout;
                    order.push(w);
                }
            }
        }
        out.copy_from_slice(self.shm.as_ref().expect("present").output(rows, cols));
        Ok(CallCost {
            worker_cpu_seconds: worker_cpu.as_secs_f64(),
        })
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.stdin.write_all(b"quit\n");
            let _ = w.stdin.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for w in &mut self.workers {
            loop {
                match w.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    _ => {
                        let _ = w.child.kill();
                        let _ = w.child.wait();
                        break;
                    }
                }
            }
        }
    }
}
