//! Reading a child's stdout line by line without blocking forever: shared
//! by the classical worker pool and the ensemble's member processes.

use std::io::Read;
use std::time::Duration;

use crate::error::{Error, Result};

/// Write all of `bytes` to `w` and flush, with SIGPIPE held off this
/// thread: a reader that is gone (a worker that died between calls) is an
/// `EPIPE` error for the caller to handle, never the silent end of the
/// process (the cpuwall binary restores SIGPIPE's default so that output
/// piped into `head` ends quietly).
pub fn write_all_quietly(w: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: signal-mask calls on sigsets that live across them; a write
    // to a pipe raises SIGPIPE on the writing thread, so blocking it here
    // and taking it off the pending set before unblocking keeps it from
    // being delivered.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let result = w.write_all(bytes).and_then(|_| w.flush());
        let broken = matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe);
        if broken && libc::sigismember(&old, libc::SIGPIPE) == 0 {
            let now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&block, std::ptr::null_mut(), &now);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}

/// The next complete line in `pending` (without its newline), if any.
pub fn take_line(pending: &mut Vec<u8>) -> Option<String> {
    let pos = pending.iter().position(|&b| b == b'\n')?;
    let line: Vec<u8> = pending.drain(..=pos).collect();
    Some(String::from_utf8_lossy(&line[..pos]).into_owned())
}

/// Append what `from` has to `pending`; `Ok(false)` at end of file (the
/// child closed its output: it died or exited).
pub fn fill(from: &mut impl Read, pending: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut buf = [0u8; 512];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Wait up to `left` (at least 1 ms) until one of `fds` is readable or
/// closed; an interrupted wait returns early, with no fd ready.
pub fn poll(fds: &mut [libc::pollfd], left: Duration) -> Result<()> {
    let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: a valid array of pollfd that lives across the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io("poll on worker pipes failed", e));
        }
    }
    Ok(())
}

/// A pollfd waiting for input on `fd`.
pub fn readable(fd: std::os::fd::RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_whole_and_in_order() {
        let mut pending = Vec::new();
        let mut src: &[u8] = b"ready 10\ndone 5\npart";
        assert!(fill(&mut src, &mut pending).unwrap());
        assert_eq!(take_line(&mut pending).as_deref(), Some("ready 10"));
        assert_eq!(take_line(&mut pending).as_deref(), Some("done 5"));
        assert_eq!(take_line(&mut pending), None);
        assert_eq!(pending, b"part");
        assert!(!fill(&mut src, &mut pending).unwrap(), "end of input");
    }
}
