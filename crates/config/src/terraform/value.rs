//! Values and types of the Terraform language, with its conversion rules.
//!
//! Terraform converts between primitives where the text allows it (`"true"` is a bool where a
//! bool is wanted, `8080` is a string where a string is wanted), tuples to lists and sets,
//! objects to maps, and objects to object types (dropping extra attributes). [`convert`]
//! follows those rules; its messages say what was wanted and what was found, as the YAML
//! decoder's do.
//!
//! [`Value::Unknown`] stands for a value Meridian cannot know: an attribute of a resource type
//! it does not serve. It flows through expressions as Terraform's unknown values do, so one
//! such resource does not make everything that mentions it an error.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// Not known (depends on something Meridian does not serve).
    Unknown,
    /// `true`/`false`.
    Bool(bool),
    /// A number (Terraform's are arbitrary precision; every configuration we read fits f64).
    Number(f64),
    /// A string.
    String(String),
    /// A tuple, list or set (sets are kept sorted and without duplicates).
    Seq(SeqKind, Arc<Vec<Value>>),
    /// An object or a map, ordered by key as Terraform orders them.
    Map(MapKind, Arc<BTreeMap<String, Value>>),
}

/// What kind of sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqKind {
    /// `[a, b]` as written: elements of any types.
    Tuple,
    /// `list(T)`.
    List,
    /// `set(T)`.
    Set,
}

