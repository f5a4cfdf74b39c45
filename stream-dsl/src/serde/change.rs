//! Internal serdes: a table update through a repartition topic, and a table source's
//! nullable values.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Serde, SerdeError};
use crate::record::Change;

/// `Change<V>` on a repartition topic: a flags byte (bit 0: new present, bit 1: old
/// present), the new value's length (u32, big-endian) and bytes, then the old value's bytes.
/// Kafka's own encoding of this internal topic differs; only Runnel reads it.
pub(crate) struct ChangeSerde<V>(pub Arc<dyn Serde<V>>);

impl<V: 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize(&self, topic: &str, change: &Change<V>) -> Result<Option<Bytes>, SerdeError> {
        let new = change
            .new
            .as_ref()
            .map(|v| self.0.serialize(topic, v))
            .transpose()?
            .flatten();
        let old = change
            .old
            .as_ref()
            .map(|v| self.0.serialize(topic, v))
            .transpose()?
            .flatten();
        let mut out = BytesMut::with_capacity(
            5 + new.as_ref().map_or(0, |b| b.len()) + old.as_ref().map_or(0, |b| b.len()),
        );
        out.put_u8(u8::from(new.is_some()) | (u8::from(old.is_some()) << 1));
        let new = new.unwrap_or_default();
        out.put_u32(new.len() as u32);
        out.put_slice(&new);
        if let Some(old) = old {
            out.put_slice(&old);
        }
        Ok(Some(out.freeze()))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Change<V>, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Null { ty: "Change" })?;
        let bad = || SerdeError::Other(format!("malformed table update of {} bytes", data.len()));
        let (&flags, rest) = data.split_first().ok_or_else(bad)?;
        let (len, rest) = rest.split_at_checked(4).ok_or_else(bad)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (new, old) = rest.split_at_checked(len).ok_or_else(bad)?;
        let new = if flags & 1 != 0 {
            Some(self.0.deserialize(topic, Some(new))?)
        } else {
            None
        };
        let old = if flags & 2 != 0 {
            Some(self.0.deserialize(topic, Some(old))?)
        } else {
            None
        };
        Ok(Change { new, old })
    }

    fn serialize_into(
        &self,
        topic: &str,
        change: &Change<V>,
        buf: &mut BytesMut,
    ) -> Result<bool, SerdeError> {
        let start = buf.len();
        let written = (|| {
            buf.put_u8(0);
            buf.put_u32(0);
            let new = match &change.new {
                Some(v) => self.0.serialize_into(topic, v, buf)?,
                None => false,
            };
            let len = buf.len() - start - 5;
            let old = match &change.old {
                Some(v) => self.0.serialize_into(topic, v, buf)?,
                None => false,
            };
            let len = u32::try_from(len)
                .map_err(|_| SerdeError::Other(format!("a table update's new value of {len} bytes")))?;
            buf[start] = u8::from(new) | (u8::from(old) << 1);
            buf[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
            Ok(true)
        })();
        if written.is_err() {
            buf.truncate(start);
        }
        written
    }
}

/// Reads a null value as `None` (a table's delete) and anything else with the inner serde.
pub(crate) struct NullableSerde<V>(pub Arc<dyn Serde<V>>);

impl<V: 'static> Serde<Option<V>> for NullableSerde<V> {
    fn serialize(&self, topic: &str, value: &Option<V>) -> Result<Option<Bytes>, SerdeError> {
        match value {
            Some(v) => self.0.serialize(topic, v),
            None => Ok(None),
        }
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<V>, SerdeError> {
        data.map(|d| self.0.deserialize(topic, Some(d))).transpose()
    }
    fn serialize_into(&self, topic: &str, value: &Option<V>, buf: &mut BytesMut) -> Result<bool, SerdeError> {
        match value {
            Some(v) => self.0.serialize_into(topic, v, buf),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::StringSerde;

    #[test]
    fn changes_round_trip_in_every_shape() {
        let serde = ChangeSerde::<String>(Arc::new(StringSerde));
        for change in [
            Change::new(Some("new".to_string()), Some("old".to_string())),
            Change::new(None, Some("old".to_string())),
            Change::new(Some(String::new()), None),
            Change::new(None, None),
        ] {
            let bytes = serde.serialize("t", &change).unwrap();
            assert_eq!(serde.deserialize("t", bytes.as_deref()).unwrap(), change);
            let mut buf = BytesMut::from(&b"before"[..]);
            assert!(serde.serialize_into("t", &change, &mut buf).unwrap());
            assert_eq!(&buf[..6], b"before");
            assert_eq!(
                Some(&buf[6..]),
                bytes.as_deref(),
                "serialize_into writes what serialize returns"
            );
        }
        assert!(serde.deserialize("t", Some(&[1, 0, 0])).is_err());
        assert!(serde.deserialize("t", Some(&[1, 0, 0, 0, 9, b'x'])).is_err());
    }
}
