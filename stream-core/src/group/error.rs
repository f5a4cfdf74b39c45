//! What can go wrong in the group coordinator: [`GroupError`] for the answers a client sees (one
//! variant per Kafka error code), [`RecordError`] for bytes of `__consumer_offsets` that do not
//! decode, and [`ConfigError`] for a [`GroupConfig`](super::GroupConfig) that makes no sense.

use std::sync::Arc;

use super::api::Generation;

/// An error answered to a group client. Each variant is named after the Kafka error it stands
/// for; the wire server maps it to that one entry of Kafka's error table.
///
/// Two errors are equal when they are the same variant with the same message: the storage
/// error's source is compared by its message, since `dyn Error` has no equality.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GroupError {
    /// The coordinator is shutting down or the group is being deleted; the client finds the
    /// coordinator again and retries.
    #[error("the group coordinator is not available")]
    CoordinatorNotAvailable,
    /// This coordinator stopped (or never started) serving the group.
    #[error("this broker is not the coordinator of the group")]
    NotCoordinator,
    /// The coordinator is still replaying `__consumer_offsets`.
    #[error("the group coordinator is loading")]
    CoordinatorLoadInProgress,
    /// The group id is empty (for the membership APIs) or longer than a Kafka string.
    #[error("invalid group id {group_id:?}")]
    InvalidGroupId { group_id: String },
    /// The member id is not (or no longer) a member of the group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The request names a generation other than the group's current one.
    #[error("illegal generation {requested}, the group is at generation {current}")]
    IllegalGeneration {
        requested: Generation,
        current: Generation,
    },
    /// The member's protocol type or protocols are incompatible with the group's.
    #[error("the member's protocols are incompatible with the group's")]
    InconsistentGroupProtocol,
    /// The session timeout is outside `group.min.session.timeout.ms ..= group.max.session.timeout.ms`.
    #[error("session timeout {requested_ms} ms is outside the allowed {min_ms} ..= {max_ms} ms")]
    InvalidSessionTimeout {
        requested_ms: i32,
        min_ms: i32,
        max_ms: i32,
    },
    /// The group is rebalancing: the member must send JoinGroup again.
    #[error("the group is rebalancing, rejoin")]
    RebalanceInProgress,
    /// KIP-394: a new dynamic member must rejoin with the member id it is given here.
    #[error("rejoin with member id {member_id}")]
    MemberIdRequired { member_id: String },
    /// `group.max.size` members are in the group already.
    #[error("the group has reached its maximum size")]
    GroupMaxSizeReached,
    /// KIP-345: another process with the same `group.instance.id` took this member's place.
    #[error("another instance with the same group.instance.id fenced this member")]
    FencedInstanceId,
    /// The group still has members.
    #[error("the group is not empty")]
    NonEmptyGroup,
    /// No group of that id exists.
    #[error("the group does not exist")]
    GroupIdNotFound,
    /// OffsetDelete of a partition whose topic the group's members consume.
    #[error("the group is subscribed to the topic")]
    GroupSubscribedToTopic,
    /// The committed metadata string exceeds `offset.metadata.max.bytes`.
    #[error("offset metadata of {size} bytes exceeds the maximum of {max}")]
    OffsetMetadataTooLarge { size: usize, max: usize },
    /// The batch of committed offsets is too large to append.
    #[error("the offset commit is too large to store")]
    InvalidCommitOffsetSize,
    /// A field of the request cannot be stored (for instance a string longer than 32767 bytes).
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },
    /// Appending to `__consumer_offsets` failed.
    #[error("cannot store to __consumer_offsets")]
    KafkaStorageError {
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// Appending to `__consumer_offsets` did not complete in time.
    #[error("the request timed out")]
    RequestTimedOut,
    /// A bug or an unexpected condition; the message says which.
    #[error("unexpected server error: {reason}")]
    UnknownServerError { reason: String },
}

impl GroupError {
    /// Wraps a storage failure of the broker's [`OffsetsLog`](super::OffsetsLog).
    pub fn storage(source: impl std::error::Error + Send + Sync + 'static) -> GroupError {
        GroupError::KafkaStorageError {
            source: Arc::new(source),
        }
    }
}

impl PartialEq for GroupError {
    fn eq(&self, other: &GroupError) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
            && {
                match (self, other) {
                    (
                        GroupError::KafkaStorageError { source: a },
                        GroupError::KafkaStorageError { source: b },
                    ) => a.to_string() == b.to_string(),
                    _ => true,
                }
            }
    }
}

impl Eq for GroupError {}

/// A `__consumer_offsets` record that does not decode (or a value that cannot be encoded).
/// Positions are byte offsets into the key or value being decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("truncated record: {field} at byte {position} needs {need} bytes, {have} left")]
    Truncated {
        field: &'static str,
        position: usize,
        need: usize,
        have: usize,
    },
    #[error("unknown __consumer_offsets key version {version}")]
    UnknownKeyVersion { version: i16 },
    #[error("unsupported {record} value version {version}")]
    UnsupportedValueVersion { record: &'static str, version: i16 },
    #[error("negative length {length} of {field} at byte {position}")]
    NegativeLength {
        field: &'static str,
        position: usize,
        length: i32,
    },
    #[error("{field} at byte {position} is null, which it may not be")]
    UnexpectedNull { field: &'static str, position: usize },
    #[error("{field} at byte {position} is not UTF-8")]
    InvalidUtf8 {
        field: &'static str,
        position: usize,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("{field} is {len} bytes, more than a Kafka string holds ({max})", max = i16::MAX)]
    StringTooLong { field: &'static str, len: usize },
    #[error("{field} holds {len} bytes, more than Kafka bytes hold")]
    BytesTooLong { field: &'static str, len: usize },
    #[error("offset key names {topic:?}, which is not a valid topic name")]
    InvalidTopicName { topic: String },
    #[error("group metadata of {group_id:?} is inconsistent: {reason}")]
    InconsistentGroupMetadata { group_id: String, reason: &'static str },
}

/// A [`GroupConfig`](super::GroupConfig) that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid group coordinator config {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_compare_by_message() {
        assert_eq!(
            GroupError::storage(std::io::Error::other("a")),
            GroupError::storage(std::io::Error::other("a"))
        );
        assert_ne!(
            GroupError::storage(std::io::Error::other("a")),
            GroupError::storage(std::io::Error::other("b"))
        );
    }
}
