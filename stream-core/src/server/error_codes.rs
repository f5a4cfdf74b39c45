//! Kafka's error codes for the broker's, the group coordinator's and the transaction
//! coordinator's errors: the one place where a domain error becomes a wire code.
//!
//! Every domain variant is named after the Kafka error it stands for, and each maps to that one
//! entry of kafka-protocol's error table. The domain types carry no codes: the in-process
//! clients and the DSL match on variants, and only this server speaks in codes. Codes that
//! depend on the request's version (a client that predates an error code is sent the older code
//! Kafka sends it) are decided here too, from [`TxnCodes`].

use kafka_protocol::error::ResponseError;
use storage::StorageError;

use crate::broker::TxnRefusal;
use crate::error::BrokerError;
use crate::group::GroupError;
use crate::txn::TxnError;

/// The entry of Kafka's error table a broker error is sent as. A refused transactional append
/// depends on the request's version: see [`produce_code`].
pub(crate) fn broker(error: &BrokerError) -> ResponseError {
    match error {
        BrokerError::UnknownTopicOrPartition { .. } => ResponseError::UnknownTopicOrPartition,
        BrokerError::InvalidTopic { .. } => ResponseError::InvalidTopicException,
        BrokerError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
        BrokerError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
        BrokerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        BrokerError::InvalidRequiredAcks(_) => ResponseError::InvalidRequiredAcks,
        BrokerError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
        BrokerError::InvalidConfig { .. } => ResponseError::InvalidConfig,
        BrokerError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        BrokerError::OutOfOrderSequenceNumber { .. } => ResponseError::OutOfOrderSequenceNumber,
        BrokerError::InvalidRecordCompacted(_) => ResponseError::InvalidRecord,
        BrokerError::BrokerNotAvailable => ResponseError::BrokerNotAvailable,
        BrokerError::TxnRefused { reason, .. } => txn_refusal(*reason, None),
        BrokerError::Storage(e) => storage(e),
        BrokerError::Io { .. } | BrokerError::CorruptMetadata { .. } => ResponseError::KafkaStorageError,
    }
}

fn storage(error: &StorageError) -> ResponseError {
    match error {
        StorageError::CorruptMessage { .. } => ResponseError::CorruptMessage,
        StorageError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::InvalidConfig { .. } | StorageError::UnknownConfig(_) => ResponseError::InvalidConfig,
        StorageError::CorruptSegment { .. } | StorageError::Io { .. } => ResponseError::KafkaStorageError,
    }
}

/// The entry of Kafka's error table a group coordinator error is sent as.
pub(crate) fn group(error: &GroupError) -> ResponseError {
    match error {
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::NotCoordinator => ResponseError::NotCoordinator,
        GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        GroupError::InvalidGroupId { .. } => ResponseError::InvalidGroupId,
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration { .. } => ResponseError::IllegalGeneration,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::InvalidSessionTimeout { .. } => ResponseError::InvalidSessionTimeout,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::MemberIdRequired { .. } => ResponseError::MemberIdRequired,
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::OffsetMetadataTooLarge { .. } => ResponseError::OffsetMetadataTooLarge,
        GroupError::InvalidCommitOffsetSize => ResponseError::InvalidCommitOffsetSize,
        GroupError::InvalidRequest { .. } => ResponseError::InvalidRequest,
        GroupError::KafkaStorageError { .. } => ResponseError::KafkaStorageError,
        GroupError::RequestTimedOut => ResponseError::RequestTimedOut,
        GroupError::UnknownServerError { .. } => ResponseError::UnknownServerError,
    }
}

/// From which version of a transactional API its clients know the error codes Kafka added
/// later. Older clients are sent the code they know for the same condition, as Kafka does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxnCodes {
    /// PRODUCER_FENCED (KIP-588); before it (and for APIs that never got it), a fenced producer
    /// is answered INVALID_PRODUCER_EPOCH.
    pub producer_fenced_since: Option<i16>,
    /// TRANSACTION_ABORTABLE (KIP-890): a transactional write to a partition the open
    /// transaction did not add. Before it, INVALID_TXN_STATE.
    pub transaction_abortable_since: Option<i16>,
}

impl TxnCodes {
    fn knows(since: Option<i16>, version: i16) -> bool {
        since.is_some_and(|since| version >= since)
    }
}

/// The entry of Kafka's error table a transaction coordinator error is sent as, for a request
/// of `version` of an API whose codes `codes` describes.
pub(crate) fn txn(error: &TxnError, version: i16, codes: TxnCodes) -> ResponseError {
    match error {
        TxnError::InvalidTransactionalId => ResponseError::InvalidRequest,
        TxnError::InvalidTransactionTimeout { .. } => ResponseError::InvalidTransactionTimeout,
        TxnError::InvalidProducerIdMapping { .. } => ResponseError::InvalidProducerIdMapping,
        TxnError::ProducerFenced { .. } if TxnCodes::knows(codes.producer_fenced_since, version) => {
            ResponseError::ProducerFenced
        }
        TxnError::ProducerFenced { .. } => ResponseError::InvalidProducerEpoch,
        TxnError::ConcurrentTransactions { .. } => ResponseError::ConcurrentTransactions,
        TxnError::PartitionNotInTransaction { .. }
            if TxnCodes::knows(codes.transaction_abortable_since, version) =>
        {
            ResponseError::TransactionAbortable
        }
        TxnError::InvalidTxnState { .. } | TxnError::PartitionNotInTransaction { .. } => {
            ResponseError::InvalidTxnState
        }
        TxnError::NotCoordinator => ResponseError::NotCoordinator,
        TxnError::Offsets { source } => group(source),
        TxnError::Storage { source } => broker(source),
    }
}

