//! DynamoDB's data types: `AttributeValue` with its JSON form (`{"S": "x"}`), the checks
//! DynamoDB makes on the way in (one type per value, non-empty sets without duplicates,
//! `NULL` only `true`, 32 levels of nesting), and the item size as DynamoDB computes it.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::error::Error;
use super::number::Number;

/// An item, or a map value: attribute name to value.
pub type Item = BTreeMap<String, AttributeValue>;

/// The deepest a document may nest.
pub const MAX_NESTING: usize = 32;

/// DynamoDB's refusal of a value nested deeper (in its words, as the conformance suite pins
/// them against the service for PartiQL parameters).
const NESTED_TOO_DEEP: &str = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";

/// The longest attribute name DynamoDB takes, in UTF-8 bytes: 64 KiB less one (the service's
/// refusal says "less than 65536 bytes").
pub const MAX_NAME: usize = 65_535;

/// DynamoDB's refusal of a longer attribute name, wherever one is given (an item's name at
/// any depth, an expression attribute name, the legacy parameters' names).
pub const NAME_TOO_LARGE: &str =
    "1 validation error detected: Attribute name is too large, must be less than 65536 bytes";

/// The refusal of an empty attribute name as an item's attribute or wherever a name is
/// given. DynamoDB's words start "Empty attribute name" (ScyllaDB's Alternator tests, run
/// against DynamoDB, match that much); the prefix is the one its refusal of a long name has.
pub const NAME_EMPTY: &str = "1 validation error detected: Empty attribute name";

/// Refuses an attribute name longer than DynamoDB takes, or empty.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::validation(NAME_EMPTY));
    }
    check_name_length(name)
}

/// Refuses a map key longer than DynamoDB takes: the limit holds at every depth, while an
/// empty key inside a map is not known to be refused.
fn check_name_length(name: &str) -> Result<(), Error> {
    if name.len() > MAX_NAME {
        return Err(Error::validation(NAME_TOO_LARGE));
    }
    Ok(())
}

/// The largest item, in DynamoDB's size units.
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// String.
    S(String),
    /// Number.
    N(Number),
    /// Binary.
    B(Vec<u8>),
    /// Boolean.
    Bool(bool),
    /// Null (always `true` on the wire).
    Null,
    /// Map.
    M(Item),
    /// List.
    L(Vec<AttributeValue>),
    /// String set.
    Ss(Vec<String>),
    /// Number set.
    Ns(Vec<Number>),
    /// Binary set.
    Bs(Vec<Vec<u8>>),
}

/// The scalar types a key attribute may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// `S`.
    S,
    /// `N`.
    N,
    /// `B`.
    B,
}

impl ScalarType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S => "S",
            Self::N => "N",
            Self::B => "B",
        }
    }

    /// Parses `S`, `N` or `B`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "S" => Some(Self::S),
            "N" => Some(Self::N),
            "B" => Some(Self::B),
            _ => None,
        }
    }

    /// Whether `value` has this type.
    pub fn matches(self, value: &AttributeValue) -> bool {
        matches!(
            (self, value),
            (Self::S, AttributeValue::S(_))
                | (Self::N, AttributeValue::N(_))
                | (Self::B, AttributeValue::B(_))
        )
    }
}

