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

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{check_run, devices::DeviceSpec, Ensemble, RunCost, Strategy};
use crate::data::cifar::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::exec::child::{LineChild, ReadFailure};
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
    child: LineChild,
    images_done: usize,
    cpu_ns: Option<u64>,
}

/// Kill and reap every member still running.
fn stop_all(members: &mut [Member]) {
    for m in members.iter_mut() {
        m.child.kill();
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
                    self.last_pids.push(w.child.pid());
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
                w.child.send(&job).map_err(|e| {
                    Error::io(format!("cannot send the job to member {}", w.index), e)
                })?;
            }
            collect(&mut members, &self.settings, n, out, shm.bytes(), out_off)
        })();
        match result {
            Ok(cpu_ns) => {
                // Each has answered `done`: asked to quit, they exit at once.
                let deadline = Instant::now() + self.settings.timeout;
                for w in members.iter_mut() {
                    w.child.quit_by(deadline);
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
    let args = [
        OsString::from("ensemble-worker"),
        "--weights".into(),
        weights.into(),
        "--device".into(),
        device.to_string().into(),
        "--member".into(),
        index.to_string().into(),
    ];
    let child = LineChild::spawn(&settings.exe, &args, &settings.env).map_err(|e| {
        Error::io(
            format!(
                "cannot start member {index}'s worker {}",
                settings.exe.display()
            ),
            e,
        )
    })?;
    Ok(Member {
        index,
        child,
        images_done: 0,
        cpu_ns: None,
    })
}

/// Read what a member has written; false at end of file.
fn fill(w: &mut Member) -> Result<bool> {
    w.child
        .fill()
        .map_err(|e| Error::io(format!("cannot read from member {}", w.index), e))
}

fn died(w: &mut Member, n: usize) -> Error {
    let pid = w.child.pid();
    let how = w.child.describe_exit();
    Error::Runtime(format!(
        "ensemble member {} (worker pid {pid}) {how} after {} of {n} images; the other members were stopped",
        w.index, w.images_done
    ))
}

/// Wait for one line starting with `word` from one worker.
fn wait_line(w: &mut Member, settings: &Settings, word: &str, n: usize) -> Result<String> {
    match w.child.read_line(Instant::now() + settings.timeout)? {
        Ok(line) if line.starts_with(word) => Ok(line),
        Ok(line) => Err(Error::Runtime(format!(
            "ensemble member {} worker: {}",
            w.index,
            line.trim_start_matches("error ")
        ))),
        Err(ReadFailure::Closed(_)) => Err(died(w, n)),
        Err(ReadFailure::TimedOut(_)) => Err(silent(w, settings)),
    }
}

fn silent(w: &Member, settings: &Settings) -> Error {
    Error::Runtime(format!(
        "ensemble member {} (worker pid {}) said nothing for {:.0} s; it was killed (raise --worker-timeout for slow members)",
        w.index,
        w.child.pid(),
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
            .map(|&i| pipe::readable(members[i].child.fd()))
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
            while let Some(line) = w.child.take_line() {
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
