//! The request schemas the precheck walks, transcribed from kafka-protocol 0.18's generated
//! decoders: each field with the versions it exists in. A field whose encoding changes with
//! flexible versions (compact strings and arrays) is one entry; the walker picks the encoding.

use super::Kind::{Array, ArrayOf, ArrayOfStr, Bytes, Fixed, Str};
use super::{Field, f};

/// `ApiVersionsRequest`: v0-4, flexible from 3.
pub(super) const API_VERSIONS_REQUEST: &[Field] = &[
    f(Str, 3, 4), // client_software_name
    f(Str, 3, 4), // client_software_version
];
/// `MetadataRequest`: v0-13, flexible from 9.
pub(super) const METADATA_REQUEST: &[Field] = &[
    f(Array(METADATA_REQUEST_TOPIC), 0, 13), // topics
    f(Fixed(1), 4, 13),                      // allow_auto_topic_creation
    f(Fixed(1), 8, 10),                      // include_cluster_authorized_operations
    f(Fixed(1), 8, 13),                      // include_topic_authorized_operations
];
/// `MetadataRequestTopic`: v0-13, flexible from 9.
pub(super) const METADATA_REQUEST_TOPIC: &[Field] = &[
    f(Fixed(16), 10, 13), // topic_id
    f(Str, 0, 13),        // name
];
/// `ProduceRequest`: v3-13, flexible from 9.
pub(super) const PRODUCE_REQUEST: &[Field] = &[
    f(Str, 3, 13),                       // transactional_id
    f(Fixed(2), 3, 13),                  // acks
    f(Fixed(4), 3, 13),                  // timeout_ms
    f(Array(TOPIC_PRODUCE_DATA), 3, 13), // topic_data
];
/// `TopicProduceData`: v3-13, flexible from 9.
pub(super) const TOPIC_PRODUCE_DATA: &[Field] = &[
    f(Str, 3, 12),                           // name
    f(Fixed(16), 13, 13),                    // topic_id
    f(Array(PARTITION_PRODUCE_DATA), 3, 13), // partition_data
];
/// `PartitionProduceData`: v3-13, flexible from 9.
pub(super) const PARTITION_PRODUCE_DATA: &[Field] = &[
    f(Fixed(4), 3, 13), // index
    f(Bytes, 3, 13),    // records
];
/// `FetchRequest`: v4-18, flexible from 12.
pub(super) const FETCH_REQUEST: &[Field] = &[
    f(Fixed(4), 4, 14),               // replica_id
    f(Fixed(4), 4, 18),               // max_wait_ms
    f(Fixed(4), 4, 18),               // min_bytes
    f(Fixed(4), 4, 18),               // max_bytes
    f(Fixed(1), 4, 18),               // isolation_level
    f(Fixed(4), 7, 18),               // session_id
    f(Fixed(4), 7, 18),               // session_epoch
    f(Array(FETCH_TOPIC), 4, 18),     // topics
    f(Array(FORGOTTEN_TOPIC), 7, 18), // forgotten_topics_data
    f(Str, 11, 18),                   // rack_id
];
/// `FetchTopic`: v4-18, flexible from 12.
pub(super) const FETCH_TOPIC: &[Field] = &[
    f(Str, 4, 12),                    // topic
    f(Fixed(16), 13, 18),             // topic_id
    f(Array(FETCH_PARTITION), 4, 18), // partitions
];
/// `FetchPartition`: v4-18, flexible from 12.
pub(super) const FETCH_PARTITION: &[Field] = &[
    f(Fixed(4), 4, 18),  // partition
    f(Fixed(4), 9, 18),  // current_leader_epoch
    f(Fixed(8), 4, 18),  // fetch_offset
    f(Fixed(4), 12, 18), // last_fetched_epoch
    f(Fixed(8), 5, 18),  // log_start_offset
    f(Fixed(4), 4, 18),  // partition_max_bytes
];
/// `ForgottenTopic`: v4-18, flexible from 12.
pub(super) const FORGOTTEN_TOPIC: &[Field] = &[
    f(Str, 7, 12),        // topic
    f(Fixed(16), 13, 18), // topic_id
    f(ArrayOf(4), 7, 18), // partitions
];
/// `ListOffsetsRequest`: v1-10, flexible from 6.
pub(super) const LIST_OFFSETS_REQUEST: &[Field] = &[
    f(Fixed(4), 1, 10),                  // replica_id
    f(Fixed(1), 2, 10),                  // isolation_level
    f(Array(LIST_OFFSETS_TOPIC), 1, 10), // topics
    f(Fixed(4), 10, 10),                 // timeout_ms
];
/// `ListOffsetsTopic`: v1-10, flexible from 6.
pub(super) const LIST_OFFSETS_TOPIC: &[Field] = &[
    f(Str, 1, 10),                           // name
    f(Array(LIST_OFFSETS_PARTITION), 1, 10), // partitions
];
/// `ListOffsetsPartition`: v1-10, flexible from 6.
pub(super) const LIST_OFFSETS_PARTITION: &[Field] = &[
    f(Fixed(4), 1, 10), // partition_index
    f(Fixed(4), 4, 10), // current_leader_epoch
    f(Fixed(8), 1, 10), // timestamp
];
/// `FindCoordinatorRequest`: v0-6, flexible from 3.
pub(super) const FIND_COORDINATOR_REQUEST: &[Field] = &[
    f(Str, 0, 3),        // key
    f(Fixed(1), 1, 6),   // key_type
    f(ArrayOfStr, 4, 6), // coordinator_keys
];
/// `InitProducerIdRequest`: v0-5, flexible from 2.
pub(super) const INIT_PRODUCER_ID_REQUEST: &[Field] = &[
    f(Str, 0, 5),      // transactional_id
    f(Fixed(4), 0, 5), // transaction_timeout_ms
    f(Fixed(8), 3, 5), // producer_id
    f(Fixed(2), 3, 5), // producer_epoch
];
/// `AddPartitionsToTxnRequest`: v0-5, flexible from 3.
pub(super) const ADD_PARTITIONS_TO_TXN_REQUEST: &[Field] = &[
    f(Array(ADD_PARTITIONS_TO_TXN_TRANSACTION), 4, 5), // transactions
    f(Str, 0, 3),                                      // v3_and_below_transactional_id
    f(Fixed(8), 0, 3),                                 // v3_and_below_producer_id
    f(Fixed(2), 0, 3),                                 // v3_and_below_producer_epoch
    f(Array(ADD_PARTITIONS_TO_TXN_TOPIC), 0, 3),       // v3_and_below_topics
];
/// `AddPartitionsToTxnTransaction`: v0-5, flexible from 3.
pub(super) const ADD_PARTITIONS_TO_TXN_TRANSACTION: &[Field] = &[
    f(Str, 4, 5),                                // transactional_id
    f(Fixed(8), 4, 5),                           // producer_id
    f(Fixed(2), 4, 5),                           // producer_epoch
    f(Fixed(1), 4, 5),                           // verify_only
    f(Array(ADD_PARTITIONS_TO_TXN_TOPIC), 4, 5), // topics
];
/// `AddPartitionsToTxnTopic`: v0-5, flexible from 3.
pub(super) const ADD_PARTITIONS_TO_TXN_TOPIC: &[Field] = &[
    f(Str, 0, 5),        // name
    f(ArrayOf(4), 0, 5), // partitions
];
/// `AddOffsetsToTxnRequest`: v0-4, flexible from 3.
pub(super) const ADD_OFFSETS_TO_TXN_REQUEST: &[Field] = &[
    f(Str, 0, 4),      // transactional_id
    f(Fixed(8), 0, 4), // producer_id
    f(Fixed(2), 0, 4), // producer_epoch
    f(Str, 0, 4),      // group_id
];
/// `EndTxnRequest`: v0-5, flexible from 3.
pub(super) const END_TXN_REQUEST: &[Field] = &[
    f(Str, 0, 5),      // transactional_id
    f(Fixed(8), 0, 5), // producer_id
    f(Fixed(2), 0, 5), // producer_epoch
    f(Fixed(1), 0, 5), // committed
];
/// `TxnOffsetCommitRequest`: v0-5, flexible from 3.
pub(super) const TXN_OFFSET_COMMIT_REQUEST: &[Field] = &[
    f(Str, 0, 5),                                    // transactional_id
    f(Str, 0, 5),                                    // group_id
    f(Fixed(8), 0, 5),                               // producer_id
    f(Fixed(2), 0, 5),                               // producer_epoch
    f(Fixed(4), 3, 5),                               // generation_id
    f(Str, 3, 5),                                    // member_id
    f(Str, 3, 5),                                    // group_instance_id
    f(Array(TXN_OFFSET_COMMIT_REQUEST_TOPIC), 0, 5), // topics
];
/// `TxnOffsetCommitRequestTopic`: v0-5, flexible from 3.
pub(super) const TXN_OFFSET_COMMIT_REQUEST_TOPIC: &[Field] = &[
    f(Str, 0, 5),                                        // name
    f(Array(TXN_OFFSET_COMMIT_REQUEST_PARTITION), 0, 5), // partitions
];
/// `TxnOffsetCommitRequestPartition`: v0-5, flexible from 3.
pub(super) const TXN_OFFSET_COMMIT_REQUEST_PARTITION: &[Field] = &[
    f(Fixed(4), 0, 5), // partition_index
    f(Fixed(8), 0, 5), // committed_offset
    f(Fixed(4), 2, 5), // committed_leader_epoch
    f(Str, 0, 5),      // committed_metadata
];
/// `JoinGroupRequest`: v0-9, flexible from 6.
pub(super) const JOIN_GROUP_REQUEST: &[Field] = &[
    f(Str, 0, 9),                                // group_id
    f(Fixed(4), 0, 9),                           // session_timeout_ms
    f(Fixed(4), 1, 9),                           // rebalance_timeout_ms
    f(Str, 0, 9),                                // member_id
    f(Str, 5, 9),                                // group_instance_id
    f(Str, 0, 9),                                // protocol_type
    f(Array(JOIN_GROUP_REQUEST_PROTOCOL), 0, 9), // protocols
    f(Str, 8, 9),                                // reason
];
/// `JoinGroupRequestProtocol`: v0-9, flexible from 6.
pub(super) const JOIN_GROUP_REQUEST_PROTOCOL: &[Field] = &[
    f(Str, 0, 9),   // name
    f(Bytes, 0, 9), // metadata
];
/// `SyncGroupRequest`: v0-5, flexible from 4.
pub(super) const SYNC_GROUP_REQUEST: &[Field] = &[
    f(Str, 0, 5),                                  // group_id
    f(Fixed(4), 0, 5),                             // generation_id
    f(Str, 0, 5),                                  // member_id
    f(Str, 3, 5),                                  // group_instance_id
    f(Str, 5, 5),                                  // protocol_type
    f(Str, 5, 5),                                  // protocol_name
    f(Array(SYNC_GROUP_REQUEST_ASSIGNMENT), 0, 5), // assignments
];
/// `SyncGroupRequestAssignment`: v0-5, flexible from 4.
pub(super) const SYNC_GROUP_REQUEST_ASSIGNMENT: &[Field] = &[
    f(Str, 0, 5),   // member_id
    f(Bytes, 0, 5), // assignment
];
/// `HeartbeatRequest`: v0-4, flexible from 4.
pub(super) const HEARTBEAT_REQUEST: &[Field] = &[
    f(Str, 0, 4),      // group_id
    f(Fixed(4), 0, 4), // generation_id
    f(Str, 0, 4),      // member_id
    f(Str, 3, 4),      // group_instance_id
];
/// `LeaveGroupRequest`: v0-5, flexible from 4.
pub(super) const LEAVE_GROUP_REQUEST: &[Field] = &[
    f(Str, 0, 5),                    // group_id
    f(Str, 0, 2),                    // member_id
    f(Array(MEMBER_IDENTITY), 3, 5), // members
];
/// `MemberIdentity`: v0-5, flexible from 4.
pub(super) const MEMBER_IDENTITY: &[Field] = &[
    f(Str, 3, 5), // member_id
    f(Str, 3, 5), // group_instance_id
    f(Str, 5, 5), // reason
];
/// `OffsetCommitRequest`: v2-9, flexible from 8.
pub(super) const OFFSET_COMMIT_REQUEST: &[Field] = &[
    f(Str, 2, 9),                                // group_id
    f(Fixed(4), 2, 9),                           // generation_id_or_member_epoch
    f(Str, 2, 9),                                // member_id
    f(Str, 7, 9),                                // group_instance_id
    f(Fixed(8), 2, 4),                           // retention_time_ms
    f(Array(OFFSET_COMMIT_REQUEST_TOPIC), 2, 9), // topics
];
/// `OffsetCommitRequestTopic`: v2-9, flexible from 8.
pub(super) const OFFSET_COMMIT_REQUEST_TOPIC: &[Field] = &[
    f(Str, 2, 9),                                    // name
    f(Array(OFFSET_COMMIT_REQUEST_PARTITION), 2, 9), // partitions
];
/// `OffsetCommitRequestPartition`: v2-9, flexible from 8.
pub(super) const OFFSET_COMMIT_REQUEST_PARTITION: &[Field] = &[
    f(Fixed(4), 2, 9), // partition_index
    f(Fixed(8), 2, 9), // committed_offset
    f(Fixed(4), 6, 9), // committed_leader_epoch
    f(Str, 2, 9),      // committed_metadata
];
/// `OffsetFetchRequest`: v1-9, flexible from 6.
pub(super) const OFFSET_FETCH_REQUEST: &[Field] = &[
    f(Str, 1, 7),                               // group_id
    f(Array(OFFSET_FETCH_REQUEST_TOPIC), 1, 7), // topics
    f(Array(OFFSET_FETCH_REQUEST_GROUP), 8, 9), // groups
    f(Fixed(1), 7, 9),                          // require_stable
];
/// `OffsetFetchRequestTopic`: v1-9, flexible from 6.
pub(super) const OFFSET_FETCH_REQUEST_TOPIC: &[Field] = &[
    f(Str, 1, 7),        // name
    f(ArrayOf(4), 1, 7), // partition_indexes
];
/// `OffsetFetchRequestGroup`: v1-9, flexible from 6.
pub(super) const OFFSET_FETCH_REQUEST_GROUP: &[Field] = &[
    f(Str, 8, 9),                                // group_id
    f(Str, 9, 9),                                // member_id
    f(Fixed(4), 9, 9),                           // member_epoch
    f(Array(OFFSET_FETCH_REQUEST_TOPICS), 8, 9), // topics
];
/// `OffsetFetchRequestTopics`: v1-9, flexible from 6.
pub(super) const OFFSET_FETCH_REQUEST_TOPICS: &[Field] = &[
    f(Str, 8, 9),        // name
    f(ArrayOf(4), 8, 9), // partition_indexes
];
/// `ListGroupsRequest`: v0-5, flexible from 3.
pub(super) const LIST_GROUPS_REQUEST: &[Field] = &[
    f(ArrayOfStr, 4, 5), // states_filter
    f(ArrayOfStr, 5, 5), // types_filter
];
/// `DescribeGroupsRequest`: v0-6, flexible from 5.
pub(super) const DESCRIBE_GROUPS_REQUEST: &[Field] = &[
    f(ArrayOfStr, 0, 6), // groups
    f(Fixed(1), 3, 6),   // include_authorized_operations
];
/// `DeleteGroupsRequest`: v0-2, flexible from 2.
pub(super) const DELETE_GROUPS_REQUEST: &[Field] = &[
    f(ArrayOfStr, 0, 2), // groups_names
];
/// `OffsetDeleteRequest`: v0-0, flexible from None.
pub(super) const OFFSET_DELETE_REQUEST: &[Field] = &[
    f(Str, 0, 0),                                // group_id
    f(Array(OFFSET_DELETE_REQUEST_TOPIC), 0, 0), // topics
];
/// `OffsetDeleteRequestTopic`: v0-0, flexible from None.
pub(super) const OFFSET_DELETE_REQUEST_TOPIC: &[Field] = &[
    f(Str, 0, 0),                                    // name
    f(Array(OFFSET_DELETE_REQUEST_PARTITION), 0, 0), // partitions
];
/// `OffsetDeleteRequestPartition`: v0-0, flexible from None.
pub(super) const OFFSET_DELETE_REQUEST_PARTITION: &[Field] = &[
    f(Fixed(4), 0, 0), // partition_index
];
/// `CreateTopicsRequest`: v2-7, flexible from 5.
pub(super) const CREATE_TOPICS_REQUEST: &[Field] = &[
    f(Array(CREATABLE_TOPIC), 2, 7), // topics
    f(Fixed(4), 2, 7),               // timeout_ms
    f(Fixed(1), 2, 7),               // validate_only
];
/// `CreatableTopic`: v2-7, flexible from 5.
pub(super) const CREATABLE_TOPIC: &[Field] = &[
    f(Str, 2, 7),                                 // name
    f(Fixed(4), 2, 7),                            // num_partitions
    f(Fixed(2), 2, 7),                            // replication_factor
    f(Array(CREATABLE_REPLICA_ASSIGNMENT), 2, 7), // assignments
    f(Array(CREATABLE_TOPIC_CONFIG), 2, 7),       // configs
];
/// `CreatableReplicaAssignment`: v2-7, flexible from 5.
pub(super) const CREATABLE_REPLICA_ASSIGNMENT: &[Field] = &[
    f(Fixed(4), 2, 7),   // partition_index
    f(ArrayOf(4), 2, 7), // broker_ids
];
/// `CreatableTopicConfig`: v2-7, flexible from 5.
pub(super) const CREATABLE_TOPIC_CONFIG: &[Field] = &[
    f(Str, 2, 7), // name
    f(Str, 2, 7), // value
];
/// `DeleteTopicsRequest`: v1-6, flexible from 4.
pub(super) const DELETE_TOPICS_REQUEST: &[Field] = &[
    f(Array(DELETE_TOPIC_STATE), 6, 6), // topics
    f(ArrayOfStr, 1, 5),                // topic_names
    f(Fixed(4), 1, 6),                  // timeout_ms
];
/// `DeleteTopicState`: v1-6, flexible from 4.
pub(super) const DELETE_TOPIC_STATE: &[Field] = &[
    f(Str, 6, 6),       // name
    f(Fixed(16), 6, 6), // topic_id
];
/// `CreatePartitionsRequest`: v0-3, flexible from 2.
pub(super) const CREATE_PARTITIONS_REQUEST: &[Field] = &[
    f(Array(CREATE_PARTITIONS_TOPIC), 0, 3), // topics
    f(Fixed(4), 0, 3),                       // timeout_ms
    f(Fixed(1), 0, 3),                       // validate_only
];
/// `CreatePartitionsTopic`: v0-3, flexible from 2.
pub(super) const CREATE_PARTITIONS_TOPIC: &[Field] = &[
    f(Str, 0, 3),                                 // name
    f(Fixed(4), 0, 3),                            // count
    f(Array(CREATE_PARTITIONS_ASSIGNMENT), 0, 3), // assignments
];
/// `CreatePartitionsAssignment`: v0-3, flexible from 2.
pub(super) const CREATE_PARTITIONS_ASSIGNMENT: &[Field] = &[
    f(ArrayOf(4), 0, 3), // broker_ids
];
/// `DescribeConfigsRequest`: v1-4, flexible from 4.
pub(super) const DESCRIBE_CONFIGS_REQUEST: &[Field] = &[
    f(Array(DESCRIBE_CONFIGS_RESOURCE), 1, 4), // resources
    f(Fixed(1), 1, 4),                         // include_synonyms
    f(Fixed(1), 3, 4),                         // include_documentation
];
/// `DescribeConfigsResource`: v1-4, flexible from 4.
pub(super) const DESCRIBE_CONFIGS_RESOURCE: &[Field] = &[
    f(Fixed(1), 1, 4),   // resource_type
    f(Str, 1, 4),        // resource_name
    f(ArrayOfStr, 1, 4), // configuration_keys
];
/// `IncrementalAlterConfigsRequest`: v0-1, flexible from 1.
pub(super) const INCREMENTAL_ALTER_CONFIGS_REQUEST: &[Field] = &[
    f(Array(ALTER_CONFIGS_RESOURCE), 0, 1), // resources
    f(Fixed(1), 0, 1),                      // validate_only
];
/// `AlterConfigsResource`: v0-1, flexible from 1.
pub(super) const ALTER_CONFIGS_RESOURCE: &[Field] = &[
    f(Fixed(1), 0, 1),                // resource_type
    f(Str, 0, 1),                     // resource_name
    f(Array(ALTERABLE_CONFIG), 0, 1), // configs
];
/// `AlterableConfig`: v0-1, flexible from 1.
pub(super) const ALTERABLE_CONFIG: &[Field] = &[
    f(Str, 0, 1),      // name
    f(Fixed(1), 0, 1), // config_operation
    f(Str, 0, 1),      // value
];
/// `DeleteRecordsRequest`: v0-2, flexible from 2.
pub(super) const DELETE_RECORDS_REQUEST: &[Field] = &[
    f(Array(DELETE_RECORDS_TOPIC), 0, 2), // topics
    f(Fixed(4), 0, 2),                    // timeout_ms
];
/// `DeleteRecordsTopic`: v0-2, flexible from 2.
pub(super) const DELETE_RECORDS_TOPIC: &[Field] = &[
    f(Str, 0, 2),                             // name
    f(Array(DELETE_RECORDS_PARTITION), 0, 2), // partitions
];
/// `DeleteRecordsPartition`: v0-2, flexible from 2.
pub(super) const DELETE_RECORDS_PARTITION: &[Field] = &[
    f(Fixed(4), 0, 2), // partition_index
    f(Fixed(8), 0, 2), // offset
];
