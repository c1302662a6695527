//! Typed decoding of a [`Node`] tree with serde, collecting every problem instead of stopping
//! at the first.
//!
//! serde's derive stops at the first error; a user fixing a manifest wants them all. This
//! deserializer therefore recovers where it can: an unknown field is reported (with a "did you
//! mean") and skipped, a value of the wrong type or an unknown enum value is reported and
//! replaced by a placeholder so decoding goes on. Raw types keep their fields `Option` so that
//! a missing field is a validation finding rather than a decoding failure. Anything else a
//! visitor refuses ends decoding of that document, located like the rest.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use crate::diag::{Finding, Findings, Severity, did_you_mean};
use crate::node::{Entry, Node, Resolved, Span, Value};
use crate::path::{FieldPath, Seg};

/// Decodes `node` into `T`, adding every problem to `findings`. Returns `None` only when a
/// problem made decoding impossible (it is in `findings` too).
pub fn decode<T: DeserializeOwned>(node: &Node, findings: &mut Findings) -> Option<T> {
    decode_at(node, &FieldPath::root(), findings)
}

/// Like [`decode`], for a node found at `base` inside a larger document.
pub fn decode_at<T: DeserializeOwned>(
    node: &Node,
    base: &FieldPath,
    findings: &mut Findings,
) -> Option<T> {
    let sink = RefCell::new(Vec::new());
    let root = Link::Base(base);
    let result = T::deserialize(De {
        node,
        path: &root,
        sink: &sink,
    });
    for f in sink.into_inner() {
        findings.add(f);
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            if !e.recorded {
                let f = findings.error(base, e.message);
                f.span = Some(node.span);
            }
            None
        }
    }
}

/// The path to the node being decoded, as a chain on the stack (no allocation per node).
#[derive(Clone, Copy)]
enum Link<'a> {
    Base(&'a FieldPath),
    Field(&'a Link<'a>, &'a str),
    Key(&'a Link<'a>, &'a str),
    Index(&'a Link<'a>, usize),
}

impl Link<'_> {
    fn to_path(self) -> FieldPath {
        let mut segs = Vec::new();
        let mut cur = self;
        let base = loop {
            match cur {
                Link::Base(b) => break b,
                Link::Field(p, k) => {
                    segs.push(Seg::Field(k.to_owned().into()));
                    cur = *p;
                }
                Link::Key(p, k) => {
                    segs.push(Seg::Key(k.to_owned()));
                    cur = *p;
                }
                Link::Index(p, i) => {
                    segs.push(Seg::Index(i));
                    cur = *p;
                }
            }
        };
        let mut path = base.clone();
        for s in segs.into_iter().rev() {
            path.push(s);
        }
        path
    }
}

/// The error serde sees. `recorded` means it is already in the findings with its location.
#[derive(Debug)]
pub struct DecodeError {
    message: String,
    recorded: bool,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            recorded: false,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("required field \"{field}\" is missing"))
    }
}

type Sink = RefCell<Vec<Finding>>;

#[derive(Clone, Copy)]
struct De<'n, 'p> {
    node: &'n Node,
    path: &'p Link<'p>,
    sink: &'p Sink,
}

impl<'n> De<'n, '_> {
    fn report(&self, span: Span, message: String, hint: Option<String>) {
        self.sink.borrow_mut().push(Finding {
            severity: Severity::Error,
            field: self.path.to_path(),
            at_value: true,
            span: Some(span),
            message,
            hint,
            code: None,
        });
    }

    /// Reports that the node is not of the expected type.
    fn mismatch(&self, expected: &str) {
        let got = describe(self.node);
        let hint = match (self.node.resolve(), expected) {
            (
                Some(Resolved::Int(_) | Resolved::UInt(_) | Resolved::Float(_) | Resolved::Bool(_)),
                "a string",
            ) => self.node.as_str().map(|s| format!("quote it: \"{s}\"")),
            _ => None,
        };
        self.report(
            self.node.span,
            format!("expected {expected}, got {got}"),
            hint,
        );
    }

    /// Locates an error coming back from a visitor, once.
    fn locate(&self, mut e: DecodeError) -> DecodeError {
        if !e.recorded {
            self.report(self.node.span, e.message.clone(), None);
            e.recorded = true;
        }
        e
    }

    fn check_tag(&self) {
        if let Some(tag) = &self.node.tag {
            self.report(
                self.node.span,
                format!("YAML tag !{} is not allowed here", tag.0),
                None,
            );
        }
    }

    fn scalar(&self) -> Option<Resolved<'n>> {
        self.check_tag();
        self.node.resolve()
    }

    fn int<V: Visitor<'n>>(
        self,
        visitor: V,
        min: i128,
        max: i128,
        what: &str,
    ) -> Result<V::Value, DecodeError> {
        let n: Option<i128> = match self.scalar() {
            Some(Resolved::Int(i)) => Some(i128::from(i)),
            Some(Resolved::UInt(u)) => Some(i128::from(u)),
            Some(Resolved::Float(f)) if f.fract() == 0.0 && f.is_finite() && f.abs() < 1e30 => {
                // `80.0` where an integer belongs is what JSON tools emit; accept it as
                // Kubernetes does.
                #[allow(clippy::cast_possible_truncation)]
                Some(f as i128)
            }
            _ => None,
        };
        let result = match n {
            Some(n) if (min..=max).contains(&n) => {
                if n < 0 {
                    visitor.visit_i64(i64::try_from(n).unwrap_or(0))
                } else {
                    visitor.visit_u64(u64::try_from(n).unwrap_or(0))
                }
            }
            Some(n) => {
                self.report(
                    self.node.span,
                    format!("{n} is out of range for {what} ({min} to {max})"),
                    None,
                );
                visitor.visit_u64(0)
            }
            None => {
                self.mismatch(&format!("an integer ({what})"));
                visitor.visit_u64(0)
            }
        };
        result.map_err(|e| self.locate(e))
    }
}

