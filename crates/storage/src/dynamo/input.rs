//! Reading an operation's JSON input with DynamoDB's refusals: Coral's shape errors
//! (SerializationException) for a value of the wrong JSON type, and its constraint
//! messages (`1 validation error detected: Value null at 'tableName' failed to satisfy
//! constraint: Member must not be null`) collected over the whole request.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::Error;
use super::expr::Placeholders;
use super::types::{AttributeValue, Item, NAME_TOO_LARGE, check_name, item_from_json, shape_error};

/// An operation's input object.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    obj: &'a Map<String, Value>,
    violations: Vec<String>,
}

const TABLE_NAME_CHARS: &str = "[a-zA-Z0-9_.-]+";

impl<'a> Input<'a> {
    /// The request body, which must be a JSON object.
    pub(crate) fn new(body: &'a Value) -> Result<Self, Error> {
        match body {
            Value::Object(obj) => Ok(Self {
                obj,
                violations: Vec::new(),
            }),
            _ => Err(Error::Serialization(
                "Start of structure or map found where not expected".into(),
            )),
        }
    }

    /// The raw value of a member (absent and JSON `null` are the same to Coral).
    pub(crate) fn raw(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// Whether a member is present.
    pub(crate) fn has(&self, field: &str) -> bool {
        self.raw(field).is_some()
    }

    /// Records a constraint violation; [`Input::finish`] reports them all.
    pub(crate) fn violation(&mut self, message: String) {
        self.violations.push(message);
    }

    /// `1 validation error detected: ...` for everything recorded.
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        if self.violations.is_empty() {
            return Ok(());
        }
        Err(violations_error(&std::mem::take(&mut self.violations)))
    }

