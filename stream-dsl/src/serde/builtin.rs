//! The primitive serdes, byte-compatible with Kafka's Java serializers of the same types.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Serde, SerdeError};

/// Implements `Serde<Option<T>>` from `Serde<T>`: null ↔ `None`.
macro_rules! nullable {
    ($serde:ty, $t:ty) => {
        impl Serde<Option<$t>> for $serde {
            fn serialize(&self, topic: &str, value: &Option<$t>) -> Result<Option<Bytes>, SerdeError> {
                match value {
                    Some(v) => <Self as Serde<$t>>::serialize(self, topic, v),
                    None => Ok(None),
                }
            }
            fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<$t>, SerdeError> {
                match data {
                    None => Ok(None),
                    Some(_) => <Self as Serde<$t>>::deserialize(self, topic, data).map(Some),
                }
            }
            fn serialize_into(
                &self,
                topic: &str,
                value: &Option<$t>,
                buf: &mut BytesMut,
            ) -> Result<bool, SerdeError> {
                match value {
                    Some(v) => <Self as Serde<$t>>::serialize_into(self, topic, v, buf),
                    None => Ok(false),
                }
            }
            fn check(&self, topic: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
                match data {
                    None => Ok(()),
                    Some(_) => <Self as Serde<$t>>::check(self, topic, data),
                }
            }
        }
    };
}

#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, _topic: &str, value: &String) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(value.as_bytes())))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<String, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Null { ty: "String" })?;
        Ok(std::str::from_utf8(data)?.to_owned())
    }
    fn serialize_into(&self, _topic: &str, value: &String, buf: &mut BytesMut) -> Result<bool, SerdeError> {
        buf.extend_from_slice(value.as_bytes());
        Ok(true)
    }
    /// ASCII first: a grouping's repartitioned keys are checked, not decoded, once per record,
    /// and for short keys (a word) `from_utf8` took about 80 instructions where the ASCII test
    /// takes a few per byte (callgrind, word count).
    fn check(&self, _topic: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Null { ty: "String" })?;
        if !data.is_ascii() {
            std::str::from_utf8(data)?;
        }
        Ok(())
    }
}
nullable!(StringSerde, String);

#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Bytes> for BytesSerde {
    fn serialize(&self, _topic: &str, value: &Bytes) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(value.clone()))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Bytes, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Null { ty: "Bytes" })?;
        Ok(Bytes::copy_from_slice(data))
    }
    fn serialize_into(&self, _topic: &str, value: &Bytes, buf: &mut BytesMut) -> Result<bool, SerdeError> {
        buf.extend_from_slice(value);
        Ok(true)
    }
    fn check(&self, _topic: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
        data.map(drop).ok_or_else(|| SerdeError::Null { ty: "Bytes" })
    }
}
nullable!(BytesSerde, Bytes);

macro_rules! fixed {
    ($serde:ident, $t:ty, $name:literal) => {
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $serde;

        impl Serde<$t> for $serde {
            fn serialize(&self, _topic: &str, value: &$t) -> Result<Option<Bytes>, SerdeError> {
                Ok(Some(Bytes::copy_from_slice(&value.to_be_bytes())))
            }
            fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<$t, SerdeError> {
                let data = data.ok_or_else(|| SerdeError::Null { ty: $name })?;
                let bytes: [u8; std::mem::size_of::<$t>()] =
                    data.try_into().map_err(|_| SerdeError::Size {
                        ty: $name,
                        expected: std::mem::size_of::<$t>(),
                        got: data.len(),
                    })?;
                Ok(<$t>::from_be_bytes(bytes))
            }
            fn serialize_into(
                &self,
                _topic: &str,
                value: &$t,
                buf: &mut BytesMut,
            ) -> Result<bool, SerdeError> {
                buf.put_slice(&value.to_be_bytes());
                Ok(true)
            }
        }
        nullable!($serde, $t);
    };
}

fixed!(I32Serde, i32, "i32");
fixed!(I64Serde, i64, "i64");
fixed!(U64Serde, u64, "u64");
fixed!(F64Serde, f64, "f64");

