//! Tables: their definitions (key schema, indexes, billing, streams, TTL, tags), the catalog
//! that keeps them in the engine and in memory, and the control-plane operations
//! (CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable).
//!
//! A table is ACTIVE as soon as its creation commits; CreateTable answers `CREATING` and
//! DeleteTable `DELETING`, as DynamoDB does, so SDK waiters behave the same.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::input::{Input, check_table_name, violations_error};
use super::stored::{self, decode_item};
use super::types::{AttributeValue, Item, ScalarType};
use crate::engine::{EngineError, Plane};

/// `dynamo/catalog`: table name → JSON definition.
pub(crate) const CATALOG: TableDefinition<&str, &[u8]> = TableDefinition::new("dynamo/catalog");
/// `dynamo/uids`: table name → uid, the cheap check that a table still exists.
pub(crate) const UIDS: TableDefinition<&str, &str> = TableDefinition::new("dynamo/uids");
/// `dynamo/sizes`: table uid → total item bytes.
pub(crate) const SIZES: TableDefinition<&str, u64> = TableDefinition::new("dynamo/sizes");

const MAX_GSI: usize = 20;
const MAX_LSI: usize = 5;

/// A key attribute: its name and scalar type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttr {
    /// Attribute name.
    pub name: String,
    /// S, N or B.
    #[serde(with = "scalar_serde")]
    pub ty: ScalarType,
}

mod scalar_serde {
    use super::ScalarType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &ScalarType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ScalarType, D::Error> {
        let s = String::deserialize(d)?;
        ScalarType::parse(&s).ok_or_else(|| serde::de::Error::custom("bad scalar type"))
    }
}

/// The most HASH, and the most RANGE, attributes a global secondary index's key may have
/// (DynamoDB's multi-attribute keys); a table's and a local index's key have one of each.
pub const MAX_KEY_ATTRS: usize = 4;

/// A key schema: its partition (HASH) attributes and its sort (RANGE) attributes, in
/// KeySchema order. A table or a local index has one HASH and at most one RANGE attribute;
/// a global secondary index up to four of each. Items order by the RANGE attributes
/// compared one after the other.
///
/// On disk a single attribute keeps the shape it had before keys could have several (an
/// object for `hash`, an object or null for `range`), so catalogs written by either version
/// load in the other as long as no index has a multi-attribute key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchema {
    /// The HASH attributes: at least one.
    #[serde(with = "key_attrs_serde::hash")]
    pub hash: Vec<KeyAttr>,
    /// The RANGE attributes, possibly none.
    #[serde(with = "key_attrs_serde::range", default)]
    pub range: Vec<KeyAttr>,
}

mod key_attrs_serde {
    use super::KeyAttr;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// One attribute as an object, several as a list; `None` for null.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(KeyAttr),
        Many(Vec<KeyAttr>),
    }

    fn write<S: Serializer>(attrs: &[KeyAttr], s: S) -> Result<S::Ok, S::Error> {
        match attrs {
            [] => s.serialize_none(),
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub(super) mod hash {
        use super::*;

        pub(in super::super) fn serialize<S: Serializer>(
            attrs: &[KeyAttr],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            write(attrs, s)
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<KeyAttr>, D::Error> {
            let attrs = match OneOrMany::deserialize(d)? {
                OneOrMany::One(a) => vec![a],
                OneOrMany::Many(v) => v,
            };
            if attrs.is_empty() {
                return Err(serde::de::Error::custom("a key needs a HASH attribute"));
            }
            Ok(attrs)
        }
    }

    pub(super) mod range {
        use super::*;

        pub(in super::super) fn serialize<S: Serializer>(
            attrs: &[KeyAttr],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            write(attrs, s)
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<KeyAttr>, D::Error> {
            Ok(match Option::<OneOrMany>::deserialize(d)? {
                None => Vec::new(),
                Some(OneOrMany::One(a)) => vec![a],
                Some(OneOrMany::Many(v)) => v,
            })
        }
    }
}

impl KeySchema {
    /// A table's (or local index's) key: one HASH and an optional RANGE attribute.
    pub fn simple(hash: KeyAttr, range: Option<KeyAttr>) -> Self {
        Self {
            hash: vec![hash],
            range: range.into_iter().collect(),
        }
    }

    /// The first HASH attribute: a table's partition key.
    pub fn partition(&self) -> &KeyAttr {
        // Every constructor and the deserializer refuse an empty HASH list.
        &self.hash[0]
    }

    /// The first RANGE attribute: a table's sort key.
    pub fn sort(&self) -> Option<&KeyAttr> {
        self.range.first()
    }

    /// Whether the key has more than one HASH or more than one RANGE attribute.
    pub fn is_multi_attribute(&self) -> bool {
        self.hash.len() > 1 || self.range.len() > 1
    }

    /// The key attributes, HASH first, in KeySchema order.
    pub fn attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        self.hash.iter().chain(&self.range)
    }

    /// The key attribute names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.attrs().map(|a| a.name.as_str())
    }

    pub(crate) fn to_json(&self) -> Value {
        let hash = self
            .hash
            .iter()
            .map(|a| json!({"AttributeName": a.name, "KeyType": "HASH"}));
        let range = self
            .range
            .iter()
            .map(|a| json!({"AttributeName": a.name, "KeyType": "RANGE"}));
        Value::Array(hash.chain(range).collect())
    }
}

/// Which attributes an index keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    /// Every attribute.
    All,
    /// The table's and the index's keys.
    KeysOnly,
    /// The keys and these attributes.
    Include(Vec<String>),
}

/// A global or local secondary index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDef {
    /// IndexName.
    pub name: String,
    /// The index's key.
    pub key: KeySchema,
    /// Its projection.
    pub projection: Projection,
    /// Local (same partition key, consistent reads) or global.
    pub local: bool,
    /// Provisioned units, when the table is provisioned.
    pub throughput: Option<(i64, i64)>,
}

impl IndexDef {
    /// The engine table holding its entries.
    pub fn engine_table(&self, table_uid: &str) -> String {
        Plane::Dynamo.table(&format!("index/{table_uid}/{}", self.name))
    }

