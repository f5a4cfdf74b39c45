//! Starts the real `runnel serve` binary on an ephemeral loopback port for end-to-end tests,
//! and stops it (SIGTERM, then SIGKILL) when dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// The schema registry's port, when started with one.
    pub registry_port: Option<u16>,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    configs: Vec<String>,
}

impl Server {
    /// A broker in a fresh temporary directory, with `configs` as `--config` pairs.
    pub fn start(configs: &[&str]) -> Server {
        Server::start_inner(configs, None)
    }

    /// A broker that also serves the schema registry (`--registry-listen`) on an ephemeral port.
    pub fn start_with_registry(configs: &[&str]) -> Server {
        Server::start_inner(configs, Some(0))
    }

    fn start_inner(configs: &[&str], registry_port: Option<u16>) -> Server {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("data");
        let mut server = Server {
            child: None,
            port: 0,
            registry_port,
            dir,
            _temp: Some(temp),
            configs: configs.iter().map(|c| c.to_string()).collect(),
        };
        server.spawn(0);
        server
    }

    fn spawn(&mut self, port: u16) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"));
        for c in &self.configs {
            cmd.arg("--config").arg(c);
        }
        if let Some(rport) = self.registry_port {
            cmd.arg("--registry-listen").arg(format!("127.0.0.1:{rport}"));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .spawn()
            .expect("spawn runnel serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut out = BufReader::new(stdout);
        let port_of = |addr: &str| -> u16 { addr.rsplit(':').next().unwrap().parse().unwrap() };
        let (mut kafka, mut registry) = (None, self.registry_port.map(|_| None));
        while kafka.is_none() || registry == Some(None) {
            let mut line = String::new();
            let n = out.read_line(&mut line).expect("read the listening lines");
            assert!(n > 0, "runnel serve ended before listening");
            let line = line.trim();
            if let Some(addr) = line.strip_prefix("schema registry listening on ") {
                registry = Some(Some(port_of(addr)));
            } else if let Some(addr) = line.strip_prefix("listening on ") {
                kafka = Some(port_of(addr));
            } else {
                panic!("unexpected: {line:?}");
            }
        }
        self.port = kafka.unwrap();
        self.registry_port = registry.flatten();
        self.child = Some(child);
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The schema registry's base URL (`start_with_registry` only).
    pub fn registry_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.registry_port.expect("started with a registry")
        )
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the broker with SIGTERM and waits for it to exit cleanly.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "runnel serve exited with {status}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("runnel serve did not stop within 20 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops and starts the broker again on the same port and data directory.
    pub fn restart(&mut self) {
        let port = self.port;
        self.stop();
        self.spawn(port);
    }

    /// The broker process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The broker process's resident memory in KiB (from /proc).
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a command exists on PATH.
pub fn have(command: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {command}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether `python3` can import every module of `modules` (e.g. `"kafka, confluent_kafka"`;
/// `scripts/deps.sh` installs the clients the tests use).
pub fn python_can_import(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether `python3` can import `modules`; if not, says on stderr that the calling test is
/// skipped and which packages (`pip`) it needs. `scripts/deps.sh` installs them, so the README's
/// test command runs every Python test; a machine without them skips rather than fails.
pub fn python_clients_or_skip(modules: &str, pip: &str) -> bool {
    if python_can_import(modules) {
        return true;
    }
    eprintln!("SKIPPED: python3 cannot import {modules} (pip install {pip}; scripts/deps.sh installs it)");
    false
}

/// Runs `python3 tests/python/<name> args...`, killed after `limit`. Panics with its output
/// unless it exits successfully; returns its stdout (the script's JSON summary).
pub fn python(name: &str, args: &[&str], limit: Duration) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("python")
        .join(name);
    let started = Instant::now();
    let child = Command::new("python3")
        .arg(script)
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, out, err) = wait_with_limit(child, limit);
    eprintln!(
        "{name} {args:?} took {:.2} s: {}",
        started.elapsed().as_secs_f64(),
        out.trim()
    );
    match status {
        None => panic!("{name} {args:?} did not finish within {limit:?}\nstdout: {out}\nstderr: {err}"),
        Some(status) => assert!(
            status.success(),
            "{name} {args:?} failed ({status})\nstdout: {out}\nstderr: {err}"
        ),
    }
    out
}

/// Queues `record` on an rdkafka producer, serving delivery reports (`poll`) while its queue
/// is full, as librdkafka's own examples do.
pub fn send_rdkafka<C: rdkafka::producer::ProducerContext>(
    producer: &rdkafka::producer::BaseProducer<C>,
    mut record: rdkafka::producer::BaseRecord<
        '_,
        impl rdkafka::message::ToBytes + ?Sized,
        impl rdkafka::message::ToBytes + ?Sized,
        C::DeliveryOpaque,
    >,
) {
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((_, back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
        }
    }
    producer.poll(Duration::ZERO);
}

/// Waits for `child`, killing it after `limit`; returns its status (None if killed) and output.
pub fn wait_with_limit(mut child: Child, limit: Duration) -> (Option<ExitStatus>, String, String) {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // Both pipes are drained while the child runs, so a chatty child never blocks on a full pipe.
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, out.join().unwrap(), err.join().unwrap())
}
