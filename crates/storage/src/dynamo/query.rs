//! Query and Scan: a key condition (or a Scan segment) becomes a byte range over the table's
//! or index's keys, read forward or backward on one snapshot, with DynamoDB's paging: at most
//! `Limit` items evaluated and at most 1 MB read per page, `LastEvaluatedKey` to resume.

use std::ops::Bound;
use std::sync::Arc;

use base64::Engine as _;
use redb::{ReadableTable, TableDefinition};
use serde_json::{Value, json};

use super::Dynamo;
use super::answer;
use super::error::Error;
use super::expr::{self, Cmp, Condition, Kind, Operand, Path, Placeholders, eval};
use super::index;
use super::input::{Input, refuse_mixed, refuse_orphan_placeholders};
use super::item::{capacity_mode, consumed, read_projection, read_units};
use super::legacy;
use super::stored::{self, prefix_end};
use super::table::{IndexDef, KeySchema, TableDef};
use super::types::{AttributeValue, Item, item_size, item_to_json};
use crate::engine::EngineError;

/// One entry of a range read.
type Entry<'a> = Result<
    (
        redb::AccessGuard<'a, &'static [u8]>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

/// A page is cut once this many bytes were read.
const PAGE_BYTES: usize = 1024 * 1024;

/// The sort key part of a key condition.
#[derive(Debug, Clone)]
enum RangeCond {
    Cmp(Cmp, AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Select {
    AllAttributes,
    AllProjected,
    Specific,
    Count,
}

/// Everything a page read needs, owned so it can move to the blocking pool.
#[derive(Debug)]
struct Plan {
    def: Arc<TableDef>,
    index: Option<IndexDef>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    forward: bool,
    limit: Option<usize>,
    filter: Option<Condition>,
    projection: Option<Vec<Path>>,
    select: Select,
    /// Write the items as JSON text ([`Page::text`]) rather than collect them.
    text: bool,
}

impl Plan {
    /// Whether every item read is answered whole, so its stored bytes can be written as
    /// JSON without decoding them.
    fn whole_items(&self) -> bool {
        self.index.is_none()
            && self.filter.is_none()
            && self.projection.is_none()
            && matches!(self.select, Select::AllAttributes | Select::Count)
    }
}

#[derive(Debug, Default)]
struct Page {
    /// The items matched, unless the plan asked for text.
    items: Vec<Item>,
    /// With a plan that asked for text: the items matched, as JSON objects separated by
    /// commas (nothing for `Select::Count`).
    text: Vec<u8>,
    /// How many items matched.
    count: usize,
    scanned: usize,
    read_bytes: usize,
    last: Option<Item>,
}

/// The index a plan reads, by name, and whether it is local.
fn read_from(plan: &Plan) -> Option<(String, bool)> {
    plan.index.as_ref().map(|i| (i.name.clone(), i.local))
}

/// A page's consumed capacity: a read of an index is the index's, as DynamoDB reports it
/// under INDEXES (the table's own share then zero), a read of the table the table's.
fn page_consumed(
    def: &TableDef,
    capacity: Option<&str>,
    read_bytes: usize,
    consistent: bool,
    index: Option<(String, bool)>,
) -> Option<Value> {
    let units = read_units(read_bytes, consistent);
    match index {
        Some((name, local)) => consumed(def, capacity, 0.0, &[(name, local, units)]),
        None => consumed(def, capacity, units, &[]),
    }
}

fn value_of(op: &Operand) -> Option<&AttributeValue> {
    match op {
        Operand::Value(_, v) => Some(v),
        _ => None,
    }
}

fn path_of(op: &Operand) -> Option<&str> {
    match op {
        Operand::Path(p) if p.is_top_level() => Some(p.root()),
        _ => None,
    }
}

fn unsupported() -> Error {
    Error::validation("Query key condition not supported")
}

fn invalid_operator(op: &str) -> Error {
    Error::validation(format!(
        "Invalid operator used in KeyConditionExpression: {op}"
    ))
}

fn one_per_key() -> Error {
    Error::validation("KeyConditionExpressions must only contain one condition per key")
}

/// The error for a key condition on operands that are not an attribute and a value.
fn bad_operands(operands: &[&Operand]) -> Error {
    let nested = operands
        .iter()
        .any(|o| matches!(o, Operand::Path(p) if !p.is_top_level()));
    if nested {
        Error::validation("KeyConditionExpressions cannot have conditions on nested attributes")
    } else {
        unsupported()
    }
}

/// A key condition split by key attribute.
#[derive(Debug)]
struct KeyCondition {
    /// The partition values, in KeySchema order.
    hash: Vec<AttributeValue>,
    /// Equalities on the first RANGE attributes, in KeySchema order.
    range_eq: Vec<AttributeValue>,
    /// The condition on the RANGE attribute after those, if any.
    last: Option<RangeCond>,
}

/// What DynamoDB answers when one HASH attribute of a multi-attribute key has no equality.
fn hash_equality(attr: &str) -> Error {
    Error::validation(format!(
        "Query key condition not supported: HASH key attributes {attr} must have equality conditions specified in the query"
    ))
}

/// What DynamoDB answers when a condition on a RANGE attribute needs an equality on an
/// earlier one.
fn range_equality(earlier: &str, later: &str) -> Error {
    Error::validation(format!(
        "RANGE key attributes {earlier} must have equality conditions specified in the query because a condition is present on key attribute {later}"
    ))
}

/// Splits a key condition by key attribute. Every HASH attribute needs an equality; the
/// RANGE attributes named must be a left prefix of the key's, each with an equality but
/// the last, which may carry any sort key condition (the clauses in any order).
fn analyse_key_condition(cond: &Condition, key: &KeySchema) -> Result<KeyCondition, Error> {
    let mut parts = Vec::new();
    fn flatten<'a>(c: &'a Condition, out: &mut Vec<&'a Condition>) {
        if let Condition::And(a, b) = c {
            flatten(a, out);
            flatten(b, out);
        } else {
            out.push(c);
        }
    }
    flatten(cond, &mut parts);
    let multi_hash = key.hash.len() > 1;
    if !key.is_multi_attribute() && parts.len() > 2 {
        return Err(Error::validation("Conditions can be of length 1 or 2 only"));
    }
    let type_mismatch = || {
        Error::validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        )
    };
    let mut hash: Vec<Option<AttributeValue>> = vec![None; key.hash.len()];
    let mut range: Vec<Option<RangeCond>> = vec![None; key.range.len()];
    let mut other_attribute = false;
    for p in parts {
        let (attr, rc) = match p {
            Condition::Compare(a, cmp, b) => {
                if *cmp == Cmp::Ne {
                    return Err(invalid_operator("<>"));
                }
                match (path_of(a), value_of(b), path_of(b), value_of(a)) {
                    (Some(n), Some(v), _, _) => (n, RangeCond::Cmp(*cmp, v.clone())),
                    (_, _, Some(n), Some(v)) => {
                        // `:v < sk` reads as `sk > :v`.
                        let flipped = match cmp {
                            Cmp::Lt => Cmp::Gt,
                            Cmp::Le => Cmp::Ge,
                            Cmp::Gt => Cmp::Lt,
                            Cmp::Ge => Cmp::Le,
                            other => *other,
                        };
                        (n, RangeCond::Cmp(flipped, v.clone()))
                    }
                    _ => return Err(bad_operands(&[a, b])),
                }
            }
            Condition::Between(a, lo, hi) => match (path_of(a), value_of(lo), value_of(hi)) {
                (Some(n), Some(lo), Some(hi)) => (n, RangeCond::Between(lo.clone(), hi.clone())),
                _ => return Err(bad_operands(&[a, lo, hi])),
            },
            Condition::BeginsWith(a, b) => match (path_of(a), value_of(b)) {
                (Some(n), Some(v)) => (n, RangeCond::BeginsWith(v.clone())),
                _ => return Err(bad_operands(&[a, b])),
            },
            Condition::In(..) => return Err(invalid_operator("IN")),
            Condition::Or(..) => return Err(invalid_operator("OR")),
            Condition::Not(..) => return Err(invalid_operator("NOT")),
            Condition::Exists(_) => return Err(invalid_operator("attribute_exists")),
            Condition::NotExists(_) => return Err(invalid_operator("attribute_not_exists")),
            Condition::Type(..) => return Err(invalid_operator("attribute_type")),
            Condition::Contains(..) => return Err(invalid_operator("contains")),
            Condition::And(..) => return Err(unsupported()),
        };
        if let Some(at) = key.hash.iter().position(|h| h.name == attr) {
            let RangeCond::Cmp(Cmp::Eq, v) = rc else {
                return Err(if multi_hash {
                    hash_equality(attr)
                } else {
                    unsupported()
                });
            };
            if hash[at].is_some() {
                return Err(one_per_key());
            }
            if !key.hash[at].ty.matches(&v) {
                return Err(type_mismatch());
            }
            hash[at] = Some(v);
        } else if let Some(at) = key.range.iter().position(|r| r.name == attr) {
            if range[at].is_some() {
                return Err(one_per_key());
            }
            let ty = key.range[at].ty;
            let typed = match &rc {
                RangeCond::Cmp(_, v) | RangeCond::BeginsWith(v) => ty.matches(v),
                RangeCond::Between(a, b) => ty.matches(a) && ty.matches(b),
            };
            if !typed {
                return Err(type_mismatch());
            }
            if matches!(&rc, RangeCond::BeginsWith(AttributeValue::N(_))) {
                return Err(Error::validation(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                ));
            }
            range[at] = Some(rc);
        } else {
            // With a sort key, DynamoDB names the first HASH attribute not given yet, else
            // the sort key. Without one, a condition on another attribute is refused once
            // every HASH attribute turns out to be given.
            let Some(sort) = key.sort() else {
                other_attribute = true;
                continue;
            };
            let missing = key
                .hash
                .iter()
                .zip(&hash)
                .find(|(_, v)| v.is_none())
                .map_or(sort, |(h, _)| h);
            return Err(Error::validation(format!(
                "Query condition missed key schema element: {}",
                missing.name
            )));
        }
    }
    let mut values = Vec::with_capacity(hash.len());
    for (attr, v) in key.hash.iter().zip(hash) {
        match v {
            Some(v) => values.push(v),
            None if multi_hash => return Err(hash_equality(&attr.name)),
            None => {
                return Err(Error::validation(format!(
                    "Query condition missed key schema element: {}",
                    attr.name
                )));
            }
        }
    }
    if other_attribute {
        return Err(unsupported());
    }
    for (later, cond) in range.iter().enumerate().skip(1) {
        if cond.is_none() {
            continue;
        }
        if let Some(earlier) =
            (0..later).find(|&i| !matches!(range[i], Some(RangeCond::Cmp(Cmp::Eq, _))))
        {
            return Err(range_equality(
                &key.range[earlier].name,
                &key.range[later].name,
            ));
        }
    }
    let given = range.iter().take_while(|c| c.is_some()).count();
    let mut conds = range.into_iter().take(given);
    let mut range_eq = Vec::new();
    for _ in 1..given {
        if let Some(Some(RangeCond::Cmp(Cmp::Eq, v))) = conds.next() {
            range_eq.push(v);
        }
    }
    let last = conds.next().flatten();
    Ok(KeyCondition {
        hash: values,
        range_eq,
        last,
    })
}

/// The byte range of one partition under a sort key condition.
fn range_bounds(prefix: Vec<u8>, rc: Option<&RangeCond>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let with = |v: &AttributeValue| {
        let mut k = prefix.clone();
        stored::encode_sort_key(v, &mut k);
        k
    };
    let after = |k: Vec<u8>| prefix_end(&k).map_or(Bound::Unbounded, Bound::Excluded);
    let partition_end = after(prefix.clone());
    let end_as_start = |b: Bound<Vec<u8>>| match b {
        Bound::Excluded(k) => Bound::Included(k),
        other => other,
    };
    match rc {
        None => (Bound::Included(prefix.clone()), partition_end),
        Some(RangeCond::Cmp(cmp, v)) => {
            let k = with(v);
            match cmp {
                Cmp::Eq => (Bound::Included(k.clone()), after(k)),
                Cmp::Lt => (Bound::Included(prefix.clone()), Bound::Excluded(k)),
                Cmp::Le => (Bound::Included(prefix.clone()), after(k)),
                Cmp::Gt => (end_as_start(after(k)), partition_end),
                _ => (Bound::Included(k), partition_end),
            }
        }
        Some(RangeCond::Between(lo, hi)) => (Bound::Included(with(lo)), after(with(hi))),
        Some(RangeCond::BeginsWith(v)) => {
            let mut k = prefix.clone();
            stored::sort_key_prefix(v, &mut k);
            (Bound::Included(k.clone()), after(k))
        }
    }
}

/// Whether `key` lies between the bounds (of a Query's key condition, a Scan's segment).
fn within(key: &[u8], lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    let above = match lower {
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match upper {
        Bound::Included(u) => key <= u.as_slice(),
        Bound::Excluded(u) => key < u.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// A key as DynamoDB's messages print it (Java's `toString` of its attribute values):
/// `{p=AttributeValue: {S:abc}}`.
fn java_key(key: &Item) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|(name, v)| {
            let value = match v {
                AttributeValue::S(s) => format!("S:{s}"),
                AttributeValue::N(n) => format!("N:{n}"),
                AttributeValue::B(b) => {
                    format!("B:{}", base64::engine::general_purpose::STANDARD.encode(b))
                }
                other => other.type_name().to_owned(),
            };
            format!("{name}=AttributeValue: {{{value}}}")
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn tighten_lower(current: Bound<Vec<u8>>, after: Vec<u8>) -> Bound<Vec<u8>> {
    match &current {
        Bound::Included(k) | Bound::Excluded(k) if k > &after => current,
        _ => Bound::Excluded(after),
    }
}

fn tighten_upper(current: Bound<Vec<u8>>, before: Vec<u8>) -> Bound<Vec<u8>> {
    match &current {
        Bound::Included(k) | Bound::Excluded(k) if k < &before => current,
        _ => Bound::Excluded(before),
    }
}

/// The roots of the attribute paths a condition reads.
fn condition_roots<'a>(c: &'a Condition, out: &mut Vec<&'a str>) {
    let op = |o: &'a Operand, out: &mut Vec<&'a str>| match o {
        Operand::Path(p) | Operand::Size(p) => out.push(p.root()),
        Operand::Value(..) => {}
    };
    match c {
        Condition::And(a, b) | Condition::Or(a, b) => {
            condition_roots(a, out);
            condition_roots(b, out);
        }
        Condition::Not(a) => condition_roots(a, out),
        Condition::Exists(p) | Condition::NotExists(p) => out.push(p.root()),
        Condition::Type(a, t) => {
            op(a, out);
            op(t, out);
        }
        Condition::Compare(a, _, b) | Condition::BeginsWith(a, b) | Condition::Contains(a, b) => {
            op(a, out);
            op(b, out);
        }
        Condition::Between(a, b, c) => {
            op(a, out);
            op(b, out);
            op(c, out);
        }
        Condition::In(a, l) => {
            op(a, out);
            for x in l {
                op(x, out);
            }
        }
    }
}

fn parse_select(input: &mut Input<'_>) -> Result<Option<Select>, Error> {
    let s = input.enum_value(
        "Select",
        "select",
        &[
            "SPECIFIC_ATTRIBUTES",
            "COUNT",
            "ALL_ATTRIBUTES",
            "ALL_PROJECTED_ATTRIBUTES",
        ],
    )?;
    Ok(s.map(|s| match s {
        "COUNT" => Select::Count,
        "ALL_PROJECTED_ATTRIBUTES" => Select::AllProjected,
        "SPECIFIC_ATTRIBUTES" => Select::Specific,
        _ => Select::AllAttributes,
    }))
}

/// `Limit`, at least 1. DynamoDB words the refusal differently per operation: Query names
/// the member as written and no value, Scan the value and the member in camel case.
fn parse_limit(input: &mut Input<'_>, query: bool) -> Result<Option<usize>, Error> {
    let l = input.integer("Limit")?;
    if let Some(l) = l
        && l < 1
    {
        input.violation(if query {
            "Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1".to_owned()
        } else {
            format!("Value '{l}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
        });
    }
    Ok(l.map(|l| l.max(1) as usize))
}

/// Common to Query and Scan: index, select, projection, consistency.
struct Common {
    index: Option<IndexDef>,
    select: Select,
    projection: Option<Vec<Path>>,
}

fn common(
    input: &Input<'_>,
    def: &TableDef,
    index_name: Option<&str>,
    select: Option<Select>,
    consistent: bool,
    ph: &Placeholders,
) -> Result<Common, Error> {
    let index = match index_name {
        Some(n) => Some(def.index(n).cloned().ok_or_else(|| {
            Error::validation(format!("The table does not have the specified index: {n}"))
        })?),
        None => None,
    };
    if consistent && index.as_ref().is_some_and(|i| !i.local) {
        return Err(Error::validation(
            "Consistent reads are not supported on global secondary indexes",
        ));
    }
    let projection = read_projection(input, ph)?;
    let select = match (select, &projection) {
        (Some(Select::Specific), None) => {
            return Err(Error::validation(
                "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
            ));
        }
        (Some(s), Some(_)) if s != Select::Specific => {
            let what = if input.has("AttributesToGet") {
                "AttributesToGet"
            } else {
                "ProjectionExpression"
            };
            let sel = match s {
                Select::Count => "only the Count",
                Select::AllProjected => "ALL_PROJECTED_ATTRIBUTES",
                _ => "ALL_ATTRIBUTES",
            };
            return Err(Error::validation(format!(
                "1 validation error detected: Cannot specify the {what} when choosing to get {sel}"
            )));
        }
        (Some(s), _) => s,
        (None, Some(_)) => Select::Specific,
        (None, None) => {
            if index.is_some() {
                Select::AllProjected
            } else {
                Select::AllAttributes
            }
        }
    };
    if select == Select::AllProjected && index.is_none() {
        return Err(Error::validation(
            "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ));
    }
    if let (Select::AllAttributes, Some(i)) = (select, &index)
        && !i.local
        && i.projection != super::table::Projection::All
    {
        return Err(Error::validation(format!(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
            i.name
        )));
    }
    // A global index reads only what it projects; a local one fetches the rest from the
    // table, as DynamoDB's do.
    if let (Some(i), Some(paths)) = (&index, &projection)
        && !i.local
    {
        let mut missing: Vec<&str> = paths
            .iter()
            .map(Path::root)
            .filter(|a| !i.projects(&def.key, a))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Global secondary index {} does not project {}",
                i.name,
                missing.join(", ")
            )));
        }
    }
    Ok(Common {
        index,
        select,
        projection,
    })
}

/// The storage (or index) key to resume after.
fn start_key(def: &TableDef, index: Option<&IndexDef>, esk: &Item) -> Result<Vec<u8>, Error> {
    let invalid = || {
        Error::validation(
            "The provided starting key is invalid: The provided key element does not match the schema",
        )
    };
    for attr in def.key.attrs() {
        match esk.get(&attr.name) {
            Some(v) if attr.ty.matches(v) => {}
            _ => return Err(invalid()),
        }
    }
    let base = def.storage_key(esk);
    match index {
        None => {
            if esk.len() != def.key.names().count() {
                return Err(invalid());
            }
            Ok(base)
        }
        Some(i) => {
            // The table's and the index's key attributes, and nothing else.
            let known = |n: &String| def.key.names().chain(i.key.names()).any(|k| k == n);
            if !esk.keys().all(known) {
                return Err(invalid());
            }
            index::index_key(i, esk, &base).ok_or_else(invalid)
        }
    }
}

/// A page read on the runtime's thread gives up past this many entries...
const INLINE_ENTRIES: usize = 256;
/// ...or this many bytes of items, and is read again on the blocking pool.
const INLINE_BYTES: usize = 64 * 1024;

/// Reads one page on `txn`. With `inline`, gives up (`Ok(Ok(None))`) once the page has gone
/// past [`INLINE_ENTRIES`] or [`INLINE_BYTES`] without ending.
fn run_page(
    plan: &Plan,
    txn: &redb::ReadTransaction,
    inline: bool,
) -> Result<Result<Option<Page>, Error>, EngineError> {
    let items = match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(
        &plan.def.items_table(),
    )) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Ok(Err(Error::item_table_not_found()));
        }
        Err(e) => return Err(e.into()),
    };
    let index_table = match &plan.index {
        Some(i) => match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(
            &i.engine_table(&plan.def.uid),
        )) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Ok(Err(Error::validation(format!(
                    "The table does not have the specified index: {}",
                    i.name
                ))));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let bounds = (
        match &plan.lower {
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        },
        match &plan.upper {
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        },
    );
    if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) =
        (&plan.lower, &plan.upper)
        && a > b
    {
        return Ok(Ok(Some(Page::default())));
    }
    let source = index_table.as_ref().unwrap_or(&items);
    let range = source.range(bounds)?;
    let mut page = Page::default();
    let corrupt = |reason| EngineError::Corrupt {
        table: plan.def.items_table(),
        reason,
    };
    let whole = plan.text && plan.whole_items();
    if plan.text {
        // Room for a page of small items without growing the buffer item by item.
        page.text.reserve(16 * 1024);
    }
    let mut visited = 0;
    let mut gave_up = false;
    let mut visit = |entry: Entry<'_>| -> Result<bool, EngineError> {
        if inline && (visited >= INLINE_ENTRIES || page.read_bytes >= INLINE_BYTES) {
            gave_up = true;
            return Ok(false);
        }
        visited += 1;
        let (_k, v) = entry?;
        if whole {
            // Straight from the stored bytes to the answer's text.
            let mark = page.text.len();
            if page.count > 0 {
                page.text.push(b',');
            }
            let size = stored::write_item_json(v.value(), &mut page.text).map_err(corrupt)?;
            if plan.select == Select::Count {
                page.text.truncate(mark);
            }
            page.count += 1;
            page.scanned += 1;
            page.read_bytes += size;
            let full =
                plan.limit.is_some_and(|l| page.scanned >= l) || page.read_bytes >= PAGE_BYTES;
            if full {
                let item = stored::decode_item(v.value()).map_err(corrupt)?;
                page.last = Some(plan.def.key_of(&item));
                return Ok(false);
            }
            return Ok(true);
        }
        let item = match &plan.index {
            Some(_) => match index::base_item(&items, v.value())? {
                Some(i) => i,
                None => return Ok(true),
            },
            None => stored::decode_item(v.value()).map_err(corrupt)?,
        };
        let visible = match (&plan.index, plan.select) {
            // A local index fetches the attributes asked for from the table.
            (Some(i), Select::Specific) if i.local => item,
            (Some(i), Select::AllProjected | Select::Specific | Select::Count) => {
                i.project(&plan.def.key, &item)
            }
            _ => item,
        };
        page.scanned += 1;
        page.read_bytes += item_size(&visible);
        let matched = plan
            .filter
            .as_ref()
            .is_none_or(|f| eval::evaluate(f, &visible));
        let full = plan.limit.is_some_and(|l| page.scanned >= l) || page.read_bytes >= PAGE_BYTES;
        // The key to resume after, needed only where the page ends.
        let last = full.then(|| {
            let mut key = plan.def.key_of(&visible);
            if let Some(i) = &plan.index {
                for n in i.key.names() {
                    if let Some(v) = visible.get(n) {
                        key.insert(n.to_owned(), v.clone());
                    }
                }
            }
            key
        });
        if matched {
            let out = match (&plan.projection, plan.select) {
                (_, Select::Count) => Item::new(),
                (Some(p), _) => eval::project(&visible, p),
                (None, _) => visible,
            };
            if plan.text {
                if plan.select != Select::Count {
                    if page.count > 0 {
                        page.text.push(b',');
                    }
                    answer::item(&out, &mut page.text);
                }
            } else {
                page.items.push(out);
            }
            page.count += 1;
        }
        if full {
            page.last = last;
            return Ok(false);
        }
        Ok(true)
    };
    if plan.forward {
        for entry in range {
            if !visit(entry)? {
                break;
            }
        }
    } else {
        for entry in range.rev() {
            if !visit(entry)? {
                break;
            }
        }
    }
    if gave_up {
        return Ok(Ok(None));
    }
    Ok(Ok(Some(page)))
}

