use clap::Parser;

fn main() {
    let cli = cpuwall::cli::Cli::parse();
    if let Err(e) = cpuwall::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
