//! Ctrl-C as a request to stop: long runs (sweeps) check the flag between
//! steps, save what they have and exit, instead of dying mid-write.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Install the handler; returns the flag it sets.
pub fn install() -> &'static AtomicBool {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_sigint as *const () as libc::sighandler_t);
    }
    &STOP
}

/// Whether Ctrl-C (or SIGTERM) arrived since [`install`].
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
