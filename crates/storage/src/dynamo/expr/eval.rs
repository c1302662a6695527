//! Evaluating expressions against items: conditions and filters, projections, and the
//! update actions with DynamoDB's runtime errors (a missing operand, a wrong operand type,
//! a path whose parent does not exist).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Action, Cmp, Condition, Operand, Path, SetOperand, SetValue, Step, Update};
use crate::dynamo::error::Error;
use crate::dynamo::number::Number;
use crate::dynamo::types::{AttributeValue, Item};

const INVALID_PATH: &str =
    "The document path provided in the update expression is invalid for update";
const WRONG_TYPE: &str = "An operand in the update expression has an incorrect data type";
const LEGACY_WRONG_TYPE: &str = "Type mismatch for attribute to update";
const MISSING: &str =
    "The provided expression refers to an attribute that does not exist in the item";

/// The value at `path`, if the item has one there.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut steps = path.0.iter();
    let Some(Step::Key(first)) = steps.next() else {
        return None;
    };
    let mut cur = item.get(first)?;
    for step in steps {
        cur = match (step, cur) {
            (Step::Key(k), AttributeValue::M(m)) => m.get(k)?,
            (Step::Index(i), AttributeValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Orders two values of one comparable type (N, S, B); `None` for anything else.
pub fn compare_values(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

pub(crate) fn size_of(v: &AttributeValue) -> Option<usize> {
    match v {
        AttributeValue::S(s) => Some(s.len()),
        AttributeValue::B(b) => Some(b.len()),
        AttributeValue::Ss(s) => Some(s.len()),
        AttributeValue::Ns(s) => Some(s.len()),
        AttributeValue::Bs(s) => Some(s.len()),
        AttributeValue::L(l) => Some(l.len()),
        AttributeValue::M(m) => Some(m.len()),
        _ => None,
    }
}

fn operand<'a>(item: &'a Item, op: &'a Operand) -> Option<std::borrow::Cow<'a, AttributeValue>> {
    use std::borrow::Cow;
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(_, v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = size_of(resolve(item, p)?)?;
            Some(Cow::Owned(AttributeValue::N(Number::from(n as i64))))
        }
    }
}

/// Whether `item` (empty when there is none) satisfies `cond`.
pub fn evaluate(cond: &Condition, item: &Item) -> bool {
    match cond {
        Condition::And(a, b) => evaluate(a, item) && evaluate(b, item),
        Condition::Or(a, b) => evaluate(a, item) || evaluate(b, item),
        Condition::Not(a) => !evaluate(a, item),
        Condition::Exists(p) => resolve(item, p).is_some(),
        Condition::NotExists(p) => resolve(item, p).is_none(),
        Condition::Type(a, t) => {
            let (Some(v), Some(t)) = (operand(item, a), operand(item, t)) else {
                return false;
            };
            t.as_s() == Some(v.type_name())
        }
        Condition::Compare(a, cmp, b) => {
            let (a, b) = (operand(item, a), operand(item, b));
            match cmp {
                Cmp::Eq => matches!((a, b), (Some(a), Some(b)) if a.same_as(&b)),
                Cmp::Ne => !matches!((a, b), (Some(a), Some(b)) if a.same_as(&b)),
                _ => {
                    let (Some(a), Some(b)) = (a, b) else {
                        return false;
                    };
                    let Some(ord) = compare_values(&a, &b) else {
                        return false;
                    };
                    match cmp {
                        Cmp::Lt => ord == Ordering::Less,
                        Cmp::Le => ord != Ordering::Greater,
                        Cmp::Gt => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    }
                }
            }
        }
        Condition::Between(a, lo, hi) => {
            let (Some(a), Some(lo), Some(hi)) =
                (operand(item, a), operand(item, lo), operand(item, hi))
            else {
                return false;
            };
            matches!(
                compare_values(&a, &lo),
                Some(Ordering::Greater | Ordering::Equal)
            ) && matches!(
                compare_values(&a, &hi),
                Some(Ordering::Less | Ordering::Equal)
            )
        }
        Condition::In(a, list) => {
            let Some(a) = operand(item, a) else {
                return false;
            };
            list.iter()
                .any(|b| operand(item, b).is_some_and(|b| a.same_as(&b)))
        }
        Condition::BeginsWith(a, b) => {
            match (operand(item, a).as_deref(), operand(item, b).as_deref()) {
                (Some(AttributeValue::S(a)), Some(AttributeValue::S(b))) => {
                    a.starts_with(b.as_str())
                }
                (Some(AttributeValue::B(a)), Some(AttributeValue::B(b))) => a.starts_with(b),
                _ => false,
            }
        }
        Condition::Contains(a, b) => {
            let (Some(a), Some(b)) = (operand(item, a), operand(item, b)) else {
                return false;
            };
            match (&*a, &*b) {
                (AttributeValue::S(a), AttributeValue::S(b)) => a.contains(b.as_str()),
                (AttributeValue::B(a), AttributeValue::B(b)) => {
                    b.is_empty() || a.windows(b.len()).any(|w| w == b.as_slice())
                }
                (AttributeValue::Ss(set), AttributeValue::S(s)) => set.contains(s),
                (AttributeValue::Ns(set), AttributeValue::N(n)) => set.contains(n),
                (AttributeValue::Bs(set), AttributeValue::B(b)) => set.contains(b),
                (AttributeValue::L(list), v) => list.iter().any(|e| e.same_as(v)),
                _ => false,
            }
        }
    }
}

/// A tree of requested paths, so that nested projections share their parents.
#[derive(Default)]
struct Tree {
    leaf: bool,
    keys: BTreeMap<String, Tree>,
    indexes: BTreeMap<usize, Tree>,
}

/// The item reduced to `paths`, nested maps and lists kept in their shape (a list keeps the
/// selected elements, in index order).
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut root = Tree::default();
    for p in paths {
        let mut node = &mut root;
        for step in &p.0 {
            node = match step {
                Step::Key(k) => node.keys.entry(k.clone()).or_default(),
                Step::Index(i) => node.indexes.entry(*i).or_default(),
            };
        }
        node.leaf = true;
    }
    let mut out = Item::new();
    for (k, sub) in &root.keys {
        if let Some(v) = item.get(k)
            && let Some(p) = project_value(v, sub)
        {
            out.insert(k.clone(), p);
        }
    }
    out
}

fn project_value(v: &AttributeValue, tree: &Tree) -> Option<AttributeValue> {
    if tree.leaf {
        return Some(v.clone());
    }
    match v {
        AttributeValue::M(m) if !tree.keys.is_empty() => {
            let mut out = Item::new();
            for (k, sub) in &tree.keys {
                if let Some(p) = m.get(k).and_then(|v| project_value(v, sub)) {
                    out.insert(k.clone(), p);
                }
            }
            (!out.is_empty()).then_some(AttributeValue::M(out))
        }
        AttributeValue::L(l) if !tree.indexes.is_empty() => {
            let out: Vec<AttributeValue> = tree
                .indexes
                .iter()
                .filter_map(|(i, sub)| l.get(*i).and_then(|v| project_value(v, sub)))
                .collect();
            (!out.is_empty()).then_some(AttributeValue::L(out))
        }
        _ => None,
    }
}

fn set_operand(op: &SetOperand, item: &Item) -> Result<AttributeValue, Error> {
    match op {
        SetOperand::Value(_, v) => Ok(v.clone()),
        SetOperand::Path(p) => resolve(item, p)
            .cloned()
            .ok_or_else(|| Error::validation(MISSING)),
        SetOperand::IfNotExists(p, fallback) => match resolve(item, p) {
            Some(v) => Ok(v.clone()),
            None => set_operand(fallback, item),
        },
        SetOperand::ListAppend(a, b) => {
            let (a, b) = (set_operand(a, item)?, set_operand(b, item)?);
            match (a, b) {
                (AttributeValue::L(mut a), AttributeValue::L(b)) => {
                    a.extend(b);
                    Ok(AttributeValue::L(a))
                }
                _ => Err(Error::validation(WRONG_TYPE)),
            }
        }
    }
}

fn number_error(e: crate::dynamo::number::NumberError) -> Error {
    Error::validation(e.to_string())
}

/// A sum or difference that does not fit: DynamoDB reports a result needing more than 38
/// digits as an overflow, whichever limit it passed.
fn arithmetic_error(e: crate::dynamo::number::NumberError) -> Error {
    use crate::dynamo::number::NumberError;
    match e {
        NumberError::Precision => number_error(NumberError::Overflow),
        other => number_error(other),
    }
}

fn set_value(v: &SetValue, item: &Item) -> Result<AttributeValue, Error> {
    match v {
        SetValue::Operand(op) => set_operand(op, item),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let (a, b) = (set_operand(a, item)?, set_operand(b, item)?);
            let (AttributeValue::N(a), AttributeValue::N(b)) = (a, b) else {
                return Err(Error::validation(WRONG_TYPE));
            };
            let r = if matches!(v, SetValue::Plus(..)) {
                a.add(&b)
            } else {
                a.sub(&b)
            };
            r.map(AttributeValue::N).map_err(arithmetic_error)
        }
    }
}

/// The container that holds the last step of `path`, created nowhere: a missing parent is
/// DynamoDB's "invalid for update".
fn parent_mut<'a>(
    item: &'a mut Item,
    path: &Path,
) -> Result<Option<&'a mut AttributeValue>, Error> {
    let steps = &path.0[..path.0.len() - 1];
    let mut iter = steps.iter();
    let Some(Step::Key(first)) = iter.next() else {
        return Ok(None);
    };
    let mut cur = item
        .get_mut(first)
        .ok_or_else(|| Error::validation(INVALID_PATH))?;
    for step in iter {
        cur = match (step, cur) {
            (Step::Key(k), AttributeValue::M(m)) => m
                .get_mut(k)
                .ok_or_else(|| Error::validation(INVALID_PATH))?,
            (Step::Index(i), AttributeValue::L(l)) => l
                .get_mut(*i)
                .ok_or_else(|| Error::validation(INVALID_PATH))?,
            _ => return Err(Error::validation(INVALID_PATH)),
        };
    }
    Ok(Some(cur))
}

