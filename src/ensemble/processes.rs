//! One `cpuwall ensemble-worker` process per member, as in the study's
//! multiprocessing design. Each run starts the workers (spawn + weight load
//! are part of the measured time, as they were in the study), shares the
//! images with them through one anonymous memfd, and lets each predict all
//! images in segments (default 500). A worker announces each finished
//! segment on its pipe; the parent copies that segment into the result as
//! it arrives, whatever order members finish in. Workers report their CPU
//! time at the end.
//!
//! A worker that dies is reported with its member, pid, exit status and
//! progress; the others are killed and reaped, so nothing is left behind.
//! A worker silent past the timeout is treated the same way.
//!
//! Shared memory layout: `n x 3072` image bytes, then (64-aligned) one
//! `n x 10` f32 block per member.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::{check_run, devices::DeviceSpec, Ensemble, RunCost, Strategy};
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::exec::pipe;
use crate::exec::shm::{view, SharedBatch};

/// Test hook for workers: `die:<member>` exits after its first segment,
/// `hang:<member>` stops answering after its first segment.
pub const FAULT_ENV: &str = "CPUWALL_ENSEMBLE_FAULT";

#[derive(Debug, Clone)]
pub struct Settings {
    pub exe: PathBuf,
    /// Images per streamed segment.
    pub segment: usize,
    /// Longest a worker may stay silent (start-up, or between segments).
    pub timeout: Duration,
    pub env: Vec<(String, String)>,
}

impl Settings {
    pub fn new(exe: PathBuf) -> Self {
        Settings {
            exe,
            segment: 500,
            timeout: Duration::from_secs(120),
            env: Vec::new(),
        }
    }
}

pub struct Processes {
    paths: Vec<PathBuf>,
    devices: Vec<DeviceSpec>,
    settings: Settings,
    /// Seconds the last run spent starting workers (spawn + load, all members).
    pub startup_seconds: f64,
    /// Process ids of the last run's workers (all reaped when a run returns).
    pub last_pids: Vec<u32>,
}

impl Processes {
    pub fn new(ensemble: &Ensemble, settings: Settings) -> Result<Self> {
        if settings.segment == 0 {
            return Err(Error::usage("--segment must be at least 1"));
        }
        Ok(Processes {
            paths: ensemble.paths.clone(),
            devices: ensemble.devices.clone(),
            settings,
            startup_seconds: 0.0,
            last_pids: Vec::new(),
        })
    }
}

struct Member {
    index: usize,
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    pending: Vec<u8>,
    images_done: usize,
    cpu_ns: Option<u64>,
}

impl Member {
    fn describe_exit(&mut self) -> String {
        match self.child.wait() {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                _ => s.to_string(),
            },
            Err(e) => format!("ended (status unknown: {e})"),
        }
    }
}

impl Drop for Member {
    /// However a run ends (error, panic), no member process outlives it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kill and reap every member still running.
fn stop_all(members: &mut [Member]) {
    for m in members.iter_mut() {
        let _ = m.child.kill();
        let _ = m.child.wait();
    }
}

impl Strategy for Processes {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn run(&mut self, pixels: &[u8], batch_size: usize, out: &mut [f32]) -> Result<RunCost> {
        let count = self.paths.len();
        let n = check_run(pixels, count, batch_size, out)?;
        if n == 0 {
            return Ok(RunCost::default());
        }
        let out_off = (n * PIXELS).div_ceil(64) * 64;
        let bytes = out_off + count * n * CLASSES * 4;
        let mut shm = SharedBatch::new(bytes)?;
        shm.bytes_mut()[..n * PIXELS].copy_from_slice(pixels);

        let t0 = Instant::now();
        let mut members = Vec::with_capacity(count);
        self.last_pids.clear();
        for m in 0..count {
            match spawn(&self.settings, &self.paths[m], self.devices[m], m) {
                Ok(w) => {
                    self.last_pids.push(w.child.id());
                    members.push(w)
                }
                Err(e) => {
                    stop_all(&mut members);
                    return Err(e);
                }
            }
        }
        let job = format!(
            "job {} {} {n} {batch_size} {} {out_off}\n",
            shm.peer_path(),
            shm.capacity(),
            self.settings.segment
        );
        let result = (|| {
            for w in members.iter_mut() {
                wait_line(w, &self.settings, "ready", n)?;
            }
            self.startup_seconds = t0.elapsed().as_secs_f64();
            for w in members.iter_mut() {
                w.stdin.write_all(job.as_bytes()).map_err(|e| {
                    Error::io(format!("cannot send the job to member {}", w.index), e)
                })?;
                w.stdin.flush().ok();
            }
            collect(&mut members, &self.settings, n, out, shm.bytes(), out_off)
        })();
        match result {
            Ok(cpu_ns) => {
                for w in members.iter_mut() {
                    let _ = w.stdin.write_all(b"quit\n");
                    let _ = w.stdin.flush();
                }
                for w in members.iter_mut() {
                    let _ = w.child.wait();
                }
                Ok(RunCost {
                    worker_cpu_seconds: cpu_ns as f64 / 1e9,
                })
            }
            Err(e) => {
                stop_all(&mut members);
                Err(e)
            }
        }
    }
}

fn spawn(
    settings: &Settings,
    weights: &std::path::Path,
    device: DeviceSpec,
    index: usize,
) -> Result<Member> {
    let mut child = Command::new(&settings.exe)
        .arg("ensemble-worker")
        .arg("--weights")
        .arg(weights)
        .arg("--device")
        .arg(device.to_string())
        .arg("--member")
        .arg(index.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .envs(settings.env.iter().map(|(k, v)| (k, v)))
        // Own process group: Ctrl-C reaches the parent, which cleans up;
        // PDEATHSIG ends workers whose parent died anyway.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Error::io(
                format!(
                    "cannot start member {index}'s worker {}",
                    settings.exe.display()
                ),
                e,
            )
        })?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    Ok(Member {
        index,
        child,
        stdin,
        stdout,
        pending: Vec::new(),
        images_done: 0,
        cpu_ns: None,
    })
}

