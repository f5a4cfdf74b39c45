//! Native clients of the broker, shaped after Kafka's Java client.

pub mod admin;
pub mod assignor;
pub mod consumer;
pub mod error;
pub mod membership;
pub mod partitioner;
pub mod producer;

pub use admin::Admin;
pub use consumer::{
    Consumer, ConsumerConfig, ConsumerGroupMetadata, ConsumerRecord, OffsetReset, RecordView,
};
pub use error::ClientError;
pub use membership::RebalanceListener;
pub use producer::{
    Appender, BatchFormat, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
    SendError, TopicSlot,
};
