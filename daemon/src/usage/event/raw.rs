//! Field-picking deserializers for a transcript event: only the fields below are kept, the rest
//! (message content, tool results) is skipped without being built.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

const EVENT_FIELDS: &[&str] = &["type", "id", "timestamp", "message"];
const MESSAGE_FIELDS: &[&str] = &[
    "role",
    "provider",
    "model",
    "stopReason",
    "errorMessage",
    "errorCode",
    "timestamp",
];

#[derive(Default)]
pub(super) struct RawEvent {
    pub(super) is_object: bool,
    pub(super) ty: Option<Value>,
    pub(super) id: Option<Value>,
    pub(super) timestamp: Option<Value>,
    pub(super) message: Option<RawMessage>,
}

#[derive(Default)]
pub(super) struct RawMessage {
    pub(super) is_object: bool,
    pub(super) role: Option<Value>,
    pub(super) provider: Option<Value>,
    pub(super) model: Option<Value>,
    pub(super) stop_reason: Option<Value>,
    pub(super) error_message: Option<Value>,
    pub(super) error_code: Option<Value>,
    pub(super) timestamp: Option<Value>,
}

/// Deserializes a map key to its index in a field table (None: a field we skip).
struct KeySeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == v))
    }
}

/// Generates the "anything that is not a map" arms: such a value is consumed and marked as not
/// an object.
macro_rules! not_an_object {
    ($t:ty) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$t, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(<$t>::default())
        }
    };
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = RawEvent;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transcript event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent, A::Error> {
        let mut ev = RawEvent {
            is_object: true,
            ..RawEvent::default()
        };
        while let Some(k) = map.next_key_seed(KeySeed(EVENT_FIELDS))? {
            // Duplicate keys: the last one wins, as in JavaScript's JSON.parse.
            match k {
                Some(0) => ev.ty = Some(map.next_value()?),
                Some(1) => ev.id = Some(map.next_value()?),
                Some(2) => ev.timestamp = Some(map.next_value()?),
                Some(3) => ev.message = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ev)
    }
    not_an_object!(RawEvent);
}

impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = RawMessage;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transcript message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMessage, A::Error> {
        let mut m = RawMessage {
            is_object: true,
            ..RawMessage::default()
        };
        while let Some(k) = map.next_key_seed(KeySeed(MESSAGE_FIELDS))? {
            let slot = match k {
                Some(0) => &mut m.role,
                Some(1) => &mut m.provider,
                Some(2) => &mut m.model,
                Some(3) => &mut m.stop_reason,
                Some(4) => &mut m.error_message,
                Some(5) => &mut m.error_code,
                Some(6) => &mut m.timestamp,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(m)
    }
    not_an_object!(RawMessage);
}

impl<'de> Deserialize<'de> for RawMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MessageVisitor)
    }
}
