//! The `runnel` command-line tool.

mod cli;
mod serve;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use runnel::storage::record::{BatchHeader, decode_records};

#[derive(Parser, Debug)]
#[command(
    name = "runnel",
    version,
    about = "Runnel: stream processing with its own Kafka-compatible log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a single-node broker that speaks the Kafka protocol.
    Serve(serve::ServeArgs),
    /// Print the batches of segment files (like Kafka's kafka-dump-log.sh), checking each CRC.
    DumpLog {
        /// `.log` segment files, or partition directories.
        paths: Vec<PathBuf>,
        /// Also print every record's key, value and headers.
        #[arg(long)]
        print_data: bool,
    },
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topics(cli::topics::TopicsCommand),
    /// Produce stdin's lines to a topic, one record per line.
    Produce(cli::produce::ProduceArgs),
    /// Print a topic's records to stdout, one per line.
    Consume(cli::consume::ConsumeArgs),
    /// List consumer groups, and describe their members, offsets and lag.
    #[command(subcommand)]
    Groups(cli::groups::GroupsCommand),
    /// Register, list, get and check Avro schemas in a schema registry.
    #[command(subcommand)]
    Schemas(cli::schemas::SchemasCommand),
}

/// Rust ignores SIGPIPE, so `println!` into a closed pipe (`runnel dump-log … | head`)
/// panics. A command-line tool should end quietly instead, as Unix tools do. Not for
/// `serve`: a server writes to sockets, and a vectored write (`writev`, as hyper's HTTP
/// responses use) to a client that hung up would kill the whole broker.
#[allow(unsafe_code)]
fn restore_default_sigpipe() {
    // SAFETY: called in main before any thread exists (only the arguments were parsed); resetting a signal's
    // disposition to its default touches no Rust-managed state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        restore_default_sigpipe();
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli) {
        eprintln!("runnel: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve::run(args))
        }
        Command::DumpLog { paths, print_data } => {
            for path in paths {
                for file in segment_files(&path)? {
                    dump(&file, print_data)?;
                }
            }
            Ok(())
        }
        Command::Topics(command) => cli::topics::run(command),
        Command::Produce(args) => cli::produce::run(args),
        Command::Consume(args) => cli::consume::run(args),
        Command::Groups(command) => cli::groups::run(command),
        Command::Schemas(command) => cli::schemas::run(command),
    }
}

fn segment_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    Ok(files)
}

fn dump(path: &Path, print_data: bool) -> Result<()> {
    let bytes = Bytes::from(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    println!("Dumping {}", path.display());
    let mut position = 0usize;
    while position < bytes.len() {
        let rest = bytes.slice(position..);
        let header = match BatchHeader::parse(&rest) {
            Ok(h) => h,
            Err(e) => {
                println!(
                    "position: {position} INVALID: {e} ({} bytes to the end)",
                    rest.len()
                );
                break;
            }
        };
        let crc = match header.verify_crc(&rest) {
            Ok(()) => "valid".to_string(),
            Err(e) => format!("INVALID ({e})"),
        };
        println!(
            "baseOffset: {} lastOffset: {} count: {} position: {position} size: {} crc: {crc} \
             compression: {} timestampType: {:?} maxTimestamp: {} producerId: {} producerEpoch: {} \
             baseSequence: {} isTransactional: {} isControl: {} partitionLeaderEpoch: {}",
            header.base_offset,
            header.last_offset(),
            header.record_count,
            header.size(),
            header.attributes.compression.name(),
            header.attributes.timestamp_type,
            header.max_timestamp,
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.attributes.transactional,
            header.attributes.control,
            header.partition_leader_epoch,
        );
        if print_data {
            match decode_records(&rest, 256 << 20) {
                Ok((_, records)) => {
                    for r in records {
                        println!(
                            "| offset: {} timestamp: {} key: {} value: {} headers: {}",
                            r.offset,
                            r.timestamp,
                            show(r.key.as_deref()),
                            show(r.value.as_deref()),
                            r.headers
                                .iter()
                                .map(|h| format!("{}={}", h.key, show(h.value.as_deref())))
                                .collect::<Vec<_>>()
                                .join(",")
                        );
                    }
                }
                Err(e) => println!("| records INVALID: {e}"),
            }
        }
        position += header.size();
    }
    Ok(())
}

fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".into(),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    }
}