    /// The item as the index shows it.
    pub fn project(&self, table_key: &KeySchema, item: &Item) -> Item {
        match &self.projection {
            Projection::All => item.clone(),
            Projection::KeysOnly | Projection::Include(_) => item
                .iter()
                .filter(|(k, _)| {
                    table_key.names().any(|n| n == k.as_str())
                        || self.key.names().any(|n| n == k.as_str())
                        || matches!(&self.projection, Projection::Include(a) if a.contains(k))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Whether an attribute is in the projection.
    pub fn projects(&self, table_key: &KeySchema, attr: &str) -> bool {
        match &self.projection {
            Projection::All => true,
            Projection::KeysOnly => table_key.names().chain(self.key.names()).any(|n| n == attr),
            Projection::Include(a) => {
                a.iter().any(|x| x == attr)
                    || table_key.names().chain(self.key.names()).any(|n| n == attr)
            }
        }
    }
}

/// Stream settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
    pub view_type: String,
    /// The label of the current stream (its creation time).
    pub label: String,
    /// The first position of the table's change log this stream holds: the records before
    /// it belong to the table's earlier streams.
    #[serde(default)]
    pub start: u64,
}

/// A stream that was disabled (or replaced): still listed and readable, as DynamoDB keeps
/// one for 24 hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedStream {
    /// The stream as it was.
    pub stream: StreamSpec,
    /// When it was disabled, in seconds since the epoch.
    pub closed: u64,
}

/// A resource-based policy attached to a table or a stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourcePolicy {
    /// The document as it was put.
    pub document: String,
    /// Its revision: the time it was put, in milliseconds since the epoch, as text.
    pub revision: String,
    /// The document parsed, once asked for.
    #[serde(skip)]
    pub(crate) parsed: std::sync::OnceLock<Option<Arc<crate::iam::PolicyDocument>>>,
}

impl PartialEq for ResourcePolicy {
    fn eq(&self, other: &Self) -> bool {
        self.document == other.document && self.revision == other.revision
    }
}

/// A table's definition, as kept in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    /// TableName.
    pub name: String,
    /// Fixed at creation; names the table's engine tables.
    pub uid: String,
    /// The primary key.
    pub key: KeySchema,
    /// AttributeDefinitions.
    pub attributes: Vec<KeyAttr>,
    /// Secondary indexes, global and local.
    pub indexes: Vec<IndexDef>,
    /// PROVISIONED (with units) or PAY_PER_REQUEST (`None`).
    pub throughput: Option<(i64, i64)>,
    /// Seconds since the epoch.
    pub created: f64,
    /// The stream, when enabled.
    pub stream: Option<StreamSpec>,
    /// The streams disabled in the last 24 hours, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed_streams: Vec<ClosedStream>,
    /// The TTL attribute, when enabled.
    pub ttl_attribute: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// DeletionProtectionEnabled.
    pub deletion_protection: bool,
    /// STANDARD or STANDARD_INFREQUENT_ACCESS.
    pub table_class: Option<String>,
    /// The table's resource-based policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<ResourcePolicy>,
    /// Its streams' resource-based policies, by stream label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stream_policies: BTreeMap<String, ResourcePolicy>,
    /// Point-in-time recovery, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitr: Option<super::backup::Pitr>,
}

impl TableDef {
    /// The engine table holding the items.
    pub fn items_table(&self) -> String {
        Plane::Dynamo.table(&format!("items/{}", self.uid))
    }

    /// A secondary index by name.
    pub fn index(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// The ARN.
    pub fn arn(&self, d: &Dynamo) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            d.region, d.account, self.name
        )
    }

    /// The storage key of `item`'s primary key (the key attributes are checked first).
    pub fn storage_key(&self, item: &Item) -> Vec<u8> {
        let hash = item
            .get(&self.key.partition().name)
            .cloned()
            .unwrap_or(AttributeValue::Null);
        let range = self.key.sort().and_then(|r| item.get(&r.name));
        stored::primary_key(&hash, range)
    }

    /// The primary key attributes of `item`.
    pub fn key_of(&self, item: &Item) -> Item {
        self.key
            .names()
            .filter_map(|n| item.get(n).map(|v| (n.to_owned(), v.clone())))
            .collect()
    }
}

/// Reads the whole catalog (at startup).
pub(crate) fn load_catalog(
    txn: &redb::ReadTransaction,
) -> Result<HashMap<String, Arc<TableDef>>, EngineError> {
    let table = match txn.open_table(CATALOG) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = HashMap::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        let def: TableDef =
            serde_json::from_slice(v.value()).map_err(|e| EngineError::Corrupt {
                table: "dynamo/catalog".into(),
                reason: e.to_string(),
            })?;
        out.insert(k.value().to_owned(), Arc::new(def));
    }
    Ok(out)
}

pub(crate) fn save_def(txn: &redb::WriteTransaction, def: &TableDef) -> Result<(), EngineError> {
    let bytes = serde_json::to_vec(def).map_err(|e| EngineError::Storage(e.to_string()))?;
    txn.open_table(CATALOG)?
        .insert(def.name.as_str(), bytes.as_slice())?;
    txn.open_table(UIDS)?
        .insert(def.name.as_str(), def.uid.as_str())?;
    Ok(())
}

/// An ARN of a DynamoDB table or of a part of it: its region, account, table name, and what
/// follows the name (`""`, `/index/NAME`, `/stream/LABEL`).
pub(crate) fn parse_table_arn(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let rest = arn.strip_prefix("arn:aws:dynamodb:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, resource) = rest.split_once(':')?;
    let resource = resource.strip_prefix("table/")?;
    let (name, part) = resource
        .find('/')
        .map_or((resource, ""), |i| resource.split_at(i));
    Some((region, account, name, part))
}

/// Whether the catalog still holds this very table (not one deleted and re-created).
pub(crate) fn still_exists(
    txn: &redb::WriteTransaction,
    def: &TableDef,
) -> Result<bool, EngineError> {
    let uids = txn.open_table(UIDS)?;
    Ok(uids
        .get(def.name.as_str())?
        .is_some_and(|v| v.value() == def.uid))
}

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The attribute names a KeySchema array lists, by role, in order.
#[derive(Debug, Clone, Default)]
struct KeyNames {
    hash: Vec<String>,
    range: Vec<String>,
}

impl KeyNames {
    fn all(&self) -> impl Iterator<Item = &String> {
        self.hash.iter().chain(&self.range)
    }
}

/// Which key a KeySchema array describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyOf {
    Table,
    LocalIndex,
    GlobalIndex,
}

/// Parses a KeySchema array. A table's and a local index's key is one HASH and at most one
/// RANGE element; a global secondary index's up to four of each, every HASH before every
/// RANGE.
fn parse_key_schema(
    v: &Value,
    path: &str,
    of: KeyOf,
    violations: &mut Vec<String>,
) -> Result<Option<KeyNames>, Error> {
    let multi = of == KeyOf::GlobalIndex;
    let Value::Array(elems) = v else {
        return Err(super::types::shape_error(v, "list"));
    };
    if elems.is_empty() {
        violations.push(format!(
            "Value '[]' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ));
        return Ok(None);
    }
    if !multi && elems.len() > 2 {
        violations.push(format!(
            "Value '{}' at '{path}' failed to satisfy constraint: Member must have length less than or equal to 2",
            describe_key_elems(elems)
        ));
        return Ok(None);
    }
    let mut names = KeyNames::default();
    for (i, e) in elems.iter().enumerate() {
        let name = e
            .get("AttributeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kt = e.get("KeyType").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            violations.push(format!(
                "Value null at '{path}.{}.member.attributeName' failed to satisfy constraint: Member must not be null",
                i + 1
            ));
            continue;
        }
        if name.len() > 255 {
            violations.push(format!(
                "Value '{name}' at '{path}.{}.member.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255",
                i + 1
            ));
        }
        match kt {
            "HASH" => {
                if i != 0 && !multi {
                    return Err(Error::validation(
                        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
                    ));
                }
                if !names.range.is_empty() {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: All HASH key attributes must precede RANGE key attributes in the KeySchema",
                    ));
                }
                names.hash.push(name.to_owned());
            }
            "RANGE" => {
                if i == 0 {
                    return Err(Error::validation(
                        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
                    ));
                }
                names.range.push(name.to_owned());
            }
            other => violations.push(format!(
                "Value '{other}' at '{path}.{}.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]",
                i + 1
            )),
        }
    }
    if !violations.is_empty() {
        return Ok(None);
    }
    for (role, list) in [("HASH", &names.hash), ("RANGE", &names.range)] {
        if list.len() > MAX_KEY_ATTRS {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: The KeySchema exceeds the maximum allowed number of {role} key attributes"
            )));
        }
    }
    let all: Vec<&String> = names.all().collect();
    let repeated = all.iter().enumerate().any(|(i, n)| all[..i].contains(n));
    if repeated {
        return Err(Error::validation(match (all.len(), of) {
            // What DynamoDB answers for one attribute used as both keys of a table.
            (2, KeyOf::Table) => "Invalid KeySchema: Some index key attribute have no definition",
            (2, _) => {
                "Both the Hash Key and the Range Key element in the KeySchema have the same name"
            }
            _ => "The KeySchema contains multiple key attributes with the same name",
        }));
    }
    Ok(Some(names))
}