fn describe(node: &Node) -> String {
    match (&node.value, node.resolve()) {
        (Value::Seq(_), _) => "a list".into(),
        (Value::Map(_), _) => "an object".into(),
        (_, Some(Resolved::Null)) => "null".into(),
        (_, Some(Resolved::Str(s))) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("string \"{short}...\"")
            } else {
                format!("string \"{short}\"")
            }
        }
        (_, Some(r)) => format!("{} {}", r.kind_name(), node.as_str().unwrap_or_default()),
        (_, None) => "a value".into(),
    }
}

macro_rules! deserialize_int {
    ($($method:ident => $ty:ty, $what:literal;)*) => {
        $(
            fn $method<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
                self.int(visitor, i128::from(<$ty>::MIN), i128::from(<$ty>::MAX), $what)
            }
        )*
    };
}

impl<'n> de::Deserializer<'n> for De<'n, '_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.check_tag();
        let r = match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
                path: self.path,
                sink: self.sink,
            }),
            Value::Map(entries) => visitor.visit_map(FreeMap {
                entries: entries.iter(),
                value: None,
                path: self.path,
                sink: self.sink,
            }),
            Value::Scalar(..) => match self.node.resolve() {
                Some(Resolved::Null) | None => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => visitor.visit_i64(i),
                Some(Resolved::UInt(u)) => visitor.visit_u64(u),
                Some(Resolved::Float(f)) => visitor.visit_f64(f),
                Some(Resolved::Str(s)) => visitor.visit_borrowed_str(s),
            },
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let b = match self.scalar() {
            Some(Resolved::Bool(b)) => b,
            _ => {
                self.mismatch("a boolean (true or false)");
                false
            }
        };
        visitor.visit_bool(b).map_err(|e| self.locate(e))
    }

    deserialize_int! {
        deserialize_i8 => i8, "int8";
        deserialize_i16 => i16, "int16";
        deserialize_i32 => i32, "int32";
        deserialize_i64 => i64, "int64";
        deserialize_u8 => u8, "uint8";
        deserialize_u16 => u16, "uint16";
        deserialize_u32 => u32, "uint32";
        deserialize_u64 => u64, "uint64";
    }

    fn deserialize_f32<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        #[allow(clippy::cast_precision_loss)]
        let f = match self.scalar() {
            Some(Resolved::Float(f)) => f,
            Some(Resolved::Int(i)) => i as f64,
            Some(Resolved::UInt(u)) => u as f64,
            _ => {
                self.mismatch("a number");
                0.0
            }
        };
        visitor.visit_f64(f).map_err(|e| self.locate(e))
    }

    fn deserialize_char<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let s = match self.scalar() {
            Some(Resolved::Str(s)) => s,
            _ => {
                self.mismatch("a string");
                ""
            }
        };
        visitor.visit_borrowed_str(s).map_err(|e| self.locate(e))
    }

    fn deserialize_string<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.node.tag.is_none() && self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if !self.node.is_null() {
            self.mismatch("null");
        }
        visitor.visit_unit().map_err(|e| self.locate(e))
    }

    fn deserialize_unit_struct<V: Visitor<'n>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'n>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.check_tag();
        let items: &[Node] = match &self.node.value {
            Value::Seq(items) => items,
            _ if self.node.is_null() => &[],
            _ => {
                self.mismatch("a list");
                &[]
            }
        };
        visitor
            .visit_seq(Seq {
                items: items.iter().enumerate(),
                path: self.path,
                sink: self.sink,
            })
            .map_err(|e| self.locate(e))
    }

    fn deserialize_tuple<V: Visitor<'n>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'n>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.check_tag();
        let entries: &[Entry] = match &self.node.value {
            Value::Map(entries) => entries,
            _ if self.node.is_null() => &[],
            _ => {
                self.mismatch("an object");
                &[]
            }
        };
        visitor
            .visit_map(FreeMap {
                entries: entries.iter(),
                value: None,
                path: self.path,
                sink: self.sink,
            })
            .map_err(|e| self.locate(e))
    }

    fn deserialize_struct<V: Visitor<'n>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.check_tag();
        let entries: &[Entry] = match &self.node.value {
            Value::Map(entries) => entries,
            _ if self.node.is_null() => &[],
            _ => {
                self.mismatch("an object");
                &[]
            }
        };
        visitor
            .visit_map(Struct {
                entries: entries.iter(),
                fields,
                value: None,
                path: self.path,
                sink: self.sink,
            })
            .map_err(|e| self.locate(e))
    }

    fn deserialize_enum<V: Visitor<'n>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.check_tag();
        let name: &str = match self.node.resolve() {
            Some(Resolved::Str(s)) if variants.contains(&s) => s,
            Some(Resolved::Str(s)) => {
                let hint = did_you_mean(s, variants.iter().copied())
                    .map(|c| format!("did you mean \"{c}\"?"))
                    .unwrap_or_else(|| format!("one of: {}", variants.join(", ")));
                self.report(
                    self.node.span,
                    format!("unsupported value \"{s}\""),
                    Some(hint),
                );
                variants.first().copied().unwrap_or_default()
            }
            _ => {
                self.mismatch(&format!("one of {}", variants.join(", ")));
                variants.first().copied().unwrap_or_default()
            }
        };
        visitor
            .visit_enum(UnitEnum(name))
            .map_err(|e| self.locate(e))
    }

    fn deserialize_identifier<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }
}