/// What kind of key/value collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// `{ a = 1 }` as written, or a resource: attributes of any types.
    Object,
    /// `map(T)`.
    Map,
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    /// A tuple.
    pub fn tuple(v: Vec<Value>) -> Self {
        Value::Seq(SeqKind::Tuple, Arc::new(v))
    }

    /// A list.
    pub fn list(v: Vec<Value>) -> Self {
        Value::Seq(SeqKind::List, Arc::new(v))
    }

    /// A set: sorted, duplicates removed.
    pub fn set(mut v: Vec<Value>) -> Self {
        v.sort_by(cmp_for_set);
        v.dedup();
        Value::Seq(SeqKind::Set, Arc::new(v))
    }

    /// An object.
    pub fn object(m: BTreeMap<String, Value>) -> Self {
        Value::Map(MapKind::Object, Arc::new(m))
    }

    /// A map.
    pub fn map(m: BTreeMap<String, Value>) -> Self {
        Value::Map(MapKind::Map, Arc::new(m))
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True for an unknown value, or a collection holding one.
    pub fn has_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::Seq(_, v) => v.iter().any(Value::has_unknown),
            Value::Map(_, m) => m.values().any(Value::has_unknown),
            _ => false,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as a whole number, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            #[allow(clippy::cast_possible_truncation)]
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => {
                Some(*n as i64)
            }
            _ => None,
        }
    }

    /// The elements, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Seq(_, v) => Some(v),
            _ => None,
        }
    }

    /// The entries, if this is an object or map.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(_, m) => Some(m),
            _ => None,
        }
    }

    /// The attribute `k` of an object.
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.as_map()?.get(k)
    }

    /// A word for the type, as Terraform's messages name it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown => "unknown value",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Seq(SeqKind::Tuple, _) => "tuple",
            Value::Seq(SeqKind::List, _) => "list",
            Value::Seq(SeqKind::Set, _) => "set",
            Value::Map(MapKind::Object, _) => "object",
            Value::Map(MapKind::Map, _) => "map",
        }
    }

    /// The value for a message: `string "abc"`, `number 3`, `a list`...
    pub fn describe(&self) -> String {
        match self {
            Value::String(s) => {
                let short: String = s.chars().take(40).collect();
                if short.len() < s.len() {
                    format!("string \"{short}...\"")
                } else {
                    format!("string \"{short}\"")
                }
            }
            Value::Number(n) => format!("number {}", format_number(*n)),
            Value::Bool(b) => format!("bool {b}"),
            Value::Null => "null".into(),
            Value::Unknown => "an unknown value".into(),
            Value::Seq(SeqKind::Tuple, _) => "a tuple".into(),
            Value::Seq(SeqKind::List, _) => "a list".into(),
            Value::Seq(SeqKind::Set, _) => "a set".into(),
            Value::Map(MapKind::Object, _) => "an object".into(),
            Value::Map(MapKind::Map, _) => "a map".into(),
        }
    }

    /// The text a primitive becomes in a template or where a string is wanted.
    pub fn to_display(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(format_number(*n)),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// This value as JSON (`jsonencode`, `terraform output -json`). Unknown values become
    /// null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => number_json(*n),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Seq(_, v) => serde_json::Value::Array(v.iter().map(Value::to_json).collect()),
            Value::Map(_, m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// A JSON document as a value (`jsondecode`, `.tfvars.json`): arrays become tuples and
    /// objects objects, as Terraform decodes them.
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n.as_f64().map_or(Value::Null, Value::Number),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::tuple(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The type of this value as `terraform output -json` writes it (`"string"`,
    /// `["list","string"]`, `["object",{...}]`).
    pub fn type_json(&self) -> serde_json::Value {
        use serde_json::{Value as J, json};
        match self {
            Value::Null | Value::Unknown => J::String("dynamic".into()),
            Value::Bool(_) => J::String("bool".into()),
            Value::Number(_) => J::String("number".into()),
            Value::String(_) => J::String("string".into()),
            Value::Seq(SeqKind::Tuple, v) => {
                json!(["tuple", v.iter().map(Value::type_json).collect::<Vec<_>>()])
            }
            Value::Seq(k, v) => {
                let word = if *k == SeqKind::Set { "set" } else { "list" };
                json!([
                    word,
                    v.first()
                        .map_or(J::String("dynamic".into()), Value::type_json)
                ])
            }
            Value::Map(MapKind::Object, m) => json!([
                "object",
                m.iter()
                    .map(|(k, v)| (k.clone(), v.type_json()))
                    .collect::<serde_json::Map<_, _>>()
            ]),
            Value::Map(MapKind::Map, m) => json!([
                "map",
                m.values()
                    .next()
                    .map_or(J::String("dynamic".into()), Value::type_json)
            ]),
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

fn number_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        #[allow(clippy::cast_possible_truncation)]
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// A number as Terraform prints it: whole numbers without a fraction.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation)]
        let i = n as i64;
        i.to_string()
    } else {
        let s = format!("{n}");
        s
    }
}

/// The order sets and sorted outputs use: by type, then by value.
pub fn cmp_for_set(a: &Value, b: &Value) -> std::cmp::Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Unknown => 1,
            Value::Bool(_) => 2,
            Value::Number(_) => 3,
            Value::String(_) => 4,
            Value::Seq(..) => 5,
            Value::Map(..) => 6,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Seq(_, x), Value::Seq(_, y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let o = cmp_for_set(p, q);
                if o.is_ne() {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Map(_, x), Value::Map(_, y)) => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y.iter()) {
                let o = ka.cmp(kb).then_with(|| cmp_for_set(va, vb));
                if o.is_ne() {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Equality as `==` sees it: same value, with tuples equal to lists of the same elements.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Seq(ka, x), Value::Seq(kb, y)) => {
            (*ka == SeqKind::Set) == (*kb == SeqKind::Set)
                && x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q))
        }
        (Value::Map(_, x), Value::Map(_, y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && equal(va, vb))
        }
        _ => a == b,
    }
}

/// A type constraint: a variable's `type`, or an argument's type in a resource schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    /// `any`: no conversion.
    Any,
    /// `string`.
    String,
    /// `number`.
    Number,
    /// `bool`.
    Bool,
    /// `list(T)`.
    List(Box<Type>),
    /// `set(T)`.
    Set(Box<Type>),
    /// `map(T)`.
    Map(Box<Type>),
    /// `tuple([T, ...])`.
    Tuple(Vec<Type>),
    /// `object({ name = T, ... })`; attributes declared with `optional(T, default)` may be
    /// absent.
    Object(Vec<ObjectAttr>),
}

