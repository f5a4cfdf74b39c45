//! What the benches share: Apache Kafka as the reference broker and the interop JVM tools
//! (`kafka`), the kcat produce/consume round (`kcat`), the DSL's bench inputs, topologies and
//! timed runs on the embedded cluster (`streams`), and a process's CPU and memory from /proc
//! (`procfs`). Each bench includes this with `#[path]`, so not every bench uses every item.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod kafka;
pub mod kcat;
pub mod procfs;
pub mod streams;

/// The value after `flag` on the bench's command line (`--name value`).
pub fn flag(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The median of `v` (the upper one of an even count); NaN for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
pub fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// How many compilers (rustc, cc1plus) and JVMs run on the machine right now: a bench started
/// beside a build measures the build.
pub fn busy_processes() -> Vec<String> {
    let mut busy = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return busy;
    };
    for entry in entries.flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if matches!(comm, "rustc" | "cc1plus" | "cc1" | "java") {
            busy.push(comm.to_owned());
        }
    }
    busy.sort();
    busy
}
