//! PartiQL for DynamoDB: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction.
//!
//! A small hand-written parser reads the four statement forms DynamoDB accepts (SELECT,
//! INSERT, UPDATE, DELETE) and each statement is translated into the request of an item
//! operation (Query or Scan, PutItem, UpdateItem, DeleteItem, GetItem, the transactions)
//! with generated `#n`/`:v` placeholders, so PartiQL has exactly the semantics, limits and
//! durability of those operations.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::Dynamo;
use super::error::{CancellationReason, Error};
use super::table::KeySchema;

const MALFORMED: &str = "Statement wasn't well formed, can't be processed: ";
const KEY_EQUALITY: &str =
    "Where clause does not contain a mandatory equality on all key attributes";
const DUPLICATE: &str = "Duplicate primary key exists in table";
const READ_KEY: &str = "Select statements within BatchExecuteStatement and ExecuteTransaction must specify the primary key in the where clause";

/// The answer of ExecuteStatement to a write: the item `RETURNING` asked for, if any.
fn write_answer(out: &Value) -> Value {
    let mut resp = json!({"Items": []});
    if let Some(a) = out
        .get("Attributes")
        .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
    {
        resp["Items"] = json!([a]);
    }
    if let Some(c) = out.get("ConsumedCapacity") {
        resp["ConsumedCapacity"] = c.clone();
    }
    resp
}

/// The ProjectionExpression of a SELECT: the top-level attributes its paths start at (the
/// paths are walked on the answer by [`flatten`], on the items' real list positions).
fn projection_roots(r: &mut Render, paths: &[Path]) -> String {
    let mut roots: Vec<String> = Vec::new();
    for p in paths {
        if let Some(Step::Name(n)) = p.first() {
            let k = r.name(n);
            if !roots.contains(&k) {
                roots.push(k);
            }
        }
    }
    roots.join(", ")
}

/// A SELECT's item as PartiQL answers it: each projected path under the name of its
/// last component (`SELECT a.b` gives `{"b": ...}`).
fn flatten(item: &Value, projection: Option<&[Path]>) -> Value {
    let Some(paths) = projection else {
        return item.clone();
    };
    let mut out = Map::new();
    for path in paths {
        let mut at = item;
        let mut found = true;
        for (n, step) in path.iter().enumerate() {
            let next = match step {
                Step::Name(name) if n == 0 => at.get(name),
                Step::Name(name) => at.get("M").and_then(|m| m.get(name)),
                Step::Index(i) => at
                    .get("L")
                    .and_then(Value::as_array)
                    .and_then(|l| l.get(*i as usize)),
            };
            match next {
                Some(v) => at = v,
                None => {
                    found = false;
                    break;
                }
            }
        }
        let name = path.iter().rev().find_map(|s| match s {
            Step::Name(n) => Some(n.clone()),
            Step::Index(_) => None,
        });
        if let (true, Some(name)) = (found, name) {
            out.insert(name, at.clone());
        }
    }
    Value::Object(out)
}

fn malformed(what: impl std::fmt::Display) -> Error {
    Error::validation(format!("{MALFORMED}{what}"))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word: a keyword or an attribute name.
    Word(String),
    /// A double-quoted identifier.
    Quoted(String),
    /// A single-quoted string literal.
    Str(String),
    Num(String),
    Param,
    Sym(&'static str),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Word(w) => write!(f, "{w}"),
            Self::Quoted(q) => write!(f, "\"{q}\""),
            Self::Str(s) => write!(f, "'{s}'"),
            Self::Num(n) => write!(f, "{n}"),
            Self::Param => write!(f, "?"),
            Self::Sym(s) => write!(f, "{s}"),
        }
    }
}

const SYMBOLS: &[&str] = &[
    "<<", ">>", "<=", ">=", "<>", "!=", "=", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":",
    "*", "+", "-", ";",
];

fn lex(src: &str) -> Result<Vec<Tok>, Error> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(malformed("unterminated quoted text")),
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(if c == '"' {
                Tok::Quoted(s)
            } else {
                Tok::Str(s)
            });
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                i += 1;
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else if c == '?' {
            out.push(Tok::Param);
            i += 1;
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                return Err(malformed(format!("unexpected character '{c}'")));
            };
            out.push(Tok::Sym(sym));
            i += sym.len();
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Name(String),
    Index(u32),
}

type Path = Vec<Step>;

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Path),
    Value(Value),
    Call(String, Vec<Operand>),
    Arith(Box<Operand>, &'static str, Box<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Cmp(Operand, &'static str, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Call(String, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq)]
enum Stmt {
    Select {
        projection: Option<Vec<Path>>,
        table: String,
        index: Option<String>,
        filter: Option<Cond>,
    },
    Insert {
        table: String,
        item: Map<String, Value>,
    },
    Update {
        table: String,
        set: Vec<(Path, Operand)>,
        remove: Vec<Path>,
        filter: Cond,
        /// `RETURNING ...`, as the ReturnValues of UpdateItem.
        returning: Option<&'static str>,
    },
    Delete {
        table: String,
        filter: Cond,
        returning: Option<&'static str>,
    },
}

