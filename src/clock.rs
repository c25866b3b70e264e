//! Ground floor (imports nothing of cpuwall). Clocks. Wall time is
//! monotonic. A job's CPU time is exact per thread: every thread that works
//! on it reads its own `CLOCK_THREAD_CPUTIME_ID` around its share, and
//! worker processes report theirs (the part the study's
//! `time.process_time()` missed). The process clock
//! (`CLOCK_PROCESS_CPUTIME_ID`) is not exact per job: Linux brings another
//! running thread's CPU time up to date only at a tick or a scheduler
//! event, so a helper busy across the end of one job is charged to the next.

use std::time::{Duration, Instant};

/// CPU time of this process, all threads.
pub fn process_cpu() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time (user + system) of reaped children, from `getrusage`.
pub fn reaped_children_cpu() -> Duration {
    rusage(libc::RUSAGE_CHILDREN)
}

/// CPU time (user + system) of this process, from `getrusage`.
pub fn self_rusage_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct we own; zeroed is a valid start.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// A point in time on both clocks.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub wall: Instant,
    pub cpu: Duration,
}

impl Snapshot {
    /// Both clocks now. The CPU clock is read first: a snapshot that starts
    /// an interval keeps that (slower) read out of the wall time. An
    /// interval's end uses [`Snapshot::end`].
    pub fn now() -> Self {
        let cpu = process_cpu();
        Snapshot {
            wall: Instant::now(),
            cpu,
        }
    }

    /// Both clocks now, the wall clock first (see [`Snapshot::now`]).
    pub fn end() -> Self {
        let wall = Instant::now();
        Snapshot {
            wall,
            cpu: process_cpu(),
        }
    }
}

/// What one run cost: per call, averaged over the `calls` back-to-back
/// calls of one timed sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub wall_seconds: f64,
    /// This process: the threads that worked on the job.
    pub own_cpu_seconds: f64,
    /// Reported by worker processes for their part of the job.
    pub worker_cpu_seconds: f64,
    /// Calls timed together in this sample (tiny calls are timed in batches).
    #[serde(default = "one")]
    pub calls: usize,
    /// Threads and processes that did part of the work (0: not known).
    #[serde(default)]
    pub parallelism: usize,
}

fn one() -> usize {
    1
}

impl Default for Usage {
    fn default() -> Self {
        Usage {
            wall_seconds: 0.0,
            own_cpu_seconds: 0.0,
            worker_cpu_seconds: 0.0,
            calls: 1,
            parallelism: 0,
        }
    }
}

impl Usage {
    /// The interval between two snapshots, plus worker CPU.
    pub fn between(start: Snapshot, end: Snapshot, worker_cpu_seconds: f64) -> Self {
        Usage {
            wall_seconds: end.wall.duration_since(start.wall).as_secs_f64(),
            own_cpu_seconds: end.cpu.saturating_sub(start.cpu).as_secs_f64(),
            worker_cpu_seconds,
            ..Usage::default()
        }
    }

    pub fn cpu_seconds(&self) -> f64 {
        self.own_cpu_seconds + self.worker_cpu_seconds
    }

    /// (own + workers) / wall: 1.0 is one busy core, 2.0 two.
    pub fn cpu_per_wall(&self) -> f64 {
        if self.wall_seconds > 0.0 {
            self.cpu_seconds() / self.wall_seconds
        } else {
            0.0
        }
    }
}

/// CPU seconds (user + system) of process `pid` and every descendant
/// alive now, from /proc (Linux). None when `pid` does not exist.
pub fn process_tree_cpu(pid: u32) -> Option<f64> {
    // (pid, ppid, cpu ticks) of every process.
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command (which may hold spaces) in parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // rest[0] is the state (field 3): ppid is field 4, utime 14, stime 15.
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        if let (Some(ppid), Some(u), Some(s)) = (field(4), field(14), field(15)) {
            procs.push((p, ppid as u32, u + s));
        }
    }
    if !procs.iter().any(|(p, _, _)| *p == pid) {
        return None;
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            procs
                .iter()
                .filter(|(_, pp, _)| *pp == parent)
                .map(|(p, _, _)| *p),
        );
        i += 1;
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // Each process's CPU clock (nanoseconds) where the kernel lets us read
    // it; its stat ticks (1/hz s, 10 ms at 100 Hz) otherwise. Ticks alone
    // read a server that used 6 ms in a 0.3 s run as 0.
    Some(
        procs
            .iter()
            .filter(|(p, _, _)| tree.contains(p))
            .map(|&(p, _, t)| process_cpu_clock(p).unwrap_or(t as f64 / hz))
            .sum(),
    )
}

/// CPU seconds of process `pid` (all its threads, live and exited) from its
/// POSIX CPU-time clock; None where the kernel refuses.
fn process_cpu_clock(pid: u32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: clock_getcpuclockid writes one clockid_t to a valid pointer.
    if unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } != 0 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_process_cpu_is_read_to_well_under_a_tick() {
        // A child that spins ~30 ms: stat ticks would say 0.03 +- 0.01;
        // the process clock says 0.02-0.2 and changes between two reads.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 5",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let cpu = process_cpu_clock(child.id()).expect("own child's clock");
        let tree = process_tree_cpu(child.id()).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(cpu > 0.0 && cpu < 5.0, "{cpu}");
        // Not a multiple of a 10 ms tick (ns resolution).
        assert!(((cpu * 100.0).round() - cpu * 100.0).abs() > 1e-9, "{cpu}");
        assert!(tree >= cpu, "{tree} {cpu}");
    }

    #[test]
    fn usage_of_two_known_snapshots() {
        let t0 = Instant::now();
        let a = Snapshot {
            wall: t0,
            cpu: Duration::from_millis(100),
        };
        let b = Snapshot {
            wall: t0 + Duration::from_millis(500),
            cpu: Duration::from_millis(600),
        };
        let u = Usage::between(a, b, 0.4);
        assert!((u.wall_seconds - 0.5).abs() < 1e-12);
        assert!((u.own_cpu_seconds - 0.5).abs() < 1e-12);
        assert!((u.cpu_seconds() - 0.9).abs() < 1e-12);
        assert!((u.cpu_per_wall() - 1.8).abs() < 1e-12);
    }

    #[test]
    fn zero_wall_time_gives_zero_ratio_not_infinity() {
        assert_eq!(Usage::default().cpu_per_wall(), 0.0);
    }
}