impl AttributeValue {
    /// The wire name of the type (`S`, `N`, `BOOL`, `SS`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::S(_) => "S",
            Self::N(_) => "N",
            Self::B(_) => "B",
            Self::Bool(_) => "BOOL",
            Self::Null => "NULL",
            Self::M(_) => "M",
            Self::L(_) => "L",
            Self::Ss(_) => "SS",
            Self::Ns(_) => "NS",
            Self::Bs(_) => "BS",
        }
    }

    /// The size DynamoDB charges for the value (without its attribute name).
    pub fn size(&self) -> usize {
        match self {
            Self::S(s) => s.len(),
            Self::N(n) => n.size(),
            Self::B(b) => b.len(),
            Self::Bool(_) | Self::Null => 1,
            Self::Ss(v) => v.iter().map(String::len).sum(),
            Self::Ns(v) => v.iter().map(Number::size).sum(),
            Self::Bs(v) => v.iter().map(Vec::len).sum(),
            Self::L(v) => 3 + v.len() + v.iter().map(Self::size).sum::<usize>(),
            Self::M(m) => 3 + m.iter().map(|(k, v)| k.len() + 1 + v.size()).sum::<usize>(),
        }
    }

    /// Equality as DynamoDB's `=` sees it: sets compare as sets.
    pub fn same_as(&self, other: &AttributeValue) -> bool {
        match (self, other) {
            (Self::Ss(a), Self::Ss(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Self::Ns(a), Self::Ns(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Self::Bs(a), Self::Bs(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Self::L(a), Self::L(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            (Self::M(a), Self::M(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k).is_some_and(|w| v.same_as(w)))
            }
            _ => self == other,
        }
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let (tag, v) = match self {
            Self::S(s) => ("S", Value::String(s.clone())),
            Self::N(n) => ("N", Value::String(n.to_string())),
            Self::B(b) => ("B", Value::String(BASE64.encode(b))),
            Self::Bool(b) => ("BOOL", Value::Bool(*b)),
            Self::Null => ("NULL", Value::Bool(true)),
            Self::M(m) => ("M", item_to_json(m)),
            Self::L(l) => ("L", Value::Array(l.iter().map(Self::to_json).collect())),
            Self::Ss(v) => (
                "SS",
                Value::Array(v.iter().map(|s| Value::String(s.clone())).collect()),
            ),
            Self::Ns(v) => (
                "NS",
                Value::Array(v.iter().map(|n| Value::String(n.to_string())).collect()),
            ),
            Self::Bs(v) => (
                "BS",
                Value::Array(v.iter().map(|b| Value::String(BASE64.encode(b))).collect()),
            ),
        };
        let mut m = Map::with_capacity(1);
        m.insert(tag.to_owned(), v);
        Value::Object(m)
    }

    /// Reads a value from its JSON form with DynamoDB's checks. Validation messages carry
    /// DynamoDB's wording without the context prefix the caller adds.
    pub fn from_json(v: &Value) -> Result<Self, Error> {
        Self::from_json_at(v, 0)
    }

    fn from_json_at(v: &Value, depth: usize) -> Result<Self, Error> {
        if depth > MAX_NESTING {
            return Err(Error::validation(NESTED_TOO_DEEP));
        }
        let Value::Object(obj) = v else {
            return Err(shape_error(v, "structure"));
        };
        const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];
        let mut present = obj
            .iter()
            .filter(|(k, v)| TYPES.contains(&k.as_str()) && !v.is_null());
        let Some((tag, inner)) = present.next() else {
            return Err(Error::validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            ));
        };
        if present.next().is_some() {
            // Number syntax is checked before the one-type rule, as DynamoDB does.
            for (k, v) in obj {
                if k == "N"
                    && let Value::String(s) = v
                {
                    Number::parse(s).map_err(|e| Error::validation(e.to_string()))?;
                }
            }
            return Err(Error::validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ));
        }
        Ok(match tag.as_str() {
            "S" => Self::S(json_string(inner)?.to_owned()),
            "N" => Self::N(parse_number(json_string(inner)?)?),
            "B" => Self::B(decode_binary(json_string(inner)?)?),
            "BOOL" => Self::Bool(json_bool(inner)?),
            "NULL" => {
                if !json_bool(inner)? {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: Null attribute value types must have the value of true",
                    ));
                }
                Self::Null
            }
            "M" => {
                let Value::Object(m) = inner else {
                    return Err(shape_error(inner, "map"));
                };
                let mut out = Item::new();
                for (k, v) in m {
                    check_name_length(k)?;
                    out.insert(k.clone(), Self::from_json_at(v, depth + 1)?);
                }
                Self::M(out)
            }
            "L" => {
                let Value::Array(l) = inner else {
                    return Err(shape_error(inner, "list"));
                };
                Self::L(
                    l.iter()
                        .map(|v| Self::from_json_at(v, depth + 1))
                        .collect::<Result<_, _>>()?,
                )
            }
            "SS" => {
                let items = json_array(inner)?
                    .iter()
                    .map(|v| json_string(v).map(str::to_owned))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: An string set  may not be empty",
                    ));
                }
                if has_duplicates(&items) {
                    return Err(Error::validation(format!(
                        "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
                        items.join(", ")
                    )));
                }
                Self::Ss(items)
            }
            "NS" => {
                let items = json_array(inner)?
                    .iter()
                    .map(|v| json_string(v).and_then(parse_number))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: An number set  may not be empty",
                    ));
                }
                if has_duplicates(&items) {
                    return Err(Error::validation("Input collection contains duplicates"));
                }
                Self::Ns(items)
            }
            "BS" => {
                let raw = json_array(inner)?;
                let items = raw
                    .iter()
                    .map(|v| json_string(v).and_then(decode_binary))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: Binary sets should not be empty",
                    ));
                }
                if has_duplicates(&items) {
                    let shown: Vec<String> = items.iter().map(|b| BASE64.encode(b)).collect();
                    return Err(Error::validation(format!(
                        "One or more parameter values were invalid: Input collection [{}]of type BS contains duplicates.",
                        shown.join(", ")
                    )));
                }
                Self::Bs(items)
            }
            _ => unreachable_type(),
        })
    }

    /// The value as a string, if it is one.
    pub fn as_s(&self) -> Option<&str> {
        match self {
            Self::S(s) => Some(s),
            _ => None,
        }
    }
}

fn unreachable_type() -> AttributeValue {
    // `present` only yields the ten tags matched above.
    AttributeValue::Null
}

