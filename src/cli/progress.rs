//! A one-line record counter on stderr for long produce/consume runs, shown only when stderr is
//! a terminal so that pipes and test logs stay clean.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the counter line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct Progress {
    verb: &'static str,
    enabled: bool,
    started: Instant,
    last_drawn: Instant,
}

impl Progress {
    pub fn new(verb: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            verb,
            enabled: std::io::stderr().is_terminal(),
            started: now,
            last_drawn: now,
        }
    }

    /// Redraws the counter if it is due.
    pub fn update(&mut self, count: u64) {
        if self.enabled && self.last_drawn.elapsed() >= REDRAW_EVERY {
            self.last_drawn = Instant::now();
            self.draw(count);
        }
    }

    fn draw(&self, count: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = count as f64 / secs;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{} {count} records ({rate:.0}/s)\x1b[K", self.verb);
        let _ = err.flush();
    }

    /// Clears the counter line, so the final summary starts on a clean line.
    pub fn finish(&self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}
