//! The native consumer, shaped after Kafka's Java `KafkaConsumer`: `assign` or `subscribe`,
//! `poll`, `seek`, `position`, `pause`/`resume`, commits, `auto.offset.reset`.
//!
//! Records come from the broker's stored batches without re-encoding; keys, values and header
//! values share the fetched buffer.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use storage::record::{BatchHeader, Header, RecordCursor, records_section};

use super::error::Result;
use crate::broker::{Broker, FetchPartition, FetchRequest};
use crate::error::{BrokerError, Result as BrokerResult};
use crate::partition::{AbortedTxn, IsolationLevel};
use crate::topic::{TopicName, TopicPartition};

/// `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    Earliest,
    /// Kafka's default.
    #[default]
    Latest,
    /// Fail with OFFSET_OUT_OF_RANGE / NoOffsetForPartition instead of guessing.
    None,
}

/// Consumer settings with the Java client's names and defaults.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub client_id: String,
    /// `group.id`: needed for `subscribe` and commits.
    pub group_id: Option<String>,
    /// `group.instance.id`: static membership (KIP-345).
    pub group_instance_id: Option<String>,
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit` (default true) and `auto.commit.interval.ms` (default 5 s).
    pub enable_auto_commit: bool,
    pub auto_commit_interval: Duration,
    /// `max.poll.records` (default 500).
    pub max_poll_records: usize,
    /// `fetch.min.bytes` (1), `fetch.max.wait.ms` (500), `fetch.max.bytes` (50 MiB),
    /// `max.partition.fetch.bytes` (1 MiB).
    pub fetch_min_bytes: usize,
    pub fetch_max_wait: Duration,
    pub fetch_max_bytes: usize,
    pub max_partition_fetch_bytes: usize,
    /// `session.timeout.ms` (45 s), `heartbeat.interval.ms` (3 s), `max.poll.interval.ms` (5 min).
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`, by Kafka's names, preferred first (default: range,
    /// cooperative-sticky — the Java client's default list).
    pub assignment_strategies: Vec<String>,
    /// `isolation.level` (default read_uncommitted): `read_committed` reads only below the last
    /// stable offset, drops records of aborted transactions, and waits for committed offsets
    /// that an open transaction is about to change.
    pub isolation_level: IsolationLevel,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client_id: "consumer".into(),
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            max_poll_records: 500,
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 50 << 20,
            max_partition_fetch_bytes: 1 << 20,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            assignment_strategies: vec!["range".into(), "cooperative-sticky".into()],
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }
}

impl ConsumerConfig {
    pub fn with_group(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    pub fn with_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    pub fn with_isolation_level(mut self, isolation: IsolationLevel) -> Self {
        self.isolation_level = isolation;
        self
    }
}

/// Kafka's `ConsumerGroupMetadata`: what a transactional producer sends with the offsets it
/// commits, so the group coordinator can fence a member of an older generation (KIP-447).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata of a group without membership (generation -1): the coordinator checks no
    /// member, as for clients before KIP-447.
    pub fn new(group_id: impl Into<String>) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: TopicName,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// A consumed record as [`Consumer::poll_each`] lends it: borrowed from the fetched batch,
/// so handing it out costs no allocation and no reference count.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub topic: &'a TopicName,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    section: &'a Bytes,
    headers: storage::record::HeaderRanges,
}

impl RecordView<'_> {
    /// The record's headers (no allocation when it has none).
    #[inline]
    pub fn headers(&self) -> Vec<Header> {
        Header::from_ranges(self.section, self.headers)
    }

    /// An owned copy (keys and values still share the fetched buffer).
    pub fn to_record(&self) -> ConsumerRecord {
        ConsumerRecord {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(|k| self.section.slice_ref(k)),
            value: self.value.map(|v| self.section.slice_ref(v)),
            headers: self.headers(),
        }
    }
}

