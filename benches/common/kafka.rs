//! Apache Kafka 4.4 as the reference broker (`interop/kafka-ref.sh`), and the interop JVM
//! tools (Kafka's perf tools, the bench tools in `interop/`) run against any broker.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Apache Kafka through `interop/kafka-ref.sh`, stopped (and its directory removed) on drop.
pub struct KafkaRef {
    dir: PathBuf,
    port: u16,
}

impl KafkaRef {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/kafka-ref.sh")
    }

    /// A fresh single-node KRaft broker in `dir` (which must not exist or be empty), with
    /// four partitions per auto-created topic; returns once it answers metadata requests.
    pub fn start(dir: PathBuf) -> KafkaRef {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let kafka = KafkaRef { dir, port };
        for step in ["start", "wait"] {
            let status = Command::new(Self::script())
                .args([step, &kafka.dir.display().to_string(), &port.to_string()])
                .env("KAFKA_REF_PROPS", "num.partitions=4")
                .stdout(Stdio::null())
                .status()
                .expect("interop/kafka-ref.sh");
            assert!(status.success(), "kafka-ref.sh {step} failed");
        }
        kafka
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's JVM.
    pub fn pid(&self) -> u32 {
        let pid = std::fs::read_to_string(self.dir.join("kafka.pid")).expect("kafka.pid");
        pid.trim().parse().expect("kafka.pid holds a pid")
    }
}

impl Drop for KafkaRef {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["stop", &self.dir.display().to_string(), &self.port.to_string()])
            .stdout(Stdio::null())
            .status();
    }
}

/// `interop/target/classes` and Kafka 4.4's jars: `mvn compile` once per process (Maven
/// resolves the jars into ~/.m2 on first use and writes their classpath to
/// `interop/target/kafka.classpath`).
pub fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| {
        let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
        let status = Command::new("mvn")
            .args(["-q", "-B", "-f"])
            .arg(interop.join("pom.xml"))
            .arg("compile")
            .stdin(Stdio::null())
            .status()
            .expect("mvn (Maven and a JDK 17 run the reference side)");
        assert!(status.success(), "mvn compile of interop/ failed");
        let jars = std::fs::read_to_string(interop.join("target/kafka.classpath"))
            .expect("mvn compile writes interop/target/kafka.classpath");
        format!("{}:{}", interop.join("target/classes").display(), jars.trim())
    })
}

/// Runs `class` with `args` in a JVM of its own and returns its stdout; panics with its
/// output if it fails. `heap` is the JVM's `-Xmx`.
pub fn java(class: &str, args: &[&str], heap: &str) -> String {
    let out = Command::new("java")
        .arg(format!("-Xmx{heap}"))
        .args(["-cp", classpath(), class])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("java");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{class} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether Java and Maven are installed (the reference side needs both).
pub fn available() -> bool {
    ["java", "mvn"].iter().all(|c| {
        Command::new(c)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}
