//! The Kafka wire-protocol server, spoken to in raw bytes over a real socket on 127.0.0.1:0:
//! framing, version negotiation, produce and fetch, the group and admin APIs, and hostile
//! input that must close only its own connection.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use storage::record::{BatchBuilder, Compression, Header};
use stream_core::BrokerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::{Client, Server};

/// The node id the broker runs with by default (BrokerConfig::new).
const NODE: i32 = 1;

// ---- harness ---------------------------------------------------------------------------------

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn topic_name(value: &str) -> TopicName {
    TopicName(s(value))
}

fn batch(records: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    for (i, (key, value)) in records.iter().enumerate() {
        let headers = [Header::new("trace", Some(format!("h{i}").into_bytes()))];
        builder.append(
            1_000 + i as i64,
            Some(key.as_bytes()),
            Some(value.as_bytes()),
            &headers,
        );
    }
    builder.build()
}

fn produce_request(acks: i16, topic: &str, partitions: Vec<(i32, Vec<u8>)>) -> ProduceRequest {
    let data = partitions
        .into_iter()
        .map(|(p, records)| {
            PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(Bytes::from(records)))
        })
        .collect();
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(data),
        ])
}

fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

async fn produce(client: &mut Client, version: i16, topic: &str, p: i32, records: Vec<u8>) -> (i16, i64) {
    let response: ProduceResponse = client
        .call(
            ApiKey::Produce,
            version,
            &produce_request(-1, topic, vec![(p, records)]),
        )
        .await;
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

async fn fetch(client: &mut Client, version: i16, topic: &str, p: i32, offset: i64) -> (i16, Bytes) {
    let response: FetchResponse = client
        .call(ApiKey::Fetch, version, &fetch_request(topic, p, offset, 100))
        .await;
    let partition = &response.responses[0].partitions[0];
    (
        partition.error_code,
        partition.records.clone().unwrap_or_default(),
    )
}

/// The batch as stored: identical except the base offset and leader epoch the broker assigns.
fn assert_same_batch(stored: &[u8], sent: &[u8], base_offset: i64) {
    assert_eq!(stored.len(), sent.len());
    assert_eq!(&stored[..8], &base_offset.to_be_bytes());
    assert_eq!(stored[8..12], sent[8..12], "batch length");
    assert_eq!(stored[16..], sent[16..], "magic, CRC, attributes and records");
}

/// A produce and a fetch on a fresh connection: the broker still serves.
async fn still_serves(server: &Server) {
    let mut client = server.client().await;
    let records = batch(&[("after", "hostile")]);
    let (error, offset) = produce(&mut client, 9, "survivor", 0, records.clone()).await;
    assert_eq!(error, 0);
    let (error, stored) = fetch(&mut client, 12, "survivor", 0, offset).await;
    assert_eq!(error, 0);
    assert_same_batch(&stored[..records.len()], &records, offset);
}

// ---- version negotiation ---------------------------------------------------------------------

#[tokio::test]
async fn api_versions_v0_by_hand_and_v3_round_trip() {
    let server = Server::start().await;
    let mut client = server.client().await;
    // ApiVersions v0, header v1, correlation 7, null client id.
    client
        .send_raw(&[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff])
        .await;
    let v0: ApiVersionsResponse = client.response(ApiKey::ApiVersions, 0, 7).await;
    assert_eq!(v0.error_code, 0);
    let range = |r: &ApiVersionsResponse, api: ApiKey| {
        let k = r.api_keys.iter().find(|k| k.api_key == api as i16).unwrap();
        (k.min_version, k.max_version)
    };
    assert_eq!(range(&v0, ApiKey::Produce), (3, 11));
    assert_eq!(range(&v0, ApiKey::Fetch), (4, 16));

    let request = ApiVersionsRequest::default()
        .with_client_software_name(s("server-raw"))
        .with_client_software_version(s("1.0"));
    let v3: ApiVersionsResponse = client.call(ApiKey::ApiVersions, 3, &request).await;
    assert_eq!(v3.error_code, 0);
    assert_eq!(v3.api_keys, v0.api_keys);
    assert!(
        v3.api_keys
            .iter()
            .all(|k| k.api_key != ApiKey::SaslHandshake as i16)
    );
}

#[tokio::test]
async fn unsupported_api_versions_version_is_answered_35_with_the_ranges_in_v0() {
    let server = Server::start().await;
    let mut client = server.client().await;
    // ApiVersions v99 in a flexible (v2) header: key, version, correlation 42, client id
    // "x", no tagged fields, then a body the server cannot know.
    client
        .send_raw(&[0, 0, 0, 14, 0, 18, 0, 99, 0, 0, 0, 42, 0, 1, b'x', 0, 1, 2])
        .await;
    let answer: ApiVersionsResponse = client.response(ApiKey::ApiVersions, 0, 42).await;
    assert_eq!(answer.error_code, 35);
    assert!(
        answer
            .api_keys
            .iter()
            .any(|k| k.api_key == 18 && k.max_version == 4)
    );
    // The client falls back on the same connection.
    let v3: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(v3.error_code, 0);
}

#[tokio::test]
async fn unknown_api_key_or_unsupported_version_closes_the_connection() {
    let server = Server::start().await;
    let mut client = server.client().await;
    client
        .send_raw(&[0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff])
        .await;
    assert!(client.is_closed().await);
    let mut client = server.client().await;
    let frame = client.frame(ApiKey::Metadata, 1, &MetadataRequest::default());
    let mut bad = frame.to_vec();
    bad[6..8].copy_from_slice(&99i16.to_be_bytes()); // Metadata v99
    client.send_raw(&bad).await;
    assert!(client.is_closed().await);
    // SaslHandshake is a known key this broker does not serve.
    let mut client = server.client().await;
    let frame = client.frame(ApiKey::SaslHandshake, 1, &SaslHandshakeRequest::default());
    client.send_raw(&frame).await;
    assert!(client.is_closed().await);
    still_serves(&server).await;
}

// ---- metadata, produce, fetch ----------------------------------------------------------------

#[tokio::test]
async fn metadata_lists_a_created_topic_with_this_node_as_leader() {
    let server = Server::start().await;
    server.cluster.admin().create_topic("orders", 3, []).unwrap();
    let mut client = server.client().await;
    for version in [0, 1, 4, 9, 12] {
        let request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name("orders"))),
        ]));
        let response: MetadataResponse = client.call(ApiKey::Metadata, version, &request).await;
        assert_eq!(response.brokers.len(), 1, "v{version}");
        assert_eq!(response.brokers[0].port, i32::from(server.addr.port()));
        assert_eq!(response.brokers[0].host.as_str(), "127.0.0.1");
        let topic = &response.topics[0];
        assert_eq!(
            (topic.error_code, topic.name.as_deref().map(|n| n.as_str())),
            (0, Some("orders"))
        );
        assert_eq!(topic.partitions.len(), 3);
        assert!(
            topic
                .partitions
                .iter()
                .all(|p| p.leader_id.0 == NODE && p.isr_nodes.len() == 1)
        );
        if version >= 10 {
            assert!(!topic.topic_id.is_nil());
        }
    }
    // A null list (v1+) is every topic.
    let all: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert!(
        all.topics
            .iter()
            .any(|t| t.name.as_deref().map(|n| n.as_str()) == Some("orders"))
    );
    assert!(all.cluster_id.is_some());
}