/// A fetched batch not yet returned in full: its records are read from the cursor as polls
/// ask for them, not decoded into records when the fetch arrives.
#[derive(Debug)]
struct Pending {
    tp: TopicPartition,
    /// The batch's records section, uncompressed.
    section: Bytes,
    cursor: RecordCursor,
    /// Records below this offset precede the position the batch was fetched for.
    from: i64,
    /// The first offset not yet returned: what a commit records while the batch is buffered.
    next: i64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionState {
    /// The next offset to return; `None` until resolved from a commit or the reset policy.
    pub position: Option<i64>,
    pub paused: bool,
}

/// The fetching half of a consumer: positions and buffered batches for assigned partitions.
#[derive(Debug)]
pub(crate) struct Fetcher {
    broker: Broker,
    isolation: IsolationLevel,
    pub assigned: BTreeMap<TopicPartition, PartitionState>,
    buffer: VecDeque<Pending>,
}

impl Fetcher {
    pub fn new(broker: Broker, isolation: IsolationLevel) -> Fetcher {
        Fetcher {
            broker,
            isolation,
            assigned: BTreeMap::new(),
            buffer: VecDeque::new(),
        }
    }

    /// Replaces the assignment; positions of partitions kept are kept.
    pub fn set_assignment(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let mut next = BTreeMap::new();
        for tp in partitions {
            let state = self.assigned.remove(&tp).unwrap_or_default();
            next.insert(tp, state);
        }
        self.assigned = next;
        let assigned = &self.assigned;
        self.buffer.retain(|p| assigned.contains_key(&p.tp));
    }