    /// A string member.
    pub(crate) fn string(&self, field: &str) -> Result<Option<&'a str>, Error> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(shape_error(v, "string")),
        }
    }

    /// A boolean member.
    pub(crate) fn boolean(&self, field: &str) -> Result<Option<bool>, Error> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(shape_error(v, "boolean")),
        }
    }

    /// An integer member.
    pub(crate) fn integer(&self, field: &str) -> Result<Option<i64>, Error> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| {
                    Error::Serialization("NUMBER_VALUE cannot be converted to Integer".into())
                }),
            Some(Value::String(_)) => Err(Error::Serialization(
                "STRING_VALUE cannot be converted to Integer".into(),
            )),
            Some(v) => Err(shape_error(v, "integer")),
        }
    }

    /// An array member.
    pub(crate) fn array(&self, field: &str) -> Result<Option<&'a Vec<Value>>, Error> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(Value::String(_)) => Err(Error::Serialization(
                "Unrecognized collection type class java.lang.String".into(),
            )),
            Some(v) => Err(shape_error(v, "list")),
        }
    }

    /// An object member.
    pub(crate) fn object(&self, field: &str) -> Result<Option<&'a Map<String, Value>>, Error> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(shape_error(v, "map")),
        }
    }

    /// `TableName` with its constraints (required, 3 to 255 characters of `[a-zA-Z0-9_.-]`).
    pub(crate) fn table_name(&mut self) -> Result<String, Error> {
        self.table_name_at("TableName", "tableName")
    }

    /// A table name member under another name (`TableName` in a nested structure...).
    pub(crate) fn table_name_at(&mut self, field: &str, path: &str) -> Result<String, Error> {
        let name = self.string(field)?;
        match name {
            None => {
                self.violation(format!(
                    "Value null at '{path}' failed to satisfy constraint: Member must not be null"
                ));
                Ok(String::new())
            }
            Some(n) => {
                check_table_name(n, path, &mut self.violations);
                Ok(n.to_owned())
            }
        }
    }

    /// An enum member: records a violation for a value outside `allowed`.
    pub(crate) fn enum_value(
        &mut self,
        field: &str,
        path: &str,
        allowed: &[&str],
    ) -> Result<Option<&'a str>, Error> {
        let v = self.string(field)?;
        if let Some(s) = v
            && !allowed.contains(&s)
        {
            self.violation(format!(
                    "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ));
        }
        Ok(v)
    }

    /// An item-shaped member (`Item`, `Key`, `ExclusiveStartKey`).
    pub(crate) fn item(&self, field: &str) -> Result<Option<Item>, Error> {
        match self.raw(field) {
            None => Ok(None),
            Some(v) => item_from_json(v).map(Some),
        }
    }

    /// ExpressionAttributeNames and ExpressionAttributeValues of an operation's request,
    /// checked as DynamoDB does.
    pub(crate) fn placeholders(&self) -> Result<Placeholders, Error> {
        self.placeholders_in(true)
    }

    /// [`Self::placeholders`] of a request (`top_level`) or of one part of a batch or a
    /// transaction, whose empty ExpressionAttributeValues DynamoDB reports without the
    /// validation prefix.
    pub(crate) fn placeholders_in(&self, top_level: bool) -> Result<Placeholders, Error> {
        let mut names = HashMap::new();
        if let Some(m) = self.object("ExpressionAttributeNames")? {
            if m.is_empty() {
                return Err(Error::validation(
                    "ExpressionAttributeNames must not be empty",
                ));
            }
            for (k, v) in m {
                let Value::String(s) = v else {
                    return Err(shape_error(v, "string"));
                };
                if !k.starts_with('#') || k.len() < 2 {
                    return Err(Error::validation(format!(
                        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
                check_name(s)?;
                names.insert(k.clone(), s.clone());
            }
        }
        let mut values = HashMap::new();
        if let Some(m) = self.object("ExpressionAttributeValues")? {
            if m.is_empty() {
                return Err(Error::validation(if top_level {
                    "1 validation error detected: ExpressionAttributeValues must not be empty"
                } else {
                    "ExpressionAttributeValues must not be empty"
                }));
            }
            for (k, v) in m {
                if !k.starts_with(':') || k.len() < 2 {
                    return Err(Error::validation(format!(
                        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
                let value = AttributeValue::from_json(v).map_err(|e| match e {
                    // A name too large inside a value is refused in the same words as
                    // anywhere else, without naming the placeholder.
                    Error::Validation(m) if m == NAME_TOO_LARGE => Error::Validation(m),
                    Error::Validation(m) => Error::Validation(format!(
                        "ExpressionAttributeValues contains invalid value: {m} for key {k}"
                    )),
                    other => other,
                })?;
                values.insert(k.clone(), value);
            }
        }
        Ok(Placeholders::new(names, values))
    }

    /// The names of the members present, for the "both kinds of parameters" check.
    pub(crate) fn present<'f>(&self, fields: &[&'f str]) -> Vec<&'f str> {
        fields.iter().copied().filter(|f| self.has(f)).collect()
    }
}

/// Coral's refusal of a request breaking its model's constraints: `N validation error(s)
/// detected: ` and each violation, in the order found.
pub(crate) fn violations_error(violations: &[String]) -> Error {
    let n = violations.len();
    let noun = if n == 1 { "error" } else { "errors" };
    Error::Validation(format!(
        "{n} validation {noun} detected: {}",
        violations.join("; ")
    ))
}

/// Records the TableName constraints DynamoDB checks. A table's ARN may stand for its name
/// (up to 1,024 characters); which table it names is resolved with the catalog.
pub(crate) fn check_table_name(n: &str, path: &str, out: &mut Vec<String>) {
    if n.starts_with("arn:") {
        if n.len() > 1024 {
            out.push(format!(
                "Value '{n}' at '{path}' failed to satisfy constraint: Member must have length less than or equal to 1024"
            ));
        }
        return;
    }
    if n.is_empty() {
        out.push(format!(
            "Value '' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ));
        return;
    }
    if n.len() < 3 {
        out.push(format!(
            "Value '{n}' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to 3"
        ));
    }
    if n.len() > 255 {
        out.push(format!(
            "Value '{n}' at '{path}' failed to satisfy constraint: Member must have length less than or equal to 255"
        ));
    }
    if !n
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
    {
        out.push(format!(
            "Value '{n}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {TABLE_NAME_CHARS}"
        ));
    }
}

/// Refuses a request that mixes expression parameters with their legacy counterparts.
pub(crate) fn refuse_mixed(
    input: &Input<'_>,
    legacy: &[&str],
    modern: &[&str],
) -> Result<(), Error> {
    let (l, m) = (input.present(legacy), input.present(modern));
    if !l.is_empty() && !m.is_empty() {
        return Err(Error::validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            l.join(", "),
            m.join(", ")
        )));
    }
    Ok(())
}

/// Refuses ExpressionAttributeNames/Values when no expression is present.
pub(crate) fn refuse_orphan_placeholders(
    input: &Input<'_>,
    expressions: &[&str],
) -> Result<(), Error> {
    if input.present(expressions).is_empty() {
        // DynamoDB names the expressions that are missing: "X is null", "X and Y are null".
        let missing = match expressions {
            [one] => format!("{one} is null"),
            [rest @ .., last] => format!("{} and {last} are null", rest.join(", ")),
            [] => String::new(),
        };
        // Names are refused without saying which expressions are missing; values with it.
        if input.has("ExpressionAttributeNames") {
            return Err(Error::validation(
                "ExpressionAttributeNames can only be specified when using expressions",
            ));
        }
        if input.has("ExpressionAttributeValues") {
            return Err(Error::validation(format!(
                "ExpressionAttributeValues can only be specified when using expressions: {missing}"
            )));
        }
    }
    Ok(())
}
