//! The open loop's timetable: request `i` is due at `start + i / rate`.
//! [`Pacer`] is the schedule alone (which requests fall due by a given
//! instant, and when to wake next), so it is tested on a fake clock;
//! [`pacer_thread`] runs it on the real one.

use std::time::{Duration, Instant};

/// From this rate up, the generator's thread paces itself: sleeping on
/// tokio's millisecond timer, then yielding until each request is due.
/// Below it, a pacer thread releases requests (see [`pacer`]). Measured
/// here: the pacer thread's wake-ups cost ~40 µs of CPU per request at
/// 20,000 requests/s (a context switch each), self-pacing ~15 µs; but
/// self-pacing yields without sleeping whenever a request is due within
/// 1.5 ms, which at low rates would burn a core the server may need.
pub const SELF_PACED_FROM_RPS: f64 = 5000.0;

/// How often the pacer wakes at most (what a request can be sent late by).
const PACE: Duration = Duration::from_micros(50);

/// The timetable's state: the next request and when the pacer last woke.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    end: Instant,
    rate: f64,
    next: u64,
    woke: Instant,
}

impl Pacer {
    pub fn new(start: Instant, end: Instant, rate: f64, now: Instant) -> Self {
        Pacer {
            start,
            end,
            rate,
            next: 0,
            woke: now,
        }
    }

    /// When request `i` is due.
    pub fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// When to wake next: the next request's due time, but no sooner than
    /// [`PACE`] after the last wake-up (at high rates one wake-up releases
    /// several requests). None when the timetable is over.
    pub fn wake_at(&self) -> Option<Instant> {
        let next = self.due(self.next);
        (next < self.end).then(|| next.max(self.woke + PACE))
    }

    /// Woken at `now`: the due times of every request due by then, in order.
    pub fn release(&mut self, now: Instant) -> Vec<Instant> {
        self.woke = now;
        let mut out = Vec::new();
        loop {
            let due = self.due(self.next);
            if due > now || due >= self.end {
                return out;
            }
            out.push(due);
            self.next += 1;
        }
    }
}

/// The open loop's clock: a thread that sleeps until each request is due
/// (nanosleep with a 1 ns timer slack is precise to a few µs; tokio's timer
/// ticks in whole milliseconds, and spinning instead cost the load
/// generator a core that the server under test needed) and releases it.
pub fn pacer_thread(
    start: Instant,
    end: Instant,
    rate: f64,
    tx: tokio::sync::mpsc::UnboundedSender<Instant>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        let mut pacer = Pacer::new(start, end, rate, Instant::now());
        while let Some(until) = pacer.wake_at() {
            let now = Instant::now();
            if until > now {
                std::thread::sleep(until - now);
            }
            for due in pacer.release(Instant::now()) {
                if tx.send(due).is_err() {
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    #[test]
    fn requests_fall_due_on_the_timetable_and_are_released_when_woken() {
        let t0 = Instant::now();
        // 1000 requests/s for 10 ms: due at 0, 1, ..., 9 ms.
        let mut p = Pacer::new(t0, t0 + ms(10.0), 1000.0, t0);
        assert_eq!(p.wake_at(), Some(t0 + PACE));
        assert_eq!(p.release(t0), vec![t0]);
        // Woken late at 3.5 ms: requests 1, 2 and 3 go out, with their own due times.
        assert_eq!(
            p.release(t0 + ms(3.5)),
            vec![t0 + ms(1.0), t0 + ms(2.0), t0 + ms(3.0)]
        );
        assert_eq!(p.wake_at(), Some(t0 + ms(4.0)));
        // Woken past the end: only what is due before the end, then done.
        assert_eq!(p.release(t0 + ms(50.0)).len(), 6);
        assert_eq!(p.wake_at(), None);
    }

    #[test]
    fn at_high_rates_the_pacer_wakes_no_more_often_than_its_pace() {
        let t0 = Instant::now();
        // 100,000 requests/s: one due every 10 µs, the pace is 50 µs.
        let mut p = Pacer::new(t0, t0 + ms(1.0), 100_000.0, t0);
        let mut wakes = 0;
        let mut sent = 0;
        let mut now = t0;
        while let Some(at) = p.wake_at() {
            assert!(at >= now, "never wakes in the past");
            now = at;
            sent += p.release(now).len();
            wakes += 1;
        }
        assert_eq!(
            sent, 100,
            "every request of the millisecond is released once"
        );
        assert!(
            (19..=21).contains(&wakes),
            "{wakes} wake-ups for 1 ms at a 50 µs pace"
        );
    }
}