fn describe_key_elems(elems: &[Value]) -> String {
    let parts: Vec<String> = elems
        .iter()
        .map(|e| {
            format!(
                "KeySchemaElement(attributeName={}, keyType={})",
                e.get("AttributeName")
                    .and_then(Value::as_str)
                    .unwrap_or("null"),
                e.get("KeyType").and_then(Value::as_str).unwrap_or("null")
            )
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The key schema `names` describe, typed from the attribute definitions, or the names
/// that have none.
fn resolve_key(names: &KeyNames, attrs: &[KeyAttr]) -> Result<KeySchema, Vec<String>> {
    let find = |n: &String| attrs.iter().find(|a| &a.name == n).cloned();
    let missing: Vec<String> = names.all().filter(|n| find(n).is_none()).cloned().collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let hash: Vec<KeyAttr> = names.hash.iter().filter_map(find).collect();
    let range: Vec<KeyAttr> = names.range.iter().filter_map(find).collect();
    if hash.is_empty() {
        return Err(Vec::new());
    }
    Ok(KeySchema { hash, range })
}

fn parse_projection(v: Option<&Value>, path: &str) -> Result<Projection, Error> {
    let Some(v) = v else {
        return Err(Error::validation(format!(
            "1 validation error detected: Value null at '{path}.projection' failed to satisfy constraint: Member must not be null"
        )));
    };
    let ty = v.get("ProjectionType").and_then(Value::as_str);
    let non_key: Option<Vec<String>> = match v.get("NonKeyAttributes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            let mut names: Vec<String> = Vec::with_capacity(a.len());
            for n in a {
                let Value::String(n) = n else {
                    return Err(super::types::shape_error(n, "string"));
                };
                if names.contains(n) {
                    return Err(Error::validation(format!(
                        "One or more parameter values were invalid: Duplicate element in NonKeyAttributes: {n}"
                    )));
                }
                names.push(n.clone());
            }
            // A projected name is at most 255 bytes, as an index's key names are; the words
            // are Coral's for a list member's length (DynamoDB's exact ones are not recorded).
            if names.iter().any(|n| n.is_empty() || n.len() > 255) {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value '[{}]' at '{path}.projection.nonKeyAttributes' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 255, Member must have length greater than or equal to 1]",
                    names.join(", ")
                )));
            }
            Some(names)
        }
        Some(other) => return Err(super::types::shape_error(other, "list")),
    };
    match (ty, non_key) {
        (Some("ALL"), None) => Ok(Projection::All),
        (Some("KEYS_ONLY"), None) => Ok(Projection::KeysOnly),
        (Some("INCLUDE"), Some(a)) if !a.is_empty() => Ok(Projection::Include(a)),
        (Some("INCLUDE"), _) => Err(Error::validation(
            "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        )),
        (Some("ALL" | "KEYS_ONLY"), Some(_)) => Err(Error::validation(format!(
            "One or more parameter values were invalid: ProjectionType is {}, but NonKeyAttributes is specified",
            ty.unwrap_or_default()
        ))),
        (None, _) => Err(Error::validation(
            "One or more parameter values were invalid: Unknown ProjectionType: null",
        )),
        (Some(other), _) => Err(Error::validation(format!(
            "1 validation error detected: Value '{other}' at '{path}.projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]"
        ))),
    }
}

/// ProvisionedThroughput, at the member path `path` (for the messages).
fn parse_throughput(v: Option<&Value>, path: &str) -> Result<Option<(i64, i64)>, Error> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let r = v.get("ReadCapacityUnits").and_then(Value::as_i64);
    let w = v.get("WriteCapacityUnits").and_then(Value::as_i64);
    // A member left out is a constraint of the request's shape, reported as Coral reports
    // one (the write units first).
    let missing: Vec<String> = [("writeCapacityUnits", w), ("readCapacityUnits", r)]
        .iter()
        .filter(|(_, units)| units.is_none())
        .map(|(member, _)| {
            format!("Value null at '{path}.{member}' failed to satisfy constraint: Member must not be null")
        })
        .collect();
    if !missing.is_empty() {
        return Err(violations_error(&missing));
    }
    match (r, w) {
        (Some(r), Some(w)) if r >= 1 && w >= 1 => Ok(Some((r, w))),
        (Some(r), Some(w)) => Err(Error::validation(format!(
            "One or more parameter values were invalid: {} for {}CapacityUnits must be positive",
            if r < 1 { r } else { w },
            if r < 1 { "Read" } else { "Write" }
        ))),
        _ => Err(Error::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        )),
    }
}

fn parse_attribute_definitions(input: &mut Input<'_>) -> Result<Vec<KeyAttr>, Error> {
    let Some(defs) = input.array("AttributeDefinitions")? else {
        input.violation(
            "Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null".into(),
        );
        return Ok(Vec::new());
    };
    let mut out: Vec<KeyAttr> = Vec::new();
    for (i, d) in defs.iter().enumerate() {
        let name = d.get("AttributeName").and_then(Value::as_str);
        let ty = d.get("AttributeType").and_then(Value::as_str);
        if let Some(v) = long_definition_name(name, i) {
            input.violation(v);
        }
        match (name, ty.and_then(ScalarType::parse)) {
            (Some(n), Some(t)) => {
                if out.iter().any(|a| a.name == n) {
                    return Err(Error::validation(format!(
                        "Attribute Name is duplicated: {n}"
                    )));
                }
                out.push(KeyAttr { name: n.to_owned(), ty: t });
            }
            (_, None) => input.violation(format!(
                "Value '{}' at 'attributeDefinitions.{}.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
                ty.unwrap_or("null"),
                i + 1
            )),
            (None, _) => input.violation(format!(
                "Value null at 'attributeDefinitions.{}.member.attributeName' failed to satisfy constraint: Member must not be null",
                i + 1
            )),
        }
    }
    Ok(out)
}

/// The constraint violation of an attribute definition's name longer than 255 bytes, which
/// DynamoDB reports before any check of the keys against the definitions.
fn long_definition_name(name: Option<&str>, at: usize) -> Option<String> {
    let n = name.filter(|n| n.len() > 255)?;
    Some(format!(
        "Value '{n}' at 'attributeDefinitions.{}.member.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255",
        at + 1
    ))
}