#[tokio::test]
async fn produced_batch_is_fetched_back_byte_identical() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let first = batch(&[("k1", "v1"), ("k2", "v2")]);
    let second = batch(&[("k3", "v3")]);
    // Produce auto-creates the topic; v3 (oldest) and v9 (first flexible).
    assert_eq!(produce(&mut client, 3, "events", 0, first.clone()).await, (0, 0));
    assert_eq!(produce(&mut client, 9, "events", 0, second.clone()).await, (0, 2));
    for version in [4, 11, 12] {
        let (error, stored) = fetch(&mut client, version, "events", 0, 0).await;
        assert_eq!(error, 0, "fetch v{version}");
        assert_same_batch(&stored[..first.len()], &first, 0);
        assert_same_batch(&stored[first.len()..], &second, 2);
    }
    // v13+ names the topic by id.
    let metadata: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let id = metadata
        .topics
        .iter()
        .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some("events"))
        .unwrap()
        .topic_id;
    let mut request = fetch_request("", 0, 2, 100);
    request.topics[0].topic_id = id;
    let response: FetchResponse = client.call(ApiKey::Fetch, 16, &request).await;
    assert_eq!(response.responses[0].topic_id, id);
    let partition = &response.responses[0].partitions[0];
    assert_eq!((partition.error_code, partition.high_watermark), (0, 3));
    assert_same_batch(partition.records.as_ref().unwrap(), &second, 2);
}