#[derive(Debug, Clone, Copy, Default)]
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize(&self, _topic: &str, _value: &()) -> Result<Option<Bytes>, SerdeError> {
        Ok(None)
    }
    fn deserialize(&self, _topic: &str, _data: Option<&[u8]>) -> Result<(), SerdeError> {
        Ok(())
    }
    fn serialize_into(&self, _topic: &str, _value: &(), _buf: &mut BytesMut) -> Result<bool, SerdeError> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_accepts_what_deserializes_and_refuses_the_rest() {
        // The in-place checks agree with deserialize on good, bad and null input.
        let inputs: [Option<&[u8]>; 6] = [
            Some(b"word"),
            Some(b""),
            Some("gr\u{f6}\u{df}e".as_bytes()),
            Some(b"ascii then \xc3"),
            Some(&[0xff, 0xfe]),
            None,
        ];
        for data in inputs {
            assert_eq!(
                Serde::<String>::check(&StringSerde, "t", data).is_ok(),
                Serde::<String>::deserialize(&StringSerde, "t", data).is_ok(),
                "String {data:?}"
            );
            assert_eq!(
                Serde::<Option<String>>::check(&StringSerde, "t", data).is_ok(),
                Serde::<Option<String>>::deserialize(&StringSerde, "t", data).is_ok(),
                "Option<String> {data:?}"
            );
            assert_eq!(
                Serde::<Bytes>::check(&BytesSerde, "t", data).is_ok(),
                Serde::<Bytes>::deserialize(&BytesSerde, "t", data).is_ok(),
                "Bytes {data:?}"
            );
        }
        assert!(Serde::<String>::check(&StringSerde, "t", Some(&[0xff])).is_err());
        assert!(Serde::<String>::check(&StringSerde, "t", None).is_err());
        assert!(Serde::<Option<String>>::check(&StringSerde, "t", None).is_ok());
    }

    fn round_trip<T: PartialEq + std::fmt::Debug, S: Serde<T>>(serde: S, value: T) {
        let bytes = serde.serialize("t", &value).unwrap();
        assert_eq!(serde.deserialize("t", bytes.as_deref()).unwrap(), value);
        // In place, after what the buffer already holds: the same bytes, or nothing for a null.
        let mut buf = BytesMut::from(&b"x"[..]);
        let present = serde.serialize_into("t", &value, &mut buf).unwrap();
        assert_eq!(present, bytes.is_some());
        assert_eq!(&buf[1..], bytes.as_deref().unwrap_or_default());
    }

    #[test]
    fn integers_are_big_endian_like_the_java_serializers() {
        assert_eq!(&I32Serde.serialize("t", &1).unwrap().unwrap()[..], &[0, 0, 0, 1]);
        assert_eq!(
            &I64Serde.serialize("t", &258i64).unwrap().unwrap()[..],
            &[0, 0, 0, 0, 0, 0, 1, 2]
        );
        round_trip(I64Serde, -5i64);
        round_trip(F64Serde, 2.5f64);
        round_trip(U64Serde, u64::MAX);
    }

    #[test]
    fn null_is_an_error_for_plain_types_and_none_for_options() {
        assert!(matches!(
            <StringSerde as Serde<String>>::deserialize(&StringSerde, "t", None),
            Err(SerdeError::Null { .. })
        ));
        round_trip::<Option<String>, _>(StringSerde, None);
        round_trip::<Option<String>, _>(StringSerde, Some("x".into()));
        round_trip::<Option<i64>, _>(I64Serde, None);
        round_trip::<Option<i64>, _>(I64Serde, Some(7));
        round_trip(StringSerde, "w1f".to_string());
        round_trip(BytesSerde, Bytes::from_static(b"\0\xff"));
        round_trip(UnitSerde, ());
    }

    #[test]
    fn wrong_width_is_a_size_error() {
        let err = <I64Serde as Serde<i64>>::deserialize(&I64Serde, "t", Some(&[1, 2, 3])).unwrap_err();
        assert!(
            matches!(
                err,
                SerdeError::Size {
                    expected: 8,
                    got: 3,
                    ..
                }
            ),
            "{err}"
        );
    }
}
