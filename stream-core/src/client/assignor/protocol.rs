//! The consumer protocol's bytes: a member's subscription (JoinGroup's protocol metadata) and its
//! assignment (SyncGroup's), each an `i16` version followed by the message at that version.
//!
//! | version | subscription adds               | assignment adds |
//! |---------|---------------------------------|-----------------|
//! | 0       | topics, user data               | partitions, user data |
//! | 1       | owned partitions (KIP-429)      | —               |
//! | 2       | generation (KIP-792)            | —               |
//! | 3       | rack (KIP-881)                  | —               |
//!
//! Like Kafka's `ConsumerProtocol`, a version newer than we know is read as the newest we know
//! (each version only appends fields, so the bytes of later fields are left unread), and a request
//! to write one is written at the newest.

use std::collections::BTreeMap;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::MemberSubscription;

/// The newest `ConsumerProtocolSubscription` version we know.
pub const SUBSCRIPTION_MAX_VERSION: i16 = 3;
/// The newest `ConsumerProtocolAssignment` version we know.
pub const ASSIGNMENT_MAX_VERSION: i16 = 3;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which of the consumer protocol's two messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payload {
    Subscription,
    Assignment,
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Payload::Subscription => "consumer subscription",
            Payload::Assignment => "consumer assignment",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{payload} version {version} is not a valid version")]
    UnsupportedVersion { payload: Payload, version: i16 },
    #[error("{payload} is cut short: {field} at byte {offset} needs {need} bytes, {have} remain")]
    Truncated {
        payload: Payload,
        field: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("{payload}: {field} at byte {offset} has the invalid length {length}")]
    InvalidLength {
        payload: Payload,
        field: &'static str,
        offset: usize,
        length: i32,
    },
    #[error("{payload} v{version} is malformed")]
    Malformed {
        payload: Payload,
        version: i16,
        #[source]
        source: BoxError,
    },
    #[error("{payload} v{version} cannot be encoded")]
    Encode {
        payload: Payload,
        version: i16,
        #[source]
        source: BoxError,
    },
}

/// A decoded subscription: a [`MemberSubscription`] without the member, whose id and instance id
/// travel in JoinGroup itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The version the bytes say they were written at; fields it lacks hold their defaults.
    pub version: i16,
    pub topics: Vec<String>,
    /// Sorted by (topic, partition) as written by [`encode_subscription`]; in wire order otherwise.
    pub owned_partitions: Vec<(String, i32)>,
    /// [`DEFAULT_GENERATION`](super::DEFAULT_GENERATION) before v2.
    pub generation: i32,
    pub rack: Option<String>,
    pub user_data: Option<Bytes>,
}

impl Subscription {
    pub fn into_member(
        self,
        member_id: impl Into<String>,
        group_instance_id: Option<String>,
    ) -> MemberSubscription {
        MemberSubscription {
            member_id: member_id.into(),
            group_instance_id,
            topics: self.topics,
            owned_partitions: self.owned_partitions,
            generation: self.generation,
            rack: self.rack,
            user_data: self.user_data,
        }
    }
}

/// A decoded assignment: what one member was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAssignment {
    pub version: i16,
    pub partitions: Vec<(String, i32)>,
    pub user_data: Option<Bytes>,
}

/// Encodes `subscription` as JoinGroup protocol metadata. Fields that `version` lacks are left
/// out (v0 carries no owned partitions, v0–1 no generation, v0–2 no rack); the member and
/// instance ids are not part of it.
pub fn encode_subscription(subscription: &MemberSubscription, version: i16) -> Result<Bytes, ProtocolError> {
    let payload = Payload::Subscription;
    let version = known_version(payload, version, SUBSCRIPTION_MAX_VERSION)?;
    let owned = by_topic(&subscription.owned_partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            OwnedTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions)
        })
        .collect();
    let message = ConsumerProtocolSubscription::default()
        .with_topics(
            subscription
                .topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_user_data(subscription.user_data.clone())
        .with_owned_partitions(owned)
        .with_generation_id(subscription.generation)
        .with_rack_id(subscription.rack.clone().map(StrBytes::from_string));
    encode(payload, &message, version)
}

pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, ProtocolError> {
    let payload = Payload::Subscription;
    let (version, body) = split_version(payload, bytes)?;
    let readable = known_version(payload, version, SUBSCRIPTION_MAX_VERSION)?;
    let mut scan = Scan::new(payload);
    scan.subscription(body, readable)?;
    let message: ConsumerProtocolSubscription = decode(payload, body, version, readable)?;
    Ok(Subscription {
        version,
        topics: message.topics.iter().map(|t| t.as_str().to_owned()).collect(),
        owned_partitions: flatten(message.owned_partitions.iter().map(|t| (&t.topic, &t.partitions))),
        generation: message.generation_id,
        rack: message.rack_id.map(|rack| rack.as_str().to_owned()),
        user_data: message.user_data,
    })
}

/// Encodes one member's assignment as SyncGroup's. The partitions are grouped by topic, sorted.
pub fn encode_assignment(
    partitions: &[(String, i32)],
    user_data: Option<Bytes>,
    version: i16,
) -> Result<Bytes, ProtocolError> {
    let payload = Payload::Assignment;
    let version = known_version(payload, version, ASSIGNMENT_MAX_VERSION)?;
    let assigned = by_topic(partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            AssignedTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions)
        })
        .collect();
    let message = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(assigned)
        .with_user_data(user_data);
    encode(payload, &message, version)
}

pub fn decode_assignment(bytes: &[u8]) -> Result<MemberAssignment, ProtocolError> {
    let payload = Payload::Assignment;
    let (version, body) = split_version(payload, bytes)?;
    let readable = known_version(payload, version, ASSIGNMENT_MAX_VERSION)?;
    let mut scan = Scan::new(payload);
    scan.assignment(body)?;
    let message: ConsumerProtocolAssignment = decode(payload, body, version, readable)?;
    Ok(MemberAssignment {
        version,
        partitions: flatten(
            message
                .assigned_partitions
                .iter()
                .map(|t| (&t.topic, &t.partitions)),
        ),
        user_data: message.user_data,
    })
}

/// Kafka's `ConsumerProtocol.check{Subscription,Assignment}Version`: negative versions are
/// invalid, and one past `max` is handled as `max`.
fn known_version(payload: Payload, version: i16, max: i16) -> Result<i16, ProtocolError> {
    if version < 0 {
        return Err(ProtocolError::UnsupportedVersion { payload, version });
    }
    Ok(version.min(max))
}

fn split_version(payload: Payload, bytes: &[u8]) -> Result<(i16, &[u8]), ProtocolError> {
    match bytes.split_first_chunk::<2>() {
        Some((version, body)) => Ok((i16::from_be_bytes(*version), body)),
        None => Err(ProtocolError::Truncated {
            payload,
            field: "version",
            offset: 0,
            need: 2,
            have: bytes.len(),
        }),
    }
}

fn encode(payload: Payload, message: &impl Encodable, version: i16) -> Result<Bytes, ProtocolError> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .map_err(|source| ProtocolError::Encode {
            payload,
            version,
            source: source.into(),
        })?;
    Ok(buf.freeze())
}

/// Decodes a body that [`Scan`] has vetted, so only content (UTF-8) can still be wrong.
fn decode<M: Decodable>(
    payload: Payload,
    body: &[u8],
    version: i16,
    readable: i16,
) -> Result<M, ProtocolError> {
    let mut body = Bytes::copy_from_slice(body);
    M::decode(&mut body, readable).map_err(|source| ProtocolError::Malformed {
        payload,
        version,
        source: source.into(),
    })
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

fn by_topic(partitions: &[(String, i32)]) -> BTreeMap<&str, Vec<i32>> {
    let mut grouped: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        grouped.entry(topic).or_default().push(*partition);
    }
    grouped
        .values_mut()
        .for_each(|partitions| partitions.sort_unstable());
    grouped
}

fn flatten<'a>(topics: impl Iterator<Item = (&'a TopicName, &'a Vec<i32>)>) -> Vec<(String, i32)> {
    topics
        .flat_map(|(topic, partitions)| partitions.iter().map(move |&p| (topic.as_str().to_owned(), p)))
        .collect()
}

/// Walks a message body checking every length against what remains, before kafka-protocol
/// decodes it: its array decoder reserves room for as many elements as the count says, so four
/// bytes claiming `i32::MAX` topics would ask for tens of gigabytes and abort the process. Here a
/// count is refused unless that many of the smallest possible element fit in what remains.
#[derive(Debug)]
struct Scan<'a> {
    payload: Payload,
    rest: &'a [u8],
    /// Of `rest` in the whole message, version included.
    offset: usize,
}

