//! The schemas are checked against kafka-protocol itself: requests with every array, string
//! and nullable field populated are encoded at every served version, and the walk must take
//! exactly the encoded bytes. Any field missing, extra or misplaced in a schema shows up as a
//! length mismatch or a walk error.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{Malformed, check, consumed};
use crate::server::supported_versions;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn topic(value: &str) -> TopicName {
    TopicName(s(value))
}

fn group(value: &str) -> GroupId {
    GroupId(s(value))
}

/// Encodes `build(version)` at every served version of `api` and walks it.
fn walks_exactly<R: Encodable>(api: ApiKey, build: impl Fn(i16) -> R) {
    let (min, max) = supported_versions(api).unwrap_or_else(|| panic!("{api:?} is not served"));
    for version in min..=max {
        let mut body = BytesMut::new();
        build(version)
            .encode(&mut body, version)
            .unwrap_or_else(|e| panic!("{api:?} v{version} does not encode: {e}"));
        assert_eq!(
            consumed(api, version, &body),
            Ok(body.len()),
            "{api:?} v{version} walked wrongly"
        );
        // Every field is required, so every strict prefix is refused.
        for cut in 0..body.len() {
            assert!(
                consumed(api, version, &body[..cut]).is_err(),
                "{api:?} v{version}: a {cut}-byte prefix passed"
            );
        }
    }
}

#[test]
fn produce_fetch_and_metadata_schemas_match_kafka_protocol() {
    walks_exactly(ApiKey::ApiVersions, |_| {
        ApiVersionsRequest::default()
            .with_client_software_name(s("runnel"))
            .with_client_software_version(s("1.0"))
    });
    walks_exactly(ApiKey::Metadata, |_| {
        let topics = ["a", "bb"]
            .iter()
            .map(|n| metadata_request::MetadataRequestTopic::default().with_name(Some(topic(n))))
            .collect();
        MetadataRequest::default().with_topics(Some(topics))
    });
    walks_exactly(ApiKey::Produce, |_| {
        let partitions = |n| {
            (0..n)
                .map(|p| {
                    produce_request::PartitionProduceData::default()
                        .with_index(p)
                        .with_records(Some(Bytes::from(vec![7u8; 10 + p as usize])))
                })
                .collect()
        };
        ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx"))))
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic("a"))
                    .with_partition_data(partitions(2)),
                produce_request::TopicProduceData::default()
                    .with_name(topic("b"))
                    .with_partition_data(partitions(1)),
            ])
    });
    walks_exactly(ApiKey::Fetch, |v| {
        let partitions = (0..2)
            .map(|p| {
                fetch_request::FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(5)
                    .with_partition_max_bytes(100)
            })
            .collect::<Vec<_>>();
        let request = FetchRequest::default()
            .with_max_wait_ms(500)
            .with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(if v < 13 { topic("a") } else { TopicName::default() })
                    .with_partitions(partitions),
            ])
            .with_forgotten_topics_data(if v >= 7 {
                vec![
                    fetch_request::ForgottenTopic::default()
                        .with_topic(if v < 13 { topic("b") } else { TopicName::default() })
                        .with_partitions(vec![1, 2, 3]),
                ]
            } else {
                Vec::new()
            })
            .with_rack_id(if v >= 11 { s("rack") } else { StrBytes::default() });
        // Known tagged fields, skipped by their size: a string and (v15+) a struct.
        let request = if v >= 12 {
            request.with_cluster_id(Some(s("cluster")))
        } else {
            request
        };
        if v >= 15 {
            request.with_replica_state(
                fetch_request::ReplicaState::default()
                    .with_replica_id(BrokerId(1))
                    .with_replica_epoch(3),
            )
        } else {
            request
        }
    });
    walks_exactly(ApiKey::ListOffsets, |_| {
        ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic("a"))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1),
                    list_offsets_request::ListOffsetsPartition::default().with_partition_index(1),
                ]),
        ])
    });
    walks_exactly(ApiKey::FindCoordinator, |v| {
        if v >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")])
        } else {
            FindCoordinatorRequest::default().with_key(s("g"))
        }
    });
    walks_exactly(ApiKey::InitProducerId, |_| {
        InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(s("tx"))))
    });
}

