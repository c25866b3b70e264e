use clap::Parser;
use cpuwall::cli::Command;

fn main() {
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
    let cli = match cpuwall::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    // Output piped into `head` and closed early: end quietly like other
    // command-line tools instead of panicking on the failed write. Not for
    // the commands that talk over sockets: hyper writes with writev, which
    // (unlike send) raises SIGPIPE when the peer has reset, and one client
    // must never kill the server; there a dead socket is an EPIPE error
    // that costs only its own connection.
    let sockets = matches!(cli.command, Command::Serve(_) | Command::Load(_));
    let disposition = if sockets {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    // SAFETY: setting the disposition of one signal, before any threads.
    unsafe { libc::signal(libc::SIGPIPE, disposition) };
    if let Err(e) = cpuwall::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

/// clap's errors as one line (exit 2), like every other bad input: its
/// message without the blank line, usage block and "--help" footer. Help
/// and version requests print as clap prints them.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    eprintln!("{} (see --help)", parts.join(" "));
    std::process::exit(2)
}