fn assign(item: &mut Item, path: &Path, value: AttributeValue) -> Result<(), Error> {
    let last = path.0.last().cloned();
    match (parent_mut(item, path)?, last) {
        (None, Some(Step::Key(k))) => {
            item.insert(k, value);
        }
        (Some(AttributeValue::M(m)), Some(Step::Key(k))) => {
            m.insert(k, value);
        }
        (Some(AttributeValue::L(l)), Some(Step::Index(i))) => {
            if i < l.len() {
                l[i] = value;
            } else {
                l.push(value);
            }
        }
        _ => return Err(Error::validation(INVALID_PATH)),
    }
    Ok(())
}

/// Removes `path`. On an item that exists, a path through something that is not there, or
/// that is not the map or list the path says, is refused as DynamoDB refuses it; on an item
/// that does not exist yet (`lenient`), removing anything removes nothing. An index past the
/// end of a list, or a key a map does not have, removes nothing either way.
fn remove(item: &mut Item, path: &Path, lenient: bool) -> Result<Option<AttributeValue>, Error> {
    let last = path.0.last().cloned();
    let parent = match parent_mut(item, path) {
        Ok(p) => p,
        Err(_) if lenient => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(match (parent, last) {
        (None, Some(Step::Key(k))) => item.remove(&k),
        (Some(AttributeValue::M(m)), Some(Step::Key(k))) => m.remove(&k),
        (Some(AttributeValue::L(l)), Some(Step::Index(i))) => (i < l.len()).then(|| l.remove(i)),
        _ if lenient => None,
        _ => return Err(Error::validation(INVALID_PATH)),
    })
}

/// Applies `update` to `old` (empty when the item does not exist yet); every operand reads
/// the item as it was before the update, as DynamoDB does.
pub fn apply_update(old: &Item, update: &Update) -> Result<Item, Error> {
    apply_update_to(old, update, !old.is_empty())
}

/// [`apply_update`] on `old`, which is the stored item when `exists`, or the key of an item
/// that does not exist yet (where removing any path removes nothing).
pub fn apply_update_to(old: &Item, update: &Update, exists: bool) -> Result<Item, Error> {
    let mut new = old.clone();
    let mut removals: Vec<&Path> = Vec::new();
    // SETs in path order: paths never overlap, so order matters only for several indexes
    // past the end of one list, which DynamoDB appends in index order.
    let mut sets: Vec<(&Path, &SetValue)> = update
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Set(p, v) => Some((p, v)),
            _ => None,
        })
        .collect();
    sets.sort_by(|a, b| a.0.cmp(b.0));
    for (path, v) in sets {
        // AttributeUpdates' ADD of a list is a list_append: its mismatch is refused in the
        // legacy words too.
        let value = set_value(v, old).map_err(|e| match e {
            Error::Validation(m) if update.legacy && m == WRONG_TYPE => wrong_type(update),
            other => other,
        })?;
        assign(&mut new, path, value)?;
    }
    for action in &update.actions {
        match action {
            Action::Set(..) => {}
            Action::Remove(path) => removals.push(path),
            Action::Add(path, v) => {
                let merged = match (resolve(old, path), v) {
                    (None, v) => v.clone(),
                    (Some(AttributeValue::N(a)), AttributeValue::N(b)) => {
                        AttributeValue::N(a.add(b).map_err(arithmetic_error)?)
                    }
                    (Some(AttributeValue::Ss(a)), AttributeValue::Ss(b)) => {
                        AttributeValue::Ss(union(a, b))
                    }
                    (Some(AttributeValue::Ns(a)), AttributeValue::Ns(b)) => {
                        AttributeValue::Ns(union(a, b))
                    }
                    (Some(AttributeValue::Bs(a)), AttributeValue::Bs(b)) => {
                        AttributeValue::Bs(union(a, b))
                    }
                    _ => return Err(wrong_type(update)),
                };
                assign(&mut new, path, merged)?;
            }
            Action::Delete(path, v) => {
                let remaining = match (resolve(old, path), v) {
                    (None, _) => continue,
                    (Some(AttributeValue::Ss(a)), AttributeValue::Ss(b)) => {
                        let r: Vec<_> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
                        (!r.is_empty()).then_some(AttributeValue::Ss(r))
                    }
                    (Some(AttributeValue::Ns(a)), AttributeValue::Ns(b)) => {
                        let r: Vec<_> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
                        (!r.is_empty()).then_some(AttributeValue::Ns(r))
                    }
                    (Some(AttributeValue::Bs(a)), AttributeValue::Bs(b)) => {
                        let r: Vec<_> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
                        (!r.is_empty()).then_some(AttributeValue::Bs(r))
                    }
                    _ => return Err(wrong_type(update)),
                };
                match remaining {
                    Some(v) => assign(&mut new, path, v)?,
                    None => {
                        remove(&mut new, path, false)?;
                    }
                }
            }
        }
    }
    // Later list indexes first, so that removing one does not shift the next.
    removals.sort_by(|a, b| b.cmp(a));
    let lenient = !exists;
    for path in removals {
        remove(&mut new, path, lenient)?;
    }
    Ok(new)
}