#[test]
fn group_schemas_match_kafka_protocol() {
    walks_exactly(ApiKey::JoinGroup, |v| {
        let request = JoinGroupRequest::default()
            .with_group_id(group("g"))
            .with_member_id(s("m"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"meta")),
                join_group_request::JoinGroupRequestProtocol::default().with_name(s("sticky")),
            ]);
        let request = if v >= 5 {
            request.with_group_instance_id(Some(s("i")))
        } else {
            request
        };
        if v >= 8 {
            request.with_reason(Some(s("why")))
        } else {
            request
        }
    });
    walks_exactly(ApiKey::SyncGroup, |v| {
        let request = SyncGroupRequest::default()
            .with_group_id(group("g"))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s("m"))
                    .with_assignment(Bytes::from_static(b"a")),
                sync_group_request::SyncGroupRequestAssignment::default().with_member_id(s("n")),
            ]);
        if v >= 5 {
            request
                .with_group_instance_id(Some(s("i")))
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")))
        } else {
            request
        }
    });
    walks_exactly(ApiKey::Heartbeat, |v| {
        let request = HeartbeatRequest::default()
            .with_group_id(group("g"))
            .with_member_id(s("m"));
        if v >= 3 {
            request.with_group_instance_id(Some(s("i")))
        } else {
            request
        }
    });
    walks_exactly(ApiKey::LeaveGroup, |v| {
        if v >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group("g"))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s("m")),
                    leave_group_request::MemberIdentity::default().with_group_instance_id(Some(s("i"))),
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group("g"))
                .with_member_id(s("m"))
        }
    });
    walks_exactly(ApiKey::OffsetCommit, |_| {
        let partition = |p| {
            offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(9)
                .with_committed_metadata(Some(s("meta")))
        };
        OffsetCommitRequest::default()
            .with_group_id(group("g"))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic("a"))
                    .with_partitions(vec![partition(0), partition(1)]),
            ])
    });
    walks_exactly(ApiKey::OffsetFetch, |v| {
        if v >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group("g"))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic("a"))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
                offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group("h")),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(group("g"))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic("a"))
                        .with_partition_indexes(vec![0, 1]),
                ]))
        }
    });
    walks_exactly(ApiKey::ListGroups, |v| {
        if v >= 4 {
            ListGroupsRequest::default().with_states_filter(vec![s("Stable"), s("Empty")])
        } else {
            ListGroupsRequest::default()
        }
    });
    walks_exactly(ApiKey::DescribeGroups, |_| {
        DescribeGroupsRequest::default().with_groups(vec![group("g"), group("h")])
    });
    walks_exactly(ApiKey::DeleteGroups, |_| {
        DeleteGroupsRequest::default().with_groups_names(vec![group("g"), group("h")])
    });
    walks_exactly(ApiKey::OffsetDelete, |_| {
        OffsetDeleteRequest::default()
            .with_group_id(group("g"))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic("a"))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(3),
                    ]),
            ])
    });
}

#[test]
fn transaction_schemas_match_kafka_protocol() {
    let tx = || TransactionalId(s("tx"));
    walks_exactly(ApiKey::AddPartitionsToTxn, |_| {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(tx())
            .with_v3_and_below_producer_id(ProducerId(7))
            .with_v3_and_below_producer_epoch(2)
            .with_v3_and_below_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic("a"))
                    .with_partitions(vec![0, 1]),
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default().with_name(topic("b")),
            ])
    });
    walks_exactly(ApiKey::AddOffsetsToTxn, |_| {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(tx())
            .with_producer_id(ProducerId(7))
            .with_group_id(group("g"))
    });
    walks_exactly(ApiKey::EndTxn, |_| {
        EndTxnRequest::default()
            .with_transactional_id(tx())
            .with_producer_id(ProducerId(7))
            .with_committed(true)
    });
    walks_exactly(ApiKey::TxnOffsetCommit, |v| {
        let partition = |p| {
            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(9)
                .with_committed_metadata(Some(s("meta")))
        };
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(tx())
            .with_group_id(group("g"))
            .with_producer_id(ProducerId(7))
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic("a"))
                    .with_partitions(vec![partition(0), partition(1)]),
            ]);
        if v >= 3 {
            request
                .with_generation_id(4)
                .with_member_id(s("m"))
                .with_group_instance_id(Some(s("i")))
        } else {
            request
        }
    });
    // The broker-to-coordinator form (v4+) is not served, but its schema is walked right.
    let mut body = BytesMut::new();
    let batched = AddPartitionsToTxnRequest::default().with_transactions(vec![
        add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
            .with_transactional_id(tx())
            .with_verify_only(true)
            .with_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic("a"))
                    .with_partitions(vec![3]),
            ]),
    ]);
    batched.encode(&mut body, 4).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(consumed(ApiKey::AddPartitionsToTxn, 4, &body), Ok(body.len()));
}