impl Dynamo {
    /// Reads a page. A page of a few small items (the common Query) takes tens of
    /// microseconds, no longer than a point read: it is read in place on the runtime's
    /// thread, as GetItem is, rather than handed to the blocking pool and back, two thread
    /// switches that cost as much as the read. A page that outgrows that budget is read
    /// again from its start on the blocking pool, so the runtime's thread is never held
    /// longer than the budget and what was read in place is at most that much work wasted.
    async fn read_page(&self, plan: Plan) -> Result<Page, Error> {
        if let Some(page) = self.engine.read_point(|txn| run_page(&plan, txn, true))?? {
            return Ok(page);
        }
        let page = self
            .engine
            .read(move |txn| run_page(&plan, txn, false))
            .await??;
        // Without `inline` a page is always read to its end.
        Ok(page.unwrap_or_default())
    }

    fn page_response(
        def: &TableDef,
        page: Page,
        select: Select,
        capacity: Option<&str>,
        consistent: bool,
        index: Option<(String, bool)>,
    ) -> Value {
        let mut out = json!({ "Count": page.items.len(), "ScannedCount": page.scanned });
        if select != Select::Count {
            out["Items"] = Value::Array(page.items.iter().map(item_to_json).collect());
        }
        if let Some(last) = &page.last {
            out["LastEvaluatedKey"] = item_to_json(last);
        }
        if let Some(c) = page_consumed(def, capacity, page.read_bytes, consistent, index) {
            out["ConsumedCapacity"] = c;
        }
        out
    }

