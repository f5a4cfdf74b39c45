//! The child process of a SIGKILL crash test, and the rounds that kill it.
//!
//! A crash test re-executes its own test binary with `--exact <child test>` and an environment
//! variable that makes that child test run the application; the child prints a ready line and
//! then its counters every 10 ms (`<PROGRESS> n1 n2 ...`, the first being the records
//! processed). The parent kills it at a random moment of its processing or start-up
//! ([`kill_round`]), or lets the last run finish ([`wait_exit`]).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::Rng;

/// What the child prints: its ready line and its counters.
#[derive(Debug, Clone, Copy)]
pub struct Markers {
    pub ready: &'static str,
    pub progress: &'static str,
}

#[derive(Debug, Clone)]
pub enum Event {
    Ready,
    /// The child's counters, the records processed first.
    Progress(Vec<u64>),
}

/// Forwards the child's lines until its stdout closes; a last line cut by the kill is dropped.
fn read_events(stdout: impl Read, markers: Markers, events: mpsc::Sender<Event>) {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if !line.ends_with('\n') => break,
            Ok(_) => {}
        }
        let mut words = line.split_whitespace();
        let event = match words.next() {
            Some(w) if w == markers.ready => Event::Ready,
            Some(w) if w == markers.progress => {
                Event::Progress(words.map(|w| w.parse().unwrap_or(0)).collect())
            }
            _ => continue,
        };
        if events.send(event).is_err() {
            break;
        }
    }
}

pub struct Child {
    pub process: std::process::Child,
    pub events: mpsc::Receiver<Event>,
    reader: Option<std::thread::JoinHandle<()>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Child {
    /// This test binary again, running only `test`, with `env` set (and `RUST_LOG`, `warn`
    /// unless set).
    pub fn spawn(test: &str, env: &[(&str, &std::ffi::OsStr)], markers: Markers) -> Child {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut process = command.spawn().unwrap();
        let stdout = process.stdout.take().unwrap();
        let mut stderr_pipe = process.stderr.take().unwrap();
        let (sender, events) = mpsc::channel();
        let reader = std::thread::spawn(move || read_events(stdout, markers, sender));
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        Child {
            process,
            events,
            reader: Some(reader),
            stderr: Some(stderr),
        }
    }

    /// Kills the child (if it still runs) and returns its stderr.
    pub fn kill_and_stderr(&mut self) -> String {
        let _ = self.process.kill();
        let _ = self.process.wait();
        self.stderr()
    }

    /// The child's stderr, once it has exited.
    pub fn stderr(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        self.stderr.take().map_or_else(String::new, |s| s.join().unwrap())
    }

    /// The last counters the child reported, read from what is left in the channel.
    pub fn last_progress(&self, mut last: Vec<u64>) -> Vec<u64> {
        for e in self.events.try_iter() {
            if let Event::Progress(c) = e {
                last = c;
            }
        }
        last
    }
}

/// What the kills hit, over the killed rounds.
#[derive(Debug, Default)]
pub struct Stats {
    pub kills: usize,
    /// Kills while records were being processed (the count moved in the last 150 ms).
    pub kills_while_processing: usize,
    pub kills_in_startup: usize,
    /// Ready → first processed record, summed over rounds that got there.
    pub startup: Duration,
    pub startups: u32,
}

/// What one killed round saw.
#[derive(Debug)]
pub struct Round {
    /// The child's last counters.
    pub last: Vec<u64>,
    /// Ready to the kill.
    pub ran: Duration,
    pub stderr: String,
}

/// Starts `child`'s round: waits for it to be ready, then kills it with SIGKILL at a random
/// moment, up to 400 ms after it processed its first record, or, every fourth round once a
/// start-up time is known, somewhere in its start-up (fencing, joining, restoring, the first
/// transaction). Panics with the child's stderr if it does not start, processes nothing, or
/// dies otherwise.
pub fn kill_round(mut child: Child, round: usize, rng: &mut impl Rng, stats: &mut Stats) -> Round {
    let ready = child.events.recv_timeout(Duration::from_secs(60));
    let ready_at = Instant::now();
    let mut last: Vec<u64> = Vec::new();
    // (when, processed records) as the child reported them.
    let mut history: Vec<(Instant, u64)> = Vec::new();
    if !matches!(ready, Ok(Event::Ready)) {
        let stderr = child.kill_and_stderr();
        panic!("round {round}: the child did not start: {ready:?}; its stderr:\n{stderr}");
    }
    if round % 4 == 3 && stats.startups > 0 {
        let startup = (stats.startup / stats.startups).as_millis() as u64;
        std::thread::sleep(Duration::from_millis(rng.random_range(0..=startup)));
        stats.kills_in_startup += 1;
    } else {
        // A random moment of the processing: up to 400 ms after the first record.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut kill_at = None;
        while kill_at.is_none_or(|at| Instant::now() < at) {
            let until = kill_at.unwrap_or(deadline);
            match child
                .events
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(Event::Progress(c)) => {
                    let processed = c.first().copied().unwrap_or(0);
                    if kill_at.is_none() && processed > 0 {
                        stats.startup += ready_at.elapsed();
                        stats.startups += 1;
                        kill_at = Some(Instant::now() + Duration::from_millis(rng.random_range(0..=400)));
                    }
                    history.push((Instant::now(), processed));
                    last = c;
                }
                Ok(Event::Ready) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if kill_at.is_some() => {}
                Err(e) => {
                    let stderr = child.kill_and_stderr();
                    panic!("round {round}: no records processed ({e}, last {last:?}); its stderr:\n{stderr}");
                }
            }
        }
    }
    let killed = Instant::now();
    child.process.kill().unwrap();
    let status = child.process.wait().unwrap();
    let stderr = child.stderr();
    assert_eq!(
        status.signal(),
        Some(9),
        "round {round}: the child did not die by SIGKILL but {status}; its stderr:\n{stderr}"
    );
    let last = child.last_progress(last);
    stats.kills += 1;
    // Processing: the count still moved in the last 150 ms before the kill.
    let before = history
        .iter()
        .rev()
        .find(|(at, _)| killed.duration_since(*at) >= Duration::from_millis(150))
        .map_or(0, |&(_, p)| p);
    if last.first().copied().unwrap_or(0) > before {
        stats.kills_while_processing += 1;
    }
    Round {
        last,
        ran: ready_at.elapsed(),
        stderr,
    }
}

/// Waits up to `timeout` for the last, unkilled run to exit; returns its status, stderr and
/// last counters. Panics with its stderr if it does not exit in time.
pub fn wait_exit(mut child: Child, timeout: Duration) -> (ExitStatus, String, Vec<u64>) {
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.process.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let stderr = child.kill_and_stderr();
            panic!("the last run did not finish in {timeout:?}; its stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = child.stderr();
    let last = child.last_progress(Vec::new());
    (status, stderr, last)
}
