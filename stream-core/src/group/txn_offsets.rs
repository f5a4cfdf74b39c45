//! Transactional offset commits (TxnOffsetCommit, KIP-98/KIP-447): offsets a transaction
//! commits along with its output. They are appended to `__consumer_offsets` at once, in a
//! transactional batch of the producer, but kept aside by producer id until the transaction
//! coordinator's marker decides them: a commit marker makes them the group's committed
//! offsets, an abort marker drops them. At startup the replay does the same with the batches
//! and markers it finds, so offsets of a transaction still open at a crash stay pending until
//! the coordinator completes it.

use super::api::{Generation, Output, ReplyId, TxnCommitRequest};
use super::coordinator::{GroupCoordinatorState, PendingAppend};
use super::error::GroupError;
use super::group::{Group, GroupState};
use super::offsets::{CommittedOffset, PartitionOutcome, commit_outcome};
use super::records::{self, RecordKey};
use crate::topic::TopicPartition;

impl GroupCoordinatorState {
    /// TxnOffsetCommit. The answer, an `Output::Commit` for `reply`, comes once the records
    /// are stored; the offsets become visible only when [`complete_txn`](Self::complete_txn)
    /// commits the producer's transaction.
    pub fn txn_commit_offsets(&mut self, req: TxnCommitRequest, reply: ReplyId, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        let validation = self
            .with_group(&req.group_id, |_, g| validate_txn_commit(g, &req))
            .unwrap_or(if req.generation.0 < 0 {
                Ok(())
            } else {
                Err(GroupError::IllegalGeneration {
                    requested: req.generation,
                    current: Generation::NONE,
                })
            });
        if let Err(error) = validation {
            let result = req
                .offsets
                .into_iter()
                .map(|p| (p.topic_partition, Err(error.clone())))
                .collect();
            out.push(Output::Commit { reply, result });
            return out;
        }
        let (records, partitions) = self.offset_records(&req.group_id, req.offsets, now_ms);
        if records.is_empty() {
            out.push(Output::Commit {
                reply,
                result: commit_outcome(partitions, &Ok(())),
            });
            return out;
        }
        let then = PendingAppend::TxnCommit {
            reply,
            producer_id: req.producer_id,
            group_id: req.group_id.clone(),
            partitions,
        };
        self.append_transactional(
            &req.group_id,
            (req.producer_id, req.producer_epoch),
            records,
            then,
            &mut out,
        );
        out
    }

    /// The TxnOffsetCommit's batch was appended (or not): keep its offsets pending, answer it.
    pub(crate) fn complete_txn_commit(
        &mut self,
        reply: ReplyId,
        producer_id: i64,
        group_id: String,
        partitions: Vec<PartitionOutcome>,
        stored: Result<(), GroupError>,
        out: &mut Vec<Output>,
    ) {
        if stored.is_ok() {
            let pending = self.txn_offsets.entry(producer_id).or_default();
            for (tp, committed) in &partitions {
                if let Ok(committed) = committed {
                    pending.push((group_id.clone(), tp.clone(), committed.clone()));
                }
            }
        }
        out.push(Output::Commit {
            reply,
            result: commit_outcome(partitions, &stored),
        });
    }

    /// The transaction of `producer_id` ended: its offsets become committed (`commit`) or are
    /// dropped. Called when its marker is in `__consumer_offsets` (live, or during replay).
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool, now_ms: i64) {
        let Some(pending) = self.txn_offsets.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (group_id, tp, committed) in pending {
            if !self.groups.contains_key(&group_id) {
                self.put_group(Group::new(group_id.clone(), now_ms));
            }
            self.with_group(&group_id, |_, g| {
                g.offsets.insert(tp, committed);
            });
        }
    }

    /// Whether an open transaction holds offsets of `group_id` for any of `partitions` (all
    /// partitions when `None`): OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT
    /// then, so a read_committed consumer does not start from an offset about to change.
    pub fn has_unstable_offsets(&self, group_id: &str, partitions: Option<&[TopicPartition]>) -> bool {
        self.txn_offsets
            .values()
            .flatten()
            .any(|(g, tp, _)| g == group_id && partitions.is_none_or(|ps| ps.contains(tp)))
    }

    /// Replays an offset record found in a transactional batch of `producer_id` (startup).
    pub fn replay_txn_record(
        &mut self,
        producer_id: i64,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), super::error::RecordError> {
        if let RecordKey::Offset {
            group_id,
            topic_partition,
        } = records::decode_key(key)?
            && let Some(value) = value
        {
            let committed = CommittedOffset::from(records::decode_offset_value(value)?);
            self.txn_offsets
                .entry(producer_id)
                .or_default()
                .push((group_id, topic_partition, committed));
        }
        Ok(())
    }
}

/// KIP-447: a TxnOffsetCommit with group metadata is checked like a member's commit, so a
/// zombie of an older generation cannot commit. Without it (generation -1, no member id) it is
/// accepted, as Kafka accepts it from clients before KIP-447.
fn validate_txn_commit(g: &mut Group, req: &TxnCommitRequest) -> Result<(), GroupError> {
    if req.generation.0 < 0 && req.member_id.is_empty() && req.group_instance_id.is_none() {
        return Ok(());
    }
    g.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
    if req.generation != g.generation {
        return Err(GroupError::IllegalGeneration {
            requested: req.generation,
            current: g.generation,
        });
    }
    match g.state {
        GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
        GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
        _ => Ok(()),
    }
}