    /// A page as JSON text: the same answer as [`Dynamo::page_response`]'s, its members in
    /// the sorted order the tree serialises in.
    fn page_text(
        def: &TableDef,
        page: Page,
        select: Select,
        capacity: Option<&str>,
        consistent: bool,
        index: Option<(String, bool)>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(page.text.len() + 128);
        out.push(b'{');
        if let Some(c) = page_consumed(def, capacity, page.read_bytes, consistent, index) {
            out.extend_from_slice(b"\"ConsumedCapacity\":");
            answer::value(&c, &mut out);
            out.push(b',');
        }
        out.extend_from_slice(b"\"Count\":");
        answer::integer(page.count, &mut out);
        if select != Select::Count {
            out.extend_from_slice(b",\"Items\":[");
            out.extend_from_slice(&page.text);
            out.push(b']');
        }
        if let Some(last) = &page.last {
            out.extend_from_slice(b",\"LastEvaluatedKey\":");
            answer::item(last, &mut out);
        }
        out.extend_from_slice(b",\"ScannedCount\":");
        answer::integer(page.scanned, &mut out);
        out.push(b'}');
        out
    }

    /// Query.
    pub(crate) async fn query(&self, body: &Value) -> Result<Value, Error> {
        self.tree_page(self.plan_query(body)?).await
    }

