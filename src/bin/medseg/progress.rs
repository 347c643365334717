//! Progress of long runs on stderr: `indicatif` bars when stderr is a terminal; otherwise (a pipe,
//! a log file, a test) plain lines at most once per stage, or nothing.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Whether stderr is a terminal, where bars are drawn.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar of `len` steps drawn with `template` (indicatif's syntax) in a terminal; a hidden one
/// (every call does nothing) otherwise.
pub fn bar(len: u64, template: &str) -> ProgressBar {
    if !interactive() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(len).with_style(style.progress_chars("=> "));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A run made of named stages, each reporting the fraction done: one bar (the stage, its
/// percentage, the time so far) in a terminal, one line per stage otherwise; and how long each
/// stage took.
pub struct Stages {
    bar: ProgressBar,
    plain: bool,
    started: Instant,
    marks: Vec<(String, Instant)>,
    ended: Option<Instant>,
}

impl Stages {
    /// Starts timing.
    pub fn new() -> Stages {
        Stages {
            bar: bar(100, "{spinner} {msg:<28} [{bar:30}] {percent:>3}%  {elapsed}"),
            plain: !interactive(),
            started: Instant::now(),
            marks: Vec::new(),
            ended: None,
        }
    }

    /// `stage` is `fraction` (0–1) done.
    /// A stage named `done` (the pipeline's last report) only marks the end of the one before.
    pub fn update(&mut self, stage: &str, fraction: f64) {
        if stage == "done" {
            self.ended.get_or_insert_with(Instant::now);
            return;
        }
        if self.marks.last().is_none_or(|(s, _)| s != stage) {
            self.marks.push((stage.to_string(), Instant::now()));
            if self.plain {
                eprintln!("{stage}");
            }
            self.bar.set_message(stage.to_string());
        }
        self.bar.set_position((fraction.clamp(0.0, 1.0) * 100.0).round() as u64);
    }

    /// Removes the bar; `done in T s (stage s, …)`.
    pub fn finish(mut self) -> String {
        self.bar.finish_and_clear();
        let ended = self.ended.unwrap_or_else(Instant::now);
        self.marks.push((String::new(), ended));
        let timings: Vec<String> =
            self.marks.windows(2).map(|w| format!("{} {:.2} s", w[0].0, (w[1].1 - w[0].1).as_secs_f64())).collect();
        format!("done in {:.1} s ({})", (ended - self.started).as_secs_f64(), timings.join(", "))
    }
}
