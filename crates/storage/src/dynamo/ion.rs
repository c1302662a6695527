//! Amazon Ion text, as DynamoDB's exports write it and its imports read it: one
//! `{Item:{...}}` struct per item, after an `$ion_1_0` version marker. A string is an Ion
//! string, a number a decimal, a binary a blob, a boolean a bool, NULL a null, a list a
//! list, a map a struct, and a set a list annotated `$dynamodb_SS`, `$dynamodb_NS` or
//! `$dynamodb_BS` (the mapping of DynamoDB's "Amazon S3 import formats").
//!
//! The reader takes what Ion text writers write for such values: comments, annotations,
//! quoted and identifier symbols as field names, short and long strings with every escape,
//! ints (decimal, hex, binary, with underscores), decimals, finite floats (kept as the
//! number they write), blobs and clobs, typed nulls, and symbols as strings. A timestamp,
//! an s-expression or a non-finite float has no DynamoDB type and is refused.

use std::io::BufRead;

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// How deep values may nest (DynamoDB allows 32 levels in an item).
const MAX_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------
// Writing.

/// Appends `item` (an item in DynamoDB JSON, `{"name": {"S": "x"}, ...}`) as one line,
/// `{Item:{...}}` and a line end.
pub(crate) fn write_item(item: &Map<String, Value>, out: &mut String) -> Result<(), String> {
    out.push_str("{Item:");
    write_map(item, out)?;
    out.push_str("}\n");
    Ok(())
}

fn write_map(m: &Map<String, Value>, out: &mut String) -> Result<(), String> {
    out.push('{');
    for (i, (name, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_symbol(name, out);
        out.push(':');
        write_value(v, out)?;
    }
    out.push('}');
    Ok(())
}

fn write_value(v: &Value, out: &mut String) -> Result<(), String> {
    let (ty, inner) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or_else(|| format!("not an attribute value: {v}"))?;
    fn text(x: &Value) -> Result<&str, String> {
        x.as_str().ok_or_else(|| format!("not a string: {x}"))
    }
    fn list(x: &Value) -> Result<&Vec<Value>, String> {
        x.as_array().ok_or_else(|| format!("not a list: {x}"))
    }
    match ty.as_str() {
        "S" => write_string(text(inner)?, out),
        "N" => write_decimal(text(inner)?, out),
        "B" => write_blob(text(inner)?, out),
        "BOOL" => out.push_str(if inner.as_bool() == Some(true) {
            "true"
        } else {
            "false"
        }),
        "NULL" => out.push_str("null"),
        "L" => {
            out.push('[');
            for (i, e) in list(inner)?.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(e, out)?;
            }
            out.push(']');
        }
        "M" => write_map(
            inner
                .as_object()
                .ok_or_else(|| format!("not a map: {inner}"))?,
            out,
        )?,
        set @ ("SS" | "NS" | "BS") => {
            out.push_str("$dynamodb_");
            out.push_str(set);
            out.push_str("::[");
            for (i, e) in list(inner)?.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let e = text(e)?;
                match set {
                    "SS" => write_string(e, out),
                    "NS" => write_decimal(e, out),
                    _ => write_blob(e, out),
                }
            }
            out.push(']');
        }
        other => return Err(format!("unknown attribute type {other}")),
    }
    Ok(())
}

/// A field name: bare when it is an identifier that is no keyword, else a quoted symbol.
fn write_symbol(s: &str, out: &mut String) {
    let bare = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !matches!(s, "null" | "true" | "false" | "nan");
    if bare {
        out.push_str(s);
    } else {
        write_quoted(s, '\'', out);
    }
}

fn write_string(s: &str, out: &mut String) {
    write_quoted(s, '"', out);
}

