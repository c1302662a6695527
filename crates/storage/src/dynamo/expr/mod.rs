//! DynamoDB's expression language: condition, filter, key condition, update and projection
//! expressions, parsed by hand (`parser`) into the trees below with `#name` and `:value`
//! placeholders already resolved, and evaluated against items (`eval`).
//!
//! Every refusal carries DynamoDB's words: `Invalid <Kind>Expression: Syntax error; token:
//! "<EOF>", near: "a ="`, undefined or unused placeholders, reserved words, operand types.

pub mod eval;
mod lexer;
mod parser;
pub mod reserved;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::error::Error;
use super::types::AttributeValue;

pub use parser::{parse_condition, parse_projection, parse_update};

/// The longest expression string DynamoDB accepts, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// The deepest document path.
pub const MAX_PATH_DEPTH: usize = 32;

/// Which expression a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ConditionExpression`.
    Condition,
    /// `FilterExpression`.
    Filter,
    /// `KeyConditionExpression`.
    KeyCondition,
    /// `UpdateExpression`.
    Update,
    /// `ProjectionExpression`.
    Projection,
}

impl Kind {
    /// The parameter name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Condition => "ConditionExpression",
            Self::Filter => "FilterExpression",
            Self::KeyCondition => "KeyConditionExpression",
            Self::Update => "UpdateExpression",
            Self::Projection => "ProjectionExpression",
        }
    }

    /// `Invalid <Kind>: <reason>` as a ValidationException.
    pub fn invalid(self, reason: impl fmt::Display) -> Error {
        Error::validation(format!("Invalid {}: {reason}", self.as_str()))
    }
}

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// A map key (or a top-level attribute name).
    Key(String),
    /// A list index.
    Index(usize),
}

/// A document path; never empty, and its first step is a `Key`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<Step>);

impl Path {
    /// A top-level attribute.
    pub fn attr(name: &str) -> Self {
        Self(vec![Step::Key(name.to_owned())])
    }

    /// The top-level attribute name.
    pub fn root(&self) -> &str {
        match self.0.first() {
            Some(Step::Key(k)) => k,
            _ => "",
        }
    }

    /// Whether this is a single top-level attribute.
    pub fn is_top_level(&self) -> bool {
        self.0.len() == 1
    }

    /// `[a, b, [1]]`-style text DynamoDB uses in overlap messages.
    pub fn display_list(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Step::Key(k) => k.clone(),
                Step::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// Something that evaluates to a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// An attribute of the item.
    Path(Path),
    /// A `:value`, with its placeholder name.
    Value(String, AttributeValue),
    /// `size(path)`.
    Size(Path),
}

/// `=`, `<>`, `<`, `<=`, `>`, `>=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `=`.
    Eq,
    /// `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl Cmp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// A condition (ConditionExpression, FilterExpression, KeyConditionExpression).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `a <op> b`.
    Compare(Operand, Cmp, Operand),
    /// `a BETWEEN b AND c`.
    Between(Operand, Operand, Operand),
    /// `a IN (b, c, ...)`.
    In(Operand, Vec<Operand>),
    /// `a AND b`.
    And(Box<Condition>, Box<Condition>),
    /// `a OR b`.
    Or(Box<Condition>, Box<Condition>),
    /// `NOT a`.
    Not(Box<Condition>),
    /// `attribute_exists(path)`.
    Exists(Path),
    /// `attribute_not_exists(path)`.
    NotExists(Path),
    /// `attribute_type(a, :t)`: `a` is a path, or a value as DynamoDB also takes; the type
    /// is always a value.
    Type(Operand, Operand),
    /// `begins_with(a, b)`.
    BeginsWith(Operand, Operand),
    /// `contains(a, b)`.
    Contains(Operand, Operand),
}

/// The right-hand side of `SET path = ...`.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    /// A single operand.
    Operand(SetOperand),
    /// `a + b`.
    Plus(SetOperand, SetOperand),
    /// `a - b`.
    Minus(SetOperand, SetOperand),
}

/// An operand of SET.
#[derive(Debug, Clone, PartialEq)]
pub enum SetOperand {
    /// An attribute of the item as it was.
    Path(Path),
    /// A `:value`.
    Value(String, AttributeValue),
    /// `if_not_exists(path, operand)`.
    IfNotExists(Path, Box<SetOperand>),
    /// `list_append(a, b)`.
    ListAppend(Box<SetOperand>, Box<SetOperand>),
}

/// One action of an update expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `SET path = value`.
    Set(Path, SetValue),
    /// `REMOVE path`.
    Remove(Path),
    /// `ADD path :value`.
    Add(Path, AttributeValue),
    /// `DELETE path :value`.
    Delete(Path, AttributeValue),
}