fn wrong_type(update: &Update) -> Error {
    Error::validation(if update.legacy {
        LEGACY_WRONG_TYPE
    } else {
        WRONG_TYPE
    })
}

fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    for x in b {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::expr::{
        Kind, Placeholders, parse_condition, parse_projection, parse_update,
    };
    use crate::dynamo::types::item_from_json;
    use serde_json::json;
    use std::collections::HashMap;

    fn item(v: serde_json::Value) -> Item {
        item_from_json(&v).unwrap()
    }

    fn values(v: serde_json::Value) -> Placeholders {
        let values = item(v).into_iter().collect::<HashMap<_, _>>();
        Placeholders::new(HashMap::new(), values)
    }

    fn check(src: &str, it: &Item, ph: &Placeholders) -> bool {
        evaluate(&parse_condition(src, Kind::Condition, ph).unwrap(), it)
    }

    #[test]
    fn conditions() {
        let it = item(
            json!({"a": {"N": "5"}, "s": {"S": "hello"}, "l": {"L": [{"S": "x"}]},
            "ss": {"SS": ["p", "q"]}, "m": {"M": {"k": {"N": "1"}}}}),
        );
        let ph = values(
            json!({":five": {"N": "5"}, ":one": {"N": "1"}, ":he": {"S": "he"},
            ":x": {"S": "x"}, ":p": {"S": "p"}, ":t": {"S": "SS"}, ":ten": {"N": "10"}}),
        );
        for (src, expected) in [
            ("a = :five", true),
            ("a <> :five", false),
            ("gone <> :five", true),
            ("gone = :five", false),
            ("a BETWEEN :one AND :ten", true),
            ("a IN (:one, :five)", true),
            ("begins_with(s, :he)", true),
            (
                "contains(l, :x) AND contains(ss, :p) AND contains(s, :he)",
                true,
            ),
            ("size(s) = :five", true),
            ("attribute_type(ss, :t)", true),
            ("m.k = :one", true),
            ("a < :one OR NOT attribute_exists(nope)", true),
            ("s > :five", false),
        ] {
            assert_eq!(check(src, &it, &ph), expected, "{src}");
        }
    }

    #[test]
    fn projections_keep_shape() {
        let it = item(
            json!({"a": {"M": {"b": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}]}, "c": {"S": "x"}}}, "d": {"S": "y"}}),
        );
        let paths = parse_projection("a.b[2], a.b[0], d", &Placeholders::default()).unwrap();
        assert_eq!(
            project(&it, &paths),
            item(json!({"a": {"M": {"b": {"L": [{"N": "0"}, {"N": "2"}]}}}, "d": {"S": "y"}}))
        );
    }

    #[test]
    fn updates() {
        let it = item(
            json!({"n": {"N": "1"}, "l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}]}, "ss": {"SS": ["a", "b"]}}),
        );
        let ph = values(
            json!({":one": {"N": "1"}, ":l": {"L": [{"N": "3"}]}, ":a": {"SS": ["a"]}, ":c": {"SS": ["c"]}}),
        );
        let u = parse_update(
            "SET n = n + :one, l = list_append(l, :l), fresh = if_not_exists(fresh, :one) ADD ss :c, tally :one",
            &ph,
        )
        .unwrap();
        let new = apply_update(&it, &u).unwrap();
        assert_eq!(new["n"], AttributeValue::N(Number::from(2)));
        assert_eq!(new["fresh"], AttributeValue::N(Number::from(1)));
        assert_eq!(new["tally"], AttributeValue::N(Number::from(1)));
        assert_eq!(
            new["l"],
            item(json!({"x": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]}}))["x"]
        );
        let u = parse_update("REMOVE l[0], l[2]", &Placeholders::default()).unwrap();
        assert_eq!(
            apply_update(&it, &u).unwrap()["l"],
            item(json!({"x": {"L": [{"N": "1"}]}}))["x"]
        );
        assert_eq!(
            new["ss"],
            AttributeValue::Ss(vec!["a".into(), "b".into(), "c".into()])
        );

        let ph = values(json!({":one": {"N": "1"}}));
        let u = parse_update("SET x = gone + :one", &ph).unwrap();
        assert_eq!(apply_update(&it, &u).unwrap_err().to_string(), MISSING);
        let u = parse_update("SET nope.deeper = :one", &ph).unwrap();
        assert_eq!(apply_update(&it, &u).unwrap_err().to_string(), INVALID_PATH);
        let u = parse_update("ADD ss :one", &ph).unwrap();
        assert_eq!(apply_update(&it, &u).unwrap_err().to_string(), WRONG_TYPE);
    }
}