    /// Query answered as JSON text (see [`Dynamo::page_text`]).
    pub(crate) async fn query_text(&self, body: &Value) -> Result<Vec<u8>, Error> {
        self.text_page(self.plan_query(body)?).await
    }

    /// Scan.
    pub(crate) async fn scan(&self, body: &Value) -> Result<Value, Error> {
        self.tree_page(self.plan_scan(body)?).await
    }

    /// Scan answered as JSON text (see [`Dynamo::page_text`]).
    pub(crate) async fn scan_text(&self, body: &Value) -> Result<Vec<u8>, Error> {
        self.text_page(self.plan_scan(body)?).await
    }

    /// A planned Query or Scan's page, answered as a JSON tree.
    async fn tree_page(&self, q: Planned<'_>) -> Result<Value, Error> {
        let index = read_from(&q.plan);
        let page = self.read_page(q.plan).await?;
        Ok(Self::page_response(
            &q.def,
            page,
            q.select,
            q.capacity,
            q.consistent,
            index,
        ))
    }

    /// A planned Query or Scan's page, answered as JSON text.
    async fn text_page(&self, mut q: Planned<'_>) -> Result<Vec<u8>, Error> {
        q.plan.text = true;
        let index = read_from(&q.plan);
        let page = self.read_page(q.plan).await?;
        Ok(Self::page_text(
            &q.def,
            page,
            q.select,
            q.capacity,
            q.consistent,
            index,
        ))
    }

