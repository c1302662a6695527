//! A YAML/JSON document as a tree of nodes that remember where they came from.
//!
//! Every later stage (typed decoding, validation, cross-resource analysis) reports problems by
//! field path; this tree turns a path back into `line:col`. It is built from the event stream of
//! a pure-Rust YAML 1.2 parser with hard limits, so hostile input (alias bombs, deep nesting,
//! huge files) fails fast with a clear message instead of eating the machine.

use std::fmt;

use yaml_rust2::parser::{Event, Parser, Tag as YamlTag};
use yaml_rust2::scanner::TScalarStyle;

use crate::path::{FieldPath, Seg};

/// A position in a source file, 1-based, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Span {
    /// Line, counted from 1.
    pub line: u32,
    /// Column, counted from 1.
    pub col: u32,
}

impl Span {
    /// A span at `line:col` (both 1-based).
    pub fn new(line: u32, col: u32) -> Self {
        Self { line, col }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// How a scalar was written. Quoted scalars are always strings; plain ones are resolved with
/// the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Unquoted.
    Plain,
    /// Single- or double-quoted, or a block scalar (`|`, `>`).
    Quoted,
}

/// A YAML local tag such as CloudFormation's `!Ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(pub String);

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub span: Span,
    /// Its local tag (`!Ref`, `!Sub`, ...), if any.
    pub tag: Option<Tag>,
    /// The content.
    pub value: Value,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar with its text as written (after unescaping).
    Scalar(String, ScalarStyle),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order. Keys are unique (duplicates are rejected at load).
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key node (a scalar for every document we accept).
    pub key: Node,
    /// The value node.
    pub value: Node,
}

/// A scalar resolved with the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    /// `null`, `~` or empty.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// A float.
    Float(f64),
    /// Anything else, or anything quoted.
    Str(&'a str),
}

impl Resolved<'_> {
    /// A word for the kind of value, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Resolved::Null => "null",
            Resolved::Bool(_) => "boolean",
            Resolved::Int(_) | Resolved::UInt(_) => "integer",
            Resolved::Float(_) => "number",
            Resolved::Str(_) => "string",
        }
    }
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry for `key`, if this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key.as_str() == Some(key))
    }

    /// A short word for what this node is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar(..) => self.resolve().map_or("string", |r| r.kind_name()),
            Value::Seq(_) => "list",
            Value::Map(_) => "object",
        }
    }

    /// Resolves a scalar with the YAML 1.2 core schema (plain scalars only; quoted ones are
    /// strings). `None` for collections.
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        match &self.value {
            Value::Scalar(s, ScalarStyle::Quoted) => Some(Resolved::Str(s)),
            Value::Scalar(s, ScalarStyle::Plain) => Some(resolve_plain(s)),
            _ => None,
        }
    }

    /// True for a plain `null`/`~`/empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Some(Resolved::Null))
    }

    /// Finds where a field path points. Returns the span of the deepest node the path reaches
    /// and whether the whole path was found. For a path whose last segment names a key, the
    /// span is the key's (that is where a reader looks for a field).
    pub fn locate(&self, path: &FieldPath) -> (Span, bool) {
        let mut node = self;
        let mut span = self.span;
        for seg in path.segments() {
            let next = match (seg, &node.value) {
                (Seg::Field(k), Value::Map(entries)) => entries
                    .iter()
                    .find(|e| e.key.as_str() == Some(k.as_ref()))
                    .map(|e| (e.key.span, &e.value)),
                (Seg::Key(k), Value::Map(entries)) => entries
                    .iter()
                    .find(|e| e.key.as_str() == Some(k.as_str()))
                    .map(|e| (e.key.span, &e.value)),
                (Seg::Index(i), Value::Seq(items)) => items.get(*i).map(|n| (n.span, n)),
                _ => None,
            };
            match next {
                Some((s, n)) => {
                    span = s;
                    node = n;
                }
                None => return (span, false),
            }
        }
        (span, true)
    }

    /// Like [`Node::locate`], but the span of the value rather than of its key.
    pub fn locate_value(&self, path: &FieldPath) -> (Span, bool) {
        let mut node = self;
        for seg in path.segments() {
            let next = match (seg, &node.value) {
                (Seg::Field(k), Value::Map(entries)) => entries
                    .iter()
                    .find(|e| e.key.as_str() == Some(k.as_ref()))
                    .map(|e| &e.value),
                (Seg::Key(k), Value::Map(entries)) => entries
                    .iter()
                    .find(|e| e.key.as_str() == Some(k.as_str()))
                    .map(|e| &e.value),
                (Seg::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node.span, false),
            }
        }
        (node.span, true)
    }

    /// Number of nodes in this subtree (used to bound alias expansion).
    fn weight(&self) -> usize {
        1 + match &self.value {
            Value::Scalar(..) => 0,
            Value::Seq(items) => items.iter().map(Node::weight).sum(),
            Value::Map(entries) => entries
                .iter()
                .map(|e| e.key.weight() + e.value.weight())
                .sum(),
        }
    }
}

