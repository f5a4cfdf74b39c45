//! The APIs and versions this server implements: the one table that both the dispatcher and
//! the ApiVersions answer read, so the broker never advertises what it cannot serve.

use kafka_protocol::messages::ApiKey;

/// `(api, min version, max version)`, in api-key order.
///
/// The floors are the oldest versions current clients send (Produce v3 and Fetch v4 are the
/// first with v2 record batches); the ceilings are the newest versions whose semantics are
/// implemented — e.g. Produce stops at v11 because v12 (KIP-890) asks the broker to add
/// partitions to transactions implicitly, and EndTxn and TxnOffsetCommit stop at v4 because v5
/// is transaction version 2. The transactional APIs' versions that only announce a new error
/// code (PRODUCER_FENCED, KIP-588; TRANSACTION_ABORTABLE, KIP-890) are served, each handler
/// answering older versions with the code they know. AddPartitionsToTxn stops at v3: v4+ is
/// the broker-to-coordinator form, which clients never send.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
];

/// The versions of `api` this server implements, if any.
pub fn supported_versions(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|(_, min, max)| (*min, *max))
}

pub(super) fn is_supported(api: ApiKey, version: i16) -> bool {
    supported_versions(api).is_some_and(|(min, max)| (min..=max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_version_is_one_kafka_protocol_can_decode() {
        for (api, min, max) in SUPPORTED_APIS {
            let valid = api.valid_versions();
            assert!(
                valid.min <= *min && *max <= valid.max,
                "{api:?} {min}..={max} vs {valid}"
            );
            for version in [*min, *max] {
                let checked = super::super::precheck::check(*api, version, &[]);
                assert!(
                    !matches!(checked, Err(super::super::precheck::Malformed::NoSchema { .. })),
                    "{api:?} has no precheck schema"
                );
            }
        }
    }
}