fn parse_index(
    v: &Value,
    path: &str,
    attrs: &[KeyAttr],
    local: bool,
    used: &mut Vec<String>,
) -> Result<IndexDef, Error> {
    let name = v
        .get("IndexName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut violations = Vec::new();
    if name.len() < 3 {
        violations.push(format!(
            "Value '{name}' at '{path}.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3"
        ));
    } else if name.len() > 255 {
        violations.push(format!(
            "Value '{name}' at '{path}.indexName' failed to satisfy constraint: Member must have length less than or equal to 255"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        violations.push(format!(
            "Value '{name}' at '{path}.indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        ));
    }
    let key_v = v.get("KeySchema").cloned().unwrap_or(Value::Null);
    if key_v.is_null() {
        violations.push(format!(
            "Value null at '{path}.keySchema' failed to satisfy constraint: Member must not be null"
        ));
    }
    let names = if key_v.is_null() {
        None
    } else {
        parse_key_schema(
            &key_v,
            &format!("{path}.keySchema"),
            if local {
                KeyOf::LocalIndex
            } else {
                KeyOf::GlobalIndex
            },
            &mut violations,
        )?
    };
    if !violations.is_empty() {
        return Err(violations_error(&violations));
    }
    let Some(names) = names else {
        return Err(Error::validation("Invalid KeySchema"));
    };
    used.extend(names.all().cloned());
    let key = resolve_key(&names, attrs).map_err(|missing| {
        Error::validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            missing.join(", "),
            attrs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let projection = parse_projection(v.get("Projection"), path)?;
    let throughput = parse_throughput(
        v.get("ProvisionedThroughput"),
        &format!("{path}.provisionedThroughput"),
    )?;
    Ok(IndexDef {
        name,
        key,
        projection,
        local,
        throughput,
    })
}

impl Dynamo {
    /// CreateTable.
    pub(crate) async fn create_table(&self, body: &Value) -> Result<Value, Error> {
        let def = self.parse_create_table(body)?;
        self.create_def(def.clone()).await?;
        Ok(json!({ "TableDescription": self.describe(&def, Some("CREATING"), 0, 0) }))
    }

    /// A CreateTable request checked as DynamoDB checks it, into the definition it would
    /// create (with a fresh uid); nothing is written.
    pub(crate) fn parse_create_table(&self, body: &Value) -> Result<TableDef, Error> {
        let mut input = Input::new(body)?;
        if !input.has("TableName") {
            return Err(Error::validation(
                "The parameter 'TableName' is required but was not present in the request",
            ));
        }
        let given = input.table_name()?;
        // A table's ARN may name the table to create, in this region and account.
        let name = match self.table_named(&given) {
            Some(n) => n.to_owned(),
            None if given.starts_with("arn:") => return Err(self.not_here(&given, "CreateTable")),
            None => given,
        };
        let attrs = parse_attribute_definitions(&mut input)?;
        let mut key_violations = Vec::new();
        let key_names = match input.raw("KeySchema") {
            None => {
                input.violation("Value null at 'keySchema' failed to satisfy constraint: Member must not be null".into());
                None
            }
            Some(v) => parse_key_schema(v, "keySchema", KeyOf::Table, &mut key_violations)?,
        };
        for v in key_violations {
            input.violation(v);
        }
        let billing = input.enum_value(
            "BillingMode",
            "billingMode",
            &["PROVISIONED", "PAY_PER_REQUEST"],
        )?;
        input.finish()?;
        let Some(key_names) = key_names else {
            return Err(Error::validation("Invalid KeySchema"));
        };
        let mut used: Vec<String> = key_names.all().cloned().collect();
        let key = resolve_key(&key_names, &attrs).map_err(|missing| {
            Error::validation(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                missing.join(", "),
                attrs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let throughput_given =
            parse_throughput(input.raw("ProvisionedThroughput"), "provisionedThroughput")?;
        let throughput = match billing {
            Some("PAY_PER_REQUEST") => {
                if throughput_given.is_some() {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                    ));
                }
                None
            }
            _ => match throughput_given {
                Some(t) => Some(t),
                // PROVISIONED, given or by default: DynamoDB's words (DynamoDB Local says
                // "No provisioned throughput specified for the table").
                None => {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                    ));
                }
            },
        };
        let mut indexes: Vec<IndexDef> = Vec::new();
        if let Some(lsis) = input.array("LocalSecondaryIndexes")? {
            if lsis.is_empty() {
                return Err(Error::validation(
                    "One or more parameter values were invalid: List of LocalSecondaryIndexes is empty",
                ));
            }
            if lsis.len() > MAX_LSI {
                return Err(Error::validation(
                    "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5",
                ));
            }
            if key.sort().is_none() {
                return Err(Error::validation(
                    "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
                ));
            }
            for (i, l) in lsis.iter().enumerate() {
                let idx = parse_index(
                    l,
                    &format!("localSecondaryIndexes.{}.member", i + 1),
                    &attrs,
                    true,
                    &mut used,
                )?;
                if idx.key.partition().name != key.partition().name {
                    return Err(Error::validation(format!(
                        "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                        idx.name,
                        idx.key.partition().name,
                        key.partition().name
                    )));
                }
                if idx.key.sort().is_none() {
                    return Err(Error::validation(format!(
                        "One or more parameter values were invalid: Index KeySchema does not have a range key for index: {}",
                        idx.name
                    )));
                }
                if idx.throughput.is_some() {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index",
                    ));
                }
                indexes.push(idx);
            }
        }
        if let Some(gsis) = input.array("GlobalSecondaryIndexes")? {
            if gsis.is_empty() {
                return Err(Error::validation(
                    "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty",
                ));
            }
            if gsis.len() > MAX_GSI {
                return Err(Error::LimitExceeded(format!(
                    "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GSI}"
                )));
            }
            for (i, g) in gsis.iter().enumerate() {
                let mut idx = parse_index(
                    g,
                    &format!("globalSecondaryIndexes.{}.member", i + 1),
                    &attrs,
                    false,
                    &mut used,
                )?;
                match (throughput.is_some(), idx.throughput.is_some()) {
                    (true, false) => {
                        return Err(Error::validation(format!(
                            "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
                            idx.name
                        )));
                    }
                    (false, true) => {
                        return Err(Error::validation(format!(
                            "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {} when BillingMode is PAY_PER_REQUEST",
                            idx.name
                        )));
                    }
                    _ => {}
                }
                if throughput.is_none() {
                    idx.throughput = None;
                }
                indexes.push(idx);
            }
        }
        for (i, idx) in indexes.iter().enumerate() {
            if indexes[..i].iter().any(|o| o.name == idx.name) {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Duplicate index name: {}",
                    idx.name
                )));
            }
        }
        used.sort();
        used.dedup();
        if attrs.len() != used.len() || attrs.iter().any(|a| !used.contains(&a.name)) {
            return Err(Error::validation(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        let stream = parse_stream_spec(input.raw("StreamSpecification"))?;
        let policy = Self::creation_policy(
            input.string("ResourcePolicy")?,
            &format!(
                "arn:aws:dynamodb:{}:{}:table/{name}",
                self.region, self.account
            ),
        )?;
        let given = input.array("Tags")?;
        let tags: BTreeMap<String, String> = super::tags::read_tags(&mut input, given)
            .into_iter()
            .collect();
        input.finish()?;
        if tags.len() > super::tags::MAX_TAGS {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: The number of tags for the resource exceeds the limit of {}",
                super::tags::MAX_TAGS
            )));
        }
        let def = TableDef {
            name: name.clone(),
            uid: uuid::Uuid::new_v4().simple().to_string(),
            key,
            attributes: attrs,
            indexes,
            throughput,
            created: now_secs(),
            stream,
            closed_streams: Vec::new(),
            ttl_attribute: None,
            tags,
            deletion_protection: input.boolean("DeletionProtectionEnabled")?.unwrap_or(false),
            table_class: input.string("TableClass")?.map(str::to_owned),
            policy,
            stream_policies: BTreeMap::new(),
            pitr: None,
        };
        Ok(def)
    }

    /// Creates a table from a definition (CreateTable, and tables declared in templates).
    pub async fn create_def(&self, def: TableDef) -> Result<(), Error> {
        let _changing = self.definitions.lock().await;
        let stored = def.clone();
        self.engine
            .write(move |txn| {
                if let Some(refusal) = name_taken(txn, &stored.name)? {
                    return Ok(Err(refusal));
                }
                write_new_table(txn, &stored)?;
                Ok(Ok(()))
            })
            .await??;
        self.note_policies(&def);
        self.set_def(Arc::new(def));
        Ok(())
    }

    /// Writes `def` in place of `old` (a change of its tags, TTL or policy), unless the
    /// table was deleted meanwhile, and caches it. The caller holds `definitions`.
    pub(crate) async fn replace_def(&self, old: Arc<TableDef>, def: TableDef) -> Result<(), Error> {
        let stored = def.clone();
        self.engine
            .write(move |txn| {
                if !still_exists(txn, &old)? {
                    return Ok(Err(Error::table_not_found(&old.name)));
                }
                save_def(txn, &stored)?;
                Ok(Ok(()))
            })
            .await??;
        self.set_def(Arc::new(def));
        Ok(())
    }

    pub(crate) fn set_def(&self, def: Arc<TableDef>) {
        self.catalog.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(def.name.clone(), def.clone());
            m
        });
    }

    fn drop_def(&self, name: &str) {
        self.catalog.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.remove(name);
            m
        });
    }

    /// The definition of a table, named by its name or its ARN, or
    /// ResourceNotFoundException.
    pub fn table(&self, name: &str) -> Result<Arc<TableDef>, Error> {
        self.catalog
            .load()
            .get(self.table_named(name).unwrap_or(name))
            .cloned()
            .ok_or_else(|| Error::table_not_found(name))
    }

    /// The table name a table ARN of this region and account stands for (`None` for any
    /// other string, or an ARN of another region or account, which names no table here).
    pub(crate) fn table_named<'n>(&self, arn: &'n str) -> Option<&'n str> {
        let (region, account, name, part) = parse_table_arn(arn)?;
        (self.is_here(region, account) && part.is_empty()).then_some(name)
    }

    /// Whether a region and account are this endpoint's.
    pub(crate) fn is_here(&self, region: &str, account: &str) -> bool {
        region == self.region && account == self.account
    }

    /// The refusal of `op` on a resource of another region or account, as IAM answers it.
    pub(crate) fn not_here(&self, arn: &str, op: &str) -> Error {
        Error::AccessDenied(format!(
            "User: arn:aws:iam::{}:root is not authorized to perform: dynamodb:{op} on resource: {arn} because no resource-based policy allows the dynamodb:{op} action",
            self.account
        ))
    }

    /// The definition of a table an item operation names, or ResourceNotFoundException in
    /// the words DynamoDB uses for those operations.
    pub(crate) fn item_table(&self, name: &str) -> Result<Arc<TableDef>, Error> {
        self.table(name).map_err(|_| Error::item_table_not_found())
    }

    /// Every table, sorted by name.
    pub fn tables(&self) -> Vec<Arc<TableDef>> {
        let mut v: Vec<_> = self.catalog.load().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Item count and size of a table and of each index.
    pub async fn counts(
        &self,
        def: &Arc<TableDef>,
    ) -> Result<(u64, u64, HashMap<String, u64>), Error> {
        let def = def.clone();
        Ok(self
            .engine
            .read(move |txn| {
                let items_name = def.items_table();
                let items: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&items_name);
                let count = match txn.open_table(items) {
                    Ok(t) => t.len()?,
                    Err(redb::TableError::TableDoesNotExist(_)) => 0,
                    Err(e) => return Err(e.into()),
                };
                let size = match txn.open_table(SIZES) {
                    Ok(t) => t.get(def.uid.as_str())?.map_or(0, |v| v.value()),
                    Err(redb::TableError::TableDoesNotExist(_)) => 0,
                    Err(e) => return Err(e.into()),
                };
                let mut idx = HashMap::new();
                for i in &def.indexes {
                    let name = i.engine_table(&def.uid);
                    let t: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
                    let n = match txn.open_table(t) {
                        Ok(t) => t.len()?,
                        Err(redb::TableError::TableDoesNotExist(_)) => 0,
                        Err(e) => return Err(e.into()),
                    };
                    idx.insert(i.name.clone(), n);
                }
                Ok((count, size, idx))
            })
            .await?)
    }

    /// The TableDescription DynamoDB returns.
    pub(crate) fn describe(
        &self,
        def: &TableDef,
        status: Option<&str>,
        count: u64,
        size: u64,
    ) -> Value {
        self.describe_with(def, status, count, size, &HashMap::new())
    }

    fn describe_with(
        &self,
        def: &TableDef,
        status: Option<&str>,
        count: u64,
        size: u64,
        index_counts: &HashMap<String, u64>,
    ) -> Value {
        let arn = def.arn(self);
        let throughput = |t: Option<(i64, i64)>| {
            let (r, w) = t.unwrap_or((0, 0));
            json!({"NumberOfDecreasesToday": 0, "ReadCapacityUnits": r, "WriteCapacityUnits": w})
        };
        let attrs: Vec<Value> = def
            .attributes
            .iter()
            .map(|a| json!({"AttributeName": a.name, "AttributeType": a.ty.as_str()}))
            .collect();
        let mut t = json!({
            "AttributeDefinitions": attrs,
            "TableName": def.name,
            "KeySchema": def.key.to_json(),
            "TableStatus": status.unwrap_or("ACTIVE"),
            "CreationDateTime": def.created,
            "ProvisionedThroughput": throughput(def.throughput),
            "TableSizeBytes": size,
            "ItemCount": count,
            "TableArn": arn,
            "TableId": uid_as_uuid(&def.uid),
            "DeletionProtectionEnabled": def.deletion_protection,
        });
        if def.throughput.is_none() {
            t["BillingModeSummary"] = json!({
                "BillingMode": "PAY_PER_REQUEST",
                "LastUpdateToPayPerRequestDateTime": def.created,
            });
        }
        if let Some(class) = &def.table_class {
            t["TableClassSummary"] = json!({"TableClass": class});
        }
        let index_json = |i: &IndexDef| {
            let mut p = json!({"ProjectionType": match i.projection {
                Projection::All => "ALL",
                Projection::KeysOnly => "KEYS_ONLY",
                Projection::Include(_) => "INCLUDE",
            }});
            if let Projection::Include(a) = &i.projection {
                p["NonKeyAttributes"] = json!(a);
            }
            let mut v = json!({
                "IndexName": i.name,
                "KeySchema": i.key.to_json(),
                "Projection": p,
                "IndexSizeBytes": 0,
                "ItemCount": index_counts.get(&i.name).copied().unwrap_or(0),
                "IndexArn": format!("{arn}/index/{}", i.name),
            });
            if !i.local {
                v["IndexStatus"] = json!("ACTIVE");
                v["ProvisionedThroughput"] = throughput(i.throughput);
            }
            v
        };
        let gsis: Vec<Value> = def
            .indexes
            .iter()
            .filter(|i| !i.local)
            .map(index_json)
            .collect();
        let lsis: Vec<Value> = def
            .indexes
            .iter()
            .filter(|i| i.local)
            .map(index_json)
            .collect();
        if !gsis.is_empty() {
            t["GlobalSecondaryIndexes"] = Value::Array(gsis);
        }
        if !lsis.is_empty() {
            t["LocalSecondaryIndexes"] = Value::Array(lsis);
        }
        if let Some(s) = &def.stream {
            t["StreamSpecification"] =
                json!({"StreamEnabled": true, "StreamViewType": s.view_type});
            t["LatestStreamLabel"] = json!(s.label);
            t["LatestStreamArn"] = json!(format!("{arn}/stream/{}", s.label));
        } else if let Some(c) = def.closed_streams.last() {
            // A disabled stream is still the latest, and no StreamSpecification is given
            // (as DynamoDB describes it: ScyllaDB's tests of this pass against it).
            t["LatestStreamLabel"] = json!(c.stream.label);
            t["LatestStreamArn"] = json!(format!("{arn}/stream/{}", c.stream.label));
        }
        t
    }

    /// DescribeTable.
    pub(crate) async fn describe_table(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        input.finish()?;
        let def = self.table(&name)?;
        let (count, size, idx) = self.counts(&def).await?;
        // A table an import is loading is CREATING until the import ends, as on DynamoDB:
        // a waiter for the table to exist waits for its items.
        let status = self.jobs.is_importing(&def.name).then_some("CREATING");
        Ok(json!({ "Table": self.describe_with(&def, status, count, size, &idx) }))
    }

    /// ListTables.
    pub(crate) async fn list_tables(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let start = input.string("ExclusiveStartTableName")?;
        if let Some(s) = start {
            let mut v = Vec::new();
            check_table_name(s, "exclusiveStartTableName", &mut v);
            for m in v {
                input.violation(m);
            }
        }
        let limit = input.integer("Limit")?;
        if let Some(l) = limit {
            if l < 1 {
                input.violation(format!(
                    "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
                ));
            } else if l > 100 {
                input.violation(format!(
                    "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"
                ));
            }
        }
        input.finish()?;
        let limit = limit.unwrap_or(100) as usize;
        let names: Vec<String> = self
            .tables()
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| start.is_none_or(|s| n.as_str() > s))
            .collect();
        let page: Vec<&String> = names.iter().take(limit).collect();
        let mut out = json!({ "TableNames": page });
        if names.len() > limit
            && let Some(last) = page.last()
        {
            out["LastEvaluatedTableName"] = json!(last);
        }
        Ok(out)
    }

    /// DeleteTable.
    pub(crate) async fn delete_table(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        input.finish()?;
        let _changing = self.definitions.lock().await;
        let def = self.table(&name)?;
        if def.deletion_protection {
            return Err(Error::validation("Resource cannot be deleted as it is currently protected against deletions. Disable deletion protection first.".to_string()));
        }
        let (count, size, _) = self.counts(&def).await?;
        let gone = def.clone();
        self.engine
            .write(move |txn| {
                if !still_exists(txn, &gone)? {
                    return Ok(Err(Error::table_not_found(&gone.name)));
                }
                txn.open_table(CATALOG)?.remove(gone.name.as_str())?;
                txn.open_table(UIDS)?.remove(gone.name.as_str())?;
                txn.open_table(SIZES)?.remove(gone.uid.as_str())?;
                let items_name = gone.items_table();
                let items: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&items_name);
                txn.delete_table(items)?;
                for idx in &gone.indexes {
                    let n = idx.engine_table(&gone.uid);
                    let t: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&n);
                    txn.delete_table(t)?;
                }
                super::stream::delete_stream_tables(txn, &gone)?;
                Ok(Ok(()))
            })
            .await??;
        self.drop_def(&def.name);
        // DeleteTable's description leaves out the schema DescribeTable shows.
        let mut desc = self.describe(&def, Some("DELETING"), count, size);
        if let Some(fields) = desc.as_object_mut() {
            for f in [
                "CreationDateTime",
                "KeySchema",
                "AttributeDefinitions",
                "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes",
            ] {
                fields.remove(f);
            }
        }
        Ok(json!({ "TableDescription": desc }))
    }

    /// UpdateTable: billing, throughput, streams, deletion protection, and GSIs created
    /// (back-filled in the same commit) or deleted.
    pub(crate) async fn update_table(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let name = input.table_name()?;
        let billing = input.enum_value(
            "BillingMode",
            "billingMode",
            &["PROVISIONED", "PAY_PER_REQUEST"],
        )?;
        input.finish()?;
        let _changing = self.definitions.lock().await;
        let old = self.table(&name)?;
        let mut def = (*old).clone();
        let mut changed = false;
        let mut new_attrs = def.attributes.clone();
        if let Some(defs) = input.array("AttributeDefinitions")? {
            let long: Vec<String> = defs
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    long_definition_name(d.get("AttributeName").and_then(Value::as_str), i)
                })
                .collect();
            if !long.is_empty() {
                return Err(Error::validation(format!(
                    "{} validation error{} detected: {}",
                    long.len(),
                    if long.len() == 1 { "" } else { "s" },
                    long.join("; ")
                )));
            }
            for d in defs {
                if let (Some(n), Some(t)) = (
                    d.get("AttributeName").and_then(Value::as_str),
                    d.get("AttributeType")
                        .and_then(Value::as_str)
                        .and_then(ScalarType::parse),
                ) {
                    if let Some(existing) = new_attrs.iter().find(|a| a.name == n) {
                        if existing.ty != t {
                            let old_role = def
                                .key
                                .names()
                                .zip(key_roles(&def.key))
                                .chain(
                                    def.indexes
                                        .iter()
                                        .flat_map(|i| i.key.names().zip(key_roles(&i.key))),
                                )
                                .find(|(a, _)| *a == n)
                                .map_or("HASH", |(_, r)| r);
                            let new_role = created_key_role(body, n).unwrap_or(old_role);
                            return Err(Error::validation(format!(
                                "One or more parameter values were invalid: Attributes cannot be redefined. Please check that your attribute has the same type as previously defined. Existing schema: Schema:[SchemaElement: key{{{n}:{}:{old_role}}}] New schema: Schema:[SchemaElement: key{{{n}:{}:{new_role}}}]",
                                existing.ty.as_str(),
                                t.as_str()
                            )));
                        }
                    } else {
                        new_attrs.push(KeyAttr {
                            name: n.to_owned(),
                            ty: t,
                        });
                    }
                }
            }
        }
        let pt = parse_throughput(input.raw("ProvisionedThroughput"), "provisionedThroughput")?;
        if let (Some((r, w)), Some((cr, cw))) = (pt, old.throughput)
            && (r, w) == (cr, cw)
            && billing != Some("PAY_PER_REQUEST")
        {
            return Err(Error::validation(format!(
                "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {cr}. Requested ReadCapacityUnits: {r}. Current WriteCapacityUnits provisioned for the table: {cw}. Requested WriteCapacityUnits: {w}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
            )));
        }
        match billing {
            Some("PAY_PER_REQUEST") => {
                if pt.is_some() {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                    ));
                }
                def.throughput = None;
                for i in &mut def.indexes {
                    i.throughput = None;
                }
                changed = true;
            }
            Some(_) => {
                let Some(pt) = pt.or(def.throughput) else {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                    ));
                };
                def.throughput = Some(pt);
                for i in &mut def.indexes {
                    if !i.local {
                        i.throughput = i.throughput.or(Some(pt));
                    }
                }
                changed = true;
            }
            None => {
                if let Some(pt) = pt {
                    if def.throughput.is_none() {
                        return Err(Error::validation(
                            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                        ));
                    }
                    def.throughput = Some(pt);
                    changed = true;
                }
            }
        }
        if let Some(p) = input.boolean("DeletionProtectionEnabled")? {
            def.deletion_protection = p;
            changed = true;
        }
        if let Some(c) = input.string("TableClass")? {
            def.table_class = Some(c.to_owned());
            changed = true;
        }
        if let Some(spec) = input.raw("StreamSpecification") {
            let enabled = spec
                .get("StreamEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if enabled && def.stream.is_some() {
                return Err(Error::validation(format!(
                    "Table already has an enabled stream: {}",
                    def.arn(self)
                )));
            }
            if !enabled && def.stream.is_none() {
                return Err(Error::validation(format!(
                    "Table has no stream to disable: TableName: {}",
                    def.name
                )));
            }
            def.stream = parse_stream_spec(Some(spec))?;
            self.carry_streams(&old, &mut def).await?;
            changed = true;
        }
        let mut created: Vec<IndexDef> = Vec::new();
        let mut deleted: Vec<IndexDef> = Vec::new();
        if let Some(updates) = input
            .array("GlobalSecondaryIndexUpdates")?
            .filter(|u| !u.is_empty())
        {
            // Each update names exactly one operation.
            for u in updates.iter() {
                let ops = ["Create", "Update", "Delete"]
                    .iter()
                    .filter(|op| u.get(**op).is_some())
                    .count();
                let unknown = u.as_object().is_some_and(|m| {
                    m.keys()
                        .any(|k| !matches!(k.as_str(), "Create" | "Update" | "Delete"))
                });
                if ops == 0 || unknown {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update or GlobalSecondaryIndexUpdate.Delete must be provided",
                    ));
                }
                if ops > 1 {
                    return Err(Error::validation(
                        "One or more parameter values were invalid: Only one of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update or GlobalSecondaryIndexUpdate.Delete can be provided",
                    ));
                }
            }
            let structural = updates
                .iter()
                .filter(|u| u.get("Create").is_some() || u.get("Delete").is_some())
                .count();
            if structural > 1 {
                return Err(Error::LimitExceeded(
                    "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table".into(),
                ));
            }
            for (i, u) in updates.iter().enumerate() {
                if let Some(c) = u.get("Create") {
                    // The new index's key types come from this request's definitions, even
                    // for attributes the table already defines.
                    if !input.has("AttributeDefinitions") {
                        return Err(Error::validation(format!(
                            "One or more parameter values were invalid: AttributeDefinitions is not specified for index: {}",
                            c.get("IndexName")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                        )));
                    }
                    let mut used = Vec::new();
                    let mut idx = parse_index(
                        c,
                        &format!("globalSecondaryIndexUpdates.{}.member.create", i + 1),
                        &new_attrs,
                        false,
                        &mut used,
                    )?;
                    if def.index(&idx.name).is_some() {
                        return Err(Error::validation(format!(
                            "One or more parameter values were invalid: Index with name: {} already exists",
                            idx.name
                        )));
                    }
                    if def.indexes.iter().filter(|i| !i.local).count() >= MAX_GSI {
                        return Err(Error::LimitExceeded(format!(
                            "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GSI}"
                        )));
                    }
                    if def.throughput.is_some() && idx.throughput.is_none() {
                        return Err(Error::validation(format!(
                            "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
                            idx.name
                        )));
                    }
                    if def.throughput.is_none() {
                        idx.throughput = None;
                    }
                    def.indexes.push(idx.clone());
                    created.push(idx);
                } else if let Some(d) = u.get("Delete") {
                    let n = d
                        .get("IndexName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let Some(pos) = def.indexes.iter().position(|i| i.name == n && !i.local) else {
                        return Err(Error::ResourceNotFound(format!(
                            "Requested resource not found: Index: {n} not found for table: {}",
                            def.name
                        )));
                    };
                    deleted.push(def.indexes.remove(pos));
                } else if let Some(up) = u.get("Update") {
                    let n = up
                        .get("IndexName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let tp = parse_throughput(
                        up.get("ProvisionedThroughput"),
                        &format!(
                            "globalSecondaryIndexUpdates.{}.member.update.provisionedThroughput",
                            i + 1
                        ),
                    )?;
                    let Some(idx) = def.indexes.iter_mut().find(|i| i.name == n && !i.local) else {
                        return Err(Error::ResourceNotFound(format!(
                            "Requested resource not found: Index: {n} not found for table: {}",
                            def.name
                        )));
                    };
                    idx.throughput = tp;
                }
            }
            changed = true;
        }
        if !changed {
            return Err(Error::validation(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
            ));
        }
        // Keep only the attribute definitions a key still uses.
        def.attributes = new_attrs
            .into_iter()
            .filter(|a| {
                def.key
                    .names()
                    .chain(def.indexes.iter().flat_map(|i| i.key.names()))
                    .any(|n| n == a.name)
            })
            .collect();
        let stored = def.clone();
        let expected = old.clone();
        self.engine
            .write(move |txn| {
                if !still_exists(txn, &expected)? {
                    return Ok(Err(Error::table_not_found(&expected.name)));
                }
                write_table_update(txn, &stored, &created, &deleted)?;
                Ok(Ok(()))
            })
            .await??;
        let def = Arc::new(def);
        self.set_def(def.clone());
        let (count, size, idx) = self.counts(&def).await?;
        let mut desc = self.describe_with(&def, Some("UPDATING"), count, size, &idx);
        if let Some(gsis) = desc
            .get_mut("GlobalSecondaryIndexes")
            .and_then(Value::as_array_mut)
        {
            for g in gsis {
                if g.get("IndexName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| input_created(body, n))
                {
                    g["IndexStatus"] = json!("CREATING");
                    g["Backfilling"] = json!(false);
                }
            }
        }
        Ok(json!({ "TableDescription": desc }))
    }
}

