//! [`Progress`]: the bar `simulate run`, `simulate load` and `eval` draw on stderr while they
//! work (indicatif): how far along, and the rate of messages. It is drawn only for a person
//! watching — stderr a terminal and no `--json` — so a pipe, a log file or a script reading JSON
//! gets no control characters ([`shown`] is the rule).

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to draw a bar: only for a terminal, never in JSON mode.
pub fn shown(json: bool, stderr_is_terminal: bool) -> bool {
    !json && stderr_is_terminal
}

/// A progress bar on stderr, or nothing.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `len` steps on stderr when [`shown`] (`json` as the command's `--json`), else
    /// nothing. The message is the command's own figures (count and rate).
    pub fn on_stderr(json: bool, len: u64) -> Progress {
        if !shown(json, std::io::stderr().is_terminal()) {
            return Progress::hidden();
        }
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}%  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(10)).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// No bar (what a script sees).
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Whether a bar is drawn.
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// Moves the bar to `pos` of its length and shows `count` messages at `count / elapsed` per second.
    pub fn update(&self, pos: u64, count: u64, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            bar.set_position(pos);
            bar.set_message(rate_message(count, elapsed));
        }
    }

    /// Removes the bar, so the command's report starts on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `12,345 messages  1,234/s`.
pub fn rate_message(count: u64, elapsed: Duration) -> String {
    let rate = count as f64 / elapsed.as_secs_f64().max(1e-3);
    format!("{count} messages  {rate:.0}/s")
}

/// `fraction` (0–1) of a bar of `len` steps.
pub fn position(fraction: f64, len: u64) -> u64 {
    (fraction.clamp(0.0, 1.0) * len as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_is_drawn_only_on_a_terminal_and_never_in_json_mode() {
        for (json, terminal, want) in
            [(false, true, true), (true, true, false), (false, false, false), (true, false, false)]
        {
            assert_eq!(shown(json, terminal), want, "json {json}, terminal {terminal}");
        }
    }

    #[test]
    fn the_message_carries_the_count_and_the_rate() {
        assert_eq!(rate_message(5000, Duration::from_secs(2)), "5000 messages  2500/s");
        assert_eq!(position(0.5, 1000), 500);
        assert_eq!(position(1.7, 1000), 1000);
        assert!(!Progress::hidden().is_drawn());
    }
}
