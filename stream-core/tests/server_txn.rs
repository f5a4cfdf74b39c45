//! The transactional wire APIs, spoken to in raw bytes over a real socket on 127.0.0.1:0:
//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn, and what
//! transactions change in Produce, Fetch, ListOffsets and OffsetFetch — with the error codes
//! each answers at old and new versions.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use storage::record::{BatchBuilder, Compression};

mod support;
use support::{Client, Server};

/// The node id the broker runs with by default (BrokerConfig::new).
const NODE: i32 = 1;

// ---- harness ---------------------------------------------------------------------------------

/// A broker with topic `t` of two partitions.
async fn start() -> Server {
    let server = Server::start().await;
    server.cluster.admin().create_topic("t", 2, []).unwrap();
    server
}

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn txn_id(value: &str) -> TransactionalId {
    TransactionalId(s(value))
}

// ---- the transactional calls -----------------------------------------------------------------

const TIMEOUT_MS: i32 = 60_000;

/// InitProducerId for `id` at v4: (error, producer id, epoch).
async fn init(client: &mut Client, id: &str) -> (i16, i64, i16) {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(TIMEOUT_MS);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &request).await;
    (
        response.error_code,
        response.producer_id.0,
        response.producer_epoch,
    )
}

/// AddPartitionsToTxn: each requested (topic, partition)'s error code, in request order.
async fn add_partitions(
    client: &mut Client,
    version: i16,
    (id, pid, epoch): (&str, i64, i16),
    partitions: &[(&str, i32)],
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (topic, partition) in partitions {
        match topics.iter_mut().find(|t| t.name.as_str() == *topic) {
            Some(t) => t.partitions.push(*partition),
            None => topics.push(
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![*partition]),
            ),
        }
    }
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics);
    let response: AddPartitionsToTxnResponse =
        client.call(ApiKey::AddPartitionsToTxn, version, &request).await;
    response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.partition_error_code))
        })
        .collect()
}

async fn add_offsets(
    client: &mut Client,
    version: i16,
    (id, pid, epoch): (&str, i64, i16),
    group: &str,
) -> i16 {
    let request = AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(s(group)));
    let response: AddOffsetsToTxnResponse = client.call(ApiKey::AddOffsetsToTxn, version, &request).await;
    response.error_code
}

async fn end(client: &mut Client, version: i16, (id, pid, epoch): (&str, i64, i16), commit: bool) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let response: EndTxnResponse = client.call(ApiKey::EndTxn, version, &request).await;
    response.error_code
}

/// TxnOffsetCommit of `offset` for each (topic, partition): their error codes.
async fn txn_commit(
    client: &mut Client,
    version: i16,
    (id, pid, epoch): (&str, i64, i16),
    group: &str,
    partitions: &[(&str, i32, i64)],
) -> Vec<i16> {
    let topics = partitions
        .iter()
        .map(|(topic, partition, offset)| {
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(*partition)
                        .with_committed_offset(*offset)
                        .with_committed_metadata(Some(s("m"))),
                ])
        })
        .collect();
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(txn_id(id))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_topics(topics);
    let response: TxnOffsetCommitResponse = client.call(ApiKey::TxnOffsetCommit, version, &request).await;
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// A transactional batch of `count` records from the producer, starting at `sequence`.
fn txn_batch(pid: i64, epoch: i16, sequence: i32, count: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None)
        .with_producer(pid, epoch, sequence)
        .with_transactional(true);
    // Current timestamps: a batch from 1970 would make the marker after it roll a new segment
    // (segment.ms counts from the first record's timestamp), and a fetch reads one segment.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for i in 0..count {
        builder.append(now + i as i64, Some(format!("k{i}").as_bytes()), Some(b"v"), &[]);
    }
    builder.build()
}

/// Produce of one batch to `t`-`partition` under transactional id `id`: (error, base offset).
async fn produce(client: &mut Client, version: i16, id: &str, partition: i32, batch: Vec<u8>) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s("t")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(Bytes::from(batch))),
                ]),
        ]);
    let response: ProduceResponse = client.call(ApiKey::Produce, version, &request).await;
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;

/// Fetch v11 of `t`-`partition` from offset 0.
async fn fetch(client: &mut Client, partition: i32, isolation: i8) -> fetch_response::PartitionData {
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(s("t")))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let mut response: FetchResponse = client.call(ApiKey::Fetch, 11, &request).await;
    assert_eq!(response.error_code, 0);
    response.responses.remove(0).partitions.remove(0)
}

