//! Progress bars for long jobs, on stderr and only on a terminal.

/// A progress bar on stderr, only when stderr is a terminal (piped output
/// stays clean). `template` is indicatif's.
pub fn progress_bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        let pb = indicatif::ProgressBar::new(len);
        pb.set_style(
            indicatif::ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb
    })
}
