//! A stream thread's producer, as Kafka Streams' `StreamsProducer`: idempotent under
//! at-least-once; under exactly-once transactional, one producer per thread with the
//! transactional id `<application.id>-<process id>-StreamThread-<n>` (EOS v2, KIP-447).
//!
//! Under exactly-once a transaction is begun lazily, by the first record sent or the first
//! offsets committed of a commit interval, so an idle thread opens none. Failures are sorted
//! as Kafka Streams sorts them: fencing (a newer producer of the id, a newer group
//! generation) is [`StreamsError::TaskMigrated`]; any other failure of the transaction is
//! [`StreamsError::TaskCorrupted`]. Either way the caller aborts with
//! [`ThreadProducer::abort`], which replaces a producer that can no longer abort.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stream_core::TopicPartition;

use crate::backend::{Backend, ClientError, ErrorKind, GroupMetadata, LogProducer};
use crate::error::{Result, StreamsError};
use crate::processor::{Output, RecordSink};

/// How long `init_transactions` is retried while the coordinator completes the id's previous
/// transaction (CONCURRENT_TRANSACTIONS, which Kafka's producer retries too).
const INIT_RETRY_FOR: Duration = Duration::from_secs(30);

pub(crate) struct ThreadProducer {
    thread: String,
    backend: Backend,
    client_id: String,
    /// Exactly-once: the transactional id and `transaction.timeout.ms`.
    transactional: Option<(String, Duration)>,
    producer: Box<dyn LogProducer>,
    /// Exactly-once: a transaction is open.
    in_transaction: bool,
}

impl std::fmt::Debug for ThreadProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadProducer")
            .field("transactional", &self.transactional)
            .field("in_transaction", &self.in_transaction)
            .finish()
    }
}

impl ThreadProducer {
    /// `transactional`: the transactional id and `transaction.timeout.ms` under exactly-once.
    pub fn new(
        backend: &Backend,
        thread: &str,
        transactional: Option<(String, Duration)>,
    ) -> Result<ThreadProducer> {
        let client_id = format!("{thread}-producer");
        let producer = backend.0.producer(&client_id, transactional.clone())?;
        Ok(ThreadProducer {
            thread: thread.to_owned(),
            backend: backend.clone(),
            client_id,
            transactional,
            producer,
            in_transaction: false,
        })
    }

    pub fn is_transactional(&self) -> bool {
        self.transactional.is_some()
    }

    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Exactly-once: registers the transactional id, fencing an older producer of it and
    /// aborting its open transaction. Nothing under at-least-once.
    pub fn init(&mut self) -> Result<()> {
        if !self.is_transactional() {
            return Ok(());
        }
        let started = Instant::now();
        loop {
            match self.producer.init_transactions() {
                Ok(()) => {
                    self.in_transaction = false;
                    return Ok(());
                }
                Err(e)
                    if e.kind == ErrorKind::ConcurrentTransactions && started.elapsed() < INIT_RETRY_FOR =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(StreamsError::Client {
                        operation: "init_transactions",
                        source: Box::new(e),
                    });
                }
            }
        }
    }

    /// A sink for a new task's records, sending through this producer. It sends nothing
    /// once [`abort`](Self::abort) replaced the producer: the tasks are made anew then.
    pub fn sink(&self) -> Box<dyn RecordSink> {
        self.producer.sink()
    }

    /// Queues every record of `output` and empties it (exactly-once: in the open transaction,
    /// begun if none is).
    pub fn send_all(&mut self, output: &mut Output) -> Result<()> {
        self.begin()?;
        match output.send() {
            Ok(()) => Ok(()),
            Err((_, e)) if self.is_transactional() => {
                // The transaction's first failure (a fencing, say) explains this one best.
                let cause = self.producer.take_failure().unwrap_or(e);
                Err(self.transaction_error("send", cause))
            }
            Err((topic, e)) => Err(StreamsError::Send {
                topic: topic.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Exactly-once: opens a transaction unless one is open.
    pub fn begin(&mut self) -> Result<()> {
        if !self.is_transactional() || self.in_transaction {
            return Ok(());
        }
        self.producer
            .begin_transaction()
            .map_err(|e| self.transaction_error("begin_transaction", e))?;
        self.in_transaction = true;
        Ok(())
    }

    /// At-least-once: sends everything queued and fails if any send failed since the last
    /// call.
    pub fn flush(&mut self) -> Result<()> {
        let flushed = self.producer.flush();
        flushed
            .and_then(|()| self.producer.take_failure().map_or(Ok(()), Err))
            .map_err(|e| StreamsError::Send {
                topic: "a sink, repartition or changelog topic".into(),
                reason: e.to_string(),
            })
    }

    /// Exactly-once: adds `offsets` (the next offset to consume per input partition) to the
    /// transaction and commits it. On an error the transaction is still open: abort it.
    pub fn commit(&mut self, offsets: &[(TopicPartition, i64)], group: Option<&GroupMetadata>) -> Result<()> {
        self.begin()?;
        if !offsets.is_empty() {
            let Some(group) = group else {
                return Err(StreamsError::TaskMigrated {
                    thread: self.thread.clone(),
                    operation: "send_offsets_to_transaction",
                    source: Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
                        "the consumer is not a group member",
                    )),
                });
            };
            self.producer
                .send_offsets_to_transaction(offsets, group)
                .map_err(|e| self.transaction_error("send_offsets_to_transaction", e))?;
        }
        match self.producer.commit_transaction() {
            Ok(()) => {
                self.in_transaction = false;
                Ok(())
            }
            Err(e) => {
                // A commit refused because a send failed: the send's error is the cause.
                let cause = self.producer.take_failure().unwrap_or(e);
                Err(self.transaction_error("commit_transaction", cause))
            }
        }
    }

    /// Exactly-once: aborts the open transaction. A producer that cannot abort (fenced, or
    /// failed) is replaced by a new one of the same transactional id, whose
    /// `init_transactions` aborts the transaction at the coordinator instead; the sinks of the
    /// old one send nothing more, so the caller drops its tasks (their output belonged to the
    /// aborted transaction anyway).
    pub fn abort(&mut self) -> Result<()> {
        if !self.is_transactional() {
            return Ok(());
        }
        let aborted = if self.in_transaction {
            self.producer.abort_transaction()
        } else {
            Ok(())
        };
        self.in_transaction = false;
        // Whatever failed in the aborted transaction is not the next one's failure.
        let _ = self.producer.take_failure();
        if let Err(e) = aborted {
            tracing::info!(thread = %self.thread, error = %e, "the transaction cannot be aborted; starting a new producer");
            self.producer = self
                .backend
                .0
                .producer(&self.client_id, self.transactional.clone())?;
            self.init()?;
        }
        Ok(())
    }

    fn transaction_error(&self, operation: &'static str, e: ClientError) -> StreamsError {
        if e.kind == ErrorKind::Fenced {
            StreamsError::TaskMigrated {
                thread: self.thread.clone(),
                operation,
                source: e.source,
            }
        } else {
            StreamsError::TaskCorrupted {
                thread: self.thread.clone(),
                operation,
                source: Some(e.source),
            }
        }
    }
}
