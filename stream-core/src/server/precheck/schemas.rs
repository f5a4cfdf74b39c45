//! The request schemas the precheck walks. `stream-core/build.rs` generates them from Kafka's
//! JSON message specs in `stream-core/protocol/` (one module per spec, one `&[Field]` table per
//! struct); nothing here is transcribed by hand. A field whose encoding changes with flexible
//! versions (compact strings and arrays) is one entry; the walker picks the encoding.

use std::ops::RangeInclusive;

use kafka_protocol::messages::ApiKey;

use super::{Field, Kind, f};

/// The layout of one request, from its spec.
#[derive(Debug)]
pub(super) struct Schema {
    api_key: i16,
    /// The spec's `validVersions`. Open-ended fields ("3+") end at its highest version, so a
    /// later version, whose layout the spec does not describe, is refused rather than guessed.
    pub(super) versions: RangeInclusive<i16>,
    /// The first flexible version (KIP-482); `i16::MAX` when none is.
    pub(super) first_flexible: i16,
    pub(super) fields: &'static [Field],
}

include!(concat!(env!("OUT_DIR"), "/request_schemas.rs"));

/// The schema of request `api`, if its spec is in `stream-core/protocol/`.
pub(super) fn schema(api: ApiKey) -> Option<&'static Schema> {
    // kafka-protocol's `ApiKey` discriminants are the wire api keys.
    let key = api as i16;
    SCHEMAS
        .binary_search_by_key(&key, |schema| schema.api_key)
        .ok()
        .map(|i| &SCHEMAS[i])
}