struct Seq<'n, 'p, I: Iterator<Item = (usize, &'n Node)>> {
    items: I,
    path: &'p Link<'p>,
    sink: &'p Sink,
}

impl<'n, I: Iterator<Item = (usize, &'n Node)>> SeqAccess<'n> for Seq<'n, '_, I> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'n>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let link = Link::Index(self.path, i);
                seed.deserialize(De {
                    node,
                    path: &link,
                    sink: self.sink,
                })
                .map(Some)
            }
        }
    }
}

/// A typed object: keys are field names, unknown ones are reported and skipped.
struct Struct<'n, 'p, I: Iterator<Item = &'n Entry>> {
    entries: I,
    fields: &'static [&'static str],
    value: Option<&'n Entry>,
    path: &'p Link<'p>,
    sink: &'p Sink,
}

impl<'n, I: Iterator<Item = &'n Entry>> MapAccess<'n> for Struct<'n, '_, I> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'n>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        loop {
            let Some(entry) = self.entries.next() else {
                return Ok(None);
            };
            let key = entry.key.as_str().unwrap_or_default();
            if self.fields.contains(&key) {
                self.value = Some(entry);
                return seed.deserialize(key.into_deserializer()).map(Some);
            }
            let field = Link::Field(self.path, key);
            let hint = did_you_mean(key, self.fields.iter().copied())
                .map(|c| format!("did you mean \"{c}\"?"));
            let hint = hint.or_else(|| {
                (!self.fields.is_empty() && self.fields.len() <= 12)
                    .then(|| format!("known fields: {}", self.fields.join(", ")))
            });
            self.sink.borrow_mut().push(Finding {
                severity: Severity::Error,
                field: field.to_path(),
                at_value: false,
                span: Some(entry.key.span),
                message: format!("unknown field \"{key}\""),
                hint,
                code: None,
            });
        }
    }

    fn next_value_seed<V: DeserializeSeed<'n>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let Some(entry) = self.value.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let key = entry.key.as_str().unwrap_or_default();
        let link = Link::Field(self.path, key);
        seed.deserialize(De {
            node: &entry.value,
            path: &link,
            sink: self.sink,
        })
    }
}

/// A free-form map (labels, headers): any key is accepted.
struct FreeMap<'n, 'p, I: Iterator<Item = &'n Entry>> {
    entries: I,
    value: Option<&'n Entry>,
    path: &'p Link<'p>,
    sink: &'p Sink,
}

