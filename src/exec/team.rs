//! A fork-join team of threads that spin between jobs: one job per batch,
//! split over every core, with no sleep/wake-up in between. Used by the
//! `threads` prediction backend and the CNN ensemble.
//!
//! Why not rayon here: a batch of 4 images is ~0.3 ms of work per core.
//! rayon's idle workers go to sleep and each batch has to wake one; on a
//! virtual machine an idle vCPU halts, and waking it took long enough that
//! `sequential` at batch 4 ran at 0.5-1.4 CPU/wall (1.9-7.9 s instead of
//! about 1.3 s). Team helpers spin on an epoch counter for a while after
//! each job (as OpenMP runtimes do), so back-to-back batches find them
//! awake; after `SPIN` without work they park until the next job.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::thread_cpu;

/// How long an idle helper spins before it parks.
const SPIN: Duration = Duration::from_millis(5);

type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    epoch: AtomicU64,
    /// CPU nanoseconds the helpers spent in the current job, each read on
    /// its own thread clock around its part.
    helper_cpu_ns: AtomicU64,
    /// The current job (valid while `pending > 0`).
    job: Mutex<Option<SendJob>>,
    pending: AtomicUsize,
    stop: AtomicBool,
    /// Park now instead of spinning out `SPIN` (see [`Team::rest`]).
    rest: AtomicBool,
    parked: Mutex<usize>,
    wake: Condvar,
}

#[derive(Clone, Copy)]
struct SendJob(Job);
// SAFETY: the pointee is `Sync` and outlives every use (see `Team::run`).
unsafe impl Send for SendJob {}

pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
    /// One job at a time, whichever thread leads it (a shared team).
    leader: Mutex<()>,
}

/// Teams shared in this process, by size (see [`Team::shared`]).
static SHARED_TEAMS: Mutex<Vec<(usize, Weak<Team>)>> = Mutex::new(Vec::new());

impl Team {
    /// A team of `size` threads: the caller plus `size - 1` helpers.
    pub fn new(size: usize) -> Self {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            helper_cpu_ns: AtomicU64::new(0),
            job: Mutex::new(None),
            pending: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            rest: AtomicBool::new(false),
            parked: Mutex::new(0),
            wake: Condvar::new(),
        });
        let helpers = (1..size.max(1))
            .map(|id| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("team-{id}"))
                    .spawn(move || helper(&s, id))
                    .expect("cannot start a team thread")
            })
            .collect();
        Team {
            shared,
            helpers,
            leader: Mutex::new(()),
        }
    }

    /// The process's team of `size` threads, started on first use and shared
    /// by every caller until the last one drops it. Two teams' idle helpers
    /// spinning side by side on 2 cores stalled each other's jobs (a 1000-row
    /// call took 2.5x as long as with one team); jobs of a shared team simply
    /// take turns.
    pub fn shared(size: usize) -> Arc<Team> {
        let mut teams = SHARED_TEAMS.lock().unwrap_or_else(|e| e.into_inner());
        teams.retain(|(_, t)| t.strong_count() > 0);
        if let Some(team) = teams
            .iter()
            .filter(|(s, _)| *s == size)
            .find_map(|(_, t)| t.upgrade())
        {
            return team;
        }
        let team = Arc::new(Team::new(size));
        teams.push((size, Arc::downgrade(&team)));
        team
    }

    /// A team with one thread per core.
    pub fn all_cores() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub fn size(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Park the idle helpers now rather than after `SPIN`: no more jobs are
    /// coming soon, and their spinning would show up as this process's CPU
    /// time while something else is measured. The next job wakes them.
    pub fn rest(&self) {
        self.shared.rest.store(true, Ordering::SeqCst);
    }

    /// Run `f(0)` here and `f(i)` on helper i, returning when all are done,
    /// with the CPU time the helpers spent on their parts (the caller's own
    /// part is on the caller's thread clock). A panic in a helper's part
    /// aborts the process (it cannot unwind into this caller); the kernels
    /// run here do not panic on valid input.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) -> Duration {
        if self.helpers.is_empty() {
            f(0);
            return Duration::ZERO;
        }
        let _leading = self.leader.lock().unwrap_or_else(|e| e.into_inner());
        let s = &self.shared;
        // SAFETY: only the lifetime is erased; `run` does not return before
        // `pending` is back to 0, i.e. before every helper finished calling it.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        *s.job.lock().expect("team lock") = Some(SendJob(job));
        s.rest.store(false, Ordering::SeqCst);
        s.helper_cpu_ns.store(0, Ordering::SeqCst);
        s.pending.store(self.helpers.len(), Ordering::SeqCst);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if *s.parked.lock().expect("team lock") > 0 {
            s.wake.notify_all();
        }
        // The helpers borrow what `f` borrows: even if our part panics, wait
        // for them before unwinding frees any of it.
        let ours = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0)));
        let mut spins = 0u32;
        while s.pending.load(Ordering::Acquire) > 0 {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                // A helper may be off-CPU (more threads than cores): let it run.
                std::thread::yield_now();
            }
        }
        *s.job.lock().expect("team lock") = None;
        if let Err(panic) = ours {
            std::panic::resume_unwind(panic);
        }
        Duration::from_nanos(s.helper_cpu_ns.load(Ordering::Acquire))
    }
}