fn resolve_plain(s: &str) -> Resolved<'_> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let bytes = s.as_bytes();
    let digits = bytes
        .strip_prefix(b"-")
        .or_else(|| bytes.strip_prefix(b"+"));
    let unsigned = digits.unwrap_or(bytes);
    if !unsigned.is_empty() && unsigned.iter().all(u8::is_ascii_digit) {
        // `0644` is octal to go-yaml (YAML 1.1 and its v3 too), which kubectl and Compose
        // read with: file modes (`defaultMode: 0400`) are written this way.
        if unsigned.len() > 1
            && unsigned[0] == b'0'
            && unsigned.iter().all(|b| (b'0'..=b'7').contains(b))
            && let Ok(u) = i64::from_str_radix(&s[s.len() - unsigned.len()..], 8)
        {
            return Resolved::Int(if bytes[0] == b'-' { -u } else { u });
        }
        if let Ok(i) = s.parse::<i64>() {
            return Resolved::Int(i);
        }
        if let Ok(u) = s.trim_start_matches('+').parse::<u64>() {
            return Resolved::UInt(u);
        }
        // Too large for any integer type: still a number, as YAML sees it.
        if let Ok(f) = s.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    if let Some(hex) = s.strip_prefix("0x")
        && !hex.is_empty()
        && let Ok(u) = u64::from_str_radix(hex, 16)
    {
        return i64::try_from(u).map_or(Resolved::UInt(u), Resolved::Int);
    }
    if let Some(oct) = s.strip_prefix("0o")
        && !oct.is_empty()
        && let Ok(u) = u64::from_str_radix(oct, 8)
    {
        return i64::try_from(u).map_or(Resolved::UInt(u), Resolved::Int);
    }
    if is_core_float(s)
        && let Ok(f) = s.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str(s)
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// Limits that keep hostile input bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of collections.
    pub max_depth: usize,
    /// Total nodes that aliases may add by expansion, over the whole stream.
    pub max_alias_expansion: usize,
    /// Documents in one stream.
    pub max_documents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_alias_expansion: 100_000,
            max_documents: 100_000,
        }
    }
}

/// A problem found while building the tree. The whole stream is refused: YAML is not
/// resynchronisable after a syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// Where.
    pub span: Span,
    /// What (lower-case, no trailing period).
    pub message: String,
}

/// One document of a stream: its root node.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Position of the document's first node.
    pub span: Span,
    /// Root node; `None` for an empty document (only comments, or `---` alone).
    pub root: Option<Node>,
}

enum Frame {
    Seq {
        span: Span,
        tag: Option<Tag>,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        span: Span,
        tag: Option<Tag>,
        anchor: usize,
        entries: Vec<Entry>,
        /// Entries brought in by merge keys; explicit keys win over them.
        merged: Vec<Entry>,
        pending_key: Option<Node>,
    },
}

/// Parses a whole YAML (or JSON) stream into documents.
///
/// A flow collection closed at its key's indentation or left of it
/// (`args: [` … newline … `]` under `args`) is accepted, as Kubernetes' YAML parser (go-yaml)
/// and libyaml accept it: yaml-rust2 refuses it as "invalid indentation", so such a closing
/// bracket is moved right, one column at a time, until the stream parses. Only that bracket's
/// line changes, and only its column.
pub fn parse_stream(text: &str, limits: Limits) -> Result<Vec<Document>, SyntaxError> {
    /// How many columns closing brackets may be moved in one stream, in all.
    const MAX_SHIFTS: usize = 256;
    let mut patched: Option<String> = None;
    for _ in 0..MAX_SHIFTS {
        let current = patched.as_deref().unwrap_or(text);
        match parse_once(current, limits) {
            Err(e) if e.message == "invalid indentation" => {
                match shift_closing_bracket(current, e.span) {
                    Some(next) => patched = Some(next),
                    None => return Err(e),
                }
            }
            done => return done,
        }
    }
    parse_once(patched.as_deref().unwrap_or(text), limits)
}

