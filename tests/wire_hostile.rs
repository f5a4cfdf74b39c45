//! Hostile input against the real `runnel serve` process: random bytes, truncated frames, a
//! 2 GiB and a negative length prefix, an unknown API key, a corrupt-CRC batch. Afterwards a
//! normal client still produces and consumes, the process did not grow by the claimed sizes,
//! and the log holds nothing from the bad requests.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel::prelude::*;
use support::{Server, have};

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends `bytes` and reports whether the server then closed the connection.
fn closes_after(server: &Server, bytes: &[u8]) -> bool {
    let mut s = connect(server);
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

fn produce_frame(topic: &str, partitions: Vec<(i32, Vec<u8>)>) -> Bytes {
    let data = partitions
        .into_iter()
        .map(|(p, r)| {
            PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(Bytes::from(r)))
        })
        .collect();
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(data),
        ]);
    request_frame(ApiKey::Produce, 9, 7, "hostile", &request)
}

/// `request` behind its header and the frame's length prefix.
fn request_frame(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client: &'static str,
    request: &impl Encodable,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(client)));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, api.request_header_version(version))
        .unwrap();
    request.encode(&mut body, version).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    frame.freeze()
}

fn batch(value: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    b.append(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), &[]);
    b.build()
}

#[test]
fn hostile_frames_close_only_their_connection_and_cost_no_memory() {
    if !have("kcat") {
        eprintln!("SKIPPED: kcat is not installed (scripts/deps.sh installs it)");
        return;
    }
    let server = Server::start(&["num.partitions=2"]);
    let b = server.bootstrap();
    // Create the topic through a normal client first.
    let out = Command::new("kcat")
        .args(["-b", &b, "-P", "-t", "victim", "-p", "0"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let rss_before = server.rss_kib().unwrap();

    // A bystander connection stays open through all of it.
    let bystander = connect(&server);

    let mut random = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random.push(x as u8);
    }
    assert!(closes_after(&server, &random), "random bytes");
    assert!(closes_after(&server, &[0, 0, 0, 100, 0, 0, 0]), "truncated frame");
    assert!(
        closes_after(&server, &0x7fff_ffffi32.to_be_bytes()),
        "2 GiB length prefix"
    );
    assert!(
        closes_after(&server, &(-5i32).to_be_bytes()),
        "negative length prefix"
    );
    let mut unknown = BytesMut::new();
    unknown.put_i32(10);
    unknown.put_i16(999); // api key
    unknown.put_i16(0);
    unknown.put_i32(1);
    unknown.put_i16(-1);
    assert!(closes_after(&server, &unknown), "unknown API key");
    // Many 2 GiB claims in a row: none may be allocated.
    for _ in 0..20 {
        assert!(closes_after(&server, &0x7fff_fff0i32.to_be_bytes()));
    }

    // A corrupt-CRC batch for partition 0 beside a good one for partition 1.
    let mut corrupt = batch("bad");
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let frame = produce_frame("victim", vec![(0, corrupt), (1, batch("good"))]);
    let mut s = connect(&server);
    s.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, ApiKey::Produce.response_header_version(9)).unwrap();
    assert_eq!(header.correlation_id, 7);
    let response = ProduceResponse::decode(&mut body, 9).unwrap();
    let parts = &response.responses[0].partition_responses;
    let code = |p: i32| parts.iter().find(|r| r.index == p).unwrap().error_code;
    assert_eq!(code(0), 2, "CORRUPT_MESSAGE for the bad partition");
    assert_eq!(code(1), 0, "the good partition is written");

    // The process did not grow by anything like the claimed sizes (21 × 2 GiB).
    let rss_after = server.rss_kib().unwrap();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    drop(bystander);

    // A normal client still produces and consumes; partition 0 holds only the good record.
    let out = Command::new("kcat")
        .args(["-b", &b, "-P", "-t", "victim", "-p", "0"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"after\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let consumed = Command::new("kcat")
        .args([
            "-b",
            &b,
            "-C",
            "-t",
            "victim",
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%o:%s\n",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(consumed.stdout).unwrap(),
        "0:after\n",
        "nothing from the bad requests"
    );
}

fn fetch_frame(topic: &str, partitions: i32) -> Bytes {
    use kafka_protocol::messages::FetchRequest;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let version = 11;
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(64 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_partition_max_bytes(16 * 1024 * 1024)
                        })
                        .collect(),
                ),
        ]);
    request_frame(ApiKey::Fetch, version, 9, "hangs-up", &request)
}

/// Fetch responses go out as several runs with vectored writes (the stored batches are not
/// copied into the response). A client that asks for megabytes and hangs up before reading
/// them must cost only its own connection: once, a vectored write to a closed socket raised
/// SIGPIPE and the broker process died of it.
#[test]
fn a_client_hanging_up_during_a_large_fetch_response_leaves_the_broker_serving() {
    let server = Server::start(&["num.partitions=4"]);
    // 4 partitions × ~4 MB stored, so every response is far larger than a socket buffer.
    let value = "v".repeat(1000);
    let mut frames = Vec::new();
    for p in 0..4 {
        for _ in 0..4 {
            let records: Vec<u8> = {
                let mut b = BatchBuilder::new(Compression::None);
                for _ in 0..1000 {
                    b.append(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), &[]);
                }
                b.build()
            };
            frames.push(produce_frame("big", vec![(p, records)]));
        }
    }
    let mut s = connect(&server);
    for f in &frames {
        s.write_all(f).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut rest = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut rest).unwrap();
    }
    drop(s);
    for _ in 0..20 {
        let mut s = connect(&server);
        s.write_all(&fetch_frame("big", 4)).unwrap();
        // Read a little of the answer, then hang up with the rest unsent.
        let mut some = [0u8; 1024];
        s.read_exact(&mut some).unwrap();
        drop(s);
    }
    // The broker still answers a whole fetch (a dead one refuses the connection).
    let mut s = connect(&server);
    s.write_all(&fetch_frame("big", 4)).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let size = i32::from_be_bytes(len) as usize;
    assert!(
        size > 16 * 1000 * 1000,
        "a fetch of 16 MB stored answered with {size} bytes"
    );
    let mut rest = vec![0u8; size];
    s.read_exact(&mut rest).unwrap();
}
