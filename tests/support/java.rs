//! Helpers of the tests that run Apache Kafka's own Java code beside Runnel (`java_interop`,
//! `windows_interop`): whether a JDK 17 and Maven are here, the interop harness built once per
//! test process (`interop/pom.xml`, `mvn compile`), a JVM running one of its `Main` scenarios,
//! Apache Kafka 4.4 as a reference broker (`interop/kafka-ref.sh`), and the differential tests'
//! allow-list (`interop/allow-list.md`).
//!
//! Included with `#[path = "support/java.rs"] #[macro_use] mod java_support;` next to
//! `mod support;` (it uses [`crate::support::have`]), so only these tests compile it.

// Each test file uses some of these; a panic here is a failed test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why the Java harness cannot run here, if it cannot.
pub fn java_missing() -> Option<String> {
    if std::env::var_os("RUNNEL_SKIP_JAVA_INTEROP").is_some_and(|v| v == "1") {
        return Some("RUNNEL_SKIP_JAVA_INTEROP=1".into());
    }
    if !crate::support::have("java") || !crate::support::have("mvn") {
        return Some(
            "Java 17 and Maven are needed for the Java interop suites \
             (e.g. apt-get install openjdk-17-jdk-headless maven)"
                .into(),
        );
    }
    // `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` on stderr.
    let out = match Command::new("java").arg("-version").output() {
        Ok(out) => out,
        Err(e) => return Some(format!("`java -version` could not run: {e}")),
    };
    let text = String::from_utf8_lossy(&out.stderr);
    let major = text
        .split('"')
        .nth(1)
        .and_then(|v| v.split(['.', '-', '+']).next())
        .and_then(|v| v.parse::<u32>().ok());
    match major {
        Some(major) if major >= 17 => None,
        _ => Some(format!(
            "Java 17 or newer is needed for the Java interop suites; `java -version` says: {}",
            text.lines().next().unwrap_or("")
        )),
    }
}

/// Returns from the calling test, saying why, when the Java harness cannot run here.
macro_rules! require_java {
    () => {
        if let Some(why) = crate::java_support::java_missing() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

pub use crate::support::wait_with_limit;

/// The harness's classpath: `mvn compile` once per test process (the tests of a file share
/// it), then `interop/target/classes` and the Kafka jars Maven resolved.
pub fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| {
        let started = Instant::now();
        let pom = interop_dir().join("pom.xml");
        let child = Command::new("mvn")
            // -B: no progress bars or colours in the test's output; -q: only errors.
            .args(["-q", "-B", "-f"])
            .arg(&pom)
            .arg("compile")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mvn");
        // A cold ~/.m2 downloads the Kafka jars first (~150 MB, about 20 s here): generous for
        // slow links.
        let limit = Duration::from_secs(900);
        let (status, out, err) = wait_with_limit(child, limit);
        match status {
            None => panic!("mvn compile did not finish within {limit:?}\n{out}\n{err}"),
            Some(status) if !status.success() => panic!(
                "mvn -f {} compile failed ({status}); Maven needs to reach Maven Central once to \
                 resolve the Kafka jars (set RUNNEL_SKIP_JAVA_INTEROP=1 to skip these tests)\n\
                 {out}\n{err}",
                pom.display()
            ),
            Some(_) => {}
        }
        let target = interop_dir().join("target");
        let jars = std::fs::read_to_string(target.join("kafka.classpath"))
            .expect("mvn compile writes interop/target/kafka.classpath");
        eprintln!(
            "interop build (mvn compile) took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        format!("{}:{}", target.join("classes").display(), jars.trim())
    })
}

/// Runs `dev.runnel.interop.Main <name> args...` in a JVM of its own, killed after `limit`,
/// and returns its stdout; panics with everything it printed unless it passed (exit 0).
/// `what` names the run in messages (e.g. the broker it ran against).
pub fn run_main(name: &str, args: &[&str], limit: Duration, what: &str) -> String {
    let started = Instant::now();
    let child = Command::new("java")
        // A small heap: several JVMs and brokers share this machine's two cores.
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath()])
        .arg("dev.runnel.interop.Main")
        .arg(name)
        // The scenario's own watchdog fires first and prints the threads' stacks.
        .args([
            "--timeout-secs",
            &(limit.as_secs().saturating_sub(15)).to_string(),
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn java");
    let (status, out, err) = wait_with_limit(child, limit);
    let checks: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("ok") || l.starts_with("PASS"))
        .collect();
    eprintln!(
        "java {name} {what} took {:.1} s:\n  {}",
        started.elapsed().as_secs_f64(),
        checks.join("\n  ")
    );
    match status {
        None => panic!("java {name} did not finish within {limit:?}\nstdout:\n{out}\nstderr:\n{err}"),
        Some(status) => assert!(
            status.success(),
            "java {name} failed ({status})\nstdout:\n{out}\nstderr (the Java side's warnings):\n{err}"
        ),
    }
    out
}

