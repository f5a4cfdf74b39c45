//! The Avro serdes against a registry: round trips, the wire header's errors, subject naming,
//! auto-registration, the caches and schema resolution.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use apache_avro::types::Value;
use proptest::prelude::*;
use registry::{RegisteredSchema, Registry, RegistryError, SchemaRegistryClient, SchemaRegistryExt};
use serde::{Deserialize, Serialize};
use stream_core::Cluster;

use super::*;
use crate::serde::{Serde, SerdeError};

/// The real embedded registry, over a fresh broker's `_schemas` topic.
struct Fixture {
    registry: Arc<Registry>,
    cluster: Option<Cluster>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let cluster = runtime.block_on(Cluster::embedded(dir.path())).unwrap();
        let registry = cluster.schema_registry().unwrap();
        Fixture {
            registry,
            cluster: Some(cluster),
            runtime,
            _dir: dir,
        }
    }

    fn client(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Registers as a deploy step would, outside any serde.
    fn register(&self, subject: &str, schema: &str) -> u32 {
        SchemaRegistryClient::register(&*self.registry, subject, schema)
            .unwrap()
            .id
    }

    fn id_of(&self, subject: &str, schema: &str) -> u32 {
        SchemaRegistryClient::lookup(&*self.registry, subject, schema)
            .unwrap()
            .id
    }

    fn subjects(&self) -> Vec<String> {
        let mut s = self.registry.subjects(false);
        s.sort();
        s
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(cluster) = self.cluster.take() {
            self.runtime.block_on(cluster.shutdown());
        }
    }
}

/// Counts the calls that reach the registry behind it.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn SchemaRegistryClient>,
    register: AtomicUsize,
    lookup: AtomicUsize,
    by_id: AtomicUsize,
    latest: AtomicUsize,
}

impl Counting {
    fn new(inner: Arc<dyn SchemaRegistryClient>) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            register: AtomicUsize::new(0),
            lookup: AtomicUsize::new(0),
            by_id: AtomicUsize::new(0),
            latest: AtomicUsize::new(0),
        })
    }

    /// (register, lookup, schema_by_id, latest) calls so far.
    fn calls(&self) -> (usize, usize, usize, usize) {
        (
            self.register.load(Ordering::SeqCst),
            self.lookup.load(Ordering::SeqCst),
            self.by_id.load(Ordering::SeqCst),
            self.latest.load(Ordering::SeqCst),
        )
    }
}

impl SchemaRegistryClient for Counting {
    fn register(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        self.register.fetch_add(1, Ordering::SeqCst);
        self.inner.register(subject, schema)
    }
    fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        self.lookup.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup(subject, schema)
    }
    fn schema_by_id(&self, id: u32) -> Result<RegisteredSchema, RegistryError> {
        self.by_id.fetch_add(1, Ordering::SeqCst);
        self.inner.schema_by_id(id)
    }
    fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        self.latest.fetch_add(1, Ordering::SeqCst);
        self.inner.latest(subject)
    }
}

const ORDER_V1: &str = r#"{
  "type": "record", "name": "Order", "namespace": "shop",
  "doc": "An order as the first producers wrote it.",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "double"}
  ]
}"#;

