//! Worker processes spoken to in lines, both sides: the parent's handle on
//! a child (spawn, send, read with a deadline, reap) and the child's loop
//! (die with the parent, say ready, answer commands). Shared by the
//! classical worker pool and the ensemble's member processes.

use std::ffi::OsStr;
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use super::pipe;
use crate::error::{Error, Result};

/// The parent's handle on one worker process.
pub struct LineChild {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    pending: Vec<u8>,
    /// `quit` was sent (once is enough).
    quit_sent: bool,
}

/// The child closed its output before a line came: it died or exited.
#[derive(Debug)]
pub struct Closed;

/// No line came before the deadline.
#[derive(Debug)]
pub struct TimedOut;

impl LineChild {
    /// Start `exe args...` with piped stdin/stdout (stderr shared) in its
    /// own process group: a terminal's Ctrl-C reaches only the parent, which
    /// cleans up; if the parent dies anyway, the worker's PDEATHSIG ends it.
    pub fn spawn<I, S>(exe: &Path, args: I, env: &[(String, String)]) -> std::io::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        Ok(LineChild {
            child,
            stdin,
            stdout,
            pending: Vec::new(),
            quit_sent: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send one line (with its newline) and flush. A child that has gone
    /// is an `ErrorKind::BrokenPipe` error, never a SIGPIPE.
    pub fn send(&mut self, line: &str) -> std::io::Result<()> {
        pipe::write_all_quietly(&mut self.stdin, line.as_bytes())
    }

    /// The output pipe, for polling several children at once.
    pub fn fd(&self) -> RawFd {
        self.stdout.as_raw_fd()
    }

    /// A complete line already read, if any.
    pub fn take_line(&mut self) -> Option<String> {
        pipe::take_line(&mut self.pending)
    }

    /// Read what the child has written; `Ok(false)` at end of file.
    pub fn fill(&mut self) -> std::io::Result<bool> {
        pipe::fill(&mut self.stdout, &mut self.pending)
    }

    /// The next line, waiting at most until `deadline`.
    pub fn read_line(
        &mut self,
        deadline: Instant,
    ) -> Result<std::result::Result<String, ReadFailure>> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Ok(line));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Err(ReadFailure::TimedOut(TimedOut)));
            }
            let mut pfd = [pipe::readable(self.fd())];
            pipe::poll(&mut pfd, left)?;
            if pfd[0].revents != 0
                && !self.fill().map_err(|e| {
                    Error::io(format!("cannot read from worker pid {}", self.pid()), e)
                })?
            {
                return Ok(Err(ReadFailure::Closed(Closed)));
            }
        }
    }

    /// Wait for the child and say how it ended (`exited with status 101`,
    /// `was killed by signal 9`).
    pub fn describe_exit(&mut self) -> String {
        match self.child.wait() {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                _ => s.to_string(),
            },
            Err(e) => format!("ended (status unknown: {e})"),
        }
    }

    /// Kill the child (if still running) and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ask the child to quit (once, however often this is called).
    pub fn ask_quit(&mut self) {
        if !self.quit_sent {
            self.quit_sent = true;
            let _ = self.send("quit\n");
        }
    }

    /// Ask the child to quit; reap it once it has, killing it at `deadline`.
    pub fn quit_by(&mut self, deadline: Instant) {
        self.ask_quit();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                _ => return self.kill(),
            }
        }
    }
}

/// Why [`LineChild::read_line`] returned no line.
#[derive(Debug)]
pub enum ReadFailure {
    Closed(Closed),
    TimedOut(TimedOut),
}

impl Drop for LineChild {
    /// However the parent's work ends (error, panic), no worker outlives it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// The worker side of the line protocol, on this process's stdin/stdout.
pub struct Parent {
    out: std::io::StdoutLock<'static>,
}

impl Parent {
    /// Say one line to the parent.
    pub fn say(&mut self, line: &str) -> Result<()> {
        writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .map_err(|e| Error::io("worker: cannot write to the parent", e))
    }
}

/// Run a worker: die with the parent (Linux), say `ready`, then hand each
/// command line (split on whitespace) to `on_command` until `quit` or end
/// of input. A command `on_command` does not know (it returns `Ok(false)`)
/// is answered `error unknown command '...'`.
pub fn serve(
    ready: &str,
    mut on_command: impl FnMut(&[&str], &mut Parent) -> Result<bool>,
) -> Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let mut parent = Parent {
        out: std::io::stdout().lock(),
    };
    parent.say(ready)?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Error::io("worker: cannot read from the parent", e))?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts == ["quit"] {
            break;
        }
        if !on_command(&parts, &mut parent)? {
            parent.say(&format!("error unknown command '{line}'"))?;
        }
    }
    Ok(())
}

/// Parse the whole-number fields of a command line, or say which line was bad.
pub fn numbers<const N: usize>(fields: &[&str], line: &[&str]) -> Result<[usize; N]> {
    let mut out = [0usize; N];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = f
            .parse()
            .map_err(|_| Error::Runtime(format!("worker: bad command '{}'", line.join(" "))))?;
    }
    Ok(out)
}

/// Test hooks a worker obeys, read from an environment variable:
/// `die-once:<marker file>` dies unless the marker exists (creating it),
/// `die` / `hang` strike every worker, `die:<n>` / `hang:<n>` only worker n;
/// `gone-after:<n>` closes the worker's input before its n-th answer and
/// exits after it (a worker that dies between two calls).
pub struct Fault(String);

impl Fault {
    /// The fault `var` names. Test builds only: a release build has no
    /// debug assertions and reads no fault, whatever the environment says.
    pub fn from_env(var: &str) -> Self {
        if cfg!(debug_assertions) {
            Fault(std::env::var(var).unwrap_or_default())
        } else {
            Fault(String::new())
        }
    }

    /// Before answering job `done` (counting from 1): with `gone-after:<n>`
    /// and `done == n`, close this process's input, so the parent's next
    /// write finds no reader; the worker then exits after its answer.
    pub fn before_answer(&self, done: usize) -> bool {
        let gone = self
            .0
            .strip_prefix("gone-after:")
            .and_then(|n| n.parse::<usize>().ok())
            == Some(done);
        if gone {
            // SAFETY: closing this process's own stdin descriptor.
            unsafe { libc::close(0) };
        }
        gone
    }

    /// Act on the fault if it targets worker `who` (None: an unnumbered one).
    pub fn strike(&self, who: Option<usize>) {
        let (what, target) = match self.0.split_once(':') {
            Some(("die-once", marker)) => {
                if std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(marker)
                    .is_ok()
                {
                    std::process::exit(101);
                }
                return;
            }
            Some((what, n)) => (what, n.parse::<usize>().ok()),
            None => (self.0.as_str(), None),
        };
        if target.is_some() && target != who {
            return;
        }
        match what {
            "die" => std::process::exit(101),
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            _ => {}
        }
    }
}