/// ListOffsets v5 latest of `t`-`partition`.
async fn latest(client: &mut Client, partition: i32, isolation: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(-1),
                ]),
        ]);
    let response: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 5, &request).await;
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// Record batches (base offset, whether a control batch) in fetched bytes.
fn batches(records: &Bytes) -> Vec<(i64, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let header = storage::record::BatchHeader::parse(&records[at..]).unwrap();
        out.push((header.base_offset, header.attributes.control));
        at += header.size();
    }
    out
}

// Wire error codes.
const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REQUEST: i16 = 42;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTION_ABORTABLE: i16 = 120;

// ---- tests -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_committed_transaction_is_invisible_to_read_committed_until_its_end_txn() {
    let server = start().await;
    let mut client = server.client().await;
    let (error, pid, epoch) = init(&mut client, "tx").await;
    assert_eq!((error, epoch), (NONE, 0));
    let me = ("tx", pid, epoch);
    assert_eq!(
        add_partitions(&mut client, 3, me, &[("t", 0)]).await,
        vec![("t".to_string(), 0, NONE)]
    );
    assert_eq!(
        produce(&mut client, 9, "tx", 0, txn_batch(pid, epoch, 0, 3)).await,
        (NONE, 0)
    );

    // Open: read_uncommitted sees the records (with a null aborted list), read_committed stops
    // at the last stable offset, 0, and ListOffsets answers the same ends.
    let uncommitted = fetch(&mut client, 0, READ_UNCOMMITTED).await;
    assert_eq!(
        (uncommitted.high_watermark, uncommitted.last_stable_offset),
        (3, 0)
    );
    assert_eq!(batches(uncommitted.records.as_ref().unwrap()), vec![(0, false)]);
    assert_eq!(uncommitted.aborted_transactions, None);
    let committed = fetch(&mut client, 0, READ_COMMITTED).await;
    assert_eq!(committed.last_stable_offset, 0);
    assert!(batches(committed.records.as_ref().unwrap()).is_empty());
    assert_eq!(latest(&mut client, 0, READ_UNCOMMITTED).await, 3);
    assert_eq!(latest(&mut client, 0, READ_COMMITTED).await, 0);

    assert_eq!(end(&mut client, 3, me, true).await, NONE);
    // A retried EndTxn of the same outcome succeeds again.
    assert_eq!(end(&mut client, 3, me, true).await, NONE);
    let committed = fetch(&mut client, 0, READ_COMMITTED).await;
    assert_eq!((committed.high_watermark, committed.last_stable_offset), (4, 4));
    assert_eq!(
        batches(committed.records.as_ref().unwrap()),
        vec![(0, false), (3, true)]
    );
    assert_eq!(committed.aborted_transactions, Some(Vec::new()));
    assert_eq!(latest(&mut client, 0, READ_COMMITTED).await, 4);
    server.shutdown().await;
}

#[tokio::test]
async fn an_aborted_transaction_is_listed_to_read_committed_fetches_only() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, pid, epoch) = init(&mut client, "tx").await;
    let me = ("tx", pid, epoch);
    add_partitions(&mut client, 3, me, &[("t", 1)]).await;
    assert_eq!(
        produce(&mut client, 9, "tx", 1, txn_batch(pid, epoch, 0, 2)).await,
        (NONE, 0)
    );
    assert_eq!(end(&mut client, 3, me, false).await, NONE);
    // Committing what was aborted is refused.
    assert_eq!(end(&mut client, 3, me, true).await, INVALID_TXN_STATE);

    let committed = fetch(&mut client, 1, READ_COMMITTED).await;
    assert_eq!(committed.last_stable_offset, 3);
    assert_eq!(
        batches(committed.records.as_ref().unwrap()),
        vec![(0, false), (2, true)]
    );
    let aborted = committed.aborted_transactions.unwrap();
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (pid, 0));
    let uncommitted = fetch(&mut client, 1, READ_UNCOMMITTED).await;
    assert_eq!(uncommitted.aborted_transactions, None);
    server.shutdown().await;
}

