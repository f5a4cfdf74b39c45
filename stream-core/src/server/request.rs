//! One request frame: header, version check, structural precheck, decode, dispatch to the
//! API's handler, and the response frame.
//!
//! Anything that does not parse closes the connection (Kafka does the same: a peer that sends
//! bytes it cannot frame or decode is not a client to reason with). The one exception is an
//! ApiVersions request of a version this broker does not know: it is answered (KIP-511).

use std::panic::AssertUnwindSafe;

use bytes::{BufMut, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::api::{self, Context};
use super::frame::{ResponseFrame, Splice, SplicingBuf};
use super::precheck::{self, Malformed};
use super::versions;

/// What the connection does after a request.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Send this frame (length prefix included).
    Respond(ResponseFrame),
    /// Nothing to send (Produce with acks=0).
    Silent,
    Close(CloseReason),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a connection is closed after a request.
#[derive(Debug, thiserror::Error)]
pub(super) enum CloseReason {
    #[error("frame of {len} bytes is too short for a request header")]
    TooShort { len: usize },
    #[error("unknown API key {key}")]
    UnknownApi { key: i16 },
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed request header")]
    BadHeader(#[source] BoxError),
    #[error("malformed {api:?} v{version} request")]
    Malformed {
        api: ApiKey,
        version: i16,
        #[source]
        source: Malformed,
    },
    #[error("{api:?} v{version} request does not decode")]
    Decode {
        api: ApiKey,
        version: i16,
        #[source]
        source: BoxError,
    },
    #[error("{api:?} v{version} response does not encode (a server bug)")]
    Encode {
        api: ApiKey,
        version: i16,
        #[source]
        source: BoxError,
    },
    /// acks=0 produce failed: Kafka closes the connection so the producer notices.
    #[error("produce with acks=0 failed for at least one partition")]
    FailedFireAndForget,
}

/// Handles one frame (without its length prefix).
pub(super) async fn handle(context: &Context, client_host: &str, frame: Bytes) -> Outcome {
    match dispatch(context, client_host, frame).await {
        Ok(outcome) => outcome,
        Err(reason) => Outcome::Close(reason),
    }
}

async fn dispatch(context: &Context, client_host: &str, frame: Bytes) -> Result<Outcome, CloseReason> {
    let (Some(key), Some(version)) = (read_i16(&frame, 0), read_i16(&frame, 2)) else {
        return Err(CloseReason::TooShort { len: frame.len() });
    };
    let api = ApiKey::try_from(key).map_err(|()| CloseReason::UnknownApi { key })?;
    if !versions::is_supported(api, version) {
        if api == ApiKey::ApiVersions {
            // KIP-511: whatever the header version, the correlation id follows key and version.
            let correlation_id = read_i32(&frame, 4).ok_or(CloseReason::TooShort { len: frame.len() })?;
            let header = RequestHeader::default().with_correlation_id(correlation_id);
            let request = Request {
                context,
                client_host,
                header: &header,
                api,
                version: 0,
            };
            return request.respond(&api::api_versions::unsupported());
        }
        return Err(CloseReason::UnsupportedVersion { api, version });
    }
    let mut body = frame;
    let header = decode_with(&mut body, |b| {
        RequestHeader::decode(b, api.request_header_version(version))
    })
    .map_err(CloseReason::BadHeader)?;
    precheck::check(api, version, &body).map_err(|source| CloseReason::Malformed { api, version, source })?;
    let request = Request {
        context,
        client_host,
        header: &header,
        api,
        version,
    };

    // Each arm decodes the body as the API's request type and answers with its handler.
    macro_rules! serve {
        ($handler:path) => {{
            let decoded = request.decode(&mut body)?;
            let response = $handler(&request, decoded).await;
            request.respond(&response)
        }};
    }
    match api {
        ApiKey::ApiVersions => serve!(api::api_versions::handle),
        ApiKey::Metadata => serve!(api::metadata::handle),
        ApiKey::Produce => {
            let decoded = request.decode(&mut body)?;
            match api::produce::handle(&request, decoded).await {
                api::produce::Answer::Respond(response) => request.respond(&response),
                api::produce::Answer::Silent => Ok(Outcome::Silent),
                api::produce::Answer::Failed => Err(CloseReason::FailedFireAndForget),
            }
        }
        ApiKey::Fetch => {
            let decoded = request.decode(&mut body)?;
            let (response, splices) = api::fetch::handle(&request, decoded).await;
            request.respond_splicing(&response, &splices)
        }
        ApiKey::ListOffsets => serve!(api::list_offsets::handle),
        ApiKey::FindCoordinator => serve!(api::find_coordinator::handle),
        ApiKey::InitProducerId => serve!(api::init_producer_id::handle),
        ApiKey::AddPartitionsToTxn => serve!(api::add_partitions_to_txn::handle),
        ApiKey::AddOffsetsToTxn => serve!(api::add_offsets_to_txn::handle),
        ApiKey::EndTxn => serve!(api::end_txn::handle),
        ApiKey::TxnOffsetCommit => serve!(api::txn_offset_commit::handle),
        ApiKey::JoinGroup => serve!(api::join_group::handle),
        ApiKey::SyncGroup => serve!(api::sync_group::handle),
        ApiKey::Heartbeat => serve!(api::heartbeat::handle),
        ApiKey::LeaveGroup => serve!(api::leave_group::handle),
        ApiKey::OffsetCommit => serve!(api::offset_commit::handle),
        ApiKey::OffsetFetch => serve!(api::offset_fetch::handle),
        ApiKey::ListGroups => serve!(api::list_groups::handle),
        ApiKey::DescribeGroups => serve!(api::describe_groups::handle),
        ApiKey::DeleteGroups => serve!(api::delete_groups::handle),
        ApiKey::OffsetDelete => serve!(api::offset_delete::handle),
        ApiKey::CreateTopics => serve!(api::create_topics::handle),
        ApiKey::DeleteTopics => serve!(api::delete_topics::handle),
        ApiKey::CreatePartitions => serve!(api::create_partitions::handle),
        ApiKey::DescribeConfigs => serve!(api::describe_configs::handle),
        ApiKey::IncrementalAlterConfigs => serve!(api::incremental_alter_configs::handle),
        ApiKey::DeleteRecords => serve!(api::delete_records::handle),
        // The version table and this match list the same APIs; a key in one and not the
        // other is a bug, answered like an unsupported version.
        _ => Err(CloseReason::UnsupportedVersion { api, version }),
    }
}

/// A decoded request's context, handed to the API handlers.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub context: &'a Context,
    pub client_host: &'a str,
    pub header: &'a RequestHeader,
    pub api: ApiKey,
    pub version: i16,
}

impl Request<'_> {
    fn decode<T: Decodable>(&self, body: &mut Bytes) -> Result<T, CloseReason> {
        decode_with(body, |b| T::decode(b, self.version)).map_err(|source| CloseReason::Decode {
            api: self.api,
            version: self.version,
            source,
        })
    }

    /// Encodes `response` behind its response header and the frame's length prefix.
    pub(super) fn respond<R: Encodable>(&self, response: &R) -> Result<Outcome, CloseReason> {
        self.respond_splicing(response, &[])
    }

    /// As [`Request::respond`], leaving the runs in `splice` (record batches the response
    /// holds, or stand-ins for them) out of the copy: the frame references them (see
    /// [`super::frame`]).
    pub(super) fn respond_splicing<R: Encodable>(
        &self,
        response: &R,
        splice: &[Splice],
    ) -> Result<Outcome, CloseReason> {
        let encode_error = |source: BoxError| CloseReason::Encode {
            api: self.api,
            version: self.version,
            source,
        };
        let header = ResponseHeader::default().with_correlation_id(self.header.correlation_id);
        let header_version = self.api.response_header_version(self.version);
        let size = header
            .compute_size(header_version)
            .and_then(|h| Ok(h + response.compute_size(self.version)?))
            .map_err(|e| encode_error(e.into()))?;
        let prefix = i32::try_from(size).map_err(|e| encode_error(e.into()))?;
        let spliced: usize = splice.iter().map(|s| s.stand_in.len()).sum();
        let mut buf = SplicingBuf::new((4 + size).saturating_sub(spliced), splice);
        buf.put_i32(prefix);
        header
            .encode(&mut buf, header_version)
            .and_then(|()| response.encode(&mut buf, self.version))
            .map_err(|e| encode_error(e.into()))?;
        let frame = buf
            .finish()
            .ok_or_else(|| encode_error("the encoder rewrote or copied a spliced run".into()))?;
        if frame.len() != 4 + size {
            return Err(encode_error(
                format!("encoded {} bytes for a frame of {}", frame.len(), 4 + size).into(),
            ));
        }
        Ok(Outcome::Respond(frame))
    }
}

/// Runs a kafka-protocol decoder, turning a panic inside it (none is known after the precheck;
/// this is the last line of defence) into an error for this connection alone.
fn decode_with<T, E: Into<BoxError>>(
    body: &mut Bytes,
    decode: impl FnOnce(&mut Bytes) -> Result<T, E>,
) -> Result<T, BoxError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| decode(body))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.into()),
        Err(_panic) => Err("the decoder panicked".into()),
    }
}

fn read_i16(frame: &[u8], at: usize) -> Option<i16> {
    let bytes = frame.get(at..at + 2)?;
    Some(i16::from_be_bytes([bytes[0], bytes[1]]))
}

fn read_i32(frame: &[u8], at: usize) -> Option<i32> {
    let bytes = frame.get(at..at + 4)?;
    Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}