/// The smallest encodings: a string is its `i16` length, a topic's partitions entry a string and
/// an `i32` count, a partition an `i32`.
const MIN_STRING: usize = 2;
const MIN_TOPIC_PARTITIONS: usize = MIN_STRING + 4;
const PARTITION: usize = 4;

impl<'a> Scan<'a> {
    fn new(payload: Payload) -> Self {
        Scan {
            payload,
            rest: &[],
            offset: 2,
        }
    }

    fn subscription(&mut self, body: &'a [u8], version: i16) -> Result<(), ProtocolError> {
        self.rest = body;
        for _ in 0..self.array("topics", MIN_STRING)? {
            self.string("topics[]", false)?;
        }
        self.bytes("user_data")?;
        if version >= 1 {
            self.topic_partitions("owned_partitions")?;
        }
        if version >= 2 {
            self.take("generation_id", 4)?;
        }
        if version >= 3 {
            self.string("rack_id", true)?;
        }
        Ok(())
    }

    fn assignment(&mut self, body: &'a [u8]) -> Result<(), ProtocolError> {
        self.rest = body;
        self.topic_partitions("assigned_partitions")?;
        self.bytes("user_data")
    }

    fn topic_partitions(&mut self, field: &'static str) -> Result<(), ProtocolError> {
        for _ in 0..self.array(field, MIN_TOPIC_PARTITIONS)? {
            self.string(field, false)?;
            let count = self.array(field, PARTITION)?;
            self.take(field, count.saturating_mul(PARTITION))?;
        }
        Ok(())
    }

    fn truncated(&self, field: &'static str, need: usize) -> ProtocolError {
        ProtocolError::Truncated {
            payload: self.payload,
            field,
            offset: self.offset,
            need,
            have: self.rest.len(),
        }
    }

