//! The parameters DynamoDB had before expressions, which old SDK code still sends:
//! `Expected` + `ConditionalOperator`, `KeyConditions`, `QueryFilter`/`ScanFilter`,
//! `AttributeUpdates` and `AttributesToGet`. Each becomes the expression tree it means, so
//! one evaluator serves both.

use serde_json::{Map, Value};

use super::error::Error;
use super::expr::{Action, Cmp, Condition, Operand, Path, SetOperand, SetValue, Update};
use super::types::AttributeValue;

fn attr(name: &str) -> Operand {
    Operand::Path(Path::attr(name))
}

fn value(v: AttributeValue) -> Operand {
    Operand::Value(String::new(), v)
}

fn values(spec: &Map<String, Value>) -> Result<Vec<AttributeValue>, Error> {
    match spec.get("AttributeValueList") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(AttributeValue::from_json).collect(),
        Some(other) => Err(super::types::shape_error(other, "list")),
    }
}

fn scalar_only(op: &str, v: &AttributeValue) -> Result<(), Error> {
    match v {
        AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_) => Ok(()),
        other => Err(Error::validation(format!(
            "One or more parameter values were invalid: ComparisonOperator {op} is not valid for {} AttributeValue type",
            other.type_name()
        ))),
    }
}

/// One `{ComparisonOperator, AttributeValueList}` on attribute `name`.
pub(crate) fn comparison(
    name: &str,
    op: &str,
    list: Vec<AttributeValue>,
) -> Result<Condition, Error> {
    let count = |n: usize| -> Result<(), Error> {
        if list.len() == n {
            Ok(())
        } else {
            Err(Error::validation(format!(
                "One or more parameter values were invalid: Invalid number of argument(s) for the {op} ComparisonOperator"
            )))
        }
    };
    let first = || list.first().cloned().unwrap_or(AttributeValue::Null);
    Ok(match op {
        "EQ" | "NE" => {
            count(1)?;
            let cmp = if op == "EQ" { Cmp::Eq } else { Cmp::Ne };
            Condition::Compare(attr(name), cmp, value(first()))
        }
        "LT" | "LE" | "GT" | "GE" => {
            count(1)?;
            scalar_only(op, &first())?;
            let cmp = match op {
                "LT" => Cmp::Lt,
                "LE" => Cmp::Le,
                "GT" => Cmp::Gt,
                _ => Cmp::Ge,
            };
            Condition::Compare(attr(name), cmp, value(first()))
        }
        "NOT_NULL" => {
            count(0)?;
            Condition::Exists(Path::attr(name))
        }
        "NULL" => {
            count(0)?;
            Condition::NotExists(Path::attr(name))
        }
        "CONTAINS" | "NOT_CONTAINS" => {
            count(1)?;
            scalar_only(op, &first())?;
            let c = Condition::Contains(attr(name), value(first()));
            if op == "CONTAINS" {
                c
            } else {
                Condition::And(
                    Box::new(Condition::Exists(Path::attr(name))),
                    Box::new(Condition::Not(Box::new(c))),
                )
            }
        }
        "BEGINS_WITH" => {
            count(1)?;
            if !matches!(first(), AttributeValue::S(_) | AttributeValue::B(_)) {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: ComparisonOperator {op} is not valid for {} AttributeValue type",
                    first().type_name()
                )));
            }
            Condition::BeginsWith(attr(name), value(first()))
        }
        "IN" => {
            if list.is_empty() {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Invalid number of argument(s) for the {op} ComparisonOperator"
                )));
            }
            for v in &list {
                scalar_only(op, v)?;
            }
            if list.iter().any(|v| v.type_name() != list[0].type_name()) {
                return Err(Error::validation(SAME_TYPE));
            }
            Condition::In(attr(name), list.into_iter().map(value).collect())
        }
        "BETWEEN" => {
            count(2)?;
            let (lo, hi) = (list[0].clone(), list[1].clone());
            scalar_only(op, &lo)?;
            scalar_only(op, &hi)?;
            if lo.type_name() != hi.type_name() {
                return Err(Error::validation(SAME_TYPE));
            }
            if super::expr::eval::compare_values(&lo, &hi) == Some(std::cmp::Ordering::Greater) {
                return Err(Error::validation(
                    "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
                ));
            }
            Condition::Between(attr(name), value(lo), value(hi))
        }
        other => {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{other}' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            )));
        }
    })
}

