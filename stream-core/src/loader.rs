//! Loading a state machine from an internal topic: the one replay loop behind the group
//! coordinator (`__consumer_offsets`), the transaction coordinator (`__transaction_state`) and
//! the schema registry (`_schemas`).
//!
//! Each of them keeps its state as the latest record per key of a compacted topic and rebuilds
//! it by reading the topic from its log start to its high watermark, in log order, so the last
//! record of a key wins as compaction would leave it. The loop is the same for all three; what
//! a record means is each owner's business, so the loop hands out [`Entry`]s and stops there.
//! A partition is the unit (`replay_partition`): when replication moves leadership, a node
//! loads the partitions it now leads, one at a time.

use bytes::Bytes;
use storage::StorageError;
use storage::record::{BatchHeader, ControlType, RecordError, decode_records, marker_type};

use crate::broker::Broker;
use crate::error::Result;
use crate::partition::Partition;

/// How much one read of the topic asks for.
const READ_BYTES: usize = 4 << 20;
/// The largest records section a batch may decompress to (a guard against a corrupt or hostile
/// batch claiming gigabytes, not a limit any real batch of these topics comes near).
const DECOMPRESS_LIMIT: usize = 256 << 20;

/// One entry of an internal topic, in log order.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A data record. `transactional`: its batch belongs to a transaction of `producer_id`,
    /// which a later [`Entry::Marker`] of that producer commits or aborts.
    Record {
        offset: i64,
        producer_id: i64,
        transactional: bool,
        key: Option<Bytes>,
        value: Option<Bytes>,
    },
    /// A transaction marker (a control batch): the end of `producer_id`'s transaction.
    Marker { producer_id: i64, commit: bool },
}

/// Replays every partition of `topic`, partition by partition, each in log order. A topic that
/// does not exist has nothing to replay.
pub fn replay_topic(broker: &Broker, topic: &str, each: &mut dyn FnMut(Entry)) -> Result<()> {
    let Ok(topic) = broker.topic(topic) else {
        return Ok(());
    };
    for partition in topic.partitions() {
        replay_partition(&partition, each)?;
    }
    Ok(())
}

/// Replays one partition from its log start to its high watermark. A batch that does not
/// decode stops the replay with [`StorageError::CorruptMessage`] (the log's recovery has
/// checked every batch's CRC, so this is a batch written wrong, not a torn one): loading past
/// it would build a state that silently lacks its records.
pub(crate) fn replay_partition(partition: &Partition, each: &mut dyn FnMut(Entry)) -> Result<()> {
    let mut offset = partition.log_start_offset()?;
    let end = partition.high_watermark()?;
    while offset < end {
        let fetched = partition.fetch(offset, READ_BYTES)?;
        if fetched.records.is_empty() {
            break;
        }
        let mut at = 0;
        while at < fetched.records.len() {
            let corrupt = |source: RecordError| StorageError::CorruptMessage { position: at, source };
            let batch = fetched.records.slice(at..);
            let header = BatchHeader::parse(&batch).map_err(corrupt)?;
            if header.attributes.control {
                if let Some(control) = marker_type(&batch).map_err(corrupt)? {
                    each(Entry::Marker {
                        producer_id: header.producer_id,
                        commit: control == ControlType::Commit,
                    });
                }
            } else {
                let (_, records) = decode_records(&batch, DECOMPRESS_LIMIT).map_err(corrupt)?;
                for r in records {
                    each(Entry::Record {
                        offset: r.offset,
                        producer_id: header.producer_id,
                        transactional: header.attributes.transactional,
                        key: r.key,
                        value: r.value,
                    });
                }
            }
            offset = header.next_offset();
            at += header.size();
        }
    }
    Ok(())
}