#[test]
fn admin_schemas_match_kafka_protocol() {
    walks_exactly(ApiKey::CreateTopics, |_| {
        CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic("a"))
                .with_assignments(vec![
                    create_topics_request::CreatableReplicaAssignment::default()
                        .with_broker_ids(vec![BrokerId(0), BrokerId(1)]),
                ])
                .with_configs(vec![
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1"))),
                ]),
            create_topics_request::CreatableTopic::default().with_name(topic("b")),
        ])
    });
    walks_exactly(ApiKey::DeleteTopics, |v| {
        if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                delete_topics_request::DeleteTopicState::default().with_name(Some(topic("a"))),
                delete_topics_request::DeleteTopicState::default(),
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic("a"), topic("b")])
        }
    });
    walks_exactly(ApiKey::CreatePartitions, |_| {
        CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic("a"))
                .with_count(3)
                .with_assignments(Some(vec![
                    create_partitions_request::CreatePartitionsAssignment::default()
                        .with_broker_ids(vec![BrokerId(0)]),
                ])),
        ])
    });
    walks_exactly(ApiKey::DescribeConfigs, |_| {
        DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("a"))
                .with_configuration_keys(Some(vec![s("retention.ms")])),
            describe_configs_request::DescribeConfigsResource::default().with_resource_name(s("b")),
        ])
    });
    walks_exactly(ApiKey::IncrementalAlterConfigs, |_| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_name(s("a"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("5"))),
                ]),
        ])
    });
    walks_exactly(ApiKey::DeleteRecords, |_| {
        DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic("a"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default().with_offset(4),
                ]),
        ])
    });
}

#[test]
fn null_strings_bytes_and_arrays_walk_as_empty() {
    walks_exactly(ApiKey::Metadata, |v| {
        // Null (all topics) from v1; v0 has no null array, and an empty one means all.
        MetadataRequest::default().with_topics(if v >= 1 { None } else { Some(Vec::new()) })
    });
    walks_exactly(ApiKey::Produce, |_| {
        ProduceRequest::default()
            .with_transactional_id(None)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic("a"))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default().with_records(None),
                    ]),
            ])
    });
    walks_exactly(ApiKey::OffsetFetch, |v| match v {
        8.. => OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group("g"))
                .with_topics(None),
        ]),
        2.. => OffsetFetchRequest::default()
            .with_group_id(group("g"))
            .with_topics(None),
        _ => OffsetFetchRequest::default()
            .with_group_id(group("g"))
            .with_topics(Some(Vec::new())),
    });
    walks_exactly(ApiKey::CreatePartitions, |_| {
        CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic("a"))
                .with_assignments(None),
        ])
    });
    walks_exactly(ApiKey::DescribeConfigs, |_| {
        DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_name(s("a"))
                .with_configuration_keys(None),
        ])
    });
}