/// The code of a transactional append the coordinator refused (KIP-890 part 1), for a Produce
/// of `version` (`None`: the newest). Produce never got PRODUCER_FENCED: a fenced producer is
/// told INVALID_PRODUCER_EPOCH; v11 added TRANSACTION_ABORTABLE for a partition the
/// transaction did not add, which older versions hear as INVALID_TXN_STATE.
fn txn_refusal(reason: TxnRefusal, version: Option<i16>) -> ResponseError {
    match reason {
        TxnRefusal::NotInTransaction if version.is_none_or(|v| v >= 11) => {
            ResponseError::TransactionAbortable
        }
        TxnRefusal::NotInTransaction => ResponseError::InvalidTxnState,
        TxnRefusal::ProducerFenced { .. } => ResponseError::InvalidProducerEpoch,
        TxnRefusal::UnknownProducerId => ResponseError::InvalidProducerIdMapping,
        TxnRefusal::CoordinatorNotAvailable => ResponseError::NotCoordinator,
    }
}

/// The code of a failed append for a Produce of `version`.
pub(crate) fn produce_code(error: &BrokerError, version: i16) -> ResponseError {
    match error {
        BrokerError::TxnRefused { reason, .. } => txn_refusal(*reason, Some(version)),
        other => broker(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::Generation;

    #[test]
    fn every_group_error_maps_to_the_kafka_code_of_its_name() {
        let cases = [
            (GroupError::UnknownMemberId, 25),
            (
                GroupError::IllegalGeneration {
                    requested: Generation(1),
                    current: Generation(2),
                },
                22,
            ),
            (GroupError::RebalanceInProgress, 27),
            (
                GroupError::MemberIdRequired {
                    member_id: "m".into(),
                },
                79,
            ),
            (GroupError::FencedInstanceId, 82),
            (GroupError::NonEmptyGroup, 68),
            (GroupError::GroupIdNotFound, 69),
            (
                GroupError::InvalidSessionTimeout {
                    requested_ms: 1,
                    min_ms: 2,
                    max_ms: 3,
                },
                26,
            ),
            (GroupError::InconsistentGroupProtocol, 23),
            (GroupError::storage(std::io::Error::other("disk")), 56),
        ];
        for (error, code) in cases {
            assert_eq!(group(&error).code(), code, "{error}");
        }
    }

    fn fenced() -> TxnError {
        TxnError::ProducerFenced {
            transactional_id: "t".into(),
            producer_id: 1,
            epoch: 0,
            current: 1,
        }
    }

    #[test]
    fn a_fenced_producer_hears_producer_fenced_only_from_versions_that_know_it() {
        let codes = TxnCodes {
            producer_fenced_since: Some(4),
            transaction_abortable_since: None,
        };
        assert_eq!(txn(&fenced(), 4, codes), ResponseError::ProducerFenced);
        assert_eq!(txn(&fenced(), 3, codes), ResponseError::InvalidProducerEpoch);
        let never = TxnCodes {
            producer_fenced_since: None,
            transaction_abortable_since: None,
        };
        assert_eq!(txn(&fenced(), 10, never), ResponseError::InvalidProducerEpoch);
    }

    #[test]
    fn a_partition_outside_the_transaction_is_abortable_from_produce_v11() {
        let refused = BrokerError::TxnRefused {
            topic: "t".into(),
            partition: 0,
            producer_id: 1,
            reason: TxnRefusal::NotInTransaction,
        };
        assert_eq!(produce_code(&refused, 11), ResponseError::TransactionAbortable);
        assert_eq!(produce_code(&refused, 10), ResponseError::InvalidTxnState);
        let fenced = BrokerError::TxnRefused {
            topic: "t".into(),
            partition: 0,
            producer_id: 1,
            reason: TxnRefusal::ProducerFenced { epoch: 0, current: 1 },
        };
        assert_eq!(produce_code(&fenced, 11), ResponseError::InvalidProducerEpoch);
    }

    #[test]
    fn coordinator_errors_carry_the_code_of_what_failed_underneath() {
        let codes = TxnCodes {
            producer_fenced_since: None,
            transaction_abortable_since: None,
        };
        let offsets = TxnError::Offsets {
            source: GroupError::IllegalGeneration {
                requested: Generation(1),
                current: Generation(2),
            },
        };
        assert_eq!(txn(&offsets, 0, codes), ResponseError::IllegalGeneration);
        let storage = TxnError::storage(BrokerError::NotEnoughReplicas { isr: 1, min: 2 });
        assert_eq!(txn(&storage, 0, codes), ResponseError::NotEnoughReplicas);
    }
}
