//! The `__consumer_offsets` record format.

use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Encodable, StrBytes};
use proptest::prelude::*;

use super::records::*;
use super::*;

fn offset_key(group: &str, topic: &str, partition: i32) -> RecordKey {
    RecordKey::Offset {
        group_id: group.into(),
        topic_partition: TopicPartition::new(super::topic(topic), partition),
    }
}

#[test]
fn offset_commit_records_are_laid_out_byte_for_byte_as_kafka_writes_them() {
    let key = encode_key(&offset_key("g", "t", 3)).unwrap();
    assert_eq!(&key[..], [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
    let value = OffsetValue {
        offset: 42,
        leader_epoch: Some(5),
        metadata: "md".into(),
        commit_timestamp_ms: 1_000,
        expire_timestamp_ms: None,
    };
    let bytes = encode_offset_value(&value).unwrap();
    let expected: Vec<u8> = [
        &[0, 3][..],
        &42i64.to_be_bytes(),
        &5i32.to_be_bytes(),
        &[0, 2, b'm', b'd'],
        &1_000i64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(&bytes[..], expected);
    assert_eq!(decode_offset_value(&bytes), Ok(value));

    let group_key = encode_key(&RecordKey::GroupMetadata { group_id: "g".into() }).unwrap();
    assert_eq!(&group_key[..], [0, 2, 0, 1, b'g']);
    assert_eq!(
        decode_key(&group_key),
        Ok(RecordKey::GroupMetadata { group_id: "g".into() })
    );
}

#[test]
fn a_missing_leader_epoch_is_written_as_minus_one() {
    let value = OffsetValue {
        offset: 1,
        leader_epoch: None,
        metadata: String::new(),
        commit_timestamp_ms: 0,
        expire_timestamp_ms: None,
    };
    let bytes = encode_offset_value(&value).unwrap();
    assert_eq!(&bytes[10..14], (-1i32).to_be_bytes());
    assert_eq!(decode_offset_value(&bytes).unwrap().leader_epoch, None);
}

#[test]
fn older_value_versions_decode() {
    // Offset value v0: offset, metadata, commit timestamp.
    let v0: Vec<u8> = [
        &[0, 0][..],
        &7i64.to_be_bytes(),
        &[0, 1, b'x'],
        &9i64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(
        decode_offset_value(&v0),
        Ok(OffsetValue {
            offset: 7,
            leader_epoch: None,
            metadata: "x".into(),
            commit_timestamp_ms: 9,
            expire_timestamp_ms: None
        })
    );
    // Group metadata v0: no rebalance timeout, no state timestamp, no instance ids.
    let string = |s: &str| [&(s.len() as i16).to_be_bytes()[..], s.as_bytes()].concat();
    let v0: Vec<u8> = [
        &[0, 0][..],
        &string("consumer"),
        &4i32.to_be_bytes(),
        &string("range"),
        &string("m1"),
        &1i32.to_be_bytes(),
        &string("m1"),
        &string("c"),
        &string("/h"),
        &10_000i32.to_be_bytes(),
        &[0, 0, 0, 2, 1, 2],
        &[0, 0, 0, 1, 9],
    ]
    .concat();
    let decoded = decode_group_value(&v0).unwrap();
    assert_eq!((decoded.generation, decoded.current_state_timestamp_ms), (4, -1));
    let member = &decoded.members[0];
    assert_eq!(
        (member.rebalance_timeout_ms, member.session_timeout_ms),
        (10_000, 10_000)
    );
    assert_eq!(
        (&member.subscription[..], &member.assignment[..]),
        (&[1, 2][..], &[9][..])
    );
    assert_eq!(member.group_instance_id, None);
}

#[test]
fn every_truncation_of_a_record_is_an_error() {
    let value = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 3,
        protocol: Some("range".into()),
        leader: Some("m".into()),
        current_state_timestamp_ms: 5,
        members: vec![MemberMetadataValue {
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1,
            session_timeout_ms: 2,
            subscription: Bytes::from_static(b"sub"),
            assignment: Bytes::from_static(b"asg"),
        }],
    };
    let bytes = encode_group_value(&value).unwrap();
    assert_eq!(decode_group_value(&bytes), Ok(value));
    for len in 0..bytes.len() {
        assert!(
            matches!(
                decode_group_value(&bytes[..len]),
                Err(RecordError::Truncated { .. })
            ),
            "{len}"
        );
    }
    let key = encode_key(&offset_key("group", "topic", 1)).unwrap();
    for len in 0..key.len() {
        assert!(
            matches!(decode_key(&key[..len]), Err(RecordError::Truncated { .. })),
            "{len}"
        );
    }
}

#[test]
fn malformed_fields_are_typed_errors() {
    assert_eq!(
        decode_key(&[0, 3, 0, 1, b'g']),
        Err(RecordError::UnknownKeyVersion { version: 3 })
    );
    assert_eq!(
        decode_key(&[0, 1, 0xff, 0xfe]),
        Err(RecordError::NegativeLength {
            field: "group",
            position: 2,
            length: -2
        })
    );
    assert_eq!(
        decode_key(&[0, 2, 0xff, 0xff]),
        Err(RecordError::UnexpectedNull {
            field: "group",
            position: 2
        })
    );
    assert!(matches!(
        decode_key(&[0, 2, 0, 1, 0xc3]),
        Err(RecordError::InvalidUtf8 {
            field: "group",
            position: 4,
            ..
        })
    ));
    assert_eq!(
        decode_offset_value(&[0, 4]),
        Err(RecordError::UnsupportedValueVersion {
            record: "offset commit",
            version: 4
        })
    );
    let negative_members: Vec<u8> = [
        &[0, 3, 0, 0][..],
        &1i32.to_be_bytes(),
        &[0xff, 0xff, 0xff, 0xff],
        &0i64.to_be_bytes(),
        &(-5i32).to_be_bytes(),
    ]
    .concat();
    assert!(matches!(
        decode_group_value(&negative_members),
        Err(RecordError::NegativeLength { field: "members", .. })
    ));
    let too_long = "x".repeat(40_000);
    assert_eq!(
        encode_key(&RecordKey::GroupMetadata { group_id: too_long }),
        Err(RecordError::StringTooLong {
            field: "group",
            len: 40_000
        })
    );
}

#[test]
fn subscribed_topics_are_read_from_kafkas_own_subscription_encoding_in_every_version() {
    for version in 0..=3 {
        let subscription = ConsumerProtocolSubscription::default()
            .with_topics(vec![
                StrBytes::from_static_str("a"),
                StrBytes::from_static_str("b"),
            ])
            .with_user_data(Some(Bytes::from_static(b"u")));
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        subscription.encode(&mut buf, version).unwrap();
        assert_eq!(
            consumer_subscription_topics(&buf).unwrap(),
            ["a", "b"],
            "version {version}"
        );
    }
    assert!(consumer_subscription_topics(b"junk").is_err());
}

fn string() -> impl Strategy<Value = String> {
    ".{0,12}"
}

fn group_value() -> impl Strategy<Value = GroupMetadataValue> {
    let member = (
        string(),
        proptest::option::of(string()),
        string(),
        string(),
        any::<i32>(),
        any::<i32>(),
    )
        .prop_flat_map(
            |(member_id, group_instance_id, client_id, client_host, rebalance, session)| {
                (
                    proptest::collection::vec(any::<u8>(), 0..8),
                    proptest::collection::vec(any::<u8>(), 0..8),
                )
                    .prop_map(move |(subscription, assignment)| MemberMetadataValue {
                        member_id: member_id.clone(),
                        group_instance_id: group_instance_id.clone(),
                        client_id: client_id.clone(),
                        client_host: client_host.clone(),
                        rebalance_timeout_ms: rebalance,
                        session_timeout_ms: session,
                        subscription: subscription.into(),
                        assignment: assignment.into(),
                    })
            },
        );
    (
        string(),
        any::<i32>(),
        proptest::option::of(string()),
        proptest::option::of(string()),
        any::<i64>(),
        proptest::collection::vec(member, 0..4),
    )
        .prop_map(
            |(protocol_type, generation, protocol, leader, current_state_timestamp_ms, members)| {
                GroupMetadataValue {
                    protocol_type,
                    generation,
                    protocol,
                    leader,
                    current_state_timestamp_ms,
                    members,
                }
            },
        )
}

proptest! {
    #[test]
    fn keys_round_trip(group in string(), topic in "[a-zA-Z0-9._-]{1,249}", partition in any::<i32>()) {
        prop_assume!(topic != "." && topic != "..");
        let key = offset_key(&group, &topic, partition);
        prop_assert_eq!(decode_key(&encode_key(&key).unwrap()), Ok(key));
        let key = RecordKey::GroupMetadata { group_id: group };
        prop_assert_eq!(decode_key(&encode_key(&key).unwrap()), Ok(key));
    }

    /// A key whose topic is not a valid topic name (no Kafka broker writes one) is refused as
    /// a record error, which the coordinator's replay skips, rather than loaded.
    #[test]
    fn keys_with_invalid_topic_names_are_refused(group in string(), topic in string(), partition in any::<i32>()) {
        prop_assume!(crate::topic::TopicName::new(&topic).is_err());
        let mut bytes = BytesMut::new();
        bytes.put_i16(1);
        bytes.put_i16(group.len() as i16);
        bytes.put_slice(group.as_bytes());
        bytes.put_i16(topic.len() as i16);
        bytes.put_slice(topic.as_bytes());
        bytes.put_i32(partition);
        prop_assert_eq!(decode_key(&bytes), Err(RecordError::InvalidTopicName { topic }));
    }

    #[test]
    fn offset_values_round_trip(
        offset in any::<i64>(),
        epoch in proptest::option::of(0..i32::MAX),
        metadata in string(),
        timestamp in any::<i64>(),
        expire in proptest::option::of(any::<i64>()),
    ) {
        // v1 (written when there is an expire timestamp) has no leader epoch.
        let leader_epoch = if expire.is_some() { None } else { epoch };
        let value = OffsetValue {
            offset, leader_epoch, metadata, commit_timestamp_ms: timestamp, expire_timestamp_ms: expire,
        };
        prop_assert_eq!(decode_offset_value(&encode_offset_value(&value).unwrap()), Ok(value));
    }

    #[test]
    fn group_values_round_trip(value in group_value()) {
        prop_assert_eq!(decode_group_value(&encode_group_value(&value).unwrap()), Ok(value));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_key(&bytes);
        let _ = decode_offset_value(&bytes);
        let _ = decode_group_value(&bytes);
        let _ = consumer_subscription_topics(&bytes);
        let mut state = GroupCoordinatorState::with_seed(test_config(), 0);
        let _ = state.replay(&bytes, Some(&bytes), 0);
        let _ = state.replay(&bytes, None, 0);
        prop_assert!(state.check_invariants().is_ok());
    }
}