fn combine(conds: Vec<Condition>, operator: Option<&str>) -> Result<Option<Condition>, Error> {
    let or = match operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(other) => {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
            )));
        }
    };
    if operator.is_some() {
        match conds.len() {
            0 => return Err(Error::validation(OPERATOR_WITHOUT_CONDITIONS)),
            1 => return Err(Error::validation(OPERATOR_WITH_ONE_CONDITION)),
            _ => {}
        }
    }
    let mut it = conds.into_iter();
    let Some(mut acc) = it.next() else {
        return Ok(None);
    };
    for c in it {
        acc = if or {
            Condition::Or(Box::new(acc), Box::new(c))
        } else {
            Condition::And(Box::new(acc), Box::new(c))
        };
    }
    Ok(Some(acc))
}

/// DynamoDB's refusal of a ConditionalOperator given with no Expected or filter, or an
/// empty one (as tests run against both DynamoDB and ExtendDB record it).
pub(crate) const OPERATOR_WITHOUT_CONDITIONS: &str =
    "ConditionalOperator cannot be used without Filter or Expected";

/// DynamoDB's refusal of a ConditionalOperator given with a single condition.
const OPERATOR_WITH_ONE_CONDITION: &str =
    "ConditionalOperator can only be used when Filter or Expected has two or more elements";

/// DynamoDB's refusal of an IN or BETWEEN whose values differ in type.
const SAME_TYPE: &str = "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type";

/// `Expected` (with `ConditionalOperator`) as a condition.
pub(crate) fn expected(v: &Value, operator: Option<&str>) -> Result<Option<Condition>, Error> {
    let Value::Object(m) = v else {
        return Err(super::types::shape_error(v, "map"));
    };
    let mut conds = Vec::new();
    for (name, spec) in m {
        super::types::check_name(name)?;
        let Value::Object(spec) = spec else {
            return Err(super::types::shape_error(spec, "structure"));
        };
        let exists = spec.get("Exists").and_then(Value::as_bool);
        let val = spec
            .get("Value")
            .filter(|v| !v.is_null())
            .map(AttributeValue::from_json)
            .transpose()?;
        let op = spec.get("ComparisonOperator").and_then(Value::as_str);
        let list = values(spec)?;
        let c = match (op, exists, val) {
            (Some(_), _, Some(_)) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Value and AttributeValueList cannot be used together for Attribute: {name}"
                )));
            }
            (Some(_), Some(_), _) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Exists and ComparisonOperator cannot be used together for Attribute: {name}"
                )));
            }
            (Some(op), None, None) => comparison(name, op, list)?,
            (None, Some(false), Some(_)) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: {name}"
                )));
            }
            (None, Some(false), None) => Condition::NotExists(Path::attr(name)),
            (None, Some(true) | None, Some(v)) => Condition::Compare(attr(name), Cmp::Eq, value(v)),
            (None, Some(true), None) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: {name}"
                )));
            }
            (None, None, None) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Value must be provided when Exists is null for Attribute: {name}"
                )));
            }
        };
        conds.push(c);
    }
    combine(conds, operator)
}

/// The comparison operators DynamoDB's model knows, in the order its messages list them.
const OPERATORS: [&str; 13] = [
    "IN",
    "NULL",
    "BETWEEN",
    "LT",
    "NOT_CONTAINS",
    "EQ",
    "GT",
    "NOT_NULL",
    "NE",
    "LE",
    "BEGINS_WITH",
    "GE",
    "CONTAINS",
];

