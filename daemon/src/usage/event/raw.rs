//! Field-picking deserializers for a transcript event: only the fields below are kept, the rest
//! (message content, tool results) is skipped without being built, and a kept string is
//! borrowed from the input unless it has escapes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

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
pub(super) struct RawEvent<'a> {
    pub(super) is_object: bool,
    pub(super) ty: Option<Scalar<'a>>,
    pub(super) id: Option<Scalar<'a>>,
    pub(super) timestamp: Option<Scalar<'a>>,
    pub(super) message: Option<RawMessage<'a>>,
}

#[derive(Default)]
pub(super) struct RawMessage<'a> {
    pub(super) is_object: bool,
    pub(super) role: Option<Scalar<'a>>,
    pub(super) provider: Option<Scalar<'a>>,
    pub(super) model: Option<Scalar<'a>>,
    pub(super) stop_reason: Option<Scalar<'a>>,
    pub(super) error_message: Option<Scalar<'a>>,
    pub(super) error_code: Option<Scalar<'a>>,
    pub(super) timestamp: Option<Scalar<'a>>,
}

/// OpenClaw's navigation projection of a compressed row: only its `model` part (the event's own
/// fields, in the event's shape) is read.
#[derive(Default)]
pub(super) struct RawNavigation<'a> {
    pub(super) model: Option<RawEvent<'a>>,
}

/// One kept field's value: a string (borrowed when it has no escapes, as nearly all are), a
/// number, or whatever else JSON put there (boxed: rare, and it keeps this small to move).
#[derive(Debug)]
pub(super) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Number(Number),
    Other(Box<Value>),
}

impl Scalar<'_> {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn to_value(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::String(s.to_string()),
            Scalar::Number(n) => Value::Number(n.clone()),
            Scalar::Other(v) => (**v).clone(),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
        // JSON has no NaN or infinity: a finite float always is a Number.
        Ok(Number::from_f64(v).map_or(Scalar::Other(Box::new(Value::Null)), Scalar::Number))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(Box::new(Value::Bool(v))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(Box::new(Value::Null)))
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(Box::new(Value::Null)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        let v = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(Scalar::Other(Box::new(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        let v = Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(Scalar::Other(Box::new(v)))
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
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
        fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<$t, E> {
            Ok(<$t>::default())
        }
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
    type Value = RawEvent<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transcript event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent<'de>, A::Error> {
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
    not_an_object!(RawEvent<'de>);
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = RawMessage<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transcript message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMessage<'de>, A::Error> {
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
    not_an_object!(RawMessage<'de>);
}

impl<'de> Deserialize<'de> for RawMessage<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MessageVisitor)
    }
}

const NAVIGATION_FIELDS: &[&str] = &["model"];

struct NavigationVisitor;

impl<'de> Visitor<'de> for NavigationVisitor {
    type Value = RawNavigation<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a navigation projection")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNavigation<'de>, A::Error> {
        let mut nav = RawNavigation::default();
        while let Some(k) = map.next_key_seed(KeySeed(NAVIGATION_FIELDS))? {
            match k {
                Some(0) => nav.model = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(nav)
    }
    not_an_object!(RawNavigation<'de>);
}

impl<'de> Deserialize<'de> for RawNavigation<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NavigationVisitor)
    }
}
