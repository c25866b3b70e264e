use clap::Parser;

fn main() {
    // Output piped into `head` and closed early: end quietly like other
    // command-line tools instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of one signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // candle asks for its thread count on every CPU op and, without this
    // variable, parses /proc/cpuinfo each time (7% of a training run).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
    }
    // Keep freed buffers in the heap instead of returning them to the OS:
    // candle allocates fresh tensors per op, and with glibc's default every
    // large one is an mmap/munmap pair, page faults and, with members
    // training on two threads, TLB-shootdown interrupts between the cores.
    // SAFETY: mallopt only tunes the allocator; called before any threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
    let cli = cpuwall::cli::Cli::parse();
    if let Err(e) = cpuwall::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