/// `QueryFilter`, `ScanFilter` or `KeyConditions` (named `member`, in the request's camel
/// case, for the messages) as a condition.
pub(crate) fn filter(
    v: &Value,
    member: &str,
    operator: Option<&str>,
) -> Result<Option<Condition>, Error> {
    let Value::Object(m) = v else {
        return Err(super::types::shape_error(v, "map"));
    };
    let mut conds = Vec::new();
    for (name, spec) in m {
        super::types::check_name(name)?;
        let Value::Object(spec) = spec else {
            return Err(super::types::shape_error(spec, "structure"));
        };
        let Some(op) = spec.get("ComparisonOperator").and_then(Value::as_str) else {
            return Err(Error::validation(
                "1 validation error detected: Value null at 'comparisonOperator' failed to satisfy constraint: Member must not be null",
            ));
        };
        if !OPERATORS.contains(&op) {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{op}' at '{member}.{name}.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                OPERATORS.join(", ")
            )));
        }
        conds.push(comparison(name, op, values(spec)?)?);
    }
    combine(conds, operator)
}

/// `AttributeUpdates` as an update.
pub(crate) fn attribute_updates(v: &Value, key_names: &[&str]) -> Result<Update, Error> {
    let Value::Object(m) = v else {
        return Err(super::types::shape_error(v, "map"));
    };
    let mut update = Update {
        legacy: true,
        ..Update::default()
    };
    for (name, spec) in m {
        super::types::check_name(name)?;
        if key_names.contains(&name.as_str()) {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
            )));
        }
        let action = spec.get("Action").and_then(Value::as_str).unwrap_or("PUT");
        let val = spec
            .get("Value")
            .filter(|v| !v.is_null())
            .map(AttributeValue::from_json)
            .transpose()?;
        let path = Path::attr(name);
        let a = match (action, val) {
            ("PUT", Some(v)) => {
                Action::Set(path, SetValue::Operand(SetOperand::Value(String::new(), v)))
            }
            ("PUT", None) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified: {name}"
                )));
            }
            ("DELETE", None) => Action::Remove(path),
            (
                "DELETE",
                Some(v @ (AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_))),
            ) => Action::Delete(path, v),
            ("DELETE", Some(_)) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: DELETE action with value is not supported for the type {}",
                    "scalar"
                )));
            }
            ("ADD", Some(AttributeValue::L(l))) => Action::Set(
                path.clone(),
                SetValue::Operand(SetOperand::ListAppend(
                    Box::new(SetOperand::IfNotExists(
                        path,
                        Box::new(SetOperand::Value(
                            String::new(),
                            AttributeValue::L(Vec::new()),
                        )),
                    )),
                    Box::new(SetOperand::Value(String::new(), AttributeValue::L(l))),
                )),
            ),
            (
                "ADD",
                Some(
                    v @ (AttributeValue::N(_)
                    | AttributeValue::Ss(_)
                    | AttributeValue::Ns(_)
                    | AttributeValue::Bs(_)),
                ),
            ) => Action::Add(path, v),
            ("ADD", Some(_)) => {
                return Err(Error::validation(
                    "One or more parameter values were invalid: ADD action is not supported for the type of the attribute value",
                ));
            }
            ("ADD", None) => {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified: {name}"
                )));
            }
            (other, _) => {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )));
            }
        };
        update.actions.push(a);
    }
    Ok(update)
}

/// `AttributesToGet` as projection paths.
pub(crate) fn attributes_to_get(v: &Value) -> Result<Vec<Path>, Error> {
    let Value::Array(a) = v else {
        return Err(super::types::shape_error(v, "list"));
    };
    let mut out: Vec<Path> = Vec::new();
    for n in a {
        let Value::String(n) = n else {
            return Err(super::types::shape_error(n, "string"));
        };
        super::types::check_name(n)?;
        let p = Path::attr(n);
        if out.contains(&p) {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Duplicate value in attribute name: {n}"
            )));
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err(Error::validation(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    Ok(out)
}