    fn state(&mut self, tp: &TopicPartition) -> BrokerResult<&mut PartitionState> {
        self.assigned
            .get_mut(tp)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: tp.topic.to_string(),
                partition: tp.partition,
            })
    }

    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> BrokerResult<()> {
        if offset < 0 {
            return Err(BrokerError::Storage(storage::StorageError::OffsetOutOfRange {
                offset,
                log_start: 0,
                log_end: -1,
            }));
        }
        self.state(tp)?.position = Some(offset);
        self.drop_buffered(tp);
        Ok(())
    }

    fn drop_buffered(&mut self, tp: &TopicPartition) {
        self.buffer.retain(|p| p.tp != *tp);
    }

    pub fn pause(&mut self, tp: &TopicPartition, paused: bool) -> BrokerResult<()> {
        self.state(tp)?.paused = paused;
        if paused {
            // Records already fetched for a paused partition are returned after `resume`.
            let mut kept = VecDeque::new();
            let mut position = None;
            for p in self.buffer.drain(..) {
                if p.tp == *tp {
                    position.get_or_insert(p.next);
                } else {
                    kept.push_back(p);
                }
            }
            self.buffer = kept;
            if let Some(p) = position {
                self.state(tp)?.position = Some(p);
            }
        }
        Ok(())
    }

    /// Resolves a missing position with `reset` (a committed offset is applied by the caller).
    pub fn reset_position(&mut self, tp: &TopicPartition, reset: OffsetReset) -> BrokerResult<i64> {
        let offset = match reset {
            OffsetReset::Earliest => self.broker.list_offset(tp, -2)?.0,
            OffsetReset::Latest => self.broker.list_offset_with(tp, -1, self.isolation)?.0,
            OffsetReset::None => {
                return Err(BrokerError::Storage(storage::StorageError::OffsetOutOfRange {
                    offset: -1,
                    log_start: self.broker.list_offset(tp, -2)?.0,
                    log_end: self.broker.list_offset(tp, -1)?.0,
                }));
            }
        };
        self.state(tp)?.position = Some(offset);
        Ok(offset)
    }

    /// Hands up to `max` buffered records to `each`, in order, and returns how many; stops at
    /// the first error `each` returns (that record counts as returned).
    pub fn drain_each<E: From<BrokerError>>(
        &mut self,
        max: usize,
        mut each: impl FnMut(RecordView<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<usize, E> {
        let mut n = 0;
        while n < max {
            let Some(p) = self.buffer.front_mut() else { break };
            let Some(layout) = p.cursor.next(&p.section, false).map_err(|e| {
                BrokerError::Storage(storage::StorageError::CorruptMessage {
                    position: 0,
                    source: e,
                })
            })?
            else {
                self.buffer.pop_front();
                continue;
            };
            let (offset, timestamp) = p.cursor.offset_and_timestamp(&layout);
            if offset < p.from {
                continue;
            }
            p.next = offset + 1;
            n += 1;
            let section = &p.section;
            each(RecordView {
                topic: &p.tp.topic,
                partition: p.tp.partition,
                offset,
                timestamp,
                key: layout.key.map(|r| &section[r]),
                value: layout.value.map(|r| &section[r]),
                section,
                headers: layout.headers,
            })?;
        }
        Ok(n)
    }

    /// Fetches (waiting up to `timeout`) until records are buffered or the time is up.
    /// Partitions without a position are reset with `reset` first.
    pub async fn fill(&mut self, timeout: Duration, config: &ConsumerConfig) -> BrokerResult<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.has_buffered() {
                return Ok(());
            }
            let unresolved: Vec<TopicPartition> = self
                .assigned
                .iter()
                .filter(|(_, s)| s.position.is_none())
                .map(|(tp, _)| tp.clone())
                .collect();
            for tp in unresolved {
                self.reset_position(&tp, config.auto_offset_reset)?;
            }
            let partitions: Vec<FetchPartition> = self
                .assigned
                .iter()
                .filter(|(_, s)| !s.paused)
                .filter_map(|(tp, s)| {
                    s.position.map(|offset| FetchPartition {
                        tp: tp.clone(),
                        offset,
                        max_bytes: config.max_partition_fetch_bytes,
                    })
                })
                .collect();
            let remaining = deadline.saturating_duration_since(Instant::now());
            if partitions.is_empty() {
                tokio::time::sleep(remaining.min(Duration::from_millis(50))).await;
                if Instant::now() >= deadline {
                    return Ok(());
                }
                continue;
            }
            let request = FetchRequest {
                max_wait: remaining.min(config.fetch_max_wait),
                min_bytes: config.fetch_min_bytes,
                max_bytes: config.fetch_max_bytes,
                isolation: config.isolation_level,
                partitions,
            };
            for (tp, result) in self.broker.fetch(&request).await {
                match result {
                    Ok(fetched) => {
                        self.take_batches(&tp, fetched.records, fetched.aborted.unwrap_or_default())?
                    }
                    Err(BrokerError::Storage(storage::StorageError::OffsetOutOfRange { .. }))
                        if config.auto_offset_reset != OffsetReset::None =>
                    {
                        // Kafka's consumer resets on OFFSET_OUT_OF_RANGE per its policy.
                        self.reset_position(&tp, config.auto_offset_reset)?;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !self.has_buffered() && Instant::now() >= deadline {
                return Ok(());
            }
        }
    }

    /// Whether a record is buffered: a batch whose records all precede its `from` (the
    /// position fell inside it) is dropped here, not returned as nothing.
    pub fn has_buffered(&mut self) -> bool {
        while let Some(p) = self.buffer.front() {
            if p.cursor.header().last_offset() >= p.from && p.cursor.header().record_count > 0 {
                // Still possibly empty after `from` (compaction gaps); drain_each skips it then.
                return true;
            }
            self.buffer.pop_front();
        }
        false
    }

    /// Decodes fetched batches into the buffer, skipping records before the position, control
    /// batches and the batches of the `aborted` transactions, and moves the position past them.
    ///
    /// Aborted batches are found as Kafka's consumer finds them: a transaction of the list is
    /// active for its producer from the first batch that reaches its first offset until that
    /// producer's abort marker; transactional batches of an active producer are dropped.
    fn take_batches(
        &mut self,
        tp: &TopicPartition,
        bytes: Bytes,
        mut aborted: Vec<AbortedTxn>,
    ) -> BrokerResult<()> {
        aborted.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
        let mut active: Vec<i64> = Vec::new();
        let Some(state) = self.assigned.get_mut(tp) else {
            return Ok(());
        };
        let Some(mut position) = state.position else {
            return Ok(());
        };
        let mut at = 0;
        while at < bytes.len() {
            let batch = bytes.slice(at..);
            let header = BatchHeader::parse(&batch).map_err(|e| storage::StorageError::CorruptMessage {
                position: at,
                source: e,
            })?;
            at += header.size();
            while aborted
                .last()
                .is_some_and(|a| a.first_offset <= header.last_offset())
            {
                if let Some(a) = aborted.pop() {
                    active.push(a.producer_id);
                }
            }
            if header.attributes.control && active.contains(&header.producer_id) {
                let control = storage::record::marker_type(&batch).map_err(|e| {
                    storage::StorageError::CorruptMessage {
                        position: at,
                        source: e,
                    }
                })?;
                if control == Some(storage::record::ControlType::Abort) {
                    active.retain(|&p| p != header.producer_id);
                }
            }
            if header.next_offset() <= position {
                continue;
            }
            let aborted_batch = header.attributes.transactional && active.contains(&header.producer_id);
            if !header.attributes.control && !aborted_batch {
                let section = records_section(&batch, &header, 256 << 20).map_err(|e| {
                    storage::StorageError::CorruptMessage {
                        position: at,
                        source: e,
                    }
                })?;
                self.buffer.push_back(Pending {
                    tp: tp.clone(),
                    section,
                    cursor: RecordCursor::new(header),
                    from: position,
                    next: position.max(header.base_offset),
                });
            }
            position = header.next_offset();
        }
        state.position = Some(position);
        Ok(())
    }

    /// The offset of the next record `poll` returns for `tp`, as Kafka's consumer means its
    /// position: records fetched but still buffered have not been returned, so it is the first
    /// of them, not the fetch position past them.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        let state = self.assigned.get(tp)?;
        let buffered = self.buffer.iter().find(|p| p.tp == *tp).map(|p| p.next);
        buffered.or(state.position)
    }

    /// The next offset to consume of every assigned partition with a position: what a commit
    /// records.
    pub fn consumed_offsets(&self) -> BTreeMap<TopicPartition, i64> {
        self.assigned
            .keys()
            .filter_map(|tp| self.position(tp).map(|p| (tp.clone(), p)))
            .collect()
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct Consumer {
    broker: Broker,
    groups: std::sync::Arc<crate::group::GroupCoordinator>,
    config: ConsumerConfig,
    fetcher: Fetcher,
    membership: Option<super::membership::Membership>,
    last_auto_commit: Instant,
}

impl Consumer {
    pub fn new(
        broker: Broker,
        groups: std::sync::Arc<crate::group::GroupCoordinator>,
        config: ConsumerConfig,
    ) -> Consumer {
        Consumer {
            fetcher: Fetcher::new(broker.clone(), config.isolation_level),
            broker,
            groups,
            config,
            membership: None,
            last_auto_commit: Instant::now(),
        }
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Takes `partitions` by hand, outside group management.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<()> {
        if self.membership.as_ref().is_some_and(|m| !m.topics.is_empty()) {
            return Err(BrokerError::InvalidConfig {
                key: "assign".into(),
                value: String::new(),
                reason: "a consumer uses either subscribe or assign, not both".into(),
            }
            .into());
        }
        let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
        for tp in &partitions {
            self.broker.partition(tp)?;
        }
        self.fetcher.set_assignment(partitions);
        Ok(())
    }

    /// Joins the group `group.id` for `topics`; the group spreads their partitions over its
    /// members. Takes effect at the next [`Consumer::poll`].
    pub fn subscribe(&mut self, topics: impl IntoIterator<Item = impl Into<String>>) -> Result<()> {
        self.subscribe_with(topics, None)
    }

    pub fn subscribe_with(
        &mut self,
        topics: impl IntoIterator<Item = impl Into<String>>,
        listener: Option<Box<dyn super::membership::RebalanceListener>>,
    ) -> Result<()> {
        let group_id = self.group_id("subscribe needs a group.id")?;
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        for t in &topics {
            TopicName::new(t)?;
        }
        if self.membership.is_none() {
            let mut m = super::membership::Membership::new(
                group_id,
                self.config.group_instance_id.clone(),
                self.config.assignment_strategies.clone(),
            )?;
            m.start_heartbeat(
                self.groups.clone(),
                self.config.heartbeat_interval,
                self.config.max_poll_interval,
            );
            self.membership = Some(m);
        }
        if let Some(m) = &mut self.membership {
            m.topics = topics;
            m.listener = listener;
            super::membership::lock(&m.shared).need_rejoin = true;
        }
        Ok(())
    }

    /// `group.id`, or the error for an operation (`why`) that needs one.
    fn group_id(&self, why: &str) -> Result<String> {
        self.config.group_id.clone().ok_or_else(|| {
            BrokerError::InvalidConfig {
                key: "group.id".into(),
                value: String::new(),
                reason: why.into(),
            }
            .into()
        })
    }

    /// Kafka's `ConsumerGroupMetadata` while in a group.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let group_id = self.config.group_id.clone()?;
        self.membership.as_ref().map(|m| {
            let (member_id, generation) = m.identity();
            ConsumerGroupMetadata {
                group_id,
                generation_id: generation.0,
                member_id,
                group_instance_id: self.config.group_instance_id.clone(),
            }
        })
    }

    /// Whether the consumer must (re)join its group at the next poll.
    pub fn rebalance_pending(&self) -> bool {
        self.membership
            .as_ref()
            .is_some_and(|m| !m.topics.is_empty() && m.needs_rejoin())
    }

    /// The partitions this consumer holds now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetcher.assigned.keys().cloned().collect()
    }

    /// Returns records, waiting up to `timeout` for some. Joins or rejoins the group first
    /// when needed, and commits on the auto-commit interval.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.poll_buffered(timeout).await?;
        let mut out = Vec::new();
        self.poll_each(|r| {
            out.push(r.to_record());
            Ok::<_, BrokerError>(())
        })?;
        Ok(out)
    }

    /// [`poll`](Self::poll) in two steps, for a caller that processes records as it reads
    /// them (a stream thread): `poll_buffered` does what `poll` does up to having records
    /// (joining the group, auto-commit, fetching, waiting up to `timeout`) and returns whether
    /// any are buffered; [`poll_each`](Self::poll_each) then lends them out.
    pub async fn poll_buffered(&mut self, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        if let Some(m) = &self.membership {
            super::membership::lock(&m.shared).last_poll = Instant::now();
        }
        self.ensure_group().await?;
        self.maybe_auto_commit().await;
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.fetcher.fill(remaining, &self.config).await?;
        Ok(self.fetcher.has_buffered())
    }

    /// Lends up to `max.poll.records` buffered records to `each`, in order, without copying
    /// them out; returns how many. Stops at the first error of `each`.
    pub fn poll_each<E: From<BrokerError>>(
        &mut self,
        each: impl FnMut(RecordView<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<usize, E> {
        self.fetcher.drain_each(self.config.max_poll_records, each)
    }

    async fn ensure_group(&mut self) -> Result<()> {
        let Some(m) = &self.membership else { return Ok(()) };
        if m.topics.is_empty() || !m.needs_rejoin() {
            return Ok(());
        }
        let eager = m.protocol == super::assignor::RebalanceProtocol::Eager;
        if eager && !m.owned.is_empty() {
            // Eager protocol: give everything back before joining (commit first).
            if self.config.enable_auto_commit {
                let _ = self.commit_sync().await;
            }
            let Some(m) = &mut self.membership else {
                return Ok(());
            };
            let revoked: Vec<TopicPartition> = std::mem::take(&mut m.owned).into_iter().collect();
            if let Some(l) = &mut m.listener {
                l.on_partitions_revoked(&revoked);
            }
            self.fetcher.set_assignment(Vec::new());
        }
        let Some(m) = &mut self.membership else {
            return Ok(());
        };
        let rebalance_timeout = self.config.max_poll_interval;
        let changed = m
            .join(
                &self.broker,
                &self.groups,
                &self.config.client_id,
                self.config.session_timeout,
                rebalance_timeout,
            )
            .await?;
        if !changed.revoked.is_empty() && self.config.enable_auto_commit {
            // Commit what was consumed of the partitions leaving, before they go.
            let offsets: Vec<crate::group::PartitionOffset> = self
                .fetcher
                .consumed_offsets()
                .into_iter()
                .filter(|(tp, _)| changed.revoked.contains(tp))
                .map(|(tp, o)| crate::group::PartitionOffset::new(tp.topic.clone(), tp.partition, o))
                .collect();
            let _ = self.commit_offsets(offsets).await;
        }
        let Some(m) = &mut self.membership else {
            return Ok(());
        };
        if let Some(l) = &mut m.listener {
            if !changed.revoked.is_empty() {
                l.on_partitions_revoked(&changed.revoked);
            }
        }
        let owned: Vec<TopicPartition> = m.owned.iter().cloned().collect();
        self.fetcher.set_assignment(owned);
        // Start new partitions at their committed offsets; the reset policy covers the rest.
        if !changed.assigned.is_empty() {
            let committed = self.committed(&changed.assigned).await?;
            for (tp, offset) in committed {
                if let Some(offset) = offset {
                    self.fetcher.seek(&tp, offset)?;
                }
            }
        }
        if let Some(m) = &mut self.membership
            && let Some(l) = &mut m.listener
            && !changed.assigned.is_empty()
        {
            l.on_partitions_assigned(&changed.assigned);
        }
        Ok(())
    }

    async fn maybe_auto_commit(&mut self) {
        if self.config.enable_auto_commit
            && self.config.group_id.is_some()
            && self.last_auto_commit.elapsed() >= self.config.auto_commit_interval
        {
            self.last_auto_commit = Instant::now();
            if let Err(e) = self.commit_sync().await {
                tracing::debug!(error = %e, "auto-commit failed; it is retried at the next interval");
            }
        }
    }

    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        Ok(self.fetcher.seek(tp, offset)?)
    }

    pub fn seek_to_beginning(&mut self, tp: &TopicPartition) -> Result<()> {
        let start = self.broker.list_offset(tp, -2)?.0;
        Ok(self.fetcher.seek(tp, start)?)
    }

    pub fn seek_to_end(&mut self, tp: &TopicPartition) -> Result<()> {
        let end = self.broker.list_offset(tp, -1)?.0;
        Ok(self.fetcher.seek(tp, end)?)
    }

    /// The offset of the next record `poll` returns for `tp` (resolving it with the committed
    /// offset or the reset policy if not known yet).
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        if let Some(p) = self.fetcher.position(tp) {
            return Ok(p);
        }
        if let Some(Some(offset)) = self
            .committed(std::slice::from_ref(tp))
            .await?
            .pop()
            .map(|(_, o)| o)
        {
            self.fetcher.seek(tp, offset)?;
            return Ok(offset);
        }
        Ok(self.fetcher.reset_position(tp, self.config.auto_offset_reset)?)
    }

    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        Ok(partitions
            .iter()
            .try_for_each(|tp| self.fetcher.pause(tp, true))?)
    }

    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        Ok(partitions
            .iter()
            .try_for_each(|tp| self.fetcher.pause(tp, false))?)
    }

    pub fn paused(&self) -> Vec<TopicPartition> {
        self.fetcher
            .assigned
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Commits the position of every assigned partition (the offset after the last record
    /// `poll` returned) and waits for the coordinator's answer.
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.offsets_to_commit();
        self.commit_offsets(offsets).await
    }

    /// The positions of every assigned partition, as a commit records them.
    fn offsets_to_commit(&self) -> Vec<crate::group::PartitionOffset> {
        self.fetcher
            .consumed_offsets()
            .into_iter()
            .map(|(tp, o)| crate::group::PartitionOffset::new(tp.topic.clone(), tp.partition, o))
            .collect()
    }

    /// Commits explicit offsets (each the next offset to consume).
    pub async fn commit_offsets(&mut self, offsets: Vec<crate::group::PartitionOffset>) -> Result<()> {
        match self.commit_request(offsets)? {
            Some(request) => commit(&self.groups, request).await,
            None => Ok(()),
        }
    }

    /// Starts committing the current positions and returns at once; the handle yields the
    /// outcome (Kafka's `commitAsync`, with the callback as a join handle).
    pub fn commit_async(&mut self) -> Result<tokio::task::JoinHandle<Result<()>>> {
        let offsets = self.offsets_to_commit();
        let request = self.commit_request(offsets)?;
        let groups = self.groups.clone();
        Ok(tokio::spawn(async move {
            match request {
                Some(request) => commit(&groups, request).await,
                None => Ok(()),
            }
        }))
    }

    fn commit_request(
        &self,
        offsets: Vec<crate::group::PartitionOffset>,
    ) -> Result<Option<crate::group::CommitRequest>> {
        let group_id = self.group_id("commits need a group.id")?;
        if offsets.is_empty() {
            return Ok(None);
        }
        Ok(Some(match &self.membership {
            Some(m) if !m.topics.is_empty() => {
                let (member_id, generation) = m.identity();
                crate::group::CommitRequest {
                    group_id,
                    generation,
                    member_id,
                    group_instance_id: m.instance_id.clone(),
                    offsets,
                }
            }
            _ => crate::group::CommitRequest::standalone(group_id, offsets),
        }))
    }

    /// The committed offset of each partition (`None` where the group has none).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Ok(partitions.iter().map(|tp| (tp.clone(), None)).collect());
        };
        let request = crate::group::FetchOffsetsRequest {
            group_id,
            partitions: Some(partitions.to_vec()),
        };
        // read_committed: offsets an open transaction is about to change are not "committed"
        // yet; wait for the transaction to end (Kafka's require_stable / UNSTABLE_OFFSET_COMMIT,
        // which its consumer retries too). A transaction cannot outlive its timeout.
        if self.config.isolation_level == IsolationLevel::ReadCommitted {
            let wanted = request.partitions.clone().unwrap_or_default();
            while self.groups.has_unstable_offsets(&request.group_id, Some(&wanted)) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let fetched = self.groups.fetch_offsets(request).await?;
        Ok(partitions
            .iter()
            .map(|tp| {
                let offset = fetched
                    .iter()
                    .find(|o| o.topic_partition == *tp)
                    .map(|o| o.offset)
                    .filter(|&o| o >= 0);
                (tp.clone(), offset)
            })
            .collect())
    }

    /// Commits (with auto-commit on), leaves the group (a dynamic member) and stops.
    pub async fn close(mut self) -> Result<()> {
        if self.config.enable_auto_commit && self.config.group_id.is_some() {
            let _ = self.commit_sync().await;
        }
        if let Some(mut m) = self.membership.take() {
            m.stop_heartbeat();
            m.leave(&self.groups).await;
        }
        Ok(())
    }

    /// Stops as a crashed process would: no commit, no LeaveGroup, no more heartbeats. The
    /// group notices after `session.timeout.ms`.
    pub fn close_without_leaving(mut self) {
        if let Some(mut m) = self.membership.take() {
            m.stop_heartbeat();
        }
    }
}

async fn commit(groups: &crate::group::GroupCoordinator, request: crate::group::CommitRequest) -> Result<()> {
    for (_, result) in groups.commit_offsets(request).await? {
        result?;
    }
    Ok(())
}
