//! Colour for people at a terminal: verdicts green or red, summary lines
//! bold. Only when the stream is a terminal, `NO_COLOR` is unset or empty
//! (no-color.org) and `TERM` is not `dumb`; piped output stays plain text.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Bold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    on: bool,
}

impl Style {
    /// No colour, whatever the stream.
    pub const PLAIN: Style = Style { on: false };

    /// For text written to stdout.
    pub fn stdout() -> Style {
        Style::decide(std::io::stdout().is_terminal())
    }

    /// For text written to stderr.
    pub fn stderr() -> Style {
        Style::decide(std::io::stderr().is_terminal())
    }

    fn decide(terminal: bool) -> Style {
        Style {
            on: enabled(
                terminal,
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("TERM").as_deref(),
            ),
        }
    }

    pub fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.on {
            return text.to_string();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Bad => "1;31",
            Tone::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// `yes` in green, anything else in red.
    pub fn verdict(&self, ok: bool, text: &str) -> String {
        self.paint(text, if ok { Tone::Good } else { Tone::Bad })
    }
}

/// Colour only on a terminal, without `NO_COLOR` (any non-empty value) and
/// with a `TERM` that is not `dumb`.
fn enabled(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(enabled(true, None, Some(OsStr::new("xterm-256color"))));
        assert!(!enabled(false, None, None), "piped");
        assert!(!enabled(true, Some(OsStr::new("1")), None), "NO_COLOR=1");
        assert!(enabled(true, Some(OsStr::new("")), None), "NO_COLOR empty");
        assert!(!enabled(true, None, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn plain_text_stays_plain() {
        assert_eq!(Style::PLAIN.verdict(false, "NO"), "NO");
        let on = Style { on: true };
        assert_eq!(on.verdict(true, "yes"), "\x1b[32myes\x1b[0m");
        assert_eq!(on.paint("3 cells", Tone::Bold), "\x1b[1m3 cells\x1b[0m");
    }
}