impl<'n, I: Iterator<Item = &'n Entry>> MapAccess<'n> for FreeMap<'n, '_, I> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'n>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let link = Link::Key(self.path, entry.key.as_str().unwrap_or_default());
        // Keys are text in every format we read, even `80:` (a port) or `true:`.
        seed.deserialize(KeyDe {
            node: &entry.key,
            path: &link,
            sink: self.sink,
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'n>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let Some(entry) = self.value.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let link = Link::Key(self.path, entry.key.as_str().unwrap_or_default());
        seed.deserialize(De {
            node: &entry.value,
            path: &link,
            sink: self.sink,
        })
    }
}

/// A map key: read as text, or as a number when the map's key type is numeric.
struct KeyDe<'n, 'p> {
    node: &'n Node,
    path: &'p Link<'p>,
    sink: &'p Sink,
}

impl<'n> de::Deserializer<'n> for KeyDe<'n, '_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_borrowed_str(self.node.as_str().unwrap_or_default())
    }

    fn deserialize_u32<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        De {
            node: self.node,
            path: self.path,
            sink: self.sink,
        }
        .deserialize_u32(visitor)
    }

    fn deserialize_u16<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        De {
            node: self.node,
            path: self.path,
            sink: self.sink,
        }
        .deserialize_u16(visitor)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'n>>
        bool i8 i16 i32 i64 i128 u8 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct UnitEnum<'a>(&'a str);

impl<'n> EnumAccess<'n> for UnitEnum<'n> {
    type Error = DecodeError;
    type Variant = UnitOnly;

    fn variant_seed<V: DeserializeSeed<'n>>(
        self,
        seed: V,
    ) -> Result<(V::Value, UnitOnly), DecodeError> {
        let v = seed.deserialize(self.0.into_deserializer())?;
        Ok((v, UnitOnly))
    }
}

struct UnitOnly;

impl<'n> VariantAccess<'n> for UnitOnly {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'n>>(
        self,
        _seed: T,
    ) -> Result<T::Value, DecodeError> {
        Err(de::Error::custom("expected a plain value for this enum"))
    }

    fn tuple_variant<V: Visitor<'n>>(self, _len: usize, _v: V) -> Result<V::Value, DecodeError> {
        Err(de::Error::custom("expected a plain value for this enum"))
    }

    fn struct_variant<V: Visitor<'n>>(
        self,
        _fields: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, DecodeError> {
        Err(de::Error::custom("expected a plain value for this enum"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Limits, parse_stream};
    use std::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Route {
        destination: Option<Dest>,
        weight: Option<i32>,
        headers: Option<BTreeMap<String, String>>,
        mode: Option<Mode>,
        enabled: Option<bool>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Dest {
        host: Option<String>,
        port: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    enum Mode {
        Strict,
        Permissive,
    }

    fn run(text: &str) -> (Option<Vec<Route>>, Vec<Finding>) {
        let docs = parse_stream(text, Limits::default()).expect("yaml");
        let root = docs[0].root.clone().expect("root");
        let mut findings = Findings::new();
        let v = decode::<Vec<Route>>(&root, &mut findings);
        (v, findings.into_vec())
    }

    #[test]
    fn decodes_valid_input() {
        let (v, f) = run("- destination: {host: myapp, port: 80}\n  weight: 90\n  mode: STRICT\n");
        assert!(f.is_empty(), "{f:?}");
        let v = v.expect("decoded");
        assert_eq!(v[0].weight, Some(90));
        assert_eq!(v[0].mode, Some(Mode::Strict));
        assert_eq!(v[0].destination.as_ref().and_then(|d| d.port), Some(80));
    }

    #[test]
    fn reports_all_problems_with_positions() {
        let text = "- weigth: 10\n  destination:\n    host: 3\n    prot: 80\n  mode: STRIKT\n- enabled: yes\n  weight: 3000000000\n";
        let (v, f) = run(text);
        assert!(v.is_some(), "recoverable problems keep decoding");
        let got: Vec<String> = f
            .iter()
            .map(|f| {
                format!(
                    "{}: {}: {}{}",
                    f.span.expect("span"),
                    f.field,
                    f.message,
                    f.hint
                        .as_deref()
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "1:3: [0].weigth: unknown field \"weigth\" (did you mean \"weight\"?)",
                "3:11: [0].destination.host: expected a string, got integer 3 (quote it: \"3\")",
                "4:5: [0].destination.prot: unknown field \"prot\" (did you mean \"port\"?)",
                "5:9: [0].mode: unsupported value \"STRIKT\" (did you mean \"STRICT\"?)",
                "6:12: [1].enabled: expected a boolean (true or false), got string \"yes\"",
                "7:11: [1].weight: 3000000000 is out of range for int32 (-2147483648 to 2147483647)",
            ]
        );
    }

    #[test]
    fn map_values_are_typed_too() {
        let (_, f) = run("- headers: {a: b, c: 1.0}\n");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].field.to_string(), "[0].headers[c]");
    }
}