#[tokio::test]
async fn corrupt_crc_fails_its_partition_while_the_other_is_written() {
    let server = Server::start().await;
    server.cluster.admin().create_topic("split", 2, []).unwrap();
    let mut client = server.client().await;
    let good = batch(&[("a", "1")]);
    let mut corrupt = batch(&[("b", "2")]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let request = produce_request(1, "split", vec![(0, corrupt), (1, good.clone())]);
    let response: ProduceResponse = client.call(ApiKey::Produce, 8, &request).await;
    let partitions = &response.responses[0].partition_responses;
    assert_eq!((partitions[0].index, partitions[0].error_code), (0, 2));
    assert!(partitions[0].error_message.is_some());
    assert_eq!((partitions[1].index, partitions[1].error_code), (1, 0));
    let (error, stored) = fetch(&mut client, 12, "split", 1, 0).await;
    assert_eq!(error, 0);
    assert_same_batch(&stored, &good, 0);
    let (_, nothing) = fetch(&mut client, 12, "split", 0, 0).await;
    assert!(nothing.is_empty());
}

#[tokio::test]
async fn unknown_topic_without_auto_create_is_unknown_topic_or_partition() {
    let server = Server::start_with(
        |b| BrokerConfig {
            auto_create_topics: false,
            ..b
        },
        |s| s,
    )
    .await;
    let mut client = server.client().await;
    assert_eq!(
        produce(&mut client, 9, "nope", 0, batch(&[("k", "v")])).await.0,
        3
    );
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name("nope"))),
        ]))
        .with_allow_auto_topic_creation(true);
    let response: MetadataResponse = client.call(ApiKey::Metadata, 9, &request).await;
    assert_eq!(response.topics[0].error_code, 3);
    assert_eq!(fetch(&mut client, 12, "nope", 0, 0).await.0, 3);
    assert!(server.cluster.broker().list_topics().is_empty());
}

#[tokio::test]
async fn acks_zero_is_not_answered_and_acks_two_is_refused() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let silent = client.frame(
        ApiKey::Produce,
        9,
        &produce_request(0, "quiet", vec![(0, batch(&[("k", "v")]))]),
    );
    client.send_raw(&silent).await;
    // The next answer on the connection is the ApiVersions one.
    let answer: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(answer.error_code, 0);
    assert_eq!(fetch(&mut client, 12, "quiet", 0, 0).await.0, 0);
    let response: ProduceResponse = client
        .call(
            ApiKey::Produce,
            9,
            &produce_request(2, "quiet", vec![(0, batch(&[("k", "v")]))]),
        )
        .await;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 21);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = Server::start().await;
    server.cluster.admin().create_topic("idle", 1, []).unwrap();
    let mut client = server.client().await;
    // A long poll on an empty partition first, then quick requests behind it.
    let slow = client.frame(ApiKey::Fetch, 12, &fetch_request("idle", 0, 0, 300));
    let quick = client.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let metadata = client.frame(ApiKey::Metadata, 12, &MetadataRequest::default());
    let mut all = slow.to_vec();
    all.extend_from_slice(&quick);
    all.extend_from_slice(&metadata);
    client.send_raw(&all).await;
    let fetched: FetchResponse = client.response(ApiKey::Fetch, 12, 1).await;
    assert_eq!(fetched.responses[0].partitions[0].error_code, 0);
    let _: ApiVersionsResponse = client.response(ApiKey::ApiVersions, 3, 2).await;
    let _: MetadataResponse = client.response(ApiKey::Metadata, 12, 3).await;
}

// ---- hostile input ---------------------------------------------------------------------------

