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

/// A bar that moves with the clock toward an estimate of a job's length,
/// for jobs with no natural steps (timing backends in interleaved rounds):
/// on stderr, only on a terminal and only when the estimate is over
/// [`TIMED_BAR_FROM`] seconds. It stops at 99% until dropped (the estimate
/// is only that); dropping it clears it.
pub fn timed_bar(estimate_seconds: f64, label: &str) -> Option<Box<dyn std::any::Any>> {
    if estimate_seconds.is_nan() || estimate_seconds < TIMED_BAR_FROM {
        return None;
    }
    let total_ms = (estimate_seconds * 1e3) as u64;
    let pb = progress_bar(
        total_ms,
        "{prefix} [{bar:30}] {elapsed_precise} of about {msg}",
    )?;
    pb.set_prefix(label.to_string());
    pb.set_message(crate::units::seconds(estimate_seconds));
    let ticker = pb.clone();
    let start = std::time::Instant::now();
    std::thread::spawn(move || {
        while !ticker.is_finished() {
            let ms = start.elapsed().as_millis() as u64;
            ticker.set_position(ms.min(total_ms * 99 / 100));
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    struct Clears(indicatif::ProgressBar);
    impl Drop for Clears {
        fn drop(&mut self) {
            self.0.finish_and_clear();
        }
    }
    Some(Box::new(Clears(pb)))
}

/// Jobs estimated shorter than this (seconds) show no bar.
pub const TIMED_BAR_FROM: f64 = 2.0;

/// Progress over counted steps, each with a line for people: a bar whose
/// message is the last line on a terminal, `[k/n] line` on stderr
/// otherwise. Cleared when dropped.
pub struct Steps {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: std::cell::Cell<u64>,
}

impl Steps {
    pub fn new(total: u64, unit: &str) -> Self {
        let template =
            format!("[{{bar:30}}] {{pos}}/{{len}} {unit} {{elapsed_precise}} eta {{eta}} {{msg}}");
        Steps {
            bar: progress_bar(total, &template),
            total,
            done: std::cell::Cell::new(0),
        }
    }

    /// One step done; `line` says what it was.
    pub fn step(&self, line: &str) {
        self.done.set(self.done.get() + 1);
        match &self.bar {
            Some(pb) => {
                pb.inc(1);
                pb.set_message(line.to_string());
            }
            None => eprintln!("[{}/{}] {line}", self.done.get(), self.total),
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

/// One bar per family over its (candidate, fold) fits, on a terminal; a
/// line per family elsewhere.
pub struct FitBars {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
    threads: usize,
}

impl FitBars {
    pub fn new(threads: usize) -> Self {
        FitBars {
            bar: std::sync::Mutex::new(None),
            threads,
        }
    }

    /// A family's search starts with `fits` fits.
    pub fn start(&self, family: &str, fits: usize) {
        let template = "{prefix:>4} [{bar:30}] {pos}/{len} fits {elapsed_precise} eta {eta}";
        match progress_bar(fits as u64, template) {
            Some(pb) => {
                pb.set_prefix(family.to_string());
                if let Some(old) = self.bar.lock().expect("lock").replace(pb) {
                    old.finish_and_clear();
                }
            }
            None => eprintln!("training {family}: {fits} fits on {} threads", self.threads),
        }
    }

    pub fn fit_done(&self) {
        if let Some(pb) = self.bar.lock().expect("lock").as_ref() {
            pb.inc(1);
        }
    }
}

impl Drop for FitBars {
    fn drop(&mut self) {
        if let Some(pb) = self.bar.lock().expect("lock").take() {
            pb.finish_and_clear();
        }
    }
}
