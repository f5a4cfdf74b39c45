//! Kafka-protocol throughput of `runnel serve`, measured with kcat (librdkafka) on this
//! machine: 1 M records of 100 bytes, 4 partitions, acks=1; every record consumed back.
//!
//! ```text
//! cargo bench --bench wire --profile dev              # runnel serve alone
//! cargo bench --bench wire --profile dev -- --kafka   # and Apache Kafka 4.4, same commands
//! ```
//!
//! Client and broker share the machine's two cores, as in the issue's setting. The figures
//! are medians of several runs and include kcat's own start-up and, for consume, its
//! formatting of every record. With `--kafka`, Apache Kafka 4.4 (started by
//! `interop/kafka-ref.sh`, which needs Java 17 and Maven) gets the same kcat commands in the
//! same run, alternating with Runnel round by round, so both see the same machine.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use common::kafka::KafkaRef;
use common::kcat::{self, RECORDS};
use common::median;

/// Rounds per median. librdkafka starts about one consume in four 0.5 s late:
/// when kcat's fetch start reaches a partition before the partition's leader is set, its
/// offset query retries after a fixed 500 ms (`rd_kafka_toppar_offset_request`). That is the
/// client's start-up against any broker, Apache Kafka's too; seven rounds keep such a run off
/// the median more often than five did.
const RUNS: usize = 7;

#[derive(Default)]
struct Series {
    produce: Vec<f64>,
    consume: Vec<f64>,
}

impl Series {
    fn push(&mut self, round: kcat::Round) {
        self.produce.push(round.produce);
        self.consume.push(round.consume);
    }

    fn runs(v: &[f64]) -> String {
        v.iter()
            .map(|r| format!("{:.2}", r / 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn medians(&self) -> (f64, f64) {
        (median(self.produce.clone()), median(self.consume.clone()))
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !kcat::available() {
        eprintln!("kcat is not installed (scripts/deps.sh installs it)");
        return;
    }
    let with_kafka = std::env::args().any(|a| a == "--kafka");
    let load = common::load_average();
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, warmup) = kcat::write_inputs(dir.path());
    // Apache Kafka runs once for the whole series (its start takes ~10 s); Runnel starts
    // fresh each round.
    let kafka = with_kafka.then(|| KafkaRef::start(dir.path().join("kafka")));
    let (mut runnel, mut reference) = (Series::default(), Series::default());
    for round in 0..RUNS {
        if let Some(kafka) = &kafka {
            reference.push(kcat::measure(
                &kafka.bootstrap(),
                round,
                &input,
                &warmup,
                dir.path(),
                None,
            ));
        }
        // A fresh broker in its own temporary directory; stopped with SIGTERM, or killed
        // on drop if a run panics, so it cannot outlive the bench.
        let mut server = support::Server::start(&["num.partitions=4"]);
        runnel.push(kcat::measure(
            &server.bootstrap(),
            round,
            &input,
            &warmup,
            dir.path(),
            None,
        ));
        server.stop();
    }
    drop(kafka);

    println!("load average at start: {load}");
    for (name, series) in [("runnel", &runnel), ("kafka", &reference)] {
        if !series.produce.is_empty() {
            println!(
                "{name} runs, M records/s: produce {}; consume {}",
                Series::runs(&series.produce),
                Series::runs(&series.consume)
            );
        }
    }
    let (p, c) = runnel.medians();
    let verdict = |v: f64, target: f64| if v >= target { "met" } else { "MISSED" };
    if !reference.produce.is_empty() {
        let (kp, kc) = reference.medians();
        println!(
            "| kcat, {RECORDS} × 100 B, 4 partitions, acks=1 | runnel | Apache Kafka 4.4 | ratio | target |"
        );
        println!("|---|---|---|---|---|");
        println!(
            "| produce | {:.2} M/s | {:.2} M/s | {:.2} | ≥ 2 M {} |",
            p / 1e6,
            kp / 1e6,
            p / kp,
            verdict(p, 2e6)
        );
        println!(
            "| consume | {:.2} M/s | {:.2} M/s | {:.2} | ≥ 2.5 M {} |",
            c / 1e6,
            kc / 1e6,
            c / kc,
            verdict(c, 2.5e6)
        );
    } else {
        println!("| kcat, {RECORDS} × 100 B, 4 partitions, acks=1 | records/s | target |");
        println!("|---|---|---|");
        println!("| produce | {:.2} M | ≥ 2 M {} |", p / 1e6, verdict(p, 2e6));
        println!("| consume | {:.2} M | ≥ 2.5 M {} |", c / 1e6, verdict(c, 2.5e6));
    }
}
