//! JSON values through `serde`.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Serde, SerdeError};

/// JSON for any `serde` type. Serializing a value that `serde_json` rejects (a map with
/// non-string keys, say) writes null rather than panicking; such types are a programming
/// error caught by the first test that uses them.
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    pub fn new() -> Self {
        JsonSerde(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> for JsonSerde<T> {
    fn serialize(&self, _topic: &str, value: &T) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::from(serde_json::to_vec(value)?)))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Null {
            ty: std::any::type_name::<T>(),
        })?;
        Ok(serde_json::from_slice(data)?)
    }
    fn serialize_into(&self, _topic: &str, value: &T, buf: &mut BytesMut) -> Result<bool, SerdeError> {
        let start = buf.len();
        serde_json::to_writer((&mut *buf).writer(), value).map_err(|e| {
            // Nothing of a value that failed half-way stays in the caller's buffer.
            buf.truncate(start);
            SerdeError::Json(e)
        })?;
        Ok(true)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<Option<T>> for JsonSerde<T> {
    fn serialize(&self, topic: &str, value: &Option<T>) -> Result<Option<Bytes>, SerdeError> {
        match value {
            Some(v) => <Self as Serde<T>>::serialize(self, topic, v),
            None => Ok(None),
        }
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        match data {
            None => Ok(None),
            Some(_) => <Self as Serde<T>>::deserialize(self, topic, data).map(Some),
        }
    }
    fn serialize_into(&self, topic: &str, value: &Option<T>, buf: &mut BytesMut) -> Result<bool, SerdeError> {
        match value {
            Some(v) => <Self as Serde<T>>::serialize_into(self, topic, v, buf),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Order {
        id: u32,
        amount: f64,
    }

    #[test]
    fn structs_round_trip_and_garbage_is_a_json_error() {
        let serde = JsonSerde::<Order>::new();
        let order = Order { id: 7, amount: 1.5 };
        let bytes = serde.serialize("t", &order).unwrap().unwrap();
        assert_eq!(&bytes[..], br#"{"id":7,"amount":1.5}"#);
        let read: Order = serde.deserialize("t", Some(&bytes)).unwrap();
        assert_eq!(read, order);
        let garbage: Result<Order, _> = serde.deserialize("t", Some(b"{"));
        assert!(matches!(garbage, Err(SerdeError::Json(_))));
        let mut buf = BytesMut::from(&b"x"[..]);
        assert!(serde.serialize_into("t", &order, &mut buf).unwrap());
        assert_eq!(&buf[1..], &bytes[..]);
    }

    #[test]
    fn a_value_json_cannot_express_leaves_the_buffer_as_it_was() {
        // JSON object keys are strings: serde_json writes the `{` and then fails on the key.
        let serde = JsonSerde::<std::collections::BTreeMap<Vec<u8>, u8>>::new();
        let value: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1u8], 2u8)].into_iter().collect();
        let mut buf = BytesMut::from(&b"kept"[..]);
        let err = serde.serialize_into("t", &value, &mut buf).unwrap_err();
        assert!(matches!(err, SerdeError::Json(_)), "{err}");
        assert_eq!(&buf[..], b"kept");
    }
}