fn has_duplicates<T: PartialEq>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a))
}

fn parse_number(s: &str) -> Result<Number, Error> {
    Number::parse(s).map_err(|e| Error::validation(e.to_string()))
}

fn decode_binary(s: &str) -> Result<Vec<u8>, Error> {
    BASE64.decode(s).map_err(|_| {
        Error::Serialization(
            "Base64 encoded length is expected a multiple of 4 bytes but found: ".to_owned()
                + &s.len().to_string(),
        )
    })
}

/// The message Coral's deserializer gives when a JSON value has the wrong shape.
pub(crate) fn shape_error(v: &Value, expected: &str) -> Error {
    let msg = match (v, expected) {
        (Value::Object(_), _) => "Start of structure or map found where not expected".to_owned(),
        (Value::Array(_), _) => "Start of list found where not expected".to_owned(),
        (Value::String(_), "string") => "Unexpected value type in payload".to_owned(),
        (Value::Number(n), "string") if n.is_f64() => {
            "DECIMAL_VALUE cannot be converted to String".to_owned()
        }
        (Value::Number(_), "string") => "NUMBER_VALUE cannot be converted to String".to_owned(),
        (Value::Bool(true), "string") => "TRUE_VALUE cannot be converted to String".to_owned(),
        (Value::Bool(false), "string") => "FALSE_VALUE cannot be converted to String".to_owned(),
        (Value::Number(_), "boolean") => "NUMBER_VALUE cannot be converted to Boolean".to_owned(),
        (Value::String(_), "boolean") => "STRING_VALUE cannot be converted to Boolean".to_owned(),
        _ => "Unexpected value type in payload".to_owned(),
    };
    Error::Serialization(msg)
}

fn json_string(v: &Value) -> Result<&str, Error> {
    v.as_str().ok_or_else(|| shape_error(v, "string"))
}

fn json_bool(v: &Value) -> Result<bool, Error> {
    v.as_bool().ok_or_else(|| shape_error(v, "boolean"))
}

fn json_array(v: &Value) -> Result<&Vec<Value>, Error> {
    match v {
        Value::Array(a) => Ok(a),
        Value::String(_) => Err(Error::Serialization(
            "Unrecognized collection type class java.lang.String".into(),
        )),
        other => Err(shape_error(other, "list")),
    }
}

/// An item's JSON form.
pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Reads an item (a map of attribute values).
pub fn item_from_json(v: &Value) -> Result<Item, Error> {
    let Value::Object(m) = v else {
        return Err(shape_error(v, "map"));
    };
    let mut item = Item::new();
    for (k, v) in m {
        check_name(k)?;
        item.insert(k.clone(), AttributeValue::from_json(v)?);
    }
    Ok(item)
}

/// The size DynamoDB charges for an item: each name's UTF-8 length plus its value's size.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_type() {
        let v = json!({"M": {
            "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "AAE="}, "t": {"BOOL": true},
            "z": {"NULL": true}, "l": {"L": [{"S": "a"}, {"N": "2"}]},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["AA=="]}
        }});
        let parsed = AttributeValue::from_json(&v).unwrap();
        let mut expected = v.clone();
        expected["M"]["n"] = json!({"N": "1.5"});
        assert_eq!(parsed.to_json(), expected);
    }

    #[test]
    fn refuses_bad_shapes_with_dynamodb_messages() {
        let cases = [
            (
                json!({}),
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            ),
            (
                json!({"S": "a", "N": "1"}),
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ),
            (
                json!({"SS": []}),
                "One or more parameter values were invalid: An string set  may not be empty",
            ),
            (
                json!({"SS": ["a", "a"]}),
                "One or more parameter values were invalid: Input collection [a, a] contains duplicates.",
            ),
            (
                json!({"NULL": false}),
                "One or more parameter values were invalid: Null attribute value types must have the value of true",
            ),
            (
                json!({"N": "abc"}),
                "The parameter cannot be converted to a numeric value: abc",
            ),
            (
                json!({"S": 5}),
                "NUMBER_VALUE cannot be converted to String",
            ),
        ];
        for (input, message) in cases {
            let err = AttributeValue::from_json(&input).unwrap_err();
            assert_eq!(err.to_string(), message, "{input}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let mut v = json!({"S": "leaf"});
        for _ in 0..40 {
            v = json!({"L": [v]});
        }
        let err = AttributeValue::from_json(&v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
        );
    }

    #[test]
    fn sizes_as_dynamodb() {
        let item = item_from_json(&json!({
            "id": {"S": "abc"}, "n": {"N": "42"}, "l": {"L": [{"BOOL": true}]},
            "m": {"M": {"k": {"S": "v"}}}
        }))
        .unwrap();
        // id: 2+3, n: 1+2, l: 1+(3+1+1), m: 1+(3+1+1+1)
        assert_eq!(item_size(&item), 5 + 3 + 6 + 7);
    }
}