/// `text` with one space inserted before the `]` or `}` at `at`, if that is what stands there.
fn shift_closing_bracket(text: &str, at: Span) -> Option<String> {
    let (line, col) = (
        usize::try_from(at.line).ok()?,
        usize::try_from(at.col).ok()?,
    );
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let line = &text[line_start..];
    let (offset, c) = line.char_indices().nth(col.checked_sub(1)?)?;
    if !matches!(c, ']' | '}') || !line[..offset].chars().all(|c| c == ' ') {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 1);
    out.push_str(&text[..line_start + offset]);
    out.push(' ');
    out.push_str(&text[line_start + offset..]);
    Some(out)
}

fn parse_once(text: &str, limits: Limits) -> Result<Vec<Document>, SyntaxError> {
    let mut parser = Parser::new_from_str(text).keep_tags(true);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Node)> = Vec::new();
    let mut expanded = 0usize;
    let mut doc_root: Option<Node> = None;
    let mut doc_span = Span::new(1, 1);

    loop {
        let (event, mark) = parser.next_token().map_err(|e| SyntaxError {
            span: span_of(*e.marker()),
            message: if e.info() == "recursion limit exceeded" {
                format!("nesting deeper than {} levels", limits.max_depth)
            } else {
                e.info().to_owned()
            },
        })?;
        let span = span_of(mark);
        let completed: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::Nothing => None,
            Event::StreamEnd => break,
            Event::DocumentStart => {
                doc_span = span;
                doc_root = None;
                anchors.clear();
                None
            }
            Event::DocumentEnd => {
                if docs.len() >= limits.max_documents {
                    return Err(SyntaxError {
                        span,
                        message: format!(
                            "more than {} documents in one file",
                            limits.max_documents
                        ),
                    });
                }
                // `---` followed by nothing (or only comments) is an empty document, as
                // kubectl treats it, not a null object.
                let root = doc_root
                    .take()
                    .filter(|n| !(n.tag.is_none() && n.is_null()));
                let span = root.as_ref().map_or(doc_span, |n| n.span);
                docs.push(Document { span, root });
                None
            }
            Event::Alias(id) => {
                let Some((_, target)) = anchors.iter().rev().find(|(a, _)| *a == id) else {
                    return Err(SyntaxError {
                        span,
                        message: "alias refers to an anchor that is not defined before it".into(),
                    });
                };
                expanded += target.weight();
                if expanded > limits.max_alias_expansion {
                    return Err(SyntaxError {
                        span,
                        message: format!(
                            "aliases expand to more than {} nodes; refusing a possible \
                             \"billion laughs\" document",
                            limits.max_alias_expansion
                        ),
                    });
                }
                let mut node = target.clone();
                node.span = span;
                Some((node, 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    TScalarStyle::Plain => ScalarStyle::Plain,
                    _ => ScalarStyle::Quoted,
                };
                Some((
                    Node {
                        span,
                        tag: tag.and_then(local_tag),
                        value: Value::Scalar(text, style),
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, tag) => {
                check_depth(&stack, limits, span)?;
                stack.push(Frame::Seq {
                    span,
                    tag: tag.and_then(local_tag),
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                check_depth(&stack, limits, span)?;
                stack.push(Frame::Map {
                    span,
                    tag: tag.and_then(local_tag),
                    anchor,
                    entries: Vec::new(),
                    merged: Vec::new(),
                    pending_key: None,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    span,
                    tag,
                    anchor,
                    items,
                }) => Some((
                    Node {
                        span,
                        tag,
                        value: Value::Seq(items),
                    },
                    anchor,
                )),
                _ => return Err(internal(span)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    span: map_span,
                    tag,
                    anchor,
                    mut entries,
                    merged,
                    ..
                }) => {
                    for e in merged {
                        if !entries.iter().any(|x| x.key.as_str() == e.key.as_str()) {
                            entries.push(e);
                        }
                    }
                    // A block mapping's start mark points past its first key; the first key is
                    // where a reader sees the mapping begin.
                    let span = entries
                        .first()
                        .map_or(map_span, |e| e.key.span.min(map_span));
                    Some((
                        Node {
                            span,
                            tag,
                            value: Value::Map(entries),
                        },
                        anchor,
                    ))
                }
                _ => return Err(internal(span)),
            },
        };

        if let Some((node, anchor)) = completed {
            if anchor != 0 {
                anchors.push((anchor, node.clone()));
            }
            match stack.last_mut() {
                None => doc_root = Some(node),
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map {
                    entries,
                    merged,
                    pending_key,
                    ..
                }) => match pending_key.take() {
                    None => {
                        if !matches!(node.value, Value::Scalar(..)) {
                            return Err(SyntaxError {
                                span: node.span,
                                message: format!(
                                    "a mapping key must be a scalar, found a {}",
                                    node.kind_name()
                                ),
                            });
                        }
                        *pending_key = Some(node);
                    }
                    Some(key) => insert_entry(entries, merged, key, node)?,
                },
            }
        }
    }
    Ok(docs)
}

fn insert_entry(
    entries: &mut Vec<Entry>,
    merged: &mut Vec<Entry>,
    key: Node,
    value: Node,
) -> Result<(), SyntaxError> {
    // YAML 1.1 merge keys (`<<: *defaults`), which Compose files use.
    if key.as_str() == Some("<<") && key.resolve() == Some(Resolved::Str("<<")) {
        let sources: Vec<&Node> = match &value.value {
            Value::Map(_) => vec![&value],
            Value::Seq(items) => items.iter().collect(),
            Value::Scalar(..) => {
                return Err(SyntaxError {
                    span: value.span,
                    message: "a merge key (<<) needs a mapping or a list of mappings".into(),
                });
            }
        };
        for src in sources {
            let Some(src_entries) = src.as_map() else {
                return Err(SyntaxError {
                    span: src.span,
                    message: "a merge key (<<) needs a mapping or a list of mappings".into(),
                });
            };
            for e in src_entries {
                // Earlier merge sources win over later ones, as YAML's merge key says.
                if !merged.iter().any(|x| x.key.as_str() == e.key.as_str()) {
                    merged.push(e.clone());
                }
            }
        }
        return Ok(());
    }
    if let Some(prev) = entries.iter().find(|e| e.key.as_str() == key.as_str()) {
        return Err(SyntaxError {
            span: key.span,
            message: format!(
                "duplicate key \"{}\" (first defined at line {})",
                key.as_str().unwrap_or_default(),
                prev.key.span.line
            ),
        });
    }
    entries.push(Entry { key, value });
    Ok(())
}

fn check_depth(stack: &[Frame], limits: Limits, span: Span) -> Result<(), SyntaxError> {
    if stack.len() >= limits.max_depth {
        return Err(SyntaxError {
            span,
            message: format!("nesting deeper than {} levels", limits.max_depth),
        });
    }
    Ok(())
}

fn internal(span: Span) -> SyntaxError {
    SyntaxError {
        span,
        message: "unbalanced YAML event stream".into(),
    }
}

fn local_tag(tag: YamlTag) -> Option<Tag> {
    // Local tags (`!Ref`) are kept; standard `tag:yaml.org,2002:` tags (`!!str`) are not needed
    // by any kind we accept.
    (tag.handle == "!").then_some(Tag(tag.suffix))
}

fn span_of(m: yaml_rust2::scanner::Marker) -> Span {
    Span::new(
        u32::try_from(m.line()).unwrap_or(u32::MAX),
        u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn one(text: &str) -> Node {
        let mut docs = parse_stream(text, Limits::default()).expect("parses");
        docs.remove(0).root.expect("has a root")
    }

    #[test_case("1", Resolved::Int(1))]
    #[test_case("-7", Resolved::Int(-7))]
    #[test_case("0x1F", Resolved::Int(31))]
    #[test_case("0644", Resolved::Int(0o644); "leading zero is octal as go-yaml reads it")]
    #[test_case("0", Resolved::Int(0))]
    #[test_case("089", Resolved::Int(89); "not octal digits")]
    #[test_case("1.5", Resolved::Float(1.5))]
    #[test_case("1e3", Resolved::Float(1000.0))]
    #[test_case("true", Resolved::Bool(true))]
    #[test_case("~", Resolved::Null)]
    #[test_case("yes", Resolved::Str("yes"); "yaml 1.2 has no yes/no booleans")]
    #[test_case("1.2.3", Resolved::Str("1.2.3"))]
    #[test_case("30s", Resolved::Str("30s"))]
    fn plain_scalars_resolve_with_the_core_schema(text: &str, want: Resolved<'_>) {
        assert_eq!(resolve_plain(text), want);
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let n = one("a: \"80\"");
        assert_eq!(
            n.get("a").and_then(Node::resolve),
            Some(Resolved::Str("80"))
        );
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let n = one("a: 1\nb:\n  - x\n  - c: d\n");
        let path = FieldPath::root().field("b").index(1).field("c");
        assert_eq!(n.locate(&path), (Span::new(4, 5), true));
        assert_eq!(n.locate_value(&path), (Span::new(4, 8), true));
        let missing = FieldPath::root().field("b").index(1).field("zz");
        assert_eq!(n.locate(&missing), (Span::new(4, 5), false));
    }

    #[test]
    fn a_flow_collection_may_close_at_its_keys_indentation() {
        // As the SPIRE quickstart writes a container's args, which kubectl applies.
        let n = one(
            "spec:\n  args: [\n    \"run\",\n    \"-config\", \"x.conf\"\n  ]\n  env: {\n    A: b\n}\n  next: 1\n",
        );
        let args: Vec<&str> = n
            .get("spec")
            .and_then(|s| s.get("args"))
            .and_then(Node::as_seq)
            .expect("a sequence")
            .iter()
            .filter_map(Node::as_str)
            .collect();
        assert_eq!(args, ["run", "-config", "x.conf"]);
        let spec = n.get("spec").expect("spec");
        assert_eq!(
            spec.get("env")
                .and_then(|e| e.get("A"))
                .and_then(Node::as_str),
            Some("b")
        );
        // Positions of what follows are the source's.
        assert_eq!(
            spec.locate(&FieldPath::root().field("next")),
            (Span::new(9, 3), true)
        );
    }

    #[test]
    fn other_bad_indentation_is_still_refused() {
        let err = parse_stream("a:\n  b: 1\n c: 2\n", Limits::default()).expect_err("refused");
        assert_eq!(err.span.line, 3);
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let err = parse_stream("a: 1\nb: 2\na: 3\n", Limits::default()).unwrap_err();
        assert_eq!(err.span, Span::new(3, 1));
        assert_eq!(err.message, "duplicate key \"a\" (first defined at line 1)");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='k' {
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let err = parse_stream(&text, Limits::default()).unwrap_err();
        assert!(err.message.contains("billion laughs"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = parse_stream(&flow, Limits::default()).unwrap_err();
        assert_eq!(err.message, "nesting deeper than 64 levels");
        let mut block = String::new();
        for i in 0..70 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        let err = parse_stream(&block, Limits::default()).unwrap_err();
        assert_eq!(err.message, "nesting deeper than 64 levels");
        assert_eq!(err.span.line, 65);
    }

    #[test]
    fn merge_keys_merge_without_overriding() {
        let n = one("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd:\n  y: 4\n  <<: *b\n");
        let c = n.get("c").expect("c");
        assert_eq!(c.get("x").and_then(Node::as_str), Some("1"));
        assert_eq!(c.get("y").and_then(Node::as_str), Some("3"));
        let d = n.get("d").expect("d");
        assert_eq!(d.get("y").and_then(Node::as_str), Some("4"));
    }

    #[test]
    fn tags_are_kept() {
        let n = one("a: !Ref Table\nb: !GetAtt [T, Arn]\n");
        assert_eq!(
            n.get("a").and_then(|n| n.tag.clone()),
            Some(Tag("Ref".into()))
        );
        assert_eq!(
            n.get("b").and_then(|n| n.tag.clone()),
            Some(Tag("GetAtt".into()))
        );
    }

    #[test]
    fn tab_indentation_is_a_syntax_error_with_position() {
        let err = parse_stream("a:\n\tb: 1\n", Limits::default()).unwrap_err();
        assert_eq!(err.span.line, 2);
        assert!(err.message.contains("tabs"), "{}", err.message);
    }

    #[test]
    fn json_with_tabs_parses() {
        let n = one("{\n\t\"a\": [1,\n\t\t2]\n}\n");
        assert_eq!(
            n.get("a").and_then(Node::as_seq).map(<[Node]>::len),
            Some(2)
        );
    }
}