fn helper(s: &Shared, id: usize) {
    let mut seen = 0u64;
    loop {
        let since = Instant::now();
        let mut spins = 0u32;
        let epoch = loop {
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen || s.stop.load(Ordering::Acquire) {
                break e;
            }
            std::hint::spin_loop();
            spins += 1;
            // Yield the core now and then: when another thread is runnable
            // on it (a second team, a worker process, more threads than
            // cores), it runs instead of waiting for our time slice to end.
            // Without this, two idle teams in one process on 2 cores stalled
            // each other's calls for 4 ms.
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            }
            let resting = spins.is_multiple_of(64) && s.rest.load(Ordering::Acquire);
            if resting || (spins.is_multiple_of(1024) && since.elapsed() > SPIN) {
                let mut parked = s.parked.lock().expect("team lock");
                *parked += 1;
                while s.epoch.load(Ordering::Acquire) == seen && !s.stop.load(Ordering::Acquire) {
                    parked = s.wake.wait(parked).expect("team lock");
                }
                *parked -= 1;
            }
        };
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        seen = epoch;
        let job = s
            .job
            .lock()
            .expect("team lock")
            .expect("a job with the epoch");
        let cpu0 = thread_cpu();
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the leader keeps the job alive until `pending` is 0.
            unsafe { (*job.0)(id) }
        }));
        if done.is_err() {
            eprintln!("error: a team thread panicked; aborting");
            std::process::abort();
        }
        let spent = thread_cpu().saturating_sub(cpu0).as_nanos() as u64;
        s.helper_cpu_ns.fetch_add(spent, Ordering::AcqRel);
        s.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _parked = self.shared.parked.lock().expect("team lock");
            self.shared.wake.notify_all();
        }
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_runs_once_per_job_across_many_jobs() {
        let team = Team::new(3);
        let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..300 {
            team.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
        }
        // After a pause long enough for helpers to park, jobs still run.
        std::thread::sleep(SPIN * 3);
        team.run(&|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        for h in &hits {
            assert_eq!(h.load(Ordering::Relaxed), 301);
        }
    }

    #[test]
    fn results_written_by_helpers_are_visible_to_the_caller() {
        let team = Team::new(2);
        let mut out = vec![0u64; 2];
        let slots: Vec<std::sync::Mutex<&mut u64>> = out.iter_mut().map(Mutex::new).collect();
        team.run(&|i| **slots[i].lock().unwrap() = 10 + i as u64);
        drop(slots);
        assert_eq!(out, vec![10, 11]);
    }
}