#[tokio::test]
async fn hostile_frames_close_only_their_connection() {
    let server = Server::start().await;
    let mut bystander = server.client().await;
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        // An HTTP request: its first four bytes read as a ~1.2 GB length.
        ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        // A well-framed body of noise: Metadata v1 whose client id runs past the frame.
        (
            "garbage header",
            vec![0, 0, 0, 10, 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff],
        ),
        // Metadata v1 claiming 2^31-1 topics in a 14-byte frame: refused before kafka-protocol
        // would reserve hundreds of gigabytes for them.
        (
            "huge array count",
            vec![
                0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
            ],
        ),
        ("2 GiB length prefix", vec![0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 0]),
        (
            "negative length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 0, 18, 0, 0],
        ),
        ("frame shorter than a header", vec![0, 0, 0, 2, 0, 18]),
    ];
    for (what, bytes) in hostile {
        let mut client = server.client().await;
        client.send_raw(&bytes).await;
        assert!(client.is_closed().await, "{what} did not close the connection");
    }
    // A truncated frame: the peer goes away mid-frame.
    let mut client = server.client().await;
    client.send_raw(&[0, 0, 0, 100, 0, 18, 0, 0, 0, 0]).await;
    client.stream.shutdown().await.unwrap();
    assert!(client.is_closed().await);
    // The bystander's connection and new ones are unaffected.
    let answer: ApiVersionsResponse = bystander
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(answer.error_code, 0);
    still_serves(&server).await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = Server::start_with(|b| b, |s| s.with_connections_max_idle(Duration::from_millis(200))).await;
    let mut client = server.client().await;
    let answer: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(answer.error_code, 0);
    assert!(client.is_closed().await);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let server = Server::start_with(|b| b, |s| s.with_max_connections(1)).await;
    let mut first = server.client().await;
    let _: ApiVersionsResponse = first
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let mut second = server.client().await;
    let frame = second.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    second.send_raw(&frame).await;
    let mut len = [0u8; 4];
    let early = tokio::time::timeout(Duration::from_millis(300), second.stream.read_exact(&mut len)).await;
    assert!(
        early.is_err(),
        "the second connection was served beyond max.connections"
    );
    drop(first);
    let answer: ApiVersionsResponse = second.response(ApiKey::ApiVersions, 3, 1).await;
    assert_eq!(answer.error_code, 0);
}

#[tokio::test]
async fn shutdown_answers_the_request_in_flight_then_stops_accepting() {
    let server = Server::start().await;
    server.cluster.admin().create_topic("slow", 1, []).unwrap();
    let mut client = server.client().await;
    let frame = client.frame(ApiKey::Fetch, 12, &fetch_request("slow", 0, 0, 500));
    client.send_raw(&frame).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = server.addr;
    server.shutdown().await;
    let fetched: FetchResponse = client.response(ApiKey::Fetch, 12, 1).await;
    assert_eq!(fetched.responses[0].partitions[0].error_code, 0);
    assert!(TcpStream::connect(addr).await.is_err());
}

// ---- offsets, coordinators, producer ids -----------------------------------------------------

#[tokio::test]
async fn list_offsets_finds_earliest_latest_by_timestamp_and_max_timestamp() {
    let server = Server::start().await;
    let mut client = server.client().await;
    produce(&mut client, 9, "times", 0, batch(&[("a", "1"), ("b", "2")])).await; // ts 1000, 1001
    produce(&mut client, 9, "times", 0, batch(&[("c", "3")])).await; // ts 1000 at offset 2
    let ask = |timestamps: &[i64]| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic_name("times"))
                    .with_partitions(
                        timestamps
                            .iter()
                            .map(|ts| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(0)
                                    .with_timestamp(*ts)
                            })
                            .collect(),
                    ),
            ])
    };
    for version in [1, 4, 7] {
        let mut answers = Vec::new();
        for ts in [-2, -1, 1001, 5000] {
            let response: ListOffsetsResponse = client.call(ApiKey::ListOffsets, version, &ask(&[ts])).await;
            let p = &response.topics[0].partitions[0];
            assert_eq!(p.error_code, 0, "v{version} ts {ts}");
            answers.push(p.offset);
        }
        assert_eq!(answers, vec![0, 3, 1, -1], "v{version}");
    }
    let response: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 7, &ask(&[-3])).await;
    let p = &response.topics[0].partitions[0];
    assert_eq!((p.offset, p.timestamp), (1, 1001));
    let missing = ListOffsetsRequest::default().with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(topic_name("times"))
            .with_partitions(vec![
                ListOffsetsPartition::default()
                    .with_partition_index(9)
                    .with_timestamp(-1),
            ]),
    ]);
    let response: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 5, &missing).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 3);
}