/// A parsed UpdateExpression: its actions in clause order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    /// The actions.
    pub actions: Vec<Action>,
    /// Built from the legacy `AttributeUpdates`, whose type errors DynamoDB words apart.
    pub legacy: bool,
}

impl Update {
    /// Every path the update writes or removes.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.actions.iter().map(|a| match a {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        })
    }
}

/// The placeholders of one request, and which of them its expressions used (behind locks
/// only so that a deeply nested expression can be parsed on a thread of its own).
#[derive(Debug, Default)]
pub struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    used_names: Mutex<BTreeSet<String>>,
    used_values: Mutex<BTreeSet<String>>,
}

/// A lock whose holder cannot leave its set half-changed: a poisoned one is as good.
fn lock_used(set: &Mutex<BTreeSet<String>>) -> MutexGuard<'_, BTreeSet<String>> {
    set.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Placeholders {
    /// From ExpressionAttributeNames and ExpressionAttributeValues.
    pub fn new(names: HashMap<String, String>, values: HashMap<String, AttributeValue>) -> Self {
        Self {
            names,
            values,
            ..Default::default()
        }
    }

    /// Whether the request has any.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.values.is_empty()
    }

    fn name(&self, placeholder: &str) -> Option<String> {
        let n = self.names.get(placeholder)?;
        lock_used(&self.used_names).insert(placeholder.to_owned());
        Some(n.clone())
    }

    fn value(&self, placeholder: &str) -> Option<AttributeValue> {
        let v = self.values.get(placeholder)?;
        lock_used(&self.used_values).insert(placeholder.to_owned());
        Some(v.clone())
    }

    /// DynamoDB refuses placeholders no expression used; call after parsing them all.
    pub fn check_all_used(&self) -> Result<(), Error> {
        let used = lock_used(&self.used_names);
        let mut unused: Vec<&String> = self.names.keys().filter(|k| !used.contains(*k)).collect();
        if !unused.is_empty() {
            unused.sort();
            let keys: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            return Err(Error::validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                keys.join(", ")
            )));
        }
        let used = lock_used(&self.used_values);
        let mut unused: Vec<&String> = self.values.keys().filter(|k| !used.contains(*k)).collect();
        if !unused.is_empty() {
            unused.sort();
            let keys: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            return Err(Error::validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                keys.join(", ")
            )));
        }
        Ok(())
    }
}

/// A short rendering of a value for messages: `{N:5}`, `{S:abc}`.
pub fn describe_value(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => format!("{{S:{s}}}"),
        AttributeValue::N(n) => format!("{{N:{n}}}"),
        other => format!("{{{}:...}}", other.type_name()),
    }
}

/// DynamoDB's long type names, used in operand-type messages.
pub fn long_type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::Null => "NULL",
        AttributeValue::M(_) => "MAP",
        AttributeValue::L(_) => "LIST",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
    }
}

/// Runs `src` through every expression parser and, when it parses, through evaluation on a
/// sample item: the entry point of the fuzz target and of its regression replay. Never
/// panics; returns how many parsers accepted the input.
pub fn exercise(src: &str) -> usize {
    use super::number::Number;
    use super::types::Item;
    let values: HashMap<String, AttributeValue> = [
        (":s", AttributeValue::S("abc".into())),
        (":n", AttributeValue::N(Number::from(7))),
        (":l", AttributeValue::L(vec![AttributeValue::Null])),
        (":ss", AttributeValue::Ss(vec!["x".into()])),
        (":ns", AttributeValue::Ns(vec![Number::from(1)])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let names: HashMap<String, String> = [("#a", "a"), ("#b", "b"), ("#s", "status")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut item = Item::new();
    item.insert("a".into(), AttributeValue::N(Number::from(1)));
    item.insert(
        "b".into(),
        AttributeValue::L(vec![AttributeValue::S("abcdef".into())]),
    );
    item.insert("m".into(), AttributeValue::M(item.clone()));
    let mut accepted = 0;
    for kind in [Kind::Condition, Kind::Filter, Kind::KeyCondition] {
        let ph = Placeholders::new(names.clone(), values.clone());
        if let Ok(c) = parse_condition(src, kind, &ph) {
            let _ = eval::evaluate(&c, &item);
            let _ = ph.check_all_used();
            accepted += 1;
        }
    }
    let ph = Placeholders::new(names.clone(), values.clone());
    if let Ok(u) = parse_update(src, &ph) {
        let _ = eval::apply_update(&item, &u);
        accepted += 1;
    }
    let ph = Placeholders::new(names, values);
    if let Ok(p) = parse_projection(src, &ph) {
        let _ = eval::project(&item, &p);
        accepted += 1;
    }
    accepted
}
