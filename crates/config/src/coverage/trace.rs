//! A serde `Deserializer` that produces no value worth keeping: it answers every request of a
//! type's `Deserialize` impl with a plausible sample and records, on the way, each struct the
//! impl asks for and the fields it names. Walking a raw model with it lists every field that
//! model accepts, straight from the derive, so no list of fields is kept by hand.
//!
//! A struct is listed where it is first met, and its recursion cut; a map or a list is entered
//! with one sample element; an enum with its first variant. Scalars get a value every custom
//! impl of the models takes (`deserialize_any` gets a string, which durations, quantities,
//! `IntOrString` and CloudFormation's `Num`/`Text` all accept).
//!
//! What the walk cannot see: the inside of a field decoded as `IgnoredAny` (read from the node
//! tree instead; the field is classified as a whole), and the fields of a struct behind
//! `#[serde(flatten)]` or an untagged enum, which derive through `deserialize_any`. The raw
//! types keep to plain structs for that reason.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

/// A struct met during a walk.
#[derive(Debug, Clone)]
pub(crate) struct Met {
    /// The fields as the input spells them (after `rename`/`rename_all`).
    pub(crate) fields: &'static [&'static str],
    /// Where it was first met, as a path of input keys (`spec.http[].retries`).
    pub(crate) path: String,
}

/// Every struct met, by its Rust name; a name already met with other fields (two types of
/// one name in two models) is written `Name@Root`, after the walk's root.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub(crate) structs: BTreeMap<String, Met>,
    /// The structs being walked, outermost first.
    stack: Vec<&'static str>,
}

/// Walks `T` from `root` (a path prefix such as `VirtualService`), adding what it meets.
pub(crate) fn walk<T: DeserializeOwned>(root: &str, into: &mut Walk) -> Result<(), TraceError> {
    let cell = RefCell::new(std::mem::take(into));
    let result = T::deserialize(Tracer {
        walk: &cell,
        root,
        path: root.to_owned(),
    });
    *into = cell.into_inner();
    result.map(drop)
}

/// What the walk could not get through (a custom impl refusing every sample).
#[derive(Debug)]
pub(crate) struct TraceError(String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TraceError(msg.to_string())
    }
}

struct Tracer<'w> {
    walk: &'w RefCell<Walk>,
    root: &'w str,
    path: String,
}

impl<'w> Tracer<'w> {
    fn at(&self, seg: &str) -> Tracer<'w> {
        let path = if seg.starts_with('[') || self.path.is_empty() {
            format!("{}{seg}", self.path)
        } else {
            format!("{}.{seg}", self.path)
        };
        Tracer {
            walk: self.walk,
            root: self.root,
            path,
        }
    }

    /// Records `name`; false when it is being walked already (a recursive type).
    fn enter(&self, name: &'static str, fields: &'static [&'static str]) -> bool {
        let mut walk = self.walk.borrow_mut();
        if walk.stack.contains(&name) {
            return false;
        }
        walk.stack.push(name);
        let key = match walk.structs.get(name) {
            Some(met) if met.fields != fields => format!("{name}@{}", self.root),
            _ => name.to_owned(),
        };
        walk.structs.entry(key).or_insert_with(|| Met {
            fields,
            path: self.path.clone(),
        });
        true
    }
}

macro_rules! sample {
    ($($method:ident => $visit:ident($($value:expr)?);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
                v.$visit($($value)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = TraceError;

    sample! {
        deserialize_any => visit_borrowed_str("1");
        deserialize_bool => visit_bool(true);
        deserialize_i8 => visit_i8(1);
        deserialize_i16 => visit_i16(1);
        deserialize_i32 => visit_i32(1);
        deserialize_i64 => visit_i64(1);
        deserialize_u8 => visit_u8(1);
        deserialize_u16 => visit_u16(1);
        deserialize_u32 => visit_u32(1);
        deserialize_u64 => visit_u64(1);
        deserialize_f32 => visit_f32(1.0);
        deserialize_f64 => visit_f64(1.0);
        deserialize_char => visit_char('a');
        deserialize_str => visit_borrowed_str("1");
        deserialize_string => visit_borrowed_str("1");
        deserialize_bytes => visit_borrowed_bytes(b"1");
        deserialize_byte_buf => visit_borrowed_bytes(b"1");
        deserialize_unit => visit_unit();
        deserialize_identifier => visit_borrowed_str("1");
        deserialize_ignored_any => visit_unit();
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, TraceError> {
        v.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, TraceError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_seq(Elements {
            next: Some(self.at("[]")),
            rest: 0,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, TraceError> {
        v.visit_seq(Elements {
            next: Some(self.at("[]")),
            rest: len.saturating_sub(1),
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_tuple(len, v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TraceError> {
        v.visit_map(Entries {
            keys: &["k"],
            value: Some(self.at("<key>")),
            tracer: self,
            map: true,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TraceError> {
        // Generic structs (the envelope around each kind's spec) share one name, so a
        // struct met before is walked again; only a recursion is cut, by an empty object
        // (every raw field is optional, so the derive accepts it).
        if !self.enter(name, fields) {
            return v.visit_map(Entries {
                keys: &[],
                value: None,
                tracer: self,
                map: false,
            });
        }
        let walk = self.walk;
        let result = v.visit_map(Entries {
            keys: fields,
            value: None,
            tracer: self,
            map: false,
        });
        walk.borrow_mut().stack.pop();
        result
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TraceError> {
        v.visit_enum(Variant {
            name: variants.first().copied().unwrap_or_default(),
            tracer: self,
        })
    }
}

struct Elements<'w> {
    next: Option<Tracer<'w>>,
    rest: usize,
}

impl<'de> SeqAccess<'de> for Elements<'_> {
    type Error = TraceError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        let Some(tracer) = self.next.take() else {
            return Ok(None);
        };
        if self.rest > 0 {
            self.rest -= 1;
            self.next = Some(tracer.at(""));
        }
        seed.deserialize(tracer).map(Some)
    }
}

struct Entries<'w> {
    keys: &'static [&'static str],
    /// For a map: the tracer of its one value; for a struct, one is made per field.
    value: Option<Tracer<'w>>,
    tracer: Tracer<'w>,
    map: bool,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        let Some((key, rest)) = self.keys.split_first() else {
            return Ok(None);
        };
        self.keys = rest;
        if self.map {
            // A map's key may be a number (ports) or a string: the tracer answers either.
            let tracer = self.tracer.at("<key>");
            return seed.deserialize(tracer).map(Some);
        }
        self.value = Some(self.tracer.at(key));
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        match self.value.take() {
            Some(tracer) => seed.deserialize(tracer),
            None => Err(de::Error::custom("a value without its key")),
        }
    }
}

struct Variant<'w> {
    name: &'static str,
    tracer: Tracer<'w>,
}

impl<'de, 'w> EnumAccess<'de> for Variant<'w> {
    type Error = TraceError;
    type Variant = Tracer<'w>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Tracer<'w>), TraceError> {
        let v = seed.deserialize(BorrowedStrDeserializer::<TraceError>::new(self.name))?;
        Ok((v, self.tracer))
    }
}

impl<'de> VariantAccess<'de> for Tracer<'_> {
    type Error = TraceError;

    fn unit_variant(self) -> Result<(), TraceError> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, TraceError> {
        de::Deserializer::deserialize_tuple(self, len, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TraceError> {
        de::Deserializer::deserialize_struct(self, "variant", fields, v)
    }
}