/// ResourceInUseException when a table of this name exists.
pub(crate) fn name_taken(
    txn: &redb::WriteTransaction,
    name: &str,
) -> Result<Option<Error>, EngineError> {
    Ok(txn
        .open_table(CATALOG)?
        .get(name)?
        .is_some()
        .then(|| Error::ResourceInUse(format!("Table already exists: {name}"))))
}

/// Writes a new table: its catalog entry and its (empty) engine tables, so that a read
/// finds an empty table.
pub(crate) fn write_new_table(
    txn: &redb::WriteTransaction,
    def: &TableDef,
) -> Result<(), EngineError> {
    save_def(txn, def)?;
    let items_name = def.items_table();
    let items: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&items_name);
    txn.open_table(items)?;
    for idx in &def.indexes {
        let name = idx.engine_table(&def.uid);
        let t: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
        txn.open_table(t)?;
    }
    Ok(())
}

/// Writes a changed definition of an existing table: dropped indexes' entries deleted,
/// new ones back-filled. A disabled or replaced stream's records stay: the stream is kept
/// readable for 24 hours (see [`TableDef::closed_streams`]).
pub(crate) fn write_table_update(
    txn: &redb::WriteTransaction,
    new: &TableDef,
    created: &[IndexDef],
    deleted: &[IndexDef],
) -> Result<(), EngineError> {
    for idx in deleted {
        let n = idx.engine_table(&new.uid);
        let t: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&n);
        txn.delete_table(t)?;
    }
    for idx in created {
        super::index::backfill(txn, new, idx)?;
    }
    save_def(txn, new)
}