#[tokio::test]
async fn add_partitions_checks_the_producer_and_that_every_partition_exists() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, pid, epoch) = init(&mut client, "tx").await;

    // A producer id that is not the transactional id's.
    let stranger = add_partitions(&mut client, 3, ("tx", pid + 1000, epoch), &[("t", 0), ("t", 1)]).await;
    assert!(
        stranger.iter().all(|(_, _, e)| *e == INVALID_PRODUCER_ID_MAPPING),
        "{stranger:?}"
    );
    let unknown_id = add_partitions(&mut client, 3, ("nobody", pid, epoch), &[("t", 0)]).await;
    assert_eq!(unknown_id[0].2, INVALID_PRODUCER_ID_MAPPING);

    // One unknown partition fails the request; the others are not attempted (nor added).
    let mixed = add_partitions(
        &mut client,
        3,
        ("tx", pid, epoch),
        &[("t", 0), ("t", 9), ("missing", 0)],
    )
    .await;
    assert_eq!(
        mixed,
        vec![
            ("t".to_string(), 0, OPERATION_NOT_ATTEMPTED),
            ("t".to_string(), 9, UNKNOWN_TOPIC_OR_PARTITION),
            ("missing".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    let (error, _) = produce(&mut client, 9, "tx", 0, txn_batch(pid, epoch, 0, 1)).await;
    assert_eq!(error, INVALID_TXN_STATE, "t-0 was not added");
    server.shutdown().await;
}

#[tokio::test]
async fn a_fenced_producer_is_told_producer_fenced_or_its_older_versions_code() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, pid, old) = init(&mut client, "tx").await;
    add_partitions(&mut client, 3, ("tx", pid, old), &[("t", 0)]).await;
    assert_eq!(
        produce(&mut client, 9, "tx", 0, txn_batch(pid, old, 0, 1))
            .await
            .0,
        NONE
    );
    // A second producer of the id: same producer id, a newer epoch (bumped once to fence the
    // open transaction's abort markers, once more for the new producer, as Kafka does).
    let (error, same, new) = init(&mut client, "tx").await;
    assert_eq!((error, same), (NONE, pid));
    assert!(new > old, "epoch {new} after {old}");
    let zombie = ("tx", pid, old);

    assert_eq!(end(&mut client, 3, zombie, true).await, PRODUCER_FENCED);
    assert_eq!(end(&mut client, 1, zombie, true).await, INVALID_PRODUCER_EPOCH);
    assert_eq!(add_offsets(&mut client, 2, zombie, "g").await, PRODUCER_FENCED);
    assert_eq!(
        add_offsets(&mut client, 0, zombie, "g").await,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        add_partitions(&mut client, 2, zombie, &[("t", 0)]).await[0].2,
        PRODUCER_FENCED
    );
    assert_eq!(
        add_partitions(&mut client, 1, zombie, &[("t", 0)]).await[0].2,
        INVALID_PRODUCER_EPOCH
    );
    // TxnOffsetCommit and Produce never had PRODUCER_FENCED.
    assert_eq!(
        txn_commit(&mut client, 3, zombie, "g", &[("t", 0, 1)]).await,
        vec![INVALID_PRODUCER_EPOCH]
    );
    assert_eq!(
        produce(&mut client, 11, "tx", 0, txn_batch(pid, old, 1, 1))
            .await
            .0,
        INVALID_PRODUCER_EPOCH
    );
    // KIP-360: resuming with a stale epoch is fenced too; with the current one, bumps it.
    let resume = |epoch: i16| {
        InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id("tx")))
            .with_transaction_timeout_ms(TIMEOUT_MS)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    };
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &resume(old)).await;
    assert_eq!(response.error_code, PRODUCER_FENCED);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 3, &resume(old)).await;
    assert_eq!(response.error_code, INVALID_PRODUCER_EPOCH);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &resume(new)).await;
    assert_eq!((response.error_code, response.producer_epoch), (NONE, new + 1));

    // The zombie's open transaction was aborted by the second InitProducerId.
    let fetched = fetch(&mut client, 0, READ_COMMITTED).await;
    assert_eq!(fetched.aborted_transactions.map(|a| a.len()), Some(1));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_init_producer_id_requests_are_answered_with_kafka_codes() {
    let server = start().await;
    let mut client = server.client().await;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id("tx")))
        .with_transaction_timeout_ms(0);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(
        (response.error_code, response.producer_id.0),
        (INVALID_TRANSACTION_TIMEOUT, -1)
    );
    let request = request.with_transaction_timeout_ms(i32::MAX);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 5, &request).await;
    assert_eq!(response.error_code, INVALID_TRANSACTION_TIMEOUT);
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id("")))
        .with_transaction_timeout_ms(TIMEOUT_MS);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(response.error_code, INVALID_REQUEST);
    // KIP-360's producer id without an epoch.
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id("tx")))
        .with_transaction_timeout_ms(TIMEOUT_MS)
        .with_producer_id(ProducerId(5));
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(response.error_code, INVALID_REQUEST);
    server.shutdown().await;
}