#[tokio::test]
async fn this_node_coordinates_groups_and_hands_out_producer_ids() {
    let server = Server::start().await;
    let mut client = server.client().await;
    for version in 0..=3 {
        let request = FindCoordinatorRequest::default().with_key(s("g"));
        let response: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, version, &request).await;
        assert_eq!((response.error_code, response.node_id.0), (0, NODE), "v{version}");
        assert_eq!(response.port, i32::from(server.addr.port()));
    }
    let batched = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")]);
    let response: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &batched).await;
    assert_eq!(response.coordinators.len(), 2);
    assert!(
        response
            .coordinators
            .iter()
            .all(|c| c.error_code == 0 && c.host.as_str() == "127.0.0.1")
    );
    let transactional = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s("tx")]);
    let response: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &transactional).await;
    assert_eq!(
        (
            response.coordinators[0].error_code,
            response.coordinators[0].node_id.0
        ),
        (0, NODE)
    );
    let unknown_type = FindCoordinatorRequest::default()
        .with_key_type(7)
        .with_key(s("x"));
    let response: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 3, &unknown_type).await;
    assert_eq!(response.error_code, 42, "INVALID_REQUEST");

    let mut ids = Vec::new();
    for version in [0, 2, 4] {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, version, &request).await;
        assert_eq!((response.error_code, response.producer_epoch), (0, 0));
        ids.push(response.producer_id.0);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // A transactional id gets its producer id from the transaction coordinator, epoch 0 first.
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx"))))
        .with_transaction_timeout_ms(60_000);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(response.error_code, 0);
    assert!(response.producer_id.0 >= 0 && !ids.contains(&response.producer_id.0));
    assert_eq!(response.producer_epoch, 0);
}

// ---- groups ----------------------------------------------------------------------------------

/// One member's life in a group, at the given versions of the group APIs: join (with KIP-394's
/// member-id round trip where the version has it), sync, heartbeat, commit, fetch, leave.
async fn member_lifecycle(
    client: &mut Client,
    group: &str,
    join_v: i16,
    sync_v: i16,
    hb_v: i16,
    commit_v: i16,
) {
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ]);
    let mut joined: JoinGroupResponse = client.call(ApiKey::JoinGroup, join_v, &join).await;
    if join_v >= 4 {
        assert_eq!(joined.error_code, 79, "MEMBER_ID_REQUIRED");
        let rejoin = join.clone().with_member_id(joined.member_id.clone());
        joined = client.call(ApiKey::JoinGroup, join_v, &rejoin).await;
    }
    assert_eq!(joined.error_code, 0, "join v{join_v}");
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    let member = joined.member_id.clone();

    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(1)
        .with_member_id(member.clone())
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(member.clone())
                .with_assignment(Bytes::from_static(b"p0")),
        ]);
    let synced: SyncGroupResponse = client.call(ApiKey::SyncGroup, sync_v, &sync).await;
    assert_eq!(
        (synced.error_code, &synced.assignment[..]),
        (0, &b"p0"[..]),
        "sync v{sync_v}"
    );

    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(1)
        .with_member_id(member.clone());
    let beat: HeartbeatResponse = client.call(ApiKey::Heartbeat, hb_v, &heartbeat).await;
    assert_eq!(beat.error_code, 0);
    let stale: HeartbeatResponse = client
        .call(ApiKey::Heartbeat, hb_v, &heartbeat.with_generation_id(7))
        .await;
    assert_eq!(stale.error_code, 22, "ILLEGAL_GENERATION");

    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(1)
        .with_member_id(member.clone())
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(42)
                        .with_committed_metadata(Some(s("m"))),
                ]),
        ]);
    let committed: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, commit_v, &commit).await;
    assert_eq!(
        committed.topics[0].partitions[0].error_code, 0,
        "commit v{commit_v}"
    );

    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let fetched: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 5, &fetch).await;
    let offsets: Vec<i64> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, vec![42, -1]);

    let leave = if join_v >= 3 {
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(member.clone()),
            ])
    } else {
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(member.clone())
    };
    let leave_v = if join_v >= 3 { 5 } else { 0 };
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, leave_v, &leave).await;
    assert_eq!(left.error_code, 0);
    assert!(left.members.iter().all(|m| m.error_code == 0));
}