/// An attribute of an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAttr {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Declared with `optional(...)`.
    pub optional: bool,
    /// `optional(T, default)`'s default.
    pub default: Option<Value>,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Tuple(ts) => {
                f.write_str("tuple([")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
            Type::Object(attrs) => {
                f.write_str("object({")?;
                for (i, a) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if a.optional {
                        write!(f, "{} = optional({})", a.name, a.ty)?;
                    } else {
                        write!(f, "{} = {}", a.name, a.ty)?;
                    }
                }
                f.write_str("})")
            }
        }
    }
}

/// Why a value does not convert: the message, and the path inside the value (`[2].name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    /// Where inside the value, empty for the value itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn fail(want: &str, got: &Value) -> ConvertError {
    ConvertError {
        path: String::new(),
        message: format!("expected {want}, got {}", got.describe()),
    }
}

fn at(mut e: ConvertError, seg: &str) -> ConvertError {
    e.path = if e.path.is_empty() || e.path.starts_with('[') {
        format!("{seg}{}", e.path)
    } else {
        format!("{seg}.{}", e.path)
    };
    e
}

/// The article-and-noun a message uses for a type.
pub fn type_phrase(t: &Type) -> String {
    match t {
        Type::Any => "any value".into(),
        Type::String => "a string".into(),
        Type::Number => "a number".into(),
        Type::Bool => "a bool (true or false)".into(),
        Type::List(_) => format!("a list ({t})"),
        Type::Set(_) => format!("a set ({t})"),
        Type::Map(_) => format!("a map ({t})"),
        Type::Tuple(_) => format!("a tuple ({t})"),
        Type::Object(_) => "an object".into(),
    }
}

/// Converts `v` to type `t` as Terraform does.
pub fn convert(v: &Value, t: &Type) -> Result<Value, ConvertError> {
    if matches!(v, Value::Null | Value::Unknown) {
        return Ok(v.clone());
    }
    match t {
        Type::Any => Ok(v.clone()),
        Type::String => match v {
            Value::String(_) => Ok(v.clone()),
            Value::Number(_) | Value::Bool(_) => {
                Ok(Value::String(v.to_display().unwrap_or_default()))
            }
            _ => Err(fail(&type_phrase(t), v)),
        },
        Type::Number => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::String(s) => parse_number(s)
                .map(Value::Number)
                .ok_or_else(|| fail(&type_phrase(t), v)),
            _ => Err(fail(&type_phrase(t), v)),
        },
        Type::Bool => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            _ => Err(fail(&type_phrase(t), v)),
        },
        Type::List(et) | Type::Set(et) => {
            let items = match v {
                Value::Seq(_, items) => items,
                _ => return Err(fail(&type_phrase(t), v)),
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, x) in items.iter().enumerate() {
                out.push(convert(x, et).map_err(|e| at(e, &format!("[{i}]")))?);
            }
            let out = unify(out);
            Ok(if matches!(t, Type::Set(_)) {
                Value::set(out)
            } else {
                Value::list(out)
            })
        }
        Type::Map(et) => {
            let m = match v {
                Value::Map(_, m) => m,
                _ => return Err(fail(&type_phrase(t), v)),
            };
            let mut out = BTreeMap::new();
            for (k, x) in m.iter() {
                out.insert(
                    k.clone(),
                    convert(x, et).map_err(|e| at(e, &format!("[{k:?}]")))?,
                );
            }
            Ok(Value::map(out))
        }
        Type::Tuple(ts) => {
            let items = match v {
                Value::Seq(_, items) => items,
                _ => return Err(fail(&type_phrase(t), v)),
            };
            if items.len() != ts.len() {
                return Err(ConvertError {
                    path: String::new(),
                    message: format!(
                        "expected a tuple of {} elements, got {}",
                        ts.len(),
                        items.len()
                    ),
                });
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (x, et)) in items.iter().zip(ts).enumerate() {
                out.push(convert(x, et).map_err(|e| at(e, &format!("[{i}]")))?);
            }
            Ok(Value::tuple(out))
        }
        Type::Object(attrs) => {
            let m = match v {
                Value::Map(_, m) => m,
                _ => return Err(fail(&type_phrase(t), v)),
            };
            let mut out = BTreeMap::new();
            for a in attrs {
                match m.get(&a.name) {
                    Some(x) if !x.is_null() => {
                        out.insert(
                            a.name.clone(),
                            convert(x, &a.ty).map_err(|e| at(e, &a.name))?,
                        );
                    }
                    _ if a.optional => {
                        let d = match &a.default {
                            Some(d) => convert(d, &a.ty).map_err(|e| at(e, &a.name))?,
                            None => Value::Null,
                        };
                        out.insert(a.name.clone(), d);
                    }
                    Some(_) => {
                        out.insert(a.name.clone(), Value::Null);
                    }
                    None => {
                        return Err(ConvertError {
                            path: String::new(),
                            message: format!("attribute \"{}\" is required", a.name),
                        });
                    }
                }
            }
            Ok(Value::object(out))
        }
    }
}