    /// Query's input, checked and planned.
    fn plan_query<'a>(&self, body: &'a Value) -> Result<Planned<'a>, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        let select = parse_select(&mut input)?;
        let limit = parse_limit(&mut input, true)?;
        let capacity = capacity_mode(&mut input)?;
        input.finish()?;
        let def = self.item_table(&name)?;
        let consistent = input.boolean("ConsistentRead")?.unwrap_or(false);
        let forward = input.boolean("ScanIndexForward")?.unwrap_or(true);
        // KeyConditions goes with FilterExpression and ProjectionExpression, but the other
        // legacy parameters go with no expression at all (each list named in alphabetical
        // order, as DynamoDB names them).
        refuse_mixed(&input, &["KeyConditions"], &["KeyConditionExpression"])?;
        refuse_mixed(
            &input,
            &["AttributesToGet", "ConditionalOperator", "QueryFilter"],
            &[
                "FilterExpression",
                "KeyConditionExpression",
                "ProjectionExpression",
            ],
        )?;
        refuse_orphan_placeholders(
            &input,
            &[
                "KeyConditionExpression",
                "FilterExpression",
                "ProjectionExpression",
            ],
        )?;
        if input.has("ConditionalOperator") && !input.has("QueryFilter") {
            return Err(Error::validation(legacy::OPERATOR_WITHOUT_CONDITIONS));
        }
        let ph = input.placeholders()?;
        let key_condition = if let Some(src) = input.string("KeyConditionExpression")? {
            expr::parse_condition(src, Kind::KeyCondition, &ph)?
        } else if let Some(kc) = input.raw("KeyConditions") {
            legacy::filter(kc, "keyConditions", None)?.ok_or_else(|| {
                Error::validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
            })?
        } else {
            return Err(Error::validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            ));
        };
        let filter = if let Some(src) = input.string("FilterExpression")? {
            Some(expr::parse_condition(src, Kind::Filter, &ph)?)
        } else if let Some(f) = input.raw("QueryFilter") {
            legacy::filter(f, "queryFilter", input.string("ConditionalOperator")?)?
        } else {
            None
        };
        let index_name = input.string("IndexName")?;
        let c = common(&input, &def, index_name, select, consistent, &ph)?;
        ph.check_all_used()?;
        let key_schema = c.index.as_ref().map_or(&def.key, |i| &i.key);
        let kc = analyse_key_condition(&key_condition, key_schema)?;
        if let Some(f) = &filter {
            let mut roots = Vec::new();
            condition_roots(f, &mut roots);
            if let Some(k) = roots.iter().find(|r| key_schema.names().any(|n| n == **r)) {
                let what = if input.has("QueryFilter") {
                    "QueryFilter"
                } else {
                    "Filter Expression"
                };
                return Err(Error::validation(format!(
                    "{what} can only contain non-primary key attributes: Primary key attribute: {k}"
                )));
            }
        }
        let (mut lower, mut upper) = range_bounds(
            index::query_prefix(&kc.hash, &kc.range_eq),
            kc.last.as_ref(),
        );
        if let Some(esk) = input.item("ExclusiveStartKey")? {
            let k = start_key(&def, c.index.as_ref(), &esk)?;
            if c.index.is_none() && def.key.sort().is_none() {
                // A Query on a table without a sort key reads one item: nothing to resume.
                return Err(Error::validation(format!(
                    "The provided exclusive start key is invalid: ExclusiveStartKey: {}",
                    java_key(&esk)
                )));
            }
            if !within(&k, &lower, &upper) {
                return Err(Error::validation(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
            if forward {
                lower = tighten_lower(lower, k);
            } else {
                upper = tighten_upper(upper, k);
            }
        }
        let plan = Plan {
            def: def.clone(),
            index: c.index,
            lower,
            upper,
            forward,
            limit,
            filter,
            projection: c.projection,
            select: c.select,
            text: false,
        };
        Ok(Planned {
            def,
            plan,
            select: c.select,
            capacity,
            consistent,
        })
    }

    /// Scan's input, checked and planned.
    fn plan_scan<'a>(&self, body: &'a Value) -> Result<Planned<'a>, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        let select = parse_select(&mut input)?;
        let limit = parse_limit(&mut input, false)?;
        let capacity = capacity_mode(&mut input)?;
        let segment = input.integer("Segment")?;
        let total = input.integer("TotalSegments")?;
        if let Some(t) = total {
            if t < 1 {
                input.violation(format!("Value '{t}' at 'totalSegments' failed to satisfy constraint: Member must have value greater than or equal to 1"));
            } else if t > 1_000_000 {
                input.violation(format!("Value '{t}' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000"));
            }
        }
        if let Some(s) = segment
            && s < 0
        {
            input.violation(format!("Value '{s}' at 'segment' failed to satisfy constraint: Member must have value greater than or equal to 0"));
        }
        input.finish()?;
        let (segment, total) = match (segment, total) {
            (Some(s), Some(t)) if s >= t => {
                return Err(Error::validation(format!(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
                )));
            }
            (Some(s), Some(t)) => (s as u128, t as u128),
            (Some(_), None) => {
                return Err(Error::validation(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::validation(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ));
            }
            (None, None) => (0, 1),
        };
        let def = self.item_table(&name)?;
        let consistent = input.boolean("ConsistentRead")?.unwrap_or(false);
        refuse_mixed(
            &input,
            &["AttributesToGet", "ConditionalOperator", "ScanFilter"],
            &["FilterExpression", "ProjectionExpression"],
        )?;
        refuse_orphan_placeholders(&input, &["FilterExpression", "ProjectionExpression"])?;
        if input.has("ConditionalOperator") && !input.has("ScanFilter") {
            return Err(Error::validation(legacy::OPERATOR_WITHOUT_CONDITIONS));
        }
        let ph = input.placeholders()?;
        let filter = if let Some(src) = input.string("FilterExpression")? {
            Some(expr::parse_condition(src, Kind::Filter, &ph)?)
        } else if let Some(f) = input.raw("ScanFilter") {
            legacy::filter(f, "scanFilter", input.string("ConditionalOperator")?)?
        } else {
            None
        };
        let index_name = input.string("IndexName")?;
        let c = common(&input, &def, index_name, select, consistent, &ph)?;
        ph.check_all_used()?;
        // Segment i of n is the i-th slice of the 64-bit hash space keys start with.
        let span = (1u128 << 64) / total;
        let start = (segment * span) as u64;
        let mut lower = if segment == 0 {
            Bound::Unbounded
        } else {
            Bound::Included(start.to_be_bytes().to_vec())
        };
        let upper = if segment + 1 == total {
            Bound::Unbounded
        } else {
            Bound::Excluded((((segment + 1) * span) as u64).to_be_bytes().to_vec())
        };
        if let Some(esk) = input.item("ExclusiveStartKey")? {
            let k = start_key(&def, c.index.as_ref(), &esk)?;
            if !within(&k, &lower, &upper) {
                return Err(Error::validation(
                    "The provided Exclusive start key does not map to the provided Segment and TotalSegments values.",
                ));
            }
            lower = tighten_lower(lower, k);
        }
        let plan = Plan {
            def: def.clone(),
            index: c.index,
            lower,
            upper,
            forward: true,
            limit,
            filter,
            projection: c.projection,
            select: c.select,
            text: false,
        };
        Ok(Planned {
            def,
            plan,
            select: c.select,
            capacity,
            consistent,
        })
    }
}