#[tokio::test]
async fn a_member_joins_syncs_commits_and_leaves_at_old_and_new_versions() {
    let server = Server::start().await;
    let mut client = server.client().await;
    member_lifecycle(&mut client, "old", 0, 0, 0, 2).await;
    member_lifecycle(&mut client, "new", 9, 5, 4, 8).await;

    // Batched OffsetFetch (v8): both groups at once, every committed partition.
    let batched = OffsetFetchRequest::default().with_groups(
        ["old", "new", "none"]
            .iter()
            .map(|g| {
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(g)))
                    .with_topics(None)
            })
            .collect(),
    );
    let fetched: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 8, &batched).await;
    let committed: Vec<usize> = fetched.groups.iter().map(|g| g.topics.len()).collect();
    assert_eq!(committed, vec![1, 1, 0]);
    assert_eq!(fetched.groups[1].topics[0].partitions[0].committed_offset, 42);

    let listed: ListGroupsResponse = client
        .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    let mut names: Vec<_> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_state.as_str()))
        .collect();
    names.sort();
    assert_eq!(names, vec![("new", "Empty"), ("old", "Empty")]);
    let stable = ListGroupsRequest::default().with_states_filter(vec![s("Stable")]);
    let listed: ListGroupsResponse = client.call(ApiKey::ListGroups, 4, &stable).await;
    assert!(listed.groups.is_empty());

    let describe = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("new"))]);
    let described: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &describe).await;
    assert_eq!(
        (
            described.groups[0].group_state.as_str(),
            described.groups[0].protocol_type.as_str()
        ),
        ("Empty", "consumer")
    );

    let delete_offsets = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("old")))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    let deleted: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &delete_offsets).await;
    assert_eq!(
        (deleted.error_code, deleted.topics[0].partitions[0].error_code),
        (0, 0)
    );

    let delete =
        DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("new")), GroupId(s("missing"))]);
    let deleted: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &delete).await;
    let codes: Vec<i16> = deleted.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, 69], "GROUP_ID_NOT_FOUND for the missing group");
}

// ---- admin -----------------------------------------------------------------------------------

#[tokio::test]
async fn topics_are_created_configured_grown_trimmed_and_deleted() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let creatable = |name: &str, partitions: i32, configs: &[(&str, &str)]| {
        create_topics_request::CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(-1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        create_topics_request::CreatableTopicConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            )
    };
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![
            creatable("admin", 2, &[("retention.ms", "1000")]),
            creatable("bad name", 1, &[]),
            creatable("no-such-config", 1, &[("no.such", "1")]),
        ]);
    let created: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 7, &request).await;
    let codes: Vec<i16> = created.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, 17, 40]);
    assert_eq!(
        (
            created.topics[0].num_partitions,
            created.topics[0].replication_factor
        ),
        (2, 1)
    );
    assert!(!created.topics[0].topic_id.is_nil());
    let again: CreateTopicsResponse = client
        .call(
            ApiKey::CreateTopics,
            2,
            &CreateTopicsRequest::default().with_topics(vec![creatable("admin", 1, &[])]),
        )
        .await;
    assert_eq!(again.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");
    let validate = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![creatable("dry", 1, &[])]);
    let validated: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 5, &validate).await;
    assert_eq!(validated.topics[0].error_code, 0);
    assert!(server.cluster.broker().topic("dry").is_err());

    let resource = |keys: Option<Vec<StrBytes>>| {
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("admin"))
            .with_configuration_keys(keys)
    };
    let described: DescribeConfigsResponse = client
        .call(
            ApiKey::DescribeConfigs,
            4,
            &DescribeConfigsRequest::default().with_resources(vec![resource(Some(vec![s("retention.ms")]))]),
        )
        .await;
    let entry = &described.results[0].configs[0];
    assert_eq!(
        (entry.name.as_str(), entry.value.as_deref(), entry.config_source),
        ("retention.ms", Some("1000"), 1)
    );

    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("admin"))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_config_operation(1),
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("cleanup.policy"))
                    .with_config_operation(0)
                    .with_value(Some(s("compact"))),
            ]),
    ]);
    let altered: IncrementalAlterConfigsResponse =
        client.call(ApiKey::IncrementalAlterConfigs, 1, &alter).await;
    assert_eq!(altered.responses[0].error_code, 0);
    let config = server.cluster.broker().topic("admin").unwrap().config();
    assert_eq!(
        config.overrides,
        BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())])
    );

    let grow = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(topic_name("admin"))
            .with_count(4),
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(topic_name("admin"))
            .with_count(1),
    ]);
    let grown: CreatePartitionsResponse = client.call(ApiKey::CreatePartitions, 3, &grow).await;
    let codes: Vec<i16> = grown.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, 37]);
    assert_eq!(
        server.cluster.broker().topic("admin").unwrap().partition_count(),
        4
    );

    produce(
        &mut client,
        9,
        "admin",
        3,
        batch(&[("k", "a"), ("k", "b"), ("k", "c")]),
    )
    .await;
    let trim = DeleteRecordsRequest::default().with_topics(vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(topic_name("admin"))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(3)
                    .with_offset(2),
            ]),
    ]);
    let trimmed: DeleteRecordsResponse = client.call(ApiKey::DeleteRecords, 2, &trim).await;
    let p = &trimmed.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 2));

    let delete =
        DeleteTopicsRequest::default().with_topic_names(vec![topic_name("admin"), topic_name("gone")]);
    let deleted: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 5, &delete).await;
    let codes: Vec<i16> = deleted.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, 3]);
    assert!(server.cluster.broker().topic("admin").is_err());
}