/// The role (HASH or RANGE) of each attribute of a key, in KeySchema order.
fn key_roles(key: &KeySchema) -> impl Iterator<Item = &'static str> {
    std::iter::repeat_n("HASH", key.hash.len()).chain(std::iter::repeat_n("RANGE", key.range.len()))
}

/// The role `attr` has in the key of an index an UpdateTable request creates.
fn created_key_role<'a>(body: &'a Value, attr: &str) -> Option<&'a str> {
    body.get("GlobalSecondaryIndexUpdates")?
        .as_array()?
        .iter()
        .filter_map(|u| u.pointer("/Create/KeySchema").and_then(Value::as_array))
        .flatten()
        .find(|e| e.get("AttributeName").and_then(Value::as_str) == Some(attr))?
        .get("KeyType")
        .and_then(Value::as_str)
}

fn input_created(body: &Value, index: &str) -> bool {
    body.get("GlobalSecondaryIndexUpdates")
        .and_then(Value::as_array)
        .is_some_and(|u| {
            u.iter()
                .any(|u| u.pointer("/Create/IndexName").and_then(Value::as_str) == Some(index))
        })
}

fn parse_stream_spec(v: Option<&Value>) -> Result<Option<StreamSpec>, Error> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let enabled = v.get("StreamEnabled").and_then(Value::as_bool);
    let view = v.get("StreamViewType").and_then(Value::as_str);
    match (enabled, view) {
        (
            Some(true),
            Some(view @ ("KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES")),
        ) => {
            let label = time::OffsetDateTime::now_utc()
                .format(&time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
                ))
                .unwrap_or_default();
            Ok(Some(StreamSpec {
                view_type: view.to_owned(),
                label,
                start: 0,
            }))
        }
        (Some(true), _) => Err(Error::validation(
            "One or more parameter values were invalid: You must specify a StreamViewType when you enable a stream",
        )),
        (Some(false), Some(_)) => Err(Error::validation(
            "One or more parameter values were invalid: You cannot modify or specify a StreamViewType when disabling a stream",
        )),
        (Some(false), None) => Ok(None),
        (None, _) => Err(Error::validation(
            "1 validation error detected: Value null at 'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be null",
        )),
    }
}