/// Read what a member has written; false at end of file.
fn fill(w: &mut Member) -> Result<bool> {
    pipe::fill(&mut w.stdout, &mut w.pending)
        .map_err(|e| Error::io(format!("cannot read from member {}", w.index), e))
}

fn died(w: &mut Member, n: usize) -> Error {
    let pid = w.child.id();
    let how = w.describe_exit();
    Error::Runtime(format!(
        "ensemble member {} (worker pid {pid}) {how} after {} of {n} images; the other members were stopped",
        w.index, w.images_done
    ))
}

/// Wait for one line starting with `word` from one worker.
fn wait_line(w: &mut Member, settings: &Settings, word: &str, n: usize) -> Result<String> {
    let deadline = Instant::now() + settings.timeout;
    loop {
        if let Some(line) = pipe::take_line(&mut w.pending) {
            if line.starts_with(word) {
                return Ok(line);
            }
            return Err(Error::Runtime(format!(
                "ensemble member {} worker: {}",
                w.index,
                line.trim_start_matches("error ")
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(silent(w, settings));
        }
        let mut pfd = [pipe::readable(w.stdout.as_raw_fd())];
        pipe::poll(&mut pfd, left)?;
        if pfd[0].revents != 0 && !fill(w)? {
            return Err(died(w, n));
        }
    }
}

fn silent(w: &Member, settings: &Settings) -> Error {
    Error::Runtime(format!(
        "ensemble member {} (worker pid {}) said nothing for {:.0} s; it was killed (raise --worker-timeout for slow members)",
        w.index,
        w.child.id(),
        settings.timeout.as_secs_f64()
    ))
}

/// Stream segments in from all members until each says done; returns the
/// workers' total CPU nanoseconds.
fn collect(
    members: &mut [Member],
    settings: &Settings,
    n: usize,
    out: &mut [f32],
    shm: &[u8],
    out_off: usize,
) -> Result<u64> {
    let count = members.len();
    let mut last_heard: Vec<Instant> = vec![Instant::now(); count];
    while members.iter().any(|w| w.cpu_ns.is_none()) {
        if crate::interrupt::requested() {
            return Err(Error::Runtime("interrupted".into()));
        }
        let live: Vec<usize> = (0..count)
            .filter(|&i| members[i].cpu_ns.is_none())
            .collect();
        let mut fds: Vec<libc::pollfd> = live
            .iter()
            .map(|&i| pipe::readable(members[i].stdout.as_raw_fd()))
            .collect();
        pipe::poll(&mut fds, Duration::from_millis(200))?;
        for (k, &i) in live.iter().enumerate() {
            let w = &mut members[i];
            if fds[k].revents != 0 {
                if !fill(w)? {
                    return Err(died(w, n));
                }
                last_heard[i] = Instant::now();
            } else if last_heard[i].elapsed() > settings.timeout {
                return Err(silent(w, settings));
            }
            while let Some(line) = pipe::take_line(&mut w.pending) {
                let parts: Vec<&str> = line.split_whitespace().collect();
                match parts.as_slice() {
                    ["seg", a, b] => {
                        let (a, b) = match (a.parse::<usize>(), b.parse::<usize>()) {
                            (Ok(a), Ok(b)) if a < b && b <= n => (a, b),
                            _ => {
                                return Err(Error::Runtime(format!(
                                    "member {} sent a bad segment line '{line}'",
                                    w.index
                                )))
                            }
                        };
                        let block =
                            view::<f32>(shm, out_off + w.index * n * CLASSES * 4, n * CLASSES);
                        for img in a..b {
                            out[(img * count + w.index) * CLASSES..][..CLASSES]
                                .copy_from_slice(&block[img * CLASSES..][..CLASSES]);
                        }
                        w.images_done = b;
                    }
                    ["done", ns] => {
                        if w.images_done != n {
                            return Err(Error::Runtime(format!(
                                "member {} finished after {} of {n} images",
                                w.index, w.images_done
                            )));
                        }
                        w.cpu_ns = Some(ns.parse().map_err(|_| {
                            Error::Runtime(format!("member {} sent '{line}'", w.index))
                        })?);
                    }
                    _ => {
                        return Err(Error::Runtime(format!(
                            "ensemble member {} worker: {}",
                            w.index,
                            line.trim_start_matches("error ")
                        )))
                    }
                }
            }
        }
    }
    Ok(members.iter().map(|w| w.cpu_ns.unwrap_or(0)).sum())
}