/// Tagged fields, at the top level (a string and a struct) and inside array elements, live in
/// the tagged-field sections the walker skips by size: none may become a positional field.
#[test]
fn tagged_fields_are_skipped_wherever_they_sit() {
    // Fetch v17 is the newest in the spec and has a tagged field in every partition; it is not
    // served, but the generated schema covers it.
    let version = 17;
    let directory = "07070707-0707-0707-0707-070707070707"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let fetch = |tagged: bool| {
        let partition = fetch_request::FetchPartition::default().with_partition(1);
        let request =
            FetchRequest::default().with_topics(vec![fetch_request::FetchTopic::default().with_partitions(
                vec![if tagged {
                    partition.with_replica_directory_id(directory)
                } else {
                    partition
                }],
            )]);
        if tagged {
            request.with_cluster_id(Some(s("cluster"))).with_replica_state(
                fetch_request::ReplicaState::default()
                    .with_replica_id(BrokerId(1))
                    .with_replica_epoch(3),
            )
        } else {
            request
        }
    };
    let mut plain = BytesMut::new();
    fetch(false)
        .encode(&mut plain, version)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut tagged = BytesMut::new();
    fetch(true)
        .encode(&mut tagged, version)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        tagged.len() > plain.len() + 16 + 7,
        "the tagged fields were not encoded"
    );
    assert_eq!(consumed(ApiKey::Fetch, version, &plain), Ok(plain.len()));
    assert_eq!(consumed(ApiKey::Fetch, version, &tagged), Ok(tagged.len()));
}

/// Every served version must be in the copied spec's `validVersions` (the walker refuses any
/// other), and the spec's `flexibleVersions` must agree with kafka-protocol's header versions.
#[test]
fn served_versions_are_within_the_specs() {
    for (api, min, max) in crate::server::SUPPORTED_APIS {
        let schema = super::schemas::schema(*api).unwrap_or_else(|| panic!("{api:?} has no spec"));
        assert!(
            schema.versions.contains(min) && schema.versions.contains(max),
            "{api:?} serves v{min}-{max}, its spec has {:?}",
            schema.versions
        );
        for version in *min..=*max {
            // Header v2 (with tagged fields) is used exactly by flexible requests (KIP-482).
            assert_eq!(
                version >= schema.first_flexible,
                api.request_header_version(version) >= 2,
                "{api:?} v{version}: spec and kafka-protocol disagree on flexibility"
            );
        }
    }
}

#[test]
fn versions_and_apis_without_a_spec_are_refused() {
    let beyond = super::schemas::schema(ApiKey::Fetch).map_or(0, |schema| *schema.versions.end() + 1);
    for (api, version) in [
        (ApiKey::Fetch, -1),
        (ApiKey::Fetch, beyond),
        (ApiKey::SaslHandshake, 0),
    ] {
        assert_eq!(
            check(api, version, &[0; 64]),
            Err(Malformed::NoSchema { api, version })
        );
    }
}

#[test]
fn array_counts_beyond_the_body_are_refused_before_allocation() {
    // Metadata v0 claiming 0x033c0c00 topics in five bytes (a kafka-protocol-rs fuzz case).
    let refused = check(ApiKey::Metadata, 0, &[0x03, 0x3c, 0x0c, 0x00, 0xb6]);
    assert!(
        matches!(
            refused,
            Err(Malformed::BadLength {
                value: 0x033c_0c00,
                ..
            })
        ),
        "{refused:?}"
    );
    // A compact (flexible) array claiming u32::MAX - 1 entries.
    let refused = check(ApiKey::Metadata, 9, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
    assert!(matches!(refused, Err(Malformed::BadLength { .. })), "{refused:?}");
    // Produce v3 with one topic whose partition array claims i32::MAX entries.
    let body = [
        0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'a', 0x7f, 0xff, 0xff, 0xff,
    ];
    assert!(matches!(
        check(ApiKey::Produce, 3, &body),
        Err(Malformed::BadLength { .. })
    ));
    // A varint longer than five bytes.
    let refused = check(ApiKey::ListGroups, 3, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert!(matches!(refused, Err(Malformed::BadVarint { .. })), "{refused:?}");
}

#[test]
fn random_bodies_never_panic_the_walker() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (api, min, max) in crate::server::SUPPORTED_APIS {
        for version in *min..=*max {
            for _ in 0..200 {
                let len = rng.random_range(0..64);
                let body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let _ = check(*api, version, &body);
            }
        }
    }
}