/// v1 plus a field with a default: backward compatible.
const ORDER_V2: &str = r#"{
  "type": "record", "name": "Order", "namespace": "shop",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "currency", "type": "string", "default": "EUR"},
    {"name": "note", "type": ["null", "string"], "default": null}
  ]
}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderV1 {
    id: i64,
    customer: String,
    amount: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderV2 {
    id: i64,
    customer: String,
    amount: f64,
    currency: String,
    note: Option<String>,
}

fn v1(id: i64) -> OrderV1 {
    OrderV1 {
        id,
        customer: format!("c{}", id % 3),
        amount: id as f64 * 1.5,
    }
}

fn avro_err<T: std::fmt::Debug>(r: Result<T, SerdeError>) -> AvroError {
    match r {
        Err(SerdeError::Avro(e)) => *e,
        other => panic!("expected an Avro error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- round trips

#[test]
fn serde_types_round_trip_in_confluent_framing() {
    let f = Fixture::new();
    let reg = f.client();
    let serde = AvroSerde::<OrderV2>::new(AvroConfig::new(reg.clone()), ORDER_V2).unwrap();
    let order = OrderV2 {
        id: 1,
        customer: "ana".into(),
        amount: 9.5,
        currency: "SEK".into(),
        note: Some("gift".into()),
    };
    let bytes = serde.serialize("orders", &order).unwrap().unwrap();
    let id = f.id_of("orders-value", ORDER_V2);
    assert_eq!(bytes[..5], wire::header(id));
    // The datum is plain Avro binary: zig-zag 1, then "ana" with its zig-zag length 3.
    assert_eq!(bytes[5..10], [2, 6, b'a', b'n', b'a']);
    assert_eq!(
        Serde::<OrderV2>::deserialize(&serde, "orders", Some(&bytes)).unwrap(),
        order
    );
    let none = OrderV2 { note: None, ..order };
    let bytes = serde.serialize("orders", &none).unwrap().unwrap();
    assert_eq!(
        Serde::<OrderV2>::deserialize(&serde, "orders", Some(&bytes)).unwrap(),
        none
    );
}

#[test]
fn null_is_none_for_options_and_an_error_for_plain_types() {
    let f = Fixture::new();
    let serde = AvroSerde::<OrderV1>::new(AvroConfig::new(f.client()), ORDER_V1).unwrap();
    assert_eq!(
        Serde::<Option<OrderV1>>::serialize(&serde, "t", &None).unwrap(),
        None
    );
    assert_eq!(
        Serde::<Option<OrderV1>>::deserialize(&serde, "t", None).unwrap(),
        None
    );
    assert!(matches!(
        Serde::<OrderV1>::deserialize(&serde, "t", None),
        Err(SerdeError::Null { .. })
    ));
    let bytes = Serde::<Option<OrderV1>>::serialize(&serde, "t", &Some(v1(4))).unwrap();
    assert_eq!(
        Serde::<Option<OrderV1>>::deserialize(&serde, "t", bytes.as_deref()).unwrap(),
        Some(v1(4))
    );
}

#[test]
fn primitive_schemas_work_for_keys() {
    let f = Fixture::new();
    let reg = f.client();
    let serde = AvroSerde::<String>::new(AvroConfig::new(reg.clone()).with_key(true), r#""string""#).unwrap();
    let bytes = serde.serialize("orders", &"k1".to_string()).unwrap().unwrap();
    assert_eq!(bytes[5..], [4, b'k', b'1']);
    assert_eq!(
        Serde::<String>::deserialize(&serde, "orders", Some(&bytes)).unwrap(),
        "k1"
    );
    assert_eq!(f.subjects(), ["orders-key"]);
}

#[test]
fn types_that_know_their_schema_register_it() {
    let f = Fixture::new();
    let serde = AvroSerde::<i64>::for_type(AvroConfig::new(f.client()).with_key(true)).unwrap();
    assert_eq!(serde.schema(), &apache_avro::Schema::Long);
    let bytes = serde.serialize("counts", &-3).unwrap().unwrap();
    assert_eq!(bytes[..5], wire::header(f.id_of("counts-key", r#""long""#)));
    assert_eq!(
        Serde::<i64>::deserialize(&serde, "counts", Some(&bytes)).unwrap(),
        -3
    );
}

#[test]
fn a_value_that_does_not_fit_the_schema_is_an_encode_error() {
    let f = Fixture::new();
    #[derive(Serialize, Deserialize)]
    struct Wrong {
        id: String,
    }
    let serde = AvroSerde::<Wrong>::new(AvroConfig::new(f.client()), ORDER_V1).unwrap();
    let err = avro_err(serde.serialize("t", &Wrong { id: "x".into() }));
    assert!(matches!(err, AvroError::Encode { .. }), "{err}");
}

#[test]
fn an_invalid_schema_is_refused_when_the_serde_is_built() {
    let f = Fixture::new();
    let err = avro_err(AvroSerde::<OrderV1>::new(
        AvroConfig::new(f.client()),
        r#"{"type":"recrod"}"#,
    ));
    assert!(matches!(err, AvroError::InvalidSchema { .. }), "{err}");
}

#[test]
fn generic_values_round_trip_and_are_validated() {
    let f = Fixture::new();
    let reg = f.client();
    let serde = GenericAvroSerde::with_schema(AvroConfig::new(reg.clone()), ORDER_V1).unwrap();
    let value = Value::Record(vec![
        ("id".into(), Value::Long(3)),
        ("customer".into(), Value::String("bo".into())),
        ("amount".into(), Value::Double(2.0)),
    ]);
    let bytes = serde.serialize("orders", &value).unwrap().unwrap();
    assert_eq!(
        Serde::<Value>::deserialize(&serde, "orders", Some(&bytes)).unwrap(),
        value
    );
    // The specific serde reads what the generic one wrote: same schema, same bytes.
    let specific = AvroSerde::<OrderV1>::new(AvroConfig::new(reg), ORDER_V1).unwrap();
    assert_eq!(
        Serde::<OrderV1>::deserialize(&specific, "orders", Some(&bytes)).unwrap(),
        OrderV1 {
            id: 3,
            customer: "bo".into(),
            amount: 2.0
        }
    );
    let wrong = Value::Record(vec![("id".into(), Value::String("no".into()))]);
    let err = avro_err(serde.serialize("orders", &wrong));
    assert!(matches!(err, AvroError::Encode { .. }), "{err}");
}

#[test]
fn a_generic_serde_without_schema_reads_as_written_and_cannot_write() {
    let f = Fixture::new();
    let reg = f.client();
    let writer = AvroSerde::<OrderV1>::new(AvroConfig::new(reg.clone()), ORDER_V1).unwrap();
    let bytes = writer.serialize("orders", &v1(5)).unwrap().unwrap();
    let generic = GenericAvroSerde::new(AvroConfig::new(reg));
    let value: Value = generic.deserialize("orders", Some(&bytes)).unwrap();
    assert_eq!(
        value,
        Value::Record(vec![
            ("id".into(), Value::Long(5)),
            ("customer".into(), Value::String("c2".into())),
            ("amount".into(), Value::Double(7.5)),
        ])
    );
    let err = avro_err(generic.serialize("orders", &value));
    assert!(matches!(err, AvroError::NoWriterSchema), "{err}");
}

// ---------------------------------------------------------------- wire errors

fn framed_v1(reg: &Arc<Registry>) -> (AvroSerde<OrderV1>, bytes::Bytes) {
    let serde = AvroSerde::<OrderV1>::new(AvroConfig::new(reg.clone()), ORDER_V1).unwrap();
    let bytes = serde.serialize("orders", &v1(7)).unwrap().unwrap();
    (serde, bytes)
}

#[test]
fn short_input_and_a_wrong_magic_byte_are_header_errors() {
    let f = Fixture::new();
    let reg = f.client();
    let (serde, bytes) = framed_v1(&reg);
    let err = avro_err(Serde::<OrderV1>::deserialize(&serde, "orders", Some(&bytes[..3])));
    assert!(matches!(err, AvroError::TooShort { len: 3 }), "{err}");
    let mut wrong = bytes.to_vec();
    wrong[0] = 1;
    let err = avro_err(Serde::<OrderV1>::deserialize(&serde, "orders", Some(&wrong)));
    assert!(matches!(err, AvroError::UnknownMagicByte { byte: 1 }), "{err}");
}

#[test]
fn an_id_the_registry_does_not_know_is_an_unknown_schema_id() {
    let f = Fixture::new();
    let reg = f.client();
    let (serde, bytes) = framed_v1(&reg);
    let mut unknown = bytes.to_vec();
    unknown[1..5].copy_from_slice(&999u32.to_be_bytes());
    let err = avro_err(Serde::<OrderV1>::deserialize(&serde, "orders", Some(&unknown)));
    assert!(matches!(err, AvroError::UnknownSchemaId { id: 999 }), "{err}");
}

#[test]
fn a_truncated_datum_is_a_decode_error_and_extra_bytes_are_refused() {
    let f = Fixture::new();
    let reg = f.client();
    let (serde, bytes) = framed_v1(&reg);
    let err = avro_err(Serde::<OrderV1>::deserialize(
        &serde,
        "orders",
        Some(&bytes[..bytes.len() - 2]),
    ));
    assert!(matches!(err, AvroError::Decode { .. }), "{err}");
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[1, 2]);
    let err = avro_err(Serde::<OrderV1>::deserialize(&serde, "orders", Some(&longer)));
    assert!(matches!(err, AvroError::TrailingBytes { extra: 2, .. }), "{err}");
}

/// Whatever follows a valid header, reading returns a value or an error, never a panic.
#[test]
fn arbitrary_datums_never_panic() {
    let f = Fixture::new();
    let (serde, bytes) = framed_v1(&f.client());
    let generic = GenericAvroSerde::new(AvroConfig::new(f.client()));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2000));
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..64), |datum| {
            let mut data = bytes[..5].to_vec();
            data.extend_from_slice(&datum);
            let _ = Serde::<OrderV1>::deserialize(&serde, "orders", Some(&data));
            let _ = Serde::<Value>::deserialize(&generic, "orders", Some(&data));
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------- subjects and registration

#[test]
fn each_strategy_registers_under_its_subject() {
    let f = Fixture::new();
    let reg = f.client();
    for (strategy, topic) in [
        (SubjectNameStrategy::TopicName, "a"),
        (SubjectNameStrategy::RecordName, "b"),
        (SubjectNameStrategy::TopicRecordName, "c"),
    ] {
        let config = AvroConfig::new(reg.clone()).with_subject_name_strategy(strategy);
        let serde = AvroSerde::<OrderV1>::new(config, ORDER_V1).unwrap();
        serde.serialize(topic, &v1(1)).unwrap();
    }
    let keys = AvroSerde::<String>::new(AvroConfig::new(reg.clone()).with_key(true), r#""string""#).unwrap();
    keys.serialize("a", &"k".to_string()).unwrap();
    assert_eq!(f.subjects(), ["a-key", "a-value", "c-shop.Order", "shop.Order"]);
}

#[test]
fn without_auto_registration_an_unregistered_schema_is_an_error_until_registered() {
    let f = Fixture::new();
    let reg = f.client();
    let config = AvroConfig::new(reg.clone()).with_auto_register_schemas(false);
    let serde = AvroSerde::<OrderV1>::new(config, ORDER_V1).unwrap();
    let err = avro_err(serde.serialize("orders", &v1(1)));
    assert!(
        matches!(&err, AvroError::NotRegistered { subject } if subject == "orders-value"),
        "{err}"
    );
    assert!(f.subjects().is_empty(), "a lookup must not register");
    let id = f.register("orders-value", ORDER_V1);
    let bytes = serde.serialize("orders", &v1(1)).unwrap().unwrap();
    assert_eq!(bytes[..5], wire::header(id));
}

#[test]
fn an_incompatible_schema_is_refused_by_the_registry() {
    let f = Fixture::new();
    let reg = f.client();
    framed_v1(&reg);
    // A new required field without a default: v1 data cannot be read with it (BACKWARD).
    let breaking = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
        {"name":"id","type":"long"},{"name":"region","type":"string"}]}"#;
    #[derive(Serialize, Deserialize)]
    struct Breaking {
        id: i64,
        region: String,
    }
    let serde = AvroSerde::<Breaking>::new(AvroConfig::new(reg), breaking).unwrap();
    let err = avro_err(serde.serialize(
        "orders",
        &Breaking {
            id: 1,
            region: "eu".into(),
        },
    ));
    assert!(
        matches!(&err, AvroError::Register { subject, source } if subject == "orders-value" && matches!(**source, RegistryError::Incompatible(_))),
        "{err}"
    );
}

#[test]
fn use_latest_version_writes_with_the_latest_schema_and_fills_defaults() {
    let f = Fixture::new();
    let reg = f.client();
    f.register("orders-value", ORDER_V1);
    let v2_id = f.register("orders-value", ORDER_V2);
    let config = AvroConfig::new(reg.clone())
        .with_use_latest_version(true)
        .with_auto_register_schemas(false);
    let old_app = AvroSerde::<OrderV1>::new(config, ORDER_V1).unwrap();
    let bytes = old_app.serialize("orders", &v1(2)).unwrap().unwrap();
    assert_eq!(bytes[..5], wire::header(v2_id));
    let reader = AvroSerde::<OrderV2>::new(AvroConfig::new(reg), ORDER_V2).unwrap();
    let read = Serde::<OrderV2>::deserialize(&reader, "orders", Some(&bytes)).unwrap();
    assert_eq!((read.currency.as_str(), read.note), ("EUR", None));
}

// ---------------------------------------------------------------- caches

#[test]
fn ten_thousand_records_make_one_registry_call_each_way() {
    let f = Fixture::new();
    let counting = Counting::new(f.client());
    let writer = AvroSerde::<OrderV1>::new(AvroConfig::new(counting.clone()), ORDER_V1).unwrap();
    let reader = AvroSerde::<OrderV1>::new(AvroConfig::new(counting.clone()), ORDER_V1).unwrap();
    for i in 0..10_000 {
        let bytes = writer.serialize("orders", &v1(i)).unwrap().unwrap();
        assert_eq!(
            Serde::<OrderV1>::deserialize(&reader, "orders", Some(&bytes)).unwrap(),
            v1(i)
        );
    }
    assert_eq!(counting.calls(), (1, 0, 1, 0));

    let lookups = Counting::new(counting.clone());
    let config = AvroConfig::new(lookups.clone()).with_auto_register_schemas(false);
    let looked_up = AvroSerde::<OrderV1>::new(config, ORDER_V1).unwrap();
    for i in 0..10_000 {
        looked_up.serialize("orders", &v1(i)).unwrap();
    }
    assert_eq!(lookups.calls(), (0, 1, 0, 0));
}

#[test]
fn a_serde_reads_back_what_it_wrote_without_fetching_the_schema() {
    let f = Fixture::new();
    let counting = Counting::new(f.client());
    let serde = AvroSerde::<OrderV1>::new(AvroConfig::new(counting.clone()), ORDER_V1).unwrap();
    let bytes = serde.serialize("orders", &v1(1)).unwrap().unwrap();
    Serde::<OrderV1>::deserialize(&serde, "orders", Some(&bytes)).unwrap();
    assert_eq!(counting.calls(), (1, 0, 0, 0));
}

// ---------------------------------------------------------------- resolution

#[test]
fn records_of_an_older_schema_are_read_into_the_newer_type_with_defaults() {
    let f = Fixture::new();
    let reg = f.client();
    let (_, old) = framed_v1(&reg);
    let reader = AvroSerde::<OrderV2>::new(AvroConfig::new(reg.clone()), ORDER_V2).unwrap();
    let read = Serde::<OrderV2>::deserialize(&reader, "orders", Some(&old)).unwrap();
    assert_eq!(
        read,
        OrderV2 {
            id: 7,
            customer: "c1".into(),
            amount: 10.5,
            currency: "EUR".into(),
            note: None
        }
    );
    // Generic values resolve the same way.
    let generic = GenericAvroSerde::with_schema(AvroConfig::new(reg), ORDER_V2).unwrap();
    let Value::Record(fields) = Serde::<Value>::deserialize(&generic, "orders", Some(&old)).unwrap() else {
        panic!("not a record");
    };
    assert_eq!(fields[3], ("currency".into(), Value::String("EUR".into())));
    assert_eq!(fields[4], ("note".into(), Value::Union(0, Box::new(Value::Null))));
}

#[test]
fn records_of_a_newer_schema_are_read_by_an_older_type_dropping_new_fields() {
    let f = Fixture::new();
    let reg = f.client();
    framed_v1(&reg);
    let writer = AvroSerde::<OrderV2>::new(AvroConfig::new(reg.clone()), ORDER_V2).unwrap();
    let order = OrderV2 {
        id: 1,
        customer: "x".into(),
        amount: 1.0,
        currency: "USD".into(),
        note: Some("n".into()),
    };
    let bytes = writer.serialize("orders", &order).unwrap().unwrap();
    let reader = AvroSerde::<OrderV1>::new(AvroConfig::new(reg), ORDER_V1).unwrap();
    assert_eq!(
        Serde::<OrderV1>::deserialize(&reader, "orders", Some(&bytes)).unwrap(),
        OrderV1 {
            id: 1,
            customer: "x".into(),
            amount: 1.0
        }
    );
}

#[test]
fn int_data_is_promoted_into_a_long_reader() {
    let f = Fixture::new();
    let reg = f.client();
    let narrow = AvroSerde::<i32>::new(AvroConfig::new(reg.clone()), r#""int""#).unwrap();
    let bytes = narrow.serialize("n", &41).unwrap().unwrap();
    let wide = AvroSerde::<i64>::new(AvroConfig::new(reg), r#""long""#).unwrap();
    assert_eq!(
        Serde::<i64>::deserialize(&wide, "n", Some(&bytes)).unwrap(),
        41i64
    );
}

#[test]
fn data_that_cannot_be_resolved_into_the_reader_schema_is_a_resolve_error() {
    let f = Fixture::new();
    let reg = f.client();
    let (_, old) = framed_v1(&reg);
    // A reader that needs a field v1 lacks and has no default for it.
    let needs = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
        {"name":"id","type":"long"},{"name":"region","type":"string"}]}"#;
    #[derive(Debug, Serialize, Deserialize)]
    struct Needs {
        id: i64,
        region: String,
    }
    let reader = AvroSerde::<Needs>::new(AvroConfig::new(reg), needs).unwrap();
    let err = avro_err(Serde::<Needs>::deserialize(&reader, "orders", Some(&old)));
    assert!(matches!(err, AvroError::Resolve { .. }), "{err}");
}