/// Elements of a list must share one type; Terraform unifies mixed primitives to strings.
fn unify(items: Vec<Value>) -> Vec<Value> {
    let has_string = items.iter().any(|v| matches!(v, Value::String(_)));
    let has_other_primitive = items
        .iter()
        .any(|v| matches!(v, Value::Number(_) | Value::Bool(_)));
    if has_string && has_other_primitive {
        items
            .into_iter()
            .map(|v| match &v {
                Value::Number(_) | Value::Bool(_) => {
                    Value::String(v.to_display().unwrap_or_default())
                }
                _ => v,
            })
            .collect()
    } else {
        items
    }
}

/// A decimal number as Terraform's string-to-number conversion reads it.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn primitives_convert_as_terraform_does() {
        assert_eq!(
            convert(&Value::str("true"), &Type::Bool),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            convert(&Value::Number(8080.0), &Type::String),
            Ok(Value::str("8080"))
        );
        assert_eq!(
            convert(&Value::str("1.5"), &Type::Number),
            Ok(Value::Number(1.5))
        );
        let e = convert(&Value::str("yes"), &Type::Bool).unwrap_err();
        assert_eq!(
            e.message,
            "expected a bool (true or false), got string \"yes\""
        );
    }

    #[test]
    fn object_types_drop_extra_attributes_and_fill_optionals() {
        let t = Type::Object(vec![
            ObjectAttr {
                name: "name".into(),
                ty: Type::String,
                optional: false,
                default: None,
            },
            ObjectAttr {
                name: "port".into(),
                ty: Type::Number,
                optional: true,
                default: Some(Value::Number(80.0)),
            },
        ]);
        let v = convert(
            &obj(&[("name", Value::str("a")), ("extra", Value::Bool(true))]),
            &t,
        )
        .expect("converts");
        assert_eq!(
            v,
            obj(&[("name", Value::str("a")), ("port", Value::Number(80.0))])
        );
        let e = convert(&obj(&[("port", Value::Number(1.0))]), &t).unwrap_err();
        assert_eq!(e.message, "attribute \"name\" is required");
    }

    #[test]
    fn errors_name_the_element() {
        let t = Type::List(Box::new(Type::Number));
        let e = convert(&Value::tuple(vec![Value::Number(1.0), Value::str("x")]), &t).unwrap_err();
        assert_eq!(e.to_string(), "[1]: expected a number, got string \"x\"");
    }

    #[test]
    fn sets_are_sorted_and_unique() {
        let s = Value::set(vec![Value::str("b"), Value::str("a"), Value::str("b")]);
        assert_eq!(s.as_seq().map(<[Value]>::len), Some(2));
        assert_eq!(s.as_seq().and_then(|v| v[0].as_str()), Some("a"));
    }

    #[test]
    fn numbers_print_like_terraform() {
        assert_eq!(format_number(3600.0), "3600");
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(-2.0), "-2");
    }
}