/// A Query or Scan ready to read, with what its answer needs.
struct Planned<'a> {
    def: Arc<TableDef>,
    plan: Plan,
    select: Select,
    capacity: Option<&'a str>,
    consistent: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::Engine;

    /// The text answers of GetItem, Query and Scan are the tree answers serialised, byte for
    /// byte, across the inputs that take each path: whole items written from their stored
    /// bytes, projections, filters, indexes, `Select: COUNT`, pages cut by `Limit`,
    /// consumed capacity, a missing item.
    #[tokio::test]
    async fn text_answers_are_the_tree_answers_serialised() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dynamo::open(
            Engine::open(&dir.path().join("e.redb")).unwrap(),
            "us-east-1",
        )
        .unwrap();
        d.call(
            "CreateTable",
            &json!({
                "TableName": "things",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                    {"AttributeName": "g", "AttributeType": "S"},
                ],
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "GlobalSecondaryIndexes": [{
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }],
            }),
        )
        .await
        .unwrap();
        for i in 0..12 {
            let item = json!({
                "pk": {"S": "p"}, "sk": {"N": format!("{}.50", i - 3)}, "g": {"S": "x"},
                "s": {"S": "quote \" backslash \\ tab \t é"}, "b": {"B": "AAEC"},
                "m": {"M": {"l": {"L": [{"NULL": true}, {"BOOL": false}, {"NS": ["1", "-2.5"]}]},
                            "ss": {"SS": ["a", "b"]}, "bs": {"BS": ["AA=="]}}},
            });
            d.call("PutItem", &json!({"TableName": "things", "Item": item}))
                .await
                .unwrap();
        }
        let key = json!({"pk": {"S": "p"}, "sk": {"N": "1.5"}});
        let cases = [
            ("GetItem", json!({"TableName": "things", "Key": key})),
            (
                "GetItem",
                json!({"TableName": "things", "Key": key, "ReturnConsumedCapacity": "TOTAL"}),
            ),
            (
                "GetItem",
                json!({"TableName": "things", "Key": key, "ProjectionExpression": "m.l[2], s"}),
            ),
            (
                "GetItem",
                json!({"TableName": "things", "Key": {"pk": {"S": "p"}, "sk": {"N": "99"}},
                       "ReturnConsumedCapacity": "INDEXES"}),
            ),
            (
                "GetItem",
                json!({"TableName": "things", "Key": {"pk": {"S": "nobody"}, "sk": {"N": "0"}}}),
            ),
            (
                "Query",
                json!({"TableName": "things", "KeyConditionExpression": "pk = :p",
                       "ExpressionAttributeValues": {":p": {"S": "p"}}}),
            ),
            (
                "Query",
                json!({"TableName": "things", "KeyConditionExpression": "pk = :p AND sk > :z",
                       "ExpressionAttributeValues": {":p": {"S": "p"}, ":z": {"N": "0"}},
                       "Limit": 3, "ScanIndexForward": false,
                       "ReturnConsumedCapacity": "TOTAL"}),
            ),
            (
                "Query",
                json!({"TableName": "things", "KeyConditionExpression": "pk = :p",
                       "ExpressionAttributeValues": {":p": {"S": "p"}}, "Select": "COUNT",
                       "Limit": 5}),
            ),
            (
                "Query",
                json!({"TableName": "things", "KeyConditionExpression": "pk = :p",
                       "FilterExpression": "sk_missing <> :z OR attribute_exists(b)",
                       "ProjectionExpression": "sk, m.ss",
                       "ExpressionAttributeValues": {":p": {"S": "p"}, ":z": {"N": "0"}},
                       "Limit": 4}),
            ),
            (
                "Query",
                json!({"TableName": "things", "IndexName": "by-g",
                       "KeyConditionExpression": "g = :g",
                       "ExpressionAttributeValues": {":g": {"S": "x"}}, "Limit": 2}),
            ),
            (
                "Query",
                json!({"TableName": "things", "KeyConditionExpression": "pk = :p",
                       "ExpressionAttributeValues": {":p": {"S": "empty"}}}),
            ),
            ("Scan", json!({"TableName": "things"})),
            (
                "Scan",
                json!({"TableName": "things", "Limit": 7, "Select": "COUNT"}),
            ),
            (
                "Scan",
                json!({"TableName": "things", "IndexName": "by-g",
                       "ReturnConsumedCapacity": "INDEXES"}),
            ),
        ];
        for (op, body) in cases {
            let tree = serde_json::to_vec(&d.call(op, &body).await.unwrap()).unwrap();
            let text = d.call_text(op, &body).await.unwrap();
            assert_eq!(
                String::from_utf8(text).unwrap(),
                String::from_utf8(tree).unwrap(),
                "{op} {body}"
            );
        }
        // Pages past what is read in place (by entries, then by bytes) are read whole.
        let mut puts = Vec::new();
        for i in 0..INLINE_ENTRIES + 44 {
            puts.push(json!({"pk": {"S": "many"}, "sk": {"N": i.to_string()}}));
        }
        let big = "x".repeat(1000);
        for i in 0..INLINE_BYTES / 1000 + 16 {
            puts.push(json!({"pk": {"S": "large"}, "sk": {"N": i.to_string()}, "s": {"S": big}}));
        }
        for chunk in puts.chunks(25) {
            let writes: Vec<_> = chunk
                .iter()
                .map(|i| json!({"PutRequest": {"Item": i}}))
                .collect();
            d.call(
                "BatchWriteItem",
                &json!({"RequestItems": {"things": writes}}),
            )
            .await
            .unwrap();
        }
        for (partition, n) in [
            ("many", INLINE_ENTRIES + 44),
            ("large", INLINE_BYTES / 1000 + 16),
        ] {
            let body = json!({"TableName": "things", "KeyConditionExpression": "pk = :p",
                              "ExpressionAttributeValues": {":p": {"S": partition}}});
            let tree = d.call("Query", &body).await.unwrap();
            assert_eq!(tree["Count"], n, "{partition}");
            assert_eq!(tree["Items"][n - 1]["sk"]["N"], (n - 1).to_string());
            let text = d.call_text("Query", &body).await.unwrap();
            assert_eq!(text, serde_json::to_vec(&tree).unwrap(), "{partition}");
        }
        // Refusals are the same error either way.
        let bad = json!({"TableName": "missing", "Key": key});
        assert_eq!(
            d.call_text("GetItem", &bad).await.unwrap_err().to_string(),
            d.call("GetItem", &bad).await.unwrap_err().to_string()
        );
    }
}
