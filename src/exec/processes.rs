//! A pool of `cpuwall worker` processes, each holding the model. Rows go
//! in and labels come back through one shared-memory segment; pipes carry
//! only short control lines. A worker that dies mid-job is replaced and its
//! rows are redone; one that stays silent past the timeout is killed and
//! the call fails with a clear error.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ndarray::ArrayView2;

use super::child::{LineChild, ReadFailure};
use super::chunks::split_even;
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

pub struct ProcessPool {
    cfg: PoolConfig,
    /// The model's features and output words a row, as workers report them.
    shape: (usize, usize),
    workers: Vec<LineChild>,
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
        let mut shape = (0, 1);
        for _ in 0..cfg.workers {
            let (w, s) = spawn(&cfg)?;
            shape = s;
            workers.push(w);
        }
        Ok(ProcessPool {
            cfg,
            shape,
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
        self.workers.iter().map(|w| w.pid()).collect()
    }

    /// Send `job` (rows `range`) to worker `w`; a worker found gone (it died
    /// since its last answer) is replaced, with a warning, and sent the job.
    fn send(
        &mut self,
        w: usize,
        job: &str,
        range: &Range<usize>,
        replacements: &mut usize,
    ) -> Result<()> {
        loop {
            let worker = &mut self.workers[w];
            match worker.send(job) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    let what = self.replace(w)?;
                    self.note_replacement(&what, "before being sent", range, replacements)?;
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot send a job to worker pid {}", worker.pid()),
                        e,
                    ))
                }
            }
        }
    }

    /// Count a replacement, give up after [`MAX_REPLACEMENTS`], else warn.
    fn note_replacement(
        &self,
        what: &str,
        when: &str,
        range: &Range<usize>,
        replacements: &mut usize,
    ) -> Result<()> {
        *replacements += 1;
        if *replacements > MAX_REPLACEMENTS {
            return Err(Error::Runtime(format!(
                "workers keep dying ({what}, {when} rows {}..{}); gave up after {MAX_REPLACEMENTS} replacements",
                range.start, range.end
            )));
        }
        eprintln!(
            "warning: {what} {when} rows {}..{}; replaced it and redid those rows",
            range.start, range.end
        );
        Ok(())
    }

    /// Replace worker `w` (dead or killed) with a fresh one.
    fn replace(&mut self, w: usize) -> Result<String> {
        let old = &mut self.workers[w];
        old.kill();
        let status = old.describe_exit();
        let pid = old.pid();
        let (fresh, _) = spawn(&self.cfg)?;
        self.workers[w] = fresh;
        self.replaced += 1;
        Ok(format!("worker pid {pid} {status}"))
    }
}

fn spawn(cfg: &PoolConfig) -> Result<(LineChild, (usize, usize))> {
    let mut w = LineChild::spawn(
        &cfg.exe,
        [
            OsStr::new("worker"),
            OsStr::new("--model"),
            cfg.model_path.as_os_str(),
        ],
        &cfg.env,
    )
    .map_err(|e| Error::io(format!("cannot start worker {}", cfg.exe.display()), e))?;
    let line = match read_line(&mut w, Instant::now() + cfg.timeout)? {
        Some(line) => line,
        None => {
            return Err(Error::Runtime(format!(
                "worker for {} exited before it was ready ({})",
                cfg.model_path.display(),
                w.describe_exit()
            )))
        }
    };
    // "ready FEATURES OUTPUTS"
    let shape = line
        .strip_prefix("ready ")
        .and_then(|v| {
            let mut n = v.split_whitespace().map(|t| t.parse::<usize>().ok());
            Some((n.next()??, n.next()??))
        })
        .ok_or_else(|| Error::Runtime(format!("worker said '{line}' instead of ready")))?;
    Ok((w, shape))
}

/// One line from a worker, waiting at most until `deadline`; one silent
/// that long is killed. `Ok(None)`: the worker closed its output (it died).
fn read_line(w: &mut LineChild, deadline: Instant) -> Result<Option<String>> {
    match w.read_line(deadline)? {
        Ok(line) => Ok(Some(line)),
        Err(ReadFailure::Closed(_)) => Ok(None),
        Err(ReadFailure::TimedOut(_)) => {
            w.kill();
            Err(Error::Runtime(format!(
                "worker pid {} did not answer within the timeout; it was killed (raise --worker-timeout if jobs are this long)",
                w.pid()
            )))
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
        super::check_batch(self.shape, x, out)?;
        let (rows, cols) = (x.nrows(), x.ncols());
        if rows == 0 {
            return Ok(CallCost::default());
        }
        let k = self.shape.1;
        let need = SharedBatch::bytes_for(rows, cols, k);
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
        let mut replacements = 0;
        for (w, r) in ranges.into_iter().enumerate() {
            self.send(w, &job(&r), &r, &mut replacements)?;
            outstanding.insert(w, r);
        }
        let outstanding_at_start = outstanding.len();
        let mut worker_cpu = Duration::ZERO;
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
                            self.workers[w].pid(),
                            range.start,
                            range.end,
                            line.trim_start_matches("error ")
                        )));
                    }
                }
                None => {
                    let what = self.replace(w)?;
                    self.note_replacement(&what, "while predicting", &range, &mut replacements)?;
                    self.send(w, &job(&range), &range, &mut replacements)?;
                    deadline = Instant::now() + self.cfg.timeout;
                    order.push(w);
                }
            }
        }
        out.copy_from_slice(self.shm.as_ref().expect("present").output(rows, cols, k));
        Ok(CallCost {
            worker_cpu_seconds: worker_cpu.as_secs_f64(),
            // The caller waits in poll(2) on its own thread clock.
            helper_cpu_seconds: Some(0.0),
            parallelism: 1 + outstanding_at_start,
        })
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        // Ask all to quit first, so they wind down together.
        for w in &mut self.workers {
            w.ask_quit();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for w in &mut self.workers {
            w.quit_by(deadline);
        }
    }
}