#[tokio::test]
async fn writes_outside_the_transaction_are_invalid_txn_state_or_transaction_abortable() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, pid, epoch) = init(&mut client, "tx").await;
    let me = ("tx", pid, epoch);
    // No transaction yet: nothing to end, and no partition was added.
    assert_eq!(end(&mut client, 3, me, true).await, INVALID_TXN_STATE);
    assert_eq!(
        produce(&mut client, 10, "tx", 0, txn_batch(pid, epoch, 0, 1))
            .await
            .0,
        INVALID_TXN_STATE
    );
    assert_eq!(
        produce(&mut client, 11, "tx", 0, txn_batch(pid, epoch, 0, 1))
            .await
            .0,
        TRANSACTION_ABORTABLE
    );
    // An offset commit into a transaction that did not add the group.
    add_partitions(&mut client, 3, me, &[("t", 1)]).await;
    assert_eq!(
        txn_commit(&mut client, 3, me, "g", &[("t", 0, 5)]).await,
        vec![INVALID_TXN_STATE]
    );
    assert_eq!(
        txn_commit(&mut client, 4, me, "g", &[("t", 0, 5)]).await,
        vec![TRANSACTION_ABORTABLE]
    );
    // Nothing of it reached the log.
    assert_eq!(latest(&mut client, 0, READ_UNCOMMITTED).await, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn transactional_offsets_are_unstable_until_the_commit_then_committed() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, pid, epoch) = init(&mut client, "tx").await;
    let me = ("tx", pid, epoch);
    assert_eq!(add_offsets(&mut client, 3, me, "g").await, NONE);
    // An unknown topic fails its partition only.
    let codes = txn_commit(
        &mut client,
        3,
        me,
        "g",
        &[("t", 0, 5), ("missing", 0, 1), ("t", 7, 1)],
    )
    .await;
    assert_eq!(
        codes,
        vec![NONE, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION]
    );

    // (error, committed offset) of t-0 and t-1, at v7 (one group) and v8 (batched).
    async fn offsets(client: &mut Client, version: i16, require_stable: bool) -> Vec<(i16, i64)> {
        let request = if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("g")))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s("t")))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_indexes(vec![0, 1]),
                ]))
        };
        let response: OffsetFetchResponse = client
            .call(
                ApiKey::OffsetFetch,
                version,
                &request.with_require_stable(require_stable),
            )
            .await;
        if version >= 8 {
            let group = &response.groups[0];
            assert_eq!(group.error_code, NONE);
            group.topics[0]
                .partitions
                .iter()
                .map(|p| (p.error_code, p.committed_offset))
                .collect()
        } else {
            assert_eq!(response.error_code, NONE);
            response.topics[0]
                .partitions
                .iter()
                .map(|p| (p.error_code, p.committed_offset))
                .collect()
        }
    }
    for version in [7, 8] {
        assert_eq!(
            offsets(&mut client, version, true).await,
            vec![(UNSTABLE_OFFSET_COMMIT, -1), (NONE, -1)],
            "v{version}, require_stable"
        );
        assert_eq!(
            offsets(&mut client, version, false).await,
            vec![(NONE, -1), (NONE, -1)]
        );
    }
    assert_eq!(end(&mut client, 3, me, true).await, NONE);
    for version in [7, 8] {
        assert_eq!(
            offsets(&mut client, version, true).await,
            vec![(NONE, 5), (NONE, -1)]
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_transaction_coordinator_is_this_node() {
    let server = start().await;
    let mut client = server.client().await;
    for version in 1..=3 {
        let request = FindCoordinatorRequest::default()
            .with_key(s("tx"))
            .with_key_type(1);
        let response: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, version, &request).await;
        assert_eq!(
            (response.error_code, response.node_id.0),
            (NONE, NODE),
            "v{version}"
        );
        assert_eq!(response.port, i32::from(server.addr.port()));
    }
    let request = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s("a"), s("b")]);
    let response: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &request).await;
    assert_eq!(response.coordinators.len(), 2);
    assert!(
        response
            .coordinators
            .iter()
            .all(|c| c.error_code == NONE && c.node_id.0 == NODE)
    );
    server.shutdown().await;
}