    fn take(&mut self, field: &'static str, need: usize) -> Result<(), ProtocolError> {
        let Some(rest) = self.rest.get(need..) else {
            return Err(self.truncated(field, need));
        };
        self.rest = rest;
        self.offset += need;
        Ok(())
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProtocolError> {
        let Some((chunk, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(self.truncated(field, N));
        };
        self.rest = rest;
        self.offset += N;
        Ok(*chunk)
    }

    fn length16(&mut self, field: &'static str, nullable: bool) -> Result<Option<usize>, ProtocolError> {
        let at = self.offset;
        let length = i16::from_be_bytes(self.fixed(field)?);
        self.checked_length(field, at, length.into(), nullable)
    }

    fn length32(&mut self, field: &'static str, nullable: bool) -> Result<Option<usize>, ProtocolError> {
        let at = self.offset;
        let length = i32::from_be_bytes(self.fixed(field)?);
        self.checked_length(field, at, length, nullable)
    }

    /// `None` for a null (-1) where `nullable`; an error for any other negative length.
    fn checked_length(
        &self,
        field: &'static str,
        at: usize,
        length: i32,
        nullable: bool,
    ) -> Result<Option<usize>, ProtocolError> {
        match usize::try_from(length) {
            Ok(length) => Ok(Some(length)),
            Err(_) if nullable && length == -1 => Ok(None),
            Err(_) => Err(ProtocolError::InvalidLength {
                payload: self.payload,
                field,
                offset: at,
                length,
            }),
        }
    }

    fn string(&mut self, field: &'static str, nullable: bool) -> Result<(), ProtocolError> {
        if let Some(length) = self.length16(field, nullable)? {
            self.take(field, length)?;
        }
        Ok(())
    }

    /// Nullable bytes: every `bytes` field of the consumer protocol is.
    fn bytes(&mut self, field: &'static str) -> Result<(), ProtocolError> {
        if let Some(length) = self.length32(field, true)? {
            self.take(field, length)?;
        }
        Ok(())
    }

    /// A non-null array's count, refused if `count` elements of `min_element` bytes cannot fit.
    fn array(&mut self, field: &'static str, min_element: usize) -> Result<usize, ProtocolError> {
        let count = self.length32(field, false)?.unwrap_or_default();
        let need = count.saturating_mul(min_element);
        if need > self.rest.len() {
            return Err(self.truncated(field, need));
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use proptest::prelude::*;

    use super::super::DEFAULT_GENERATION;
    use super::super::test_support::tp;
    use super::*;

    fn arb_partitions() -> impl Strategy<Value = Vec<(String, i32)>> {
        prop::collection::vec(("\\PC{0,10}", any::<i32>()), 0..8)
    }

    fn arb_subscription() -> impl Strategy<Value = MemberSubscription> {
        (
            prop::collection::vec("\\PC{0,12}", 0..6),
            arb_partitions(),
            any::<i32>(),
            prop::option::of("\\PC{0,8}"),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
        )
            .prop_map(
                |(topics, owned, generation, rack, user_data)| MemberSubscription {
                    member_id: "m".to_string(),
                    group_instance_id: None,
                    topics,
                    owned_partitions: owned,
                    generation,
                    rack,
                    user_data: user_data.map(Bytes::from),
                },
            )
    }

    fn sorted(mut partitions: Vec<(String, i32)>) -> Vec<(String, i32)> {
        partitions.sort();
        partitions
    }

    /// What a subscription written at `version` reads back as.
    fn as_written(subscription: &MemberSubscription, version: i16) -> Subscription {
        Subscription {
            version,
            topics: subscription.topics.clone(),
            owned_partitions: if version >= 1 {
                sorted(subscription.owned_partitions.clone())
            } else {
                Vec::new()
            },
            generation: if version >= 2 {
                subscription.generation
            } else {
                DEFAULT_GENERATION
            },
            rack: if version >= 3 {
                subscription.rack.clone()
            } else {
                None
            },
            user_data: subscription.user_data.clone(),
        }
    }

    #[test]
    fn a_v0_subscription_is_a_version_then_topics_then_user_data() {
        let subscription = MemberSubscription::new("m", ["t0"]);
        let bytes = encode_subscription(&subscription, 0).expect("encodes");
        assert_eq!(
            &bytes[..],
            [0, 0, 0, 0, 0, 1, 0, 2, b't', b'0', 0xff, 0xff, 0xff, 0xff]
        );
        let v1 = encode_subscription(&subscription.with_owned_partitions([tp("t0", 1)]), 1).expect("encodes");
        assert_eq!(
            &v1[..],
            [
                0, 1, 0, 0, 0, 1, 0, 2, b't', b'0', 0xff, 0xff, 0xff, 0xff, // as v0
                0, 0, 0, 1, 0, 2, b't', b'0', 0, 0, 0, 1, 0, 0, 0, 1, // owned: t0 [1]
            ]
        );
    }

    #[test]
    fn an_assignment_is_a_version_then_partitions_by_topic_then_user_data() {
        let bytes = encode_assignment(&[tp("t0", 1), tp("t0", 0)], None, 0).expect("encodes");
        assert_eq!(
            &bytes[..],
            [
                0, 0, 0, 0, 0, 1, 0, 2, b't', b'0', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff,
                0xff
            ]
        );
    }

    #[test]
    fn a_newer_version_reads_as_the_newest_known_ignoring_what_it_appends() {
        let subscription = MemberSubscription::new("m", ["t0"])
            .with_generation(7)
            .with_rack("r1");
        let mut bytes = encode_subscription(&subscription, 3).expect("encodes").to_vec();
        bytes[..2].copy_from_slice(&9i16.to_be_bytes());
        bytes.extend_from_slice(b"future fields");
        let decoded = decode_subscription(&bytes).expect("decodes");
        assert_eq!(
            decoded,
            Subscription {
                version: 9,
                ..as_written(&subscription, 3)
            }
        );

        let mut bytes = encode_assignment(&[tp("t0", 0)], None, 3)
            .expect("encodes")
            .to_vec();
        bytes[..2].copy_from_slice(&4i16.to_be_bytes());
        bytes.push(0);
        assert_eq!(
            decode_assignment(&bytes).expect("decodes").partitions,
            [tp("t0", 0)]
        );
    }

    #[test]
    fn writing_a_newer_version_writes_the_newest_known() {
        let subscription = MemberSubscription::new("m", ["t0"]);
        let bytes = encode_subscription(&subscription, 12).expect("encodes");
        assert_eq!(
            bytes,
            encode_subscription(&subscription, SUBSCRIPTION_MAX_VERSION).expect("encodes")
        );
        assert_eq!(&bytes[..2], SUBSCRIPTION_MAX_VERSION.to_be_bytes());
    }

    #[test]
    fn negative_versions_are_refused() {
        let subscription = MemberSubscription::new("m", ["t0"]);
        assert!(matches!(
            encode_subscription(&subscription, -1),
            Err(ProtocolError::UnsupportedVersion {
                payload: Payload::Subscription,
                version: -1
            })
        ));
        assert!(matches!(
            decode_assignment(&[0xff, 0xfe, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(ProtocolError::UnsupportedVersion {
                payload: Payload::Assignment,
                version: -2
            })
        ));
    }

    #[test]
    fn a_huge_count_is_refused_before_anything_is_allocated() {
        let error = decode_subscription(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).expect_err("cannot fit");
        assert!(
            matches!(
                error,
                ProtocolError::Truncated { field: "topics", offset: 6, need, have: 0, .. }
                    if need == 2 * i32::MAX as usize
            ),
            "{error:?}"
        );
        let error = decode_assignment(&[0, 1, 0, 0, 0, 1, 0, 0, 0x7f, 0, 0, 0]).expect_err("cannot fit");
        assert!(
            matches!(
                error,
                ProtocolError::Truncated {
                    field: "assigned_partitions",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_null_topic_is_an_invalid_length() {
        let error = decode_subscription(&[0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
            .expect_err("null topic");
        assert!(
            matches!(
                error,
                ProtocolError::InvalidLength {
                    field: "topics[]",
                    offset: 6,
                    length: -1,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_topic_that_is_not_utf8_is_malformed_with_the_cause_attached() {
        let error = decode_subscription(&[0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff])
            .expect_err("bad utf-8");
        assert!(
            matches!(error, ProtocolError::Malformed { version: 0, .. }),
            "{error:?}"
        );
        assert!(error.source().is_some());
    }

    #[test]
    fn a_topic_too_long_for_an_i16_length_cannot_be_encoded() {
        let subscription = MemberSubscription::new("m", ["x".repeat(40_000)]);
        let error = encode_subscription(&subscription, 0).expect_err("too long");
        assert!(
            matches!(error, ProtocolError::Encode { version: 0, .. }),
            "{error:?}"
        );
        assert!(error.source().is_some());
    }

    #[test]
    fn a_decoded_subscription_becomes_the_member_it_came_from() {
        let subscription = MemberSubscription::new("m1", ["t0", "t1"])
            .with_group_instance_id("i1")
            .with_owned_partitions([tp("t0", 0), tp("t1", 2)])
            .with_generation(4)
            .with_rack("r")
            .with_user_data(Bytes::from_static(b"ud"));
        let bytes = encode_subscription(&subscription, 3).expect("encodes");
        let decoded = decode_subscription(&bytes).expect("decodes");
        assert_eq!(decoded.into_member("m1", Some("i1".to_string())), subscription);
    }

    proptest! {
        #[test]
        fn subscriptions_round_trip_at_every_version(
            subscription in arb_subscription(),
            version in 0..=3i16,
        ) {
            let bytes = encode_subscription(&subscription, version).expect("encodes");
            let decoded = decode_subscription(&bytes).expect("decodes");
            prop_assert_eq!(decoded, as_written(&subscription, version));
        }

        #[test]
        fn assignments_round_trip_at_every_version(
            partitions in arb_partitions(),
            user_data in prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
            version in 0..=3i16,
        ) {
            let user_data = user_data.map(Bytes::from);
            let bytes = encode_assignment(&partitions, user_data.clone(), version).expect("encodes");
            let decoded = decode_assignment(&bytes).expect("decodes");
            prop_assert_eq!(decoded, MemberAssignment { version, partitions: sorted(partitions), user_data });
        }

        #[test]
        fn every_cut_of_a_valid_message_is_an_error(subscription in arb_subscription(), version in 0..=3i16) {
            let bytes = encode_subscription(&subscription, version).expect("encodes");
            for cut in 0..bytes.len() {
                prop_assert!(decode_subscription(&bytes[..cut]).is_err(), "cut at {}", cut);
            }
            let (partitions, user_data) = (&subscription.owned_partitions, subscription.user_data.clone());
            let bytes = encode_assignment(partitions, user_data, version).expect("encodes");
            for cut in 0..bytes.len() {
                prop_assert!(decode_assignment(&bytes[..cut]).is_err(), "cut at {}", cut);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }

        /// Corrupted valid messages reach deeper than random bytes do.
        #[test]
        fn corrupted_messages_never_panic(
            subscription in arb_subscription(),
            version in 0..=3i16,
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = encode_subscription(&subscription, version).expect("encodes").to_vec();
            let mut assignment =
                encode_assignment(&subscription.owned_partitions, None, version).expect("encodes").to_vec();
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
                let i = at.index(assignment.len());
                assignment[i] = byte;
            }
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&assignment);
        }
    }
}