impl Stmt {
    fn table(&self) -> &str {
        match self {
            Self::Select { table, .. }
            | Self::Insert { table, .. }
            | Self::Update { table, .. }
            | Self::Delete { table, .. } => table,
        }
    }
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    params: &'a [Value],
    next_param: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Tok, Error> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| malformed("unexpected end of statement"))?;
        self.pos += 1;
        Ok(t)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_word(&mut self, w: &str) -> Result<(), Error> {
        if self.eat_word(w) {
            return Ok(());
        }
        Err(self.unexpected(&format!("keyword {}", w.to_uppercase())))
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        let yes = self.is_sym(s);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), Error> {
        if self.eat_sym(s) {
            return Ok(());
        }
        Err(self.unexpected(&format!("'{s}'")))
    }

    fn unexpected(&self, expected: &str) -> Error {
        match self.peek() {
            Some(t) => malformed(format!("unexpected token {t}, expected {expected}")),
            None => malformed(format!("unexpected end of statement, expected {expected}")),
        }
    }

    fn param(&mut self) -> Result<Value, Error> {
        let v = self.params.get(self.next_param).cloned().ok_or_else(|| {
            Error::validation("Number of parameters in request and statement don't match.")
        })?;
        self.next_param += 1;
        Ok(v)
    }

    fn table_name(&mut self) -> Result<String, Error> {
        match self.next()? {
            Tok::Quoted(s) => Ok(s),
            Tok::Word(w) if !is_keyword(&w) => Ok(w),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("a table name"))
            }
        }
    }

    fn statement(&mut self) -> Result<Stmt, Error> {
        let stmt = if self.eat_word("SELECT") {
            self.select()?
        } else if self.eat_word("INSERT") {
            self.insert()?
        } else if self.eat_word("UPDATE") {
            self.update()?
        } else if self.eat_word("DELETE") {
            self.delete()?
        } else {
            return Err(malformed("Expected data manipulation"));
        };
        self.eat_sym(";");
        if self.peek().is_some() {
            return Err(self.unexpected("the end of the statement"));
        }
        Ok(stmt)
    }

    fn select(&mut self) -> Result<Stmt, Error> {
        let projection = if self.eat_sym("*") {
            None
        } else {
            let mut paths = vec![self.path()?];
            while self.eat_sym(",") {
                paths.push(self.path()?);
            }
            Some(paths)
        };
        self.expect_word("FROM")?;
        let table = self.table_name()?;
        let index = if self.eat_sym(".") {
            Some(self.table_name()?)
        } else {
            None
        };
        if self.is_sym(".") {
            return Err(Error::validation(
                "A path may contain at most 2 components in the FROM clause",
            ));
        }
        if table.is_empty() || index.as_deref() == Some("") {
            return Err(Error::validation(
                "Path component cannot be an empty string",
            ));
        }
        let filter = if self.eat_word("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        Ok(Stmt::Select {
            projection,
            table,
            index,
            filter,
        })
    }

    fn insert(&mut self) -> Result<Stmt, Error> {
        self.expect_word("INTO")?;
        let table = self.table_name()?;
        self.expect_word("VALUE")?;
        let item = match self.value()? {
            Value::Object(mut m) => match m.remove("M") {
                Some(Value::Object(item)) => item,
                _ => return Err(malformed("INSERT needs a tuple {'attribute': value, ...}")),
            },
            _ => return Err(malformed("INSERT needs a tuple {'attribute': value, ...}")),
        };
        Ok(Stmt::Insert { table, item })
    }

    fn update(&mut self) -> Result<Stmt, Error> {
        let table = self.table_name()?;
        let (mut set, mut remove) = (Vec::new(), Vec::new());
        loop {
            if self.eat_word("SET") {
                loop {
                    let path = self.path()?;
                    self.expect_sym("=")?;
                    set.push((path, self.arith()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_word("REMOVE") {
                loop {
                    remove.push(self.path()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        if set.is_empty() && remove.is_empty() {
            return Err(self.unexpected("SET or REMOVE"));
        }
        self.expect_word("WHERE")?;
        let filter = self.condition()?;
        let returning = self.returning()?;
        Ok(Stmt::Update {
            table,
            set,
            remove,
            filter,
            returning,
        })
    }

    fn delete(&mut self) -> Result<Stmt, Error> {
        self.expect_word("FROM")?;
        let table = self.table_name()?;
        self.expect_word("WHERE")?;
        let filter = self.condition()?;
        let returning = self.returning()?;
        if let Some(r) = returning.filter(|r| *r != "ALL_OLD") {
            return Err(Error::validation(format!(
                "Invalid returning clause: RETURNING {} *. Only RETURNING ALL OLD * is allowed in DELETE statements.",
                r.replace("UPDATED", "MODIFIED").replace('_', " ")
            )));
        }
        Ok(Stmt::Delete {
            table,
            filter,
            returning,
        })
    }

    /// `RETURNING (ALL | MODIFIED) (OLD | NEW) *`, as a ReturnValues value.
    fn returning(&mut self) -> Result<Option<&'static str>, Error> {
        if !self.eat_word("RETURNING") {
            return Ok(None);
        }
        let all = if self.eat_word("ALL") {
            true
        } else if self.eat_word("MODIFIED") {
            false
        } else {
            return Err(self.unexpected("ALL or MODIFIED"));
        };
        let old = if self.eat_word("OLD") {
            true
        } else if self.eat_word("NEW") {
            false
        } else {
            return Err(self.unexpected("OLD or NEW"));
        };
        self.expect_sym("*")?;
        Ok(Some(match (all, old) {
            (true, true) => "ALL_OLD",
            (true, false) => "ALL_NEW",
            (false, true) => "UPDATED_OLD",
            (false, false) => "UPDATED_NEW",
        }))
    }

    fn name(&mut self) -> Result<String, Error> {
        match self.next()? {
            Tok::Quoted(s) => Ok(s),
            Tok::Word(w) if !is_keyword(&w) => Ok(w),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("an attribute name"))
            }
        }
    }

    fn path(&mut self) -> Result<Path, Error> {
        let mut path = vec![Step::Name(self.name()?)];
        self.path_rest(&mut path)?;
        Ok(path)
    }

    fn path_rest(&mut self, path: &mut Path) -> Result<(), Error> {
        loop {
            if self.eat_sym(".") {
                path.push(Step::Name(self.name()?));
            } else if self.eat_sym("[") {
                match self.next()? {
                    Tok::Num(n) => path.push(Step::Index(
                        n.parse()
                            .map_err(|_| malformed(format!("invalid index {n}")))?,
                    )),
                    Tok::Str(s) => path.push(Step::Name(s)),
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected("a list index or a map key"));
                    }
                }
                self.expect_sym("]")?;
            } else {
                return Ok(());
            }
        }
    }

    fn condition(&mut self) -> Result<Cond, Error> {
        let mut left = self.conjunction()?;
        while self.eat_word("OR") {
            left = Cond::Or(Box::new(left), Box::new(self.conjunction()?));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Cond, Error> {
        let mut left = self.negation()?;
        while self.eat_word("AND") {
            left = Cond::And(Box::new(left), Box::new(self.negation()?));
        }
        Ok(left)
    }

    fn negation(&mut self) -> Result<Cond, Error> {
        if self.eat_word("NOT") {
            return Ok(Cond::Not(Box::new(self.negation()?)));
        }
        if self.is_sym("(") {
            // A parenthesised condition (operands are never parenthesised on their own).
            self.pos += 1;
            let c = self.condition()?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Cond, Error> {
        let left = self.operand()?;
        if let Operand::Call(name, args) = &left {
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "begins_with"
                    | "contains"
                    | "attribute_exists"
                    | "attribute_not_exists"
                    | "attribute_type"
            ) {
                return Ok(Cond::Call(lower, args.clone()));
            }
        }
        if self.eat_word("IS") {
            let not = self.eat_word("NOT");
            self.expect_word("MISSING")?;
            let f = if not {
                "attribute_exists"
            } else {
                "attribute_not_exists"
            };
            return Ok(Cond::Call(f.into(), vec![left]));
        }
        let negated = self.eat_word("NOT");
        if self.eat_word("BETWEEN") {
            let low = self.operand()?;
            self.expect_word("AND")?;
            let high = self.operand()?;
            let c = Cond::Between(left, low, high);
            return Ok(if negated { Cond::Not(Box::new(c)) } else { c });
        }
        if self.eat_word("IN") {
            let close = if self.eat_sym("[") {
                "]"
            } else {
                self.expect_sym("(")?;
                ")"
            };
            let mut list = vec![self.operand()?];
            while self.eat_sym(",") {
                list.push(self.operand()?);
            }
            self.expect_sym(close)?;
            let c = Cond::In(left, list);
            return Ok(if negated { Cond::Not(Box::new(c)) } else { c });
        }
        if negated {
            return Err(self.unexpected("BETWEEN or IN"));
        }
        let op = match self.next()? {
            Tok::Sym("=") => "=",
            Tok::Sym("<>" | "!=") => "<>",
            Tok::Sym("<") => "<",
            Tok::Sym("<=") => "<=",
            Tok::Sym(">") => ">",
            Tok::Sym(">=") => ">=",
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("a comparison operator"));
            }
        };
        Ok(Cond::Cmp(left, op, self.operand()?))
    }

    fn arith(&mut self) -> Result<Operand, Error> {
        let left = self.operand()?;
        for op in ["+", "-"] {
            if self.eat_sym(op) {
                let right = self.operand()?;
                return Ok(Operand::Arith(Box::new(left), op, Box::new(right)));
            }
        }
        Ok(left)
    }

    fn operand(&mut self) -> Result<Operand, Error> {
        match self.peek() {
            Some(Tok::Word(w)) if !is_keyword(w) => {
                if self.toks.get(self.pos + 1) == Some(&Tok::Sym("(")) {
                    let name = w.clone();
                    self.pos += 2;
                    let mut args = Vec::new();
                    if !self.eat_sym(")") {
                        loop {
                            args.push(self.arith()?);
                            if !self.eat_sym(",") {
                                break;
                            }
                        }
                        self.expect_sym(")")?;
                    }
                    return Ok(Operand::Call(name, args));
                }
                Ok(Operand::Path(self.path()?))
            }
            Some(Tok::Quoted(_)) => Ok(Operand::Path(self.path()?)),
            _ => Ok(Operand::Value(self.value()?)),
        }
    }

    /// A literal or a parameter, as an AttributeValue.
    fn value(&mut self) -> Result<Value, Error> {
        let t = self.next()?;
        Ok(match t {
            Tok::Param => self.param()?,
            Tok::Str(s) => json!({ "S": s }),
            Tok::Num(n) => json!({ "N": n }),
            Tok::Sym("-") => match self.next()? {
                Tok::Num(n) => json!({ "N": format!("-{n}") }),
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("a number"));
                }
            },
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => json!({ "BOOL": true }),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => json!({ "BOOL": false }),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => json!({ "NULL": true }),
            Tok::Sym("[") => {
                let mut list = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        list.push(self.value()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym("]")?;
                }
                json!({ "L": list })
            }
            Tok::Sym("{") => {
                let mut map = Map::new();
                if !self.eat_sym("}") {
                    loop {
                        let key = match self.next()? {
                            Tok::Str(s) | Tok::Quoted(s) => s,
                            _ => {
                                self.pos -= 1;
                                return Err(self.unexpected("a string key"));
                            }
                        };
                        self.expect_sym(":")?;
                        map.insert(key, self.value()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym("}")?;
                }
                json!({ "M": map })
            }
            Tok::Sym("<<") => {
                let mut members = Vec::new();
                loop {
                    members.push(self.value()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                self.expect_sym(">>")?;
                set_of(members)?
            }
            other => {
                self.pos -= 1;
                return Err(malformed(format!(
                    "unexpected token {other}, expected a value"
                )));
            }
        })
    }
}

/// `<<...>>`: a string, number or binary set, by the type of its members.
fn set_of(members: Vec<Value>) -> Result<Value, Error> {
    let mut ty = None;
    let mut out = Vec::new();
    for m in members {
        let Value::Object(o) = m else {
            return Err(malformed("invalid set member"));
        };
        let Some((t, v)) = o.into_iter().next() else {
            return Err(malformed("invalid set member"));
        };
        let set_ty = match t.as_str() {
            "S" => "SS",
            "N" => "NS",
            "B" => "BS",
            _ => {
                return Err(Error::validation(
                    "Unsupported type passed: sets can only hold strings, numbers or binaries",
                ));
            }
        };
        if ty.is_some_and(|x| x != set_ty) {
            return Err(Error::validation(
                "Unsupported type passed: a set's members must all have the same type",
            ));
        }
        ty = Some(set_ty);
        out.push(v);
    }
    let ty = ty.unwrap_or("SS");
    Ok(json!({ ty: out }))
}

fn is_keyword(w: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "BETWEEN",
        "IN",
        "IS",
        "MISSING",
        "INSERT",
        "INTO",
        "VALUE",
        "UPDATE",
        "SET",
        "REMOVE",
        "DELETE",
        "TRUE",
        "FALSE",
        "NULL",
        "RETURNING",
    ];
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// Parses one statement with its parameters.
fn parse(statement: &str, params: &[Value]) -> Result<Stmt, Error> {
    let mut p = Parser {
        toks: lex(statement)?,
        pos: 0,
        params,
        next_param: 0,
    };
    let stmt = p.statement()?;
    if p.next_param != params.len() {
        return Err(Error::validation(
            "Number of parameters in request and statement don't match.",
        ));
    }
    Ok(stmt)
}

/// The IAM action and resource a statement needs, read with the `Parameters` of `body` (the
/// statement's part of the request) as it runs with them; `None` when it does not parse,
/// and then it does not run either.
pub(crate) fn permission(
    statement: &str,
    body: &Value,
) -> Option<(&'static str, String, Option<String>)> {
    let params = params_of(body).ok()?;
    Some(match parse(statement, &params).ok()? {
        Stmt::Select { table, index, .. } => ("PartiQLSelect", table, index),
        Stmt::Insert { table, .. } => ("PartiQLInsert", table, None),
        Stmt::Update { table, .. } => ("PartiQLUpdate", table, None),
        Stmt::Delete { table, .. } => ("PartiQLDelete", table, None),
    })
}

/// Placeholders for one generated request.
#[derive(Default)]
struct Render {
    names: Map<String, Value>,
    values: Map<String, Value>,
}

impl Render {
    fn name(&mut self, n: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == Some(n)) {
            return k.clone();
        }
        let k = format!("#n{}", self.names.len());
        self.names.insert(k.clone(), json!(n));
        k
    }

    fn value(&mut self, v: &Value) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v.clone());
        k
    }

    fn path(&mut self, p: &Path) -> String {
        let mut out = String::new();
        for step in p {
            match step {
                Step::Name(n) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    let k = self.name(n);
                    out.push_str(&k);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    fn operand(&mut self, o: &Operand) -> String {
        match o {
            Operand::Path(p) => self.path(p),
            Operand::Value(v) => self.value(v),
            Operand::Call(f, args) => {
                let args: Vec<String> = args.iter().map(|a| self.operand(a)).collect();
                format!("{f}({})", args.join(", "))
            }
            Operand::Arith(l, op, r) => {
                format!("{} {op} {}", self.operand(l), self.operand(r))
            }
        }
    }

    fn cond(&mut self, c: &Cond) -> String {
        match c {
            Cond::Cmp(l, op, r) => format!("{} {op} {}", self.operand(l), self.operand(r)),
            Cond::Between(x, lo, hi) => format!(
                "{} BETWEEN {} AND {}",
                self.operand(x),
                self.operand(lo),
                self.operand(hi)
            ),
            Cond::In(x, list) => {
                let x = self.operand(x);
                let list: Vec<String> = list.iter().map(|o| self.operand(o)).collect();
                format!("{x} IN ({})", list.join(", "))
            }
            Cond::Call(f, args) => {
                let args: Vec<String> = args.iter().map(|a| self.operand(a)).collect();
                format!("{f}({})", args.join(", "))
            }
            Cond::And(l, r) => format!("{} AND {}", self.conjunct(l), self.conjunct(r)),
            Cond::Or(l, r) => format!("{} OR {}", self.cond(l), self.cond(r)),
            Cond::Not(c) => match **c {
                Cond::And(..) | Cond::Or(..) => format!("NOT ({})", self.cond(c)),
                _ => format!("NOT {}", self.cond(c)),
            },
        }
    }

    /// A condition as an operand of AND: parenthesised only when it is an OR (DynamoDB
    /// refuses redundant parentheses).
    fn conjunct(&mut self, c: &Cond) -> String {
        match c {
            Cond::Or(..) => format!("({})", self.cond(c)),
            _ => self.cond(c),
        }
    }

    fn conds(&mut self, cs: &[Cond]) -> Option<String> {
        let parts: Vec<String> = cs.iter().map(|c| self.conjunct(c)).collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// Adds the placeholders to a request.
    fn finish(self, req: &mut Value) {
        if !self.names.is_empty() {
            req["ExpressionAttributeNames"] = Value::Object(self.names);
        }
        if !self.values.is_empty() {
            req["ExpressionAttributeValues"] = Value::Object(self.values);
        }
    }
}

fn conjuncts(c: Cond, out: &mut Vec<Cond>) {
    match c {
        Cond::And(l, r) => {
            conjuncts(*l, out);
            conjuncts(*r, out);
        }
        other => out.push(other),
    }
}

/// `attr = value` (either way round) on a top-level attribute: the attribute and value.
fn equality(c: &Cond) -> Option<(&str, &Value)> {
    let Cond::Cmp(l, "=", r) = c else { return None };
    match (l, r) {
        (Operand::Path(p), Operand::Value(v)) | (Operand::Value(v), Operand::Path(p)) => {
            match p.as_slice() {
                [Step::Name(n)] => Some((n, v)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_key_path(o: &Operand, name: &str) -> bool {
    matches!(o, Operand::Path(p) if matches!(p.as_slice(), [Step::Name(n)] if n == name))
}

/// Whether a range-key conjunct fits a KeyConditionExpression.
fn range_condition(c: &Cond, name: &str) -> bool {
    match c {
        Cond::Cmp(l, op, Operand::Value(_)) => {
            is_key_path(l, name) && matches!(*op, "=" | "<" | "<=" | ">" | ">=")
        }
        Cond::Between(x, Operand::Value(_), Operand::Value(_)) => is_key_path(x, name),
        Cond::Call(f, args) => {
            f == "begins_with"
                && matches!(args.as_slice(), [x, Operand::Value(_)] if is_key_path(x, name))
        }
        _ => false,
    }
}

fn operand_mentions(o: &Operand, names: &[&str]) -> bool {
    match o {
        Operand::Path(p) => matches!(p.first(), Some(Step::Name(n)) if names.contains(&n.as_str())),
        Operand::Value(_) => false,
        Operand::Call(_, args) => args.iter().any(|a| operand_mentions(a, names)),
        Operand::Arith(l, _, r) => operand_mentions(l, names) || operand_mentions(r, names),
    }
}

fn mentions(c: &Cond, names: &[&str]) -> bool {
    match c {
        Cond::Cmp(l, _, r) => operand_mentions(l, names) || operand_mentions(r, names),
        Cond::Between(a, b, d) => [a, b, d].iter().any(|o| operand_mentions(o, names)),
        Cond::In(x, list) => {
            operand_mentions(x, names) || list.iter().any(|o| operand_mentions(o, names))
        }
        Cond::Call(_, args) => args.iter().any(|a| operand_mentions(a, names)),
        Cond::And(l, r) | Cond::Or(l, r) => mentions(l, names) || mentions(r, names),
        Cond::Not(c) => mentions(c, names),
    }
}

/// Splits a WHERE clause into the full primary key and the conditions left over; `None`
/// when some key attribute has no equality.
fn split_key(filter: Cond, key: &KeySchema) -> Option<(Map<String, Value>, Vec<Cond>)> {
    let mut all = Vec::new();
    conjuncts(filter, &mut all);
    let mut item_key = Map::new();
    for name in key.names() {
        let at = all
            .iter()
            .position(|c| equality(c).is_some_and(|(n, _)| n == name))?;
        let c = all.remove(at);
        let (_, v) = equality(&c)?;
        item_key.insert(name.to_owned(), v.clone());
    }
    Some((item_key, all))
}

/// A NextToken: the LastEvaluatedKey of the page, opaque to the client.
fn encode_token(last: &Value) -> String {
    BASE64.encode(last.to_string())
}

fn decode_token(token: &str) -> Result<Value, Error> {
    BASE64
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object)
        .ok_or_else(|| Error::validation("Invalid NextToken"))
}

fn params_of(body: &Value) -> Result<Vec<Value>, Error> {
    match body.get("Parameters") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.is_empty() => Err(Error::validation(
            "1 validation error detected: Value '[]' at 'parameters' failed to satisfy constraint: Member must have length greater than or equal to 1",
        )),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(Error::Serialization(
            "Parameters must be a list of AttributeValues".into(),
        )),
    }
}

fn statement_of(body: &Value) -> Result<&str, Error> {
    let s = body
        .get("Statement")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::validation(
                "1 validation error detected: Value null at 'statement' failed to satisfy constraint: Member must not be null",
            )
        })?;
    if s.is_empty() || s.chars().count() > 8192 {
        return Err(Error::validation(
            "1 validation error detected: Value at 'statement' failed to satisfy constraint: Member must have length less than or equal to 8192 and greater than or equal to 1",
        ));
    }
    Ok(s)
}

/// A write statement as the request of an item operation: its kind for a transaction
/// (`Put`, `Update`, `Delete`) and the request.
fn write_request(d: &Dynamo, stmt: Stmt, extra: &Value) -> Result<(&'static str, Value), Error> {
    let def = d.item_table(stmt.table())?;
    let mut r = Render::default();
    let (kind, mut req) = match stmt {
        Stmt::Insert { table, item } => {
            let cond = format!(
                "attribute_not_exists({})",
                r.name(&def.key.partition().name)
            );
            (
                "Put",
                json!({"TableName": table, "Item": item, "ConditionExpression": cond}),
            )
        }
        Stmt::Update {
            table,
            set,
            remove,
            filter,
            returning,
        } => {
            let (key, rest) =
                split_key(filter, &def.key).ok_or_else(|| Error::validation(KEY_EQUALITY))?;
            let mut update = String::new();
            if !set.is_empty() {
                let parts: Vec<String> = set
                    .iter()
                    .map(|(p, o)| format!("{} = {}", r.path(p), r.operand(o)))
                    .collect();
                update.push_str(&format!("SET {}", parts.join(", ")));
            }
            if !remove.is_empty() {
                let parts: Vec<String> = remove.iter().map(|p| r.path(p)).collect();
                update.push_str(&format!(" REMOVE {}", parts.join(", ")));
            }
            // PartiQL's UPDATE changes an existing item; it never creates one.
            let exists = format!("attribute_exists({})", r.name(&def.key.partition().name));
            let cond = match r.conds(&rest) {
                Some(c) => format!("{exists} AND {c}"),
                None => exists,
            };
            let mut req = json!({"TableName": table, "Key": key,
                "UpdateExpression": update.trim(), "ConditionExpression": cond});
            if let Some(r) = returning {
                req["ReturnValues"] = json!(r);
            }
            ("Update", req)
        }
        Stmt::Delete {
            table,
            filter,
            returning,
        } => {
            let (key, rest) =
                split_key(filter, &def.key).ok_or_else(|| Error::validation(KEY_EQUALITY))?;
            let mut req = json!({"TableName": table, "Key": key});
            if let Some(r) = returning {
                req["ReturnValues"] = json!(r);
            }
            if let Some(c) = r.conds(&rest) {
                req["ConditionExpression"] = json!(c);
            }
            ("Delete", req)
        }
        Stmt::Select { .. } => return Err(Error::Internal("not a write statement".into())),
    };
    for k in [
        "ReturnValuesOnConditionCheckFailure",
        "ReturnConsumedCapacity",
    ] {
        if let Some(v) = extra.get(k) {
            req[k] = v.clone();
        }
    }
    r.finish(&mut req);
    Ok((kind, req))
}

/// A SELECT naming the full primary key and nothing else, as a GetItem request (batches
/// and transactions read only such statements).
fn get_request(d: &Dynamo, stmt: Stmt) -> Result<(Value, Option<Vec<Path>>), Error> {
    let Stmt::Select {
        projection,
        table,
        index,
        filter,
    } = stmt
    else {
        return Err(Error::Internal("not a read statement".into()));
    };
    let def = d.item_table(&table)?;
    let (key, rest) = match (index, filter) {
        (None, Some(f)) => split_key(f, &def.key).ok_or_else(|| Error::validation(READ_KEY))?,
        _ => return Err(Error::validation(READ_KEY)),
    };
    if !rest.is_empty() {
        return Err(Error::validation(READ_KEY));
    }
    let mut r = Render::default();
    let mut req = json!({"TableName": table, "Key": key});
    if let Some(paths) = &projection {
        req["ProjectionExpression"] = json!(projection_roots(&mut r, paths));
    }
    r.finish(&mut req);
    Ok((req, projection))
}

impl Dynamo {
    /// ExecuteStatement: one statement, with `Limit` and `NextToken` for a SELECT.
    pub(crate) async fn execute_statement(&self, body: &Value) -> Result<Value, Error> {
        self.execute_statement_inner(body).await.map_err(plain)
    }

    async fn execute_statement_inner(&self, body: &Value) -> Result<Value, Error> {
        let statement = statement_of(body)?;
        let params = params_of(body)?;
        let stmt = parse(statement, &params)?;
        match stmt {
            Stmt::Select { .. } => self.select(stmt, body).await,
            Stmt::Insert { .. } => {
                let (_, req) = write_request(self, stmt, body)?;
                match self.put_item(&req).await {
                    Ok(out) => Ok(write_answer(&out)),
                    Err(Error::ConditionalCheckFailed { .. }) => {
                        Err(Error::DuplicateItem(DUPLICATE.into()))
                    }
                    Err(e) => Err(e),
                }
            }
            Stmt::Update { .. } => {
                let (_, req) = write_request(self, stmt, body)?;
                Ok(write_answer(&self.update_item(&req).await?))
            }
            Stmt::Delete { .. } => {
                let (_, req) = write_request(self, stmt, body)?;
                Ok(write_answer(&self.delete_item(&req).await?))
            }
        }
    }

    /// A SELECT: a Query when the WHERE clause fixes the partition key of the table or
    /// index (with the sort key's condition in the key condition), otherwise a Scan.
    async fn select(&self, stmt: Stmt, body: &Value) -> Result<Value, Error> {
        let Stmt::Select {
            projection,
            table,
            index,
            filter,
        } = stmt
        else {
            return Err(Error::Internal("not a select".into()));
        };
        let def = self.item_table(&table)?;
        let key = match &index {
            Some(i) => match def.index(i) {
                Some(ix) => {
                    if !ix.local && body.get("ConsistentRead") == Some(&Value::Bool(true)) {
                        return Err(Error::validation(
                            "Strongly consistent read is not supported on Global Secondary Indexes",
                        ));
                    }
                    ix.key.clone()
                }
                None => {
                    return Err(Error::validation(
                        "The table does not have the specified index",
                    ));
                }
            },
            None => def.key.clone(),
        };
        let mut r = Render::default();
        let mut req = json!({"TableName": table});
        if let Some(i) = &index {
            req["IndexName"] = json!(i);
        }
        let mut all = Vec::new();
        if let Some(f) = filter {
            conjuncts(f, &mut all);
        }
        // A Query needs an equality on every HASH attribute; then the RANGE attributes
        // are taken in order while they have equalities, and the next one may carry any
        // sort key condition.
        let mut key_conds = Vec::new();
        let mut partition = true;
        for h in &key.hash {
            match all
                .iter()
                .position(|c| equality(c).is_some_and(|(n, _)| n == h.name))
            {
                Some(at) => key_conds.push(all.remove(at)),
                None => {
                    partition = false;
                    break;
                }
            }
        }
        let operation = if partition {
            for range in &key.range {
                if let Some(at) = all
                    .iter()
                    .position(|c| equality(c).is_some_and(|(n, _)| n == range.name))
                {
                    key_conds.push(all.remove(at));
                    continue;
                }
                if let Some(at) = all.iter().position(|c| range_condition(c, &range.name)) {
                    key_conds.push(all.remove(at));
                }
                break;
            }
            let names: Vec<&str> = key.names().collect();
            if all.iter().any(|c| mentions(c, &names)) {
                // A key attribute left in the filter: DynamoDB scans then.
                key_conds.append(&mut all);
                all = key_conds;
                "Scan"
            } else {
                req["KeyConditionExpression"] = json!(r.conds(&key_conds));
                "Query"
            }
        } else {
            key_conds.append(&mut all);
            all = key_conds;
            "Scan"
        };
        if let Some(f) = r.conds(&all) {
            req["FilterExpression"] = json!(f);
        }
        if let Some(paths) = &projection {
            req["ProjectionExpression"] = json!(projection_roots(&mut r, paths));
        }
        for k in ["Limit", "ConsistentRead", "ReturnConsumedCapacity"] {
            if let Some(v) = body.get(k) {
                req[k] = v.clone();
            }
        }
        if let Some(t) = body.get("NextToken").and_then(Value::as_str) {
            req["ExclusiveStartKey"] = decode_token(t)?;
        }
        r.finish(&mut req);
        let out = if operation == "Query" {
            self.query(&req).await?
        } else {
            self.scan(&req).await?
        };
        let items: Vec<Value> = out
            .get("Items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|i| flatten(i, projection.as_deref()))
            .collect();
        let mut resp = json!({ "Items": items });
        if let Some(c) = out.get("ConsumedCapacity") {
            resp["ConsumedCapacity"] = c.clone();
        }
        if let Some(last) = out.get("LastEvaluatedKey") {
            resp["NextToken"] = json!(encode_token(last));
            resp["LastEvaluatedKey"] = last.clone();
        }
        Ok(resp)
    }

    /// BatchExecuteStatement: up to 25 reads (each by full primary key) or 25 writes, each
    /// answered on its own.
    pub(crate) async fn batch_execute_statement(&self, body: &Value) -> Result<Value, Error> {
        let statements = body
            .get("Statements")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::validation(
                    "1 validation error detected: Value null at 'statements' failed to satisfy constraint: Member must not be null",
                )
            })?;
        if statements.is_empty() || statements.len() > 25 {
            return Err(Error::validation(
                "1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length less than or equal to 25 and greater than or equal to 1",
            ));
        }
        let mut parsed = Vec::new();
        for s in statements {
            let stmt = statement_of(s).and_then(|st| parse(st, &params_of(s)?));
            parsed.push(stmt);
        }
        let reads = parsed
            .iter()
            .filter(|s| matches!(s, Ok(Stmt::Select { .. })))
            .count();
        let writes = parsed
            .iter()
            .filter(|s| matches!(s, Ok(st) if !matches!(st, Stmt::Select { .. })))
            .count();
        if reads > 0 && writes > 0 {
            return Err(Error::validation(
                "Batch read and write operations cannot be mixed in the same BatchExecuteStatement request",
            ));
        }
        let mut responses = Vec::new();
        for (stmt, raw) in parsed.into_iter().zip(statements) {
            let table = stmt.as_ref().ok().map(|s| s.table().to_owned());
            let result = match stmt {
                Err(e) => Err(e),
                Ok(s @ Stmt::Select { .. }) => match get_request(self, s) {
                    Ok((mut req, projection)) => {
                        if let Some(c) = raw.get("ConsistentRead") {
                            req["ConsistentRead"] = c.clone();
                        }
                        self.get_item(&req).await.map(|mut out| {
                            if let Some(item) = out.get("Item") {
                                out["Item"] = flatten(item, projection.as_deref());
                            }
                            out
                        })
                    }
                    Err(e) => Err(e),
                },
                Ok(s) => {
                    let insert = matches!(s, Stmt::Insert { .. });
                    match write_request(self, s, raw) {
                        Ok((_, req)) => {
                            let done = match req.get("Item") {
                                Some(_) => self.put_item(&req).await,
                                None if req.get("UpdateExpression").is_some() => {
                                    self.update_item(&req).await
                                }
                                None => self.delete_item(&req).await,
                            };
                            match done {
                                Err(Error::ConditionalCheckFailed { .. }) if insert => {
                                    Err(Error::DuplicateItem(DUPLICATE.into()))
                                }
                                // RETURNING's item, when it has any attribute.
                                other => other.map(|out| match out.get("Attributes") {
                                    Some(a) if a.as_object().is_some_and(|m| !m.is_empty()) => {
                                        json!({ "Item": a })
                                    }
                                    _ => json!({}),
                                }),
                            }
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            let mut one = json!({});
            if let Some(t) = table {
                one["TableName"] = json!(t);
            }
            match result {
                Ok(out) => {
                    if let Some(item) = out.get("Item") {
                        one["Item"] = item.clone();
                    }
                }
                Err(e @ Error::Internal(_)) => return Err(e),
                Err(e) => {
                    let e = plain(e);
                    one["Error"] = json!({"Code": batch_code(&e), "Message": e.to_string()});
                    if let Error::ConditionalCheckFailed { item: Some(item) } = &e {
                        one["Error"]["Item"] = super::types::item_to_json(item);
                    }
                }
            }
            responses.push(one);
        }
        Ok(json!({"Responses": responses}))
    }

    /// ExecuteTransaction: up to 100 statements, all reads (a TransactGetItems) or all
    /// writes (a TransactWriteItems), with its idempotency token.
    pub(crate) async fn execute_transaction(&self, body: &Value) -> Result<Value, Error> {
        self.execute_transaction_inner(body).await.map_err(plain)
    }

    async fn execute_transaction_inner(&self, body: &Value) -> Result<Value, Error> {
        let statements = body
            .get("TransactStatements")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::validation(
                    "1 validation error detected: Value null at 'transactStatements' failed to satisfy constraint: Member must not be null",
                )
            })?;
        if statements.is_empty() || statements.len() > 100 {
            return Err(Error::validation(
                "1 validation error detected: Value at 'transactStatements' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1",
            ));
        }
        let mut parsed = Vec::new();
        for (i, s) in statements.iter().enumerate() {
            let stmt = parse(statement_of(s)?, &params_of(s)?)?;
            let refused = match &stmt {
                Stmt::Update {
                    returning: Some(_), ..
                }
                | Stmt::Delete {
                    returning: Some(_), ..
                } => Some("RETURNING clause is not supported in ExecuteTransaction."),
                Stmt::Select { index: Some(_), .. } => {
                    Some("Reads on indices are not supported within transactions.")
                }
                _ => None,
            };
            if let Some(why) = refused {
                return Err(Error::validation(format!(
                    "Validation failed in TransactStatements[{i}]: {why}"
                )));
            }
            parsed.push(stmt);
        }
        let reads = parsed
            .iter()
            .filter(|s| matches!(s, Stmt::Select { .. }))
            .count();
        if reads > 0 && reads < parsed.len() {
            return Err(Error::validation(
                "Transaction request cannot include multiple operations on one item or mix reads and writes",
            ));
        }
        if reads > 0 {
            let mut items = Vec::new();
            let mut projections = Vec::new();
            for s in parsed {
                let (get, projection) = get_request(self, s)?;
                items.push(json!({ "Get": get }));
                projections.push(projection);
            }
            let out = self
                .transact_get_items(&json!({"TransactItems": items}))
                .await?;
            let responses: Vec<Value> = out
                .get("Responses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .zip(&projections)
                .map(|(r, projection)| match r.get("Item") {
                    Some(item) => json!({ "Item": flatten(item, projection.as_deref()) }),
                    None => r.clone(),
                })
                .collect();
            return Ok(json!({ "Responses": responses }));
        }
        let mut inserts = Vec::new();
        let mut items = Vec::new();
        for (s, raw) in parsed.into_iter().zip(statements) {
            inserts.push(matches!(s, Stmt::Insert { .. }));
            let (kind, req) = write_request(self, s, raw)?;
            items.push(json!({ kind: req }));
        }
        let mut req = json!({"TransactItems": items});
        for k in ["ClientRequestToken", "ReturnConsumedCapacity"] {
            if let Some(v) = body.get(k) {
                req[k] = v.clone();
            }
        }
        match self.transact_write_items(&req).await {
            Ok(out) => Ok(match out.get("ConsumedCapacity") {
                Some(c) => json!({ "ConsumedCapacity": c }),
                None => json!({}),
            }),
            Err(Error::TransactionCanceled { reasons, .. }) => {
                let reasons: Vec<CancellationReason> = reasons
                    .into_iter()
                    .zip(inserts)
                    .map(|(r, insert)| {
                        if insert && r.code == "ConditionalCheckFailed" {
                            CancellationReason {
                                code: "DuplicateItem",
                                message: Some(DUPLICATE.into()),
                                item: None,
                            }
                        } else {
                            r
                        }
                    })
                    .collect();
                Err(Error::cancelled(reasons))
            }
            Err(e) => Err(e),
        }
    }
}

/// An error of the item operation a statement became, without the name of the
/// expression PartiQL generated (`Invalid FilterExpression: ...`): the statement has none.
fn plain(e: Error) -> Error {
    const PREFIXES: &[&str] = &[
        "Invalid FilterExpression: ",
        "Invalid KeyConditionExpression: ",
        "Invalid ConditionExpression: ",
        "Invalid UpdateExpression: ",
        "Invalid ProjectionExpression: ",
    ];
    match e {
        Error::Validation(m) => Error::Validation(
            PREFIXES
                .iter()
                .find_map(|p| m.strip_prefix(p))
                .map_or_else(|| m.clone(), str::to_owned),
        ),
        other => other,
    }
}

/// The `Code` of a failed statement in a BatchExecuteStatement response.
fn batch_code(e: &Error) -> &'static str {
    match e {
        Error::ConditionalCheckFailed { .. } => "ConditionalCheckFailed",
        Error::DuplicateItem(_) => "DuplicateItem",
        Error::ResourceNotFound(_) => "ResourceNotFound",
        Error::AccessDenied(_) => "AccessDenied",
        _ => "ValidationError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        let s = parse(
            r#"SELECT a, "b".c[1] FROM "T"."I" WHERE pk = ? AND sk BETWEEN 1 AND 5 AND x IS NOT MISSING"#,
            &[json!({"S": "k"})],
        )
        .unwrap();
        let Stmt::Select {
            projection, index, ..
        } = s
        else {
            panic!("{s:?}")
        };
        assert_eq!(projection.unwrap().len(), 2);
        assert_eq!(index.as_deref(), Some("I"));
        let s = parse(
            "INSERT INTO t VALUE {'pk': 'a', 'n': -1.5, 's': <<1, 2>>, 'l': [true, null], 'm': {'x': 'y'}}",
            &[],
        )
        .unwrap();
        let Stmt::Insert { item, .. } = s else {
            panic!()
        };
        assert_eq!(item["n"], json!({"N": "-1.5"}));
        assert_eq!(item["s"], json!({"NS": ["1", "2"]}));
        assert_eq!(item["l"], json!({"L": [{"BOOL": true}, {"NULL": true}]}));
        parse(
            "UPDATE t SET a = a + 1, b = 'x' REMOVE c WHERE pk = 'k'",
            &[],
        )
        .unwrap();
        parse("DELETE FROM t WHERE pk = 'k' AND a IN [1, 2]", &[]).unwrap();
    }

    #[test]
    fn refuses_malformed_statements() {
        for bad in [
            "SELEC * FROM t",
            "SELECT * FROM",
            "SELECT * FROM t WHERE",
            "INSERT INTO t VALUE 'x'",
            "UPDATE t WHERE pk = 1",
            "SELECT * FROM t WHERE a = 'x",
            "SELECT * FROM t extra",
        ] {
            let e = parse(bad, &[]).unwrap_err();
            assert!(e.to_string().starts_with(MALFORMED), "{bad}: {e}");
        }
        let e = parse("SELECT * FROM t WHERE a = ?", &[]).unwrap_err();
        assert!(e.to_string().contains("Number of parameters"), "{e}");
        let e = parse("SELECT * FROM t", &[json!({"S": "x"})]).unwrap_err();
        assert!(e.to_string().contains("Number of parameters"), "{e}");
    }
}