fn write_quoted(s: &str, quote: char, out: &mut String) {
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// A DynamoDB number (`123`, `-1.5`, `1E+5`) as an Ion decimal (`123.`, `-1.5`, `1d5`).
fn write_decimal(n: &str, out: &mut String) {
    let (mantissa, exponent) = match n.find(['e', 'E']) {
        Some(at) => (&n[..at], Some(n[at + 1..].trim_start_matches('+'))),
        None => (n, None),
    };
    out.push_str(mantissa);
    match exponent {
        Some(e) => {
            out.push('d');
            out.push_str(e);
        }
        None if !mantissa.contains('.') => out.push('.'),
        None => {}
    }
}

fn write_blob(b64: &str, out: &mut String) {
    out.push_str("{{");
    out.push_str(b64);
    out.push_str("}}");
}

// ---------------------------------------------------------------------------------------
// Reading.

/// One Ion value as read, before it is given a DynamoDB type.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    /// An int, in decimal.
    Int(String),
    /// A decimal, as DynamoDB writes a number (`d` as `E`).
    Decimal(String),
    /// A finite float, as written.
    Float(String),
    Str(String),
    Symbol(String),
    Blob(Vec<u8>),
    List(Vec<Annotated>),
    Struct(Vec<(String, Annotated)>),
    /// A value with no DynamoDB type (a timestamp, an s-expression, nan or an infinity).
    Unmapped(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
struct Annotated {
    annotations: Vec<String>,
    node: Node,
}

/// One top-level value: the item of an `{Item:{...}}` struct in DynamoDB JSON, or why it is
/// not one (the stream goes on after it).
pub(crate) enum TopLevel {
    Item(Value),
    NotAnItem(String),
}

/// Reads the top-level values of an Ion text stream one at a time.
pub(crate) struct Reader<R: BufRead> {
    bytes: std::iter::Peekable<std::io::Bytes<R>>,
}

impl<R: BufRead> Reader<R> {
    pub(crate) fn new(r: R) -> Self {
        Self {
            bytes: r.bytes().peekable(),
        }
    }

    /// The next top-level value; `None` at the end. An error is where the text stops being
    /// Ion: nothing after it can be read.
    pub(crate) fn next_value(&mut self) -> Result<Option<TopLevel>, String> {
        loop {
            self.skip_space()?;
            if self.peek()?.is_none() {
                return Ok(None);
            }
            let v = self.value(0)?;
            // A version marker (`$ion_1_0`) and a symbol table are not values.
            if v.annotations.is_empty()
                && matches!(&v.node, Node::Symbol(s) if s.starts_with("$ion_"))
            {
                continue;
            }
            if v.annotations.iter().any(|a| a == "$ion_symbol_table") {
                continue;
            }
            return Ok(Some(match v.node {
                Node::Struct(mut fields) if fields.len() == 1 && fields[0].0 == "Item" => {
                    match fields.pop() {
                        Some((
                            _,
                            item @ Annotated {
                                node: Node::Struct(_),
                                ..
                            },
                        )) => match attribute(&item) {
                            Ok(mut m) => TopLevel::Item(m["M"].take()),
                            Err(why) => TopLevel::NotAnItem(why),
                        },
                        _ => TopLevel::NotAnItem("Item is not a struct".into()),
                    }
                }
                _ => {
                    TopLevel::NotAnItem("a record must be a struct whose only field is Item".into())
                }
            }));
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, String> {
        match self.bytes.peek() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(*b)),
            Some(Err(_)) => match self.bytes.next() {
                Some(Err(e)) => Err(e.to_string()),
                _ => Ok(None),
            },
        }
    }

    fn next_byte(&mut self) -> Result<Option<u8>, String> {
        self.bytes.next().transpose().map_err(|e| e.to_string())
    }

    fn expect_byte(&mut self, what: &str) -> Result<u8, String> {
        self.next_byte()?
            .ok_or_else(|| format!("the text ends inside {what}"))
    }

    /// Skips whitespace and comments.
    fn skip_space(&mut self) -> Result<(), String> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => {
                    self.next_byte()?;
                }
                Some(b'/') => {
                    self.next_byte()?;
                    match self.next_byte()? {
                        Some(b'/') => while !matches!(self.next_byte()?, None | Some(b'\n')) {},
                        Some(b'*') => {
                            let mut star = false;
                            loop {
                                let b = self.expect_byte("a comment")?;
                                if star && b == b'/' {
                                    break;
                                }
                                star = b == b'*';
                            }
                        }
                        _ => return Err("a '/' that begins no comment".into()),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// A value with its annotations.
    fn value(&mut self, depth: usize) -> Result<Annotated, String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested more than {MAX_DEPTH} deep"));
        }
        let mut annotations = Vec::new();
        loop {
            self.skip_space()?;
            let node = self.node(depth)?;
            self.skip_space()?;
            // `name::` makes the symbol just read an annotation of the value after it.
            if self.peek()? == Some(b':') {
                self.next_byte()?;
                match (self.next_byte()?, node) {
                    (Some(b':'), Node::Symbol(s)) => annotations.push(s),
                    _ => return Err("a ':' outside a struct that makes no annotation".into()),
                }
                continue;
            }
            return Ok(Annotated { annotations, node });
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node, String> {
        let Some(b) = self.peek()? else {
            return Err("the text ends where a value should be".into());
        };
        match b {
            b'"' => {
                self.next_byte()?;
                Ok(Node::Str(self.quoted(b'"')?))
            }
            b'\'' => {
                self.next_byte()?;
                if self.peek()? != Some(b'\'') {
                    return Ok(Node::Symbol(self.quoted(b'\'')?));
                }
                self.next_byte()?;
                if self.peek()? == Some(b'\'') {
                    self.next_byte()?;
                    return Ok(Node::Str(self.long_strings()?));
                }
                Ok(Node::Symbol(String::new()))
            }
            b'[' => {
                self.next_byte()?;
                let mut items = Vec::new();
                loop {
                    self.skip_space()?;
                    if self.peek()? == Some(b']') {
                        self.next_byte()?;
                        return Ok(Node::List(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.skip_space()?;
                    match self.next_byte()? {
                        Some(b',') => {}
                        Some(b']') => return Ok(Node::List(items)),
                        _ => return Err("a list's values are separated by ','".into()),
                    }
                }
            }
            b'(' => {
                // An s-expression: read to its end, then refused as a value.
                self.next_byte()?;
                let mut open = 1;
                while open > 0 {
                    match self.expect_byte("an s-expression")? {
                        b'(' => open += 1,
                        b')' => open -= 1,
                        b'"' => {
                            self.quoted(b'"')?;
                        }
                        _ => {}
                    }
                }
                Ok(Node::Unmapped("an s-expression"))
            }
            b'{' => {
                self.next_byte()?;
                if self.peek()? == Some(b'{') {
                    self.next_byte()?;
                    return self.lob();
                }
                let mut fields = Vec::new();
                loop {
                    self.skip_space()?;
                    if self.peek()? == Some(b'}') {
                        self.next_byte()?;
                        return Ok(Node::Struct(fields));
                    }
                    let name = match self.node(depth + 1)? {
                        Node::Str(s) | Node::Symbol(s) => s,
                        _ => {
                            return Err("a struct's field name must be a symbol or a string".into());
                        }
                    };
                    self.skip_space()?;
                    if self.next_byte()? != Some(b':') {
                        return Err(format!("a ':' after the field name '{name}'"));
                    }
                    fields.push((name, self.value(depth + 1)?));
                    self.skip_space()?;
                    match self.next_byte()? {
                        Some(b',') => {}
                        Some(b'}') => return Ok(Node::Struct(fields)),
                        _ => return Err("a struct's fields are separated by ','".into()),
                    }
                }
            }
            b'-' | b'+' | b'0'..=b'9' => self.number(),
            b if b.is_ascii_alphabetic() || b == b'_' || b == b'$' => {
                let word = self.word()?;
                Ok(match word.as_str() {
                    "null" => {
                        // A typed null (`null.string`) is a null all the same.
                        if self.peek()? == Some(b'.') {
                            self.next_byte()?;
                            self.word()?;
                        }
                        Node::Null
                    }
                    "true" => Node::Bool(true),
                    "false" => Node::Bool(false),
                    "nan" => Node::Unmapped("nan"),
                    _ => Node::Symbol(word),
                })
            }
            other => Err(format!("unexpected character '{}'", other as char)),
        }
    }

    fn word(&mut self) -> Result<String, String> {
        let mut w = String::new();
        while let Some(b) = self.peek()? {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' {
                w.push(b as char);
                self.next_byte()?;
            } else {
                break;
            }
        }
        Ok(w)
    }

    /// An int, a decimal, a float, a timestamp, or `+inf`/`-inf`.
    fn number(&mut self) -> Result<Node, String> {
        let mut t = String::new();
        while let Some(b) = self.peek()? {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'_' | b':') {
                t.push(b as char);
                self.next_byte()?;
            } else {
                break;
            }
        }
        number_node(&t)
    }

    /// A string or quoted symbol after its opening quote, to its closing one.
    fn quoted(&mut self, quote: u8) -> Result<String, String> {
        let mut out = Vec::new();
        loop {
            match self.expect_byte("a string")? {
                b if b == quote => break,
                b'\\' => self.escape(&mut out)?,
                b'\n' => return Err("a line end inside a quoted string".into()),
                b => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| "a string that is not UTF-8".into())
    }

    /// Long strings, the first one's opening quotes read, and any that follow it (their
    /// texts are joined: `'''a''' '''b'''` is "ab").
    fn long_strings(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        loop {
            let mut quotes = 0;
            loop {
                let b = self.expect_byte("a long string")?;
                if b == b'\'' {
                    quotes += 1;
                    if quotes == 3 {
                        break;
                    }
                    continue;
                }
                out.extend(std::iter::repeat_n(b'\'', quotes));
                quotes = 0;
                if b == b'\\' {
                    self.escape(&mut out)?;
                } else {
                    out.push(b);
                }
            }
            self.skip_space()?;
            let mut probe = 0;
            while probe < 3 && self.peek()? == Some(b'\'') {
                self.next_byte()?;
                probe += 1;
            }
            match probe {
                0 => break,
                3 => continue,
                _ => return Err("a quote after a long string that begins nothing".into()),
            }
        }
        String::from_utf8(out).map_err(|_| "a string that is not UTF-8".into())
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let c = self.expect_byte("an escape")?;
        let simple = match c {
            b'0' => Some(0),
            b'a' => Some(7),
            b'b' => Some(8),
            b't' => Some(b'\t'),
            b'n' => Some(b'\n'),
            b'f' => Some(0x0c),
            b'r' => Some(b'\r'),
            b'v' => Some(0x0b),
            b'"' | b'\'' | b'?' | b'\\' | b'/' => Some(c),
            // An escaped line end continues the string on the next line.
            b'\n' => return Ok(()),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let len = match c {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => return Err(format!("an unknown escape '\\{}'", c as char)),
        };
        let mut hex = String::new();
        for _ in 0..len {
            hex.push(char::from(self.expect_byte("an escape")?));
        }
        let code = u32::from_str_radix(&hex, 16)
            .map_err(|_| format!("'\\{}{hex}' is no escape", c as char))?;
        let ch = char::from_u32(code).ok_or_else(|| format!("U+{code:X} is no character"))?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    /// A blob or a clob after its `{{`, to its `}}`.
    fn lob(&mut self) -> Result<Node, String> {
        self.skip_space()?;
        if let Some(quote @ (b'"' | b'\'')) = self.peek()? {
            self.next_byte()?;
            let text = if quote == b'\'' {
                for _ in 0..2 {
                    if self.next_byte()? != Some(b'\'') {
                        return Err("a clob's long string begins with three quotes".into());
                    }
                }
                self.long_strings()?
            } else {
                self.quoted(b'"')?
            };
            self.skip_space()?;
            if self.next_byte()? != Some(b'}') || self.next_byte()? != Some(b'}') {
                return Err("a clob ends with '}}'".into());
            }
            return Ok(Node::Blob(text.into_bytes()));
        }
        let mut b64 = String::new();
        loop {
            match self.expect_byte("a blob")? {
                b'}' => {
                    if self.next_byte()? != Some(b'}') {
                        return Err("a blob ends with '}}'".into());
                    }
                    break;
                }
                b if b.is_ascii_whitespace() => {}
                b => b64.push(char::from(b)),
            }
        }
        base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .map(Node::Blob)
            .map_err(|e| format!("a blob that is not base64: {e}"))
    }
}

/// The text of an Ion number (or a timestamp) as a node: an int in decimal, a decimal or a
/// float as DynamoDB writes a number (`6d2` is `6E2`).
fn number_node(t: &str) -> Result<Node, String> {
    if t == "+inf" || t == "-inf" {
        return Ok(Node::Unmapped("an infinite float"));
    }
    let bad = || format!("'{t}' is not an Ion number");
    let (sign, body) = match t.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", t),
    };
    // A timestamp: a year and more (`2007T`, `2007-02-23`, `2007-02-23T12:14Z`).
    if body.len() > 4 && body.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        let after = body.as_bytes()[4];
        if (after == b'T' || after == b'-') && sign.is_empty() {
            return Ok(Node::Unmapped("a timestamp"));
        }
    }
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return Err(bad());
    }
    let digits = body.replace('_', "");
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0b", 2), ("0B", 2)] {
        if let Some(d) = digits.strip_prefix(prefix) {
            let n = u128::from_str_radix(d, radix).map_err(|_| bad())?;
            return Ok(Node::Int(format!("{sign}{n}")));
        }
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent, float) = match digits.find(['e', 'E', 'd', 'D']) {
        Some(at) => (
            &digits[..at],
            Some(&digits[at + 1..]),
            matches!(digits.as_bytes()[at], b'e' | b'E'),
        ),
        None => (digits.as_str(), None, false),
    };
    let (int_part, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let exponent_ok = exponent.is_none_or(|e| all_digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !all_digits(int_part)
        || frac.is_some_and(|f| !f.is_empty() && !all_digits(f))
        || !exponent_ok
        || (int_part.len() > 1 && int_part.starts_with('0'))
    {
        return Err(bad());
    }
    let mut n = format!("{sign}{int_part}");
    if let Some(f) = frac.filter(|f| !f.is_empty()) {
        n.push('.');
        n.push_str(f);
    }
    if let Some(e) = exponent {
        n.push('E');
        n.push_str(e);
    }
    Ok(if float {
        Node::Float(n)
    } else if frac.is_some() || exponent.is_some() {
        Node::Decimal(n)
    } else {
        Node::Int(n)
    })
}

/// An Ion value as a DynamoDB attribute value.
fn attribute(v: &Annotated) -> Result<Value, String> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    if let Some(set) = v
        .annotations
        .iter()
        .find_map(|a| a.strip_prefix("$dynamodb_"))
    {
        let Node::List(members) = &v.node else {
            return Err(format!("a $dynamodb_{set} value must be a list"));
        };
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            out.push(match (set, &m.node) {
                ("SS", Node::Str(s) | Node::Symbol(s)) => json!(s),
                ("NS", Node::Int(n) | Node::Decimal(n) | Node::Float(n)) => json!(n),
                ("BS", Node::Blob(b)) => json!(b64(b)),
                ("SS" | "NS" | "BS", _) => {
                    return Err(format!("a $dynamodb_{set} holds a value of another type"));
                }
                _ => return Err(format!("an unknown annotation $dynamodb_{set}")),
            });
        }
        return Ok(json!({ set: out }));
    }
    Ok(match &v.node {
        Node::Null => json!({"NULL": true}),
        Node::Bool(b) => json!({ "BOOL": b }),
        Node::Int(n) | Node::Decimal(n) | Node::Float(n) => json!({ "N": n }),
        Node::Str(s) | Node::Symbol(s) => json!({ "S": s }),
        Node::Blob(b) => json!({ "B": b64(b) }),
        Node::List(items) => {
            let out: Result<Vec<Value>, String> = items.iter().map(attribute).collect();
            json!({ "L": out? })
        }
        Node::Struct(fields) => {
            let mut out = Map::new();
            for (name, f) in fields {
                out.insert(name.clone(), attribute(f)?);
            }
            json!({ "M": out })
        }
        Node::Unmapped(what) => return Err(format!("{what} has no DynamoDB type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Vec<Result<Value, String>> {
        let mut r = Reader::new(text.as_bytes());
        let mut out = Vec::new();
        loop {
            match r.next_value() {
                Ok(Some(TopLevel::Item(v))) => out.push(Ok(v)),
                Ok(Some(TopLevel::NotAnItem(why))) => out.push(Err(why)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(format!("stopped: {e}")));
                    return out;
                }
            }
        }
    }

    #[test]
    fn the_documented_item_is_read_with_its_types() {
        let text = r#"$ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],Dimensions:"8.5 x 11.0 x 1.5",ISBN:"333-3333333333",Id:103.,InPublication:false,PageCount:6d2,Price:2d3,ProductCategory:"Book",Title:"Book 103 Title"}}"#;
        assert_eq!(
            read_all(text),
            [Ok(json!({
                "Authors": {"SS": ["Author1", "Author2"]},
                "Dimensions": {"S": "8.5 x 11.0 x 1.5"},
                "ISBN": {"S": "333-3333333333"},
                "Id": {"N": "103"},
                "InPublication": {"BOOL": false},
                "PageCount": {"N": "6E2"},
                "Price": {"N": "2E3"},
                "ProductCategory": {"S": "Book"},
                "Title": {"S": "Book 103 Title"},
            }))]
        );
    }

    #[test]
    fn what_writers_write_is_read() {
        let text = concat!(
            "// a comment\n/* another */ {'Item': {\n",
            "  'a b': '''long ''' '''string''',\n",
            "  \"q\": \"tab\\there \\u00e9 \\U0001F600 \\x41\",\n",
            "  i: 0x1F, j: -1_000, f: 1.5e0, z: -0.,\n",
            "  n: null.string, b: {{aGVsbG8=}}, c: {{\"raw\"}},\n",
            "  l: [1, [true], {k: sym}], ns: $dynamodb_NS::[1, 2.5], bs: $dynamodb_BS::[{{AA==}}],\n",
            "}}\n{Item:{x:2007-02-23T12:14Z}}\n{NotItem:{}}\n{Item:{ok:1}}"
        );
        let got = read_all(text);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0],
            Ok(json!({
                "a b": {"S": "long string"},
                "q": {"S": "tab\there é 😀 A"},
                "i": {"N": "31"}, "j": {"N": "-1000"}, "f": {"N": "1.5E0"}, "z": {"N": "-0"},
                "n": {"NULL": true}, "b": {"B": "aGVsbG8="}, "c": {"B": "cmF3"},
                "l": {"L": [{"N": "1"}, {"L": [{"BOOL": true}]}, {"M": {"k": {"S": "sym"}}}]},
                "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AA=="]},
            }))
        );
        assert_eq!(got[1], Err("a timestamp has no DynamoDB type".into()));
        assert!(got[2].is_err());
        assert_eq!(got[3], Ok(json!({"ok": {"N": "1"}})));
    }

    #[test]
    fn text_that_is_not_ion_stops_the_reader_where_it_breaks() {
        for bad in [
            "{Item:{a:\"open}}",
            "{Item:{a:1,,b:2}}",
            "{Item:{a:01}}",
            "{Item:{a:{{not base64!}}}}",
            "{Item:{a:\"\\q\"}}",
            "{Item:{a:1}",
        ] {
            let got = read_all(bad);
            assert!(
                got.last()
                    .is_some_and(|r| r.as_ref().is_err_and(|e| e.starts_with("stopped"))),
                "{bad}: {got:?}"
            );
        }
        let deep = format!("{{Item:{{a:{}{}}}}}", "[".repeat(100), "]".repeat(100));
        let got = read_all(&deep);
        assert!(
            got[0].as_ref().is_err_and(|e| e.contains("nested")),
            "{got:?}"
        );
    }

    #[test]
    fn written_items_read_back_as_they_were() {
        let item: Map<String, Value> = serde_json::from_value(json!({
            "s": {"S": "quote \" back \\ tab \t nl \n ctl \u{1} é"},
            "n": {"N": "-12.5"}, "big": {"N": "1E+125"}, "int": {"N": "7"},
            "b": {"B": "AAEC"}, "t": {"BOOL": true}, "nul": {"NULL": true},
            "l": {"L": [{"S": "x"}, {"M": {"null": {"N": "1"}}}]},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.25"]}, "bs": {"BS": ["AQ=="]},
            "it's": {"S": ""}, "$x": {"S": "dollar"},
        }))
        .unwrap();
        let mut text = String::from("$ion_1_0\n");
        write_item(&item, &mut text).unwrap();
        assert_eq!(text.lines().count(), 2);
        let mut want = Value::Object(item);
        want["big"] = json!({"N": "1E125"});
        assert_eq!(read_all(&text), [Ok(want)]);
    }
}
