use clap::Parser;

fn main() {
    // Output piped into `head` and closed early: end quietly like other
    // command-line tools instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of one signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = cpuwall::cli::Cli::parse();
    if let Err(e) = cpuwall::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