/// Every advertised version of every API answers a minimal request with a response that
/// decodes at that version: nothing is advertised that the server cannot encode.
#[tokio::test]
async fn every_advertised_version_answers() {
    let server = Server::start().await;
    server.cluster.admin().create_topic("any", 1, []).unwrap();
    let mut client = server.client().await;
    for (api, min, max) in stream_core::server::SUPPORTED_APIS {
        for version in *min..=*max {
            macro_rules! call {
                ($request:expr, $response:ty) => {{
                    let _: $response = client.call(*api, version, &$request).await;
                }};
            }
            let group = GroupId(s("sweep"));
            match api {
                ApiKey::Produce => call!(
                    produce_request(1, "any", vec![(0, batch(&[("k", "v")]))]),
                    ProduceResponse
                ),
                ApiKey::Fetch => call!(fetch_request("any", 0, 0, 0), FetchResponse),
                ApiKey::ListOffsets => call!(ListOffsetsRequest::default(), ListOffsetsResponse),
                ApiKey::Metadata => call!(MetadataRequest::default(), MetadataResponse),
                ApiKey::OffsetCommit => call!(
                    OffsetCommitRequest::default().with_group_id(group),
                    OffsetCommitResponse
                ),
                ApiKey::OffsetFetch if version >= 8 => call!(
                    OffsetFetchRequest::default().with_groups(vec![
                        offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group)
                    ]),
                    OffsetFetchResponse
                ),
                ApiKey::OffsetFetch => call!(
                    OffsetFetchRequest::default().with_group_id(group),
                    OffsetFetchResponse
                ),
                ApiKey::FindCoordinator if version >= 4 => call!(
                    FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")]),
                    FindCoordinatorResponse
                ),
                ApiKey::FindCoordinator => call!(
                    FindCoordinatorRequest::default().with_key(s("g")),
                    FindCoordinatorResponse
                ),
                ApiKey::JoinGroup => call!(
                    JoinGroupRequest::default().with_group_id(group),
                    JoinGroupResponse
                ),
                ApiKey::Heartbeat => call!(
                    HeartbeatRequest::default().with_group_id(group),
                    HeartbeatResponse
                ),
                ApiKey::LeaveGroup => call!(
                    LeaveGroupRequest::default().with_group_id(group),
                    LeaveGroupResponse
                ),
                ApiKey::SyncGroup => call!(
                    SyncGroupRequest::default().with_group_id(group),
                    SyncGroupResponse
                ),
                ApiKey::DescribeGroups => call!(
                    DescribeGroupsRequest::default().with_groups(vec![group]),
                    DescribeGroupsResponse
                ),
                ApiKey::ListGroups => call!(ListGroupsRequest::default(), ListGroupsResponse),
                ApiKey::ApiVersions => call!(ApiVersionsRequest::default(), ApiVersionsResponse),
                ApiKey::CreateTopics => call!(CreateTopicsRequest::default(), CreateTopicsResponse),
                ApiKey::DeleteTopics => call!(DeleteTopicsRequest::default(), DeleteTopicsResponse),
                ApiKey::DeleteRecords => call!(DeleteRecordsRequest::default(), DeleteRecordsResponse),
                ApiKey::InitProducerId => call!(InitProducerIdRequest::default(), InitProducerIdResponse),
                ApiKey::AddPartitionsToTxn => {
                    call!(AddPartitionsToTxnRequest::default(), AddPartitionsToTxnResponse)
                }
                ApiKey::AddOffsetsToTxn => call!(
                    AddOffsetsToTxnRequest::default().with_group_id(group),
                    AddOffsetsToTxnResponse
                ),
                ApiKey::EndTxn => call!(EndTxnRequest::default(), EndTxnResponse),
                ApiKey::TxnOffsetCommit => call!(
                    TxnOffsetCommitRequest::default().with_group_id(group),
                    TxnOffsetCommitResponse
                ),
                ApiKey::DescribeConfigs => call!(DescribeConfigsRequest::default(), DescribeConfigsResponse),
                ApiKey::CreatePartitions => {
                    call!(CreatePartitionsRequest::default(), CreatePartitionsResponse)
                }
                ApiKey::DeleteGroups => call!(
                    DeleteGroupsRequest::default().with_groups_names(vec![group]),
                    DeleteGroupsResponse
                ),
                ApiKey::IncrementalAlterConfigs => call!(
                    IncrementalAlterConfigsRequest::default(),
                    IncrementalAlterConfigsResponse
                ),
                ApiKey::OffsetDelete => call!(
                    OffsetDeleteRequest::default().with_group_id(group),
                    OffsetDeleteResponse
                ),
                other => panic!("{other:?} is advertised but not covered here"),
            }
        }
    }
}