/// Apache Kafka 4.4 started by `interop/kafka-ref.sh` (single-node KRaft, 127.0.0.1 only, a
/// fresh temporary directory); stopped and its directory removed when dropped.
pub struct ReferenceKafka {
    dir: PathBuf,
    port: u16,
    _temp: tempfile::TempDir,
}

impl ReferenceKafka {
    /// Starts the broker (returning while it boots); [`ReferenceKafka::wait`] blocks until it
    /// answers. `props` are extra server.properties lines.
    pub fn start(props: &str) -> ReferenceKafka {
        let temp = tempfile::tempdir().unwrap();
        // A free loopback port, released just before Kafka binds it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let kafka = ReferenceKafka {
            dir: temp.path().join("kafka"),
            port,
            _temp: temp,
        };
        let out = kafka
            .script("start")
            // Half of kafka-server-start.sh's 1 GB: the machine runs this beside other tests.
            .env("KAFKA_HEAP_OPTS", "-Xmx512m -Xms512m")
            .env("KAFKA_REF_PROPS", props)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kafka-ref.sh start failed:\n{}",
            kafka.describe(&out)
        );
        kafka
    }

    pub fn wait(&self) {
        let out = self
            .script("wait")
            .env("KAFKA_REF_WAIT_SECS", "90")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "Apache Kafka did not come up:\n{}",
            self.describe(&out)
        );
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn script(&self, command: &str) -> Command {
        let mut cmd = Command::new(interop_dir().join("kafka-ref.sh"));
        cmd.arg(command)
            .arg(&self.dir)
            .arg(self.port.to_string())
            .stdin(Stdio::null());
        cmd
    }

    fn describe(&self, out: &std::process::Output) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        format!(
            "{}{}\nserver.log (last lines, newest first):\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail.join("\n")
        )
    }
}

impl Drop for ReferenceKafka {
    fn drop(&mut self) {
        let _ = self.script("stop").stdout(Stdio::null()).status();
    }
}

/// The entries of one section of `interop/allow-list.md`: the `` - `PATTERN`: reason `` lines
/// after the section's heading `` ## `SECTION`: ... `` and before the next heading. A `*` in
/// PATTERN matches any run of characters ([`glob`]). Panics on an entry without a reason or
/// outside any section, and on a section that does not exist.
pub fn allow_list(section: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(interop_dir().join("allow-list.md")).unwrap();
    parse_allow_list(&text, section)
}

pub fn parse_allow_list(text: &str, section: &str) -> Vec<(String, String)> {
    let mut current: Option<&str> = None;
    let mut seen = false;
    let mut entries = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = heading
                .strip_prefix('`')
                .and_then(|h| h.split_once('`'))
                .map(|(name, _)| name);
            seen |= current == Some(section);
            continue;
        }
        let Some(entry) = line.strip_prefix("- `") else {
            continue;
        };
        let (pattern, reason) = entry.split_once("`:").expect("- `PATTERN`: reason");
        let Some(current) = current else {
            panic!("allow-list entry {pattern} is outside any ## `SECTION` heading");
        };
        assert!(
            !reason.trim().is_empty(),
            "allow-list entry {pattern} has no reason"
        );
        if current == section {
            entries.push((pattern.to_string(), reason.trim().to_string()));
        }
    }
    assert!(seen, "interop/allow-list.md has no section ## `{section}`");
    entries
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters (dots included).
pub fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}