/// The table id formatted as DynamoDB's TableId (a UUID).
pub(crate) fn uid_as_uuid(uid: &str) -> String {
    uuid::Uuid::parse_str(uid)
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_else(|_| uid.to_owned())
}

/// Reads every item of a table in storage order (used by the index backfill and tools).
pub(crate) fn for_each_item(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    mut f: impl FnMut(&[u8], Item) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    for entry in table.iter()? {
        let (k, v) = entry?;
        let item = decode_item(v.value()).map_err(|reason| EngineError::Corrupt {
            table: "dynamo/items".into(),
            reason,
        })?;
        f(k.value(), item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::Engine;

    /// A catalog entry exactly as the version before multi-attribute keys wrote it.
    const OLD_ENTRY: &str = r#"{"name":"Orders","uid":"0f6bd7a1b0c04e4c9d7e1f2a3b4c5d6e",
        "key":{"hash":{"name":"id","ty":"S"},"range":{"name":"at","ty":"N"}},
        "attributes":[{"name":"id","ty":"S"},{"name":"at","ty":"N"},{"name":"status","ty":"S"}],
        "indexes":[{"name":"by-status","key":{"hash":{"name":"status","ty":"S"},"range":null},
            "projection":"KeysOnly","local":false,"throughput":null}],
        "throughput":null,"created":1.5,"stream":null,"ttl_attribute":null,"tags":{},
        "deletion_protection":false,"table_class":null}"#;

    fn attr(name: &str, ty: ScalarType) -> KeyAttr {
        KeyAttr {
            name: name.to_owned(),
            ty,
        }
    }

    #[tokio::test]
    async fn a_catalog_written_before_multi_attribute_keys_loads_and_keeps_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meridian.redb");
        {
            // The file as the previous version left it.
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(CATALOG)
                .unwrap()
                .insert("Orders", OLD_ENTRY.as_bytes())
                .unwrap();
            txn.open_table(UIDS)
                .unwrap()
                .insert("Orders", "0f6bd7a1b0c04e4c9d7e1f2a3b4c5d6e")
                .unwrap();
            txn.commit().unwrap();
        }
        let d = Dynamo::open(Engine::open(&path).unwrap(), "us-east-1").unwrap();
        let def = d.table("Orders").unwrap();
        assert_eq!(
            def.key,
            KeySchema::simple(attr("id", ScalarType::S), Some(attr("at", ScalarType::N)))
        );
        assert_eq!(
            def.indexes[0].key,
            KeySchema::simple(attr("status", ScalarType::S), None)
        );
        // Saved again in the same shape, so the previous version still reads it.
        let old: Value = serde_json::from_str(OLD_ENTRY).unwrap();
        assert_eq!(serde_json::to_value(&*def).unwrap(), old);
        // The table works as before: DescribeTable shows the old key schemas.
        let desc = d
            .call("DescribeTable", &json!({"TableName": "Orders"}))
            .await
            .unwrap();
        assert_eq!(
            desc["Table"]["GlobalSecondaryIndexes"][0]["KeySchema"],
            json!([{"AttributeName": "status", "KeyType": "HASH"}])
        );
    }

    #[test]
    fn a_multi_attribute_key_is_stored_as_lists_and_read_back() {
        let key = KeySchema {
            hash: vec![attr("h1", ScalarType::S), attr("h2", ScalarType::N)],
            range: vec![attr("r1", ScalarType::B), attr("r2", ScalarType::S)],
        };
        let v = serde_json::to_value(&key).unwrap();
        assert_eq!(
            v,
            json!({"hash": [{"name": "h1", "ty": "S"}, {"name": "h2", "ty": "N"}],
                   "range": [{"name": "r1", "ty": "B"}, {"name": "r2", "ty": "S"}]})
        );
        assert_eq!(serde_json::from_value::<KeySchema>(v).unwrap(), key);
        let one_hash_two_ranges = KeySchema {
            hash: vec![attr("h", ScalarType::S)],
            range: vec![attr("r1", ScalarType::S), attr("r2", ScalarType::N)],
        };
        let v = serde_json::to_value(&one_hash_two_ranges).unwrap();
        assert_eq!(
            serde_json::from_value::<KeySchema>(v).unwrap(),
            one_hash_two_ranges
        );
    }

    #[test]
    fn a_stored_key_without_a_hash_attribute_is_refused() {
        let err = serde_json::from_value::<KeySchema>(json!({"hash": [], "range": null}));
        assert!(err.is_err());
    }
}