// ---- a real client ---------------------------------------------------------------------------

fn kcat() -> Option<std::path::PathBuf> {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v kcat"])
        .output()
        .ok()?;
    let path = String::from_utf8(found.stdout).ok()?;
    let path = path.trim();
    (found.status.success() && !path.is_empty()).then(|| path.into())
}

async fn run_kcat(kcat: &std::path::Path, args: Vec<String>, stdin: Option<String>) -> String {
    let kcat = kcat.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(kcat)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
        drop(input);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "kcat {args:?} failed: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_lists_produces_and_consumes_keyed_records_with_headers() {
    let Some(kcat) = kcat() else {
        println!("skipping: kcat not found (apt-get install kcat)");
        return;
    };
    let server = Server::start().await;
    server.cluster.admin().create_topic("kcat", 2, []).unwrap();
    let broker = format!("127.0.0.1:{}", server.addr.port());
    let listing = run_kcat(&kcat, vec!["-b".into(), broker.clone(), "-L".into()], None).await;
    assert!(listing.contains("topic \"kcat\" with 2 partitions"), "{listing}");

    let records: String = (0..20).map(|i| format!("key{i}\tvalue {i}\n")).collect();
    let produce_args = [
        "-P",
        "-t",
        "kcat",
        "-K",
        "\t",
        "-H",
        "origin=kcat",
        "-X",
        "enable.idempotence=true",
    ];
    let mut args = vec!["-b".to_string(), broker.clone()];
    args.extend(produce_args.iter().map(|a| a.to_string()));
    run_kcat(&kcat, args, Some(records)).await;

    let consume_args = [
        "-C",
        "-t",
        "kcat",
        "-o",
        "beginning",
        "-e",
        "-f",
        "%k|%s|%h|%p\\n",
    ];
    let mut args = vec!["-b".to_string(), broker];
    args.extend(consume_args.iter().map(|a| a.to_string()));
    let consumed = run_kcat(&kcat, args, None).await;
    let mut lines: Vec<&str> = consumed.lines().collect();
    assert_eq!(lines.len(), 20, "{consumed}");
    lines.sort_by_key(|l| l.split('|').next().and_then(|k| k[3..].parse::<u32>().ok()));
    for (i, line) in lines.iter().enumerate() {
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(
            &parts[..3],
            &[
                format!("key{i}").as_str(),
                format!("value {i}").as_str(),
                "origin=kcat"
            ]
        );
    }
}
