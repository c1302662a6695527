//! PromQL instant-vector selectors, as `/federate?match[]=` takes them: `metric`,
//! `metric{label="v"}`, `{__name__=~"job:.*", env!="dev"}`, with `=`, `!=`, `=~`, `!~`.
//!
//! The lexer and parser follow Prometheus' PromQL lexer and grammar for this subset, and word
//! their errors the same way (`1:7: parse error: unexpected identifier "b" in label matching,
//! expected string`), so an operator sees what Prometheus would show. Regexes are fully
//! anchored (`^(?:re)$`) and compiled by the `regex` crate, whose syntax is RE2's; a pattern
//! Go's parser refuses is refused with Go's words ([`regexp`]).

mod regexp;

use crate::error::go_quote;
use crate::{Error, SelectorErrorKind};
use regex::Regex;
use std::fmt;
use std::str::FromStr;

/// The label that holds the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// A label matching operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    RegexMatch,
    /// `!~`
    RegexNoMatch,
}

impl MatchOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// One label matcher. A missing label matches as the empty string, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// A matcher; regexes are anchored at both ends.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, SelectorErrorKind> {
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(compile(value)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(v),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.op.as_str(),
            go_quote(&self.value)
        )
    }
}

fn compile(value: &str) -> Result<Regex, SelectorErrorKind> {
    let anchored = regexp::anchored(value);
    if let Some((reason, fragment)) = regexp::go_error(&anchored) {
        return Err(SelectorErrorKind::Regex(format!("{reason}: `{fragment}`")));
    }
    Regex::new(&anchored).map_err(|e| {
        let reason = match e {
            regex::Error::CompiledTooBig(_) => "expression too large".to_owned(),
            // The regex crate's message draws a caret under the pattern; keep its last line.
            other => {
                let text = other.to_string();
                text.lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(text.as_str())
                    .to_owned()
            }
        };
        SelectorErrorKind::Regex(format!("{reason}: `{anchored}`"))
    })
}

/// A parsed selector: the series whose labels satisfy every matcher.
#[derive(Debug, Clone)]
pub struct Selector {
    matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses a selector with Prometheus' grammar and error messages.
    pub fn parse(input: &str) -> Result<Selector, Error> {
        Parser::new(input).selector()
    }

    /// The matchers; a metric name written before the braces is a `__name__` matcher, last.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether the series named `name` with `labels` is selected.
    pub fn matches<K: AsRef<str>, V: AsRef<str>>(&self, name: &str, labels: &[(K, V)]) -> bool {
        self.matchers.iter().all(|m| {
            let v = if m.name == METRIC_NAME_LABEL {
                name
            } else {
                labels
                    .iter()
                    .find(|(k, _)| k.as_ref() == m.name)
                    .map_or("", |(_, v)| v.as_ref())
            };
            m.matches(v)
        })
    }
}

impl FromStr for Selector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Selector, Error> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier; `metric` tells whether it holds a `:` (a metric identifier).
    Ident {
        text: String,
        metric: bool,
    },
    /// A keyword that may still be a metric name (`sum`, `by`, `offset`, ...).
    Keyword {
        text: String,
        desc: String,
        metric_name: bool,
    },
    Str {
        value: String,
        raw: String,
    },
    Number(String),
    Duration(String),
    Punct(&'static str),
    Op(String),
    Eof,
}

impl Tok {
    /// How Prometheus' `Item.desc()` describes the token.
    fn desc(&self) -> String {
        match self {
            Tok::Ident {
                text,
                metric: false,
            } => format!("identifier {}", go_quote(text)),
            Tok::Ident { text, metric: true } => format!("metric identifier {}", go_quote(text)),
            Tok::Keyword { desc, .. } => desc.clone(),
            Tok::Str { raw, .. } => format!("string {}", truncated_quote(raw)),
            Tok::Number(t) => format!("number {}", truncated_quote(t)),
            Tok::Duration(t) => format!("duration {}", truncated_quote(t)),
            Tok::Punct(p) => go_quote(p),
            Tok::Op(o) => format!("<op:{o}>"),
            Tok::Eof => "end of input".to_owned(),
        }
    }
}

/// Go's `%.10q...` for long values, `%q` for short ones.
fn truncated_quote(s: &str) -> String {
    if s.len() > 10 {
        let head: String = s.chars().take(10).collect();
        format!("{}...", go_quote(&head))
    } else {
        go_quote(s)
    }
}

/// Keywords outside braces: (lower-case word, may be a metric name, description).
fn keyword(word: &str) -> Option<(bool, String)> {
    const AGGREGATORS: [&str; 14] = [
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let lower = word.to_ascii_lowercase();
    if AGGREGATORS.contains(&lower.as_str()) {
        return Some((true, format!("<aggr:{word}>")));
    }
    match lower.as_str() {
        "and" | "or" | "unless" => Some((true, format!("<op:{word}>"))),
        "atan2" => Some((false, format!("<op:{word}>"))),
        "offset" | "by" | "without" | "start" | "end" => Some((true, format!("<{word}>"))),
        "on" | "ignoring" | "group_left" | "group_right" | "bool" => {
            Some((false, format!("<{word}>")))
        }
        _ => None,
    }
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    in_braces: bool,
}

type Lexed = Result<(usize, Tok), (usize, SelectorErrorKind)>;

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.input[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn next_token(&mut self) -> Lexed {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') if !self.in_braces => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                _ => break,
            }
        }
        let start = self.pos;
        let Some(c) = self.peek() else {
            if self.in_braces {
                return Err((start, SelectorErrorKind::EndOfInputInsideBraces));
            }
            return Ok((start, Tok::Eof));
        };
        if self.in_braces {
            self.inside_braces(start, c)
        } else {
            self.statement(start, c)
        }
    }

    fn inside_braces(&mut self, start: usize, c: char) -> Lexed {
        match c {
            c if c.is_ascii_alphabetic() || c == '_' => {
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
                    self.bump();
                }
                Ok((
                    start,
                    Tok::Ident {
                        text: self.input[start..self.pos].to_owned(),
                        metric: false,
                    },
                ))
            }
            ',' => {
                self.bump();
                Ok((start, Tok::Punct(",")))
            }
            '"' | '\'' | '`' => self.string(start, c),
            '=' => {
                self.bump();
                if self.peek() == Some('~') {
                    self.bump();
                    return Ok((start, Tok::Op("=~".into())));
                }
                Ok((start, Tok::Punct("=")))
            }
            '!' => {
                self.bump();
                match self.peek() {
                    Some('~') => {
                        self.bump();
                        Ok((start, Tok::Op("!~".into())))
                    }
                    Some('=') => {
                        self.bump();
                        Ok((start, Tok::Op("!=".into())))
                    }
                    Some(other) => Err((start, SelectorErrorKind::CharacterAfterBang(other))),
                    None => Err((self.pos, SelectorErrorKind::EndOfInputInsideBraces)),
                }
            }
            '}' => {
                self.bump();
                self.in_braces = false;
                Ok((start, Tok::Punct("}")))
            }
            other => Err((start, SelectorErrorKind::CharacterInsideBraces(other))),
        }
    }

    fn statement(&mut self, start: usize, c: char) -> Lexed {
        match c {
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == ':')
                {
                    self.bump();
                }
                let text = &self.input[start..self.pos];
                let lower = text.to_ascii_lowercase();
                if lower == "inf" || lower == "nan" {
                    return Ok((start, Tok::Number(text.to_owned())));
                }
                if let Some((metric_name, desc)) = keyword(text) {
                    return Ok((
                        start,
                        Tok::Keyword {
                            text: text.to_owned(),
                            desc,
                            metric_name,
                        },
                    ));
                }
                Ok((
                    start,
                    Tok::Ident {
                        text: text.to_owned(),
                        metric: text.contains(':'),
                    },
                ))
            }
            c if c.is_ascii_digit()
                || (c == '.' && matches!(self.peek2(), Some(d) if d.is_ascii_digit())) =>
            {
                self.number(start)
            }
            '{' => {
                self.bump();
                self.in_braces = true;
                Ok((start, Tok::Punct("{")))
            }
            '(' | ')' | '[' | ']' | ',' => {
                self.bump();
                let p = match c {
                    '(' => "(",
                    ')' => ")",
                    '[' => "[",
                    ']' => "]",
                    _ => ",",
                };
                Ok((start, Tok::Punct(p)))
            }
            '"' | '\'' | '`' => self.string(start, c),
            '=' => {
                self.bump();
                match self.peek() {
                    Some('=') => {
                        self.bump();
                        Ok((start, Tok::Op("==".into())))
                    }
                    Some('~') => Err((start, SelectorErrorKind::Character('~'))),
                    _ => Ok((start, Tok::Punct("="))),
                }
            }
            '!' => {
                self.bump();
                match self.peek() {
                    Some('=') => {
                        self.bump();
                        Ok((start, Tok::Op("!=".into())))
                    }
                    Some(other) => Err((
                        start,
                        SelectorErrorKind::CharacterAfterBangOutsideBraces(other),
                    )),
                    None => Err((start, SelectorErrorKind::Character('!'))),
                }
            }
            '<' | '>' => {
                self.bump();
                let mut op = c.to_string();
                if self.peek() == Some('=') {
                    self.bump();
                    op.push('=');
                }
                Ok((start, Tok::Op(op)))
            }
            '+' | '-' | '*' | '/' | '%' | '^' | '@' => {
                self.bump();
                Ok((start, Tok::Op(c.to_string())))
            }
            other => Err((start, SelectorErrorKind::Character(other))),
        }
    }

    fn number(&mut self, start: usize) -> Lexed {
        let hex =
            self.input[self.pos..].starts_with("0x") || self.input[self.pos..].starts_with("0X");
        if hex {
            self.pos += 2;
            while matches!(self.peek(), Some(c) if c.is_ascii_hexdigit()) {
                self.bump();
            }
        } else {
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.bump();
            }
            if self.peek() == Some('.') {
                self.bump();
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.bump();
                }
            }
            if matches!(self.peek(), Some('e' | 'E'))
                && matches!(self.peek2(), Some(c) if c.is_ascii_digit() || c == '+' || c == '-')
            {
                self.bump();
                if matches!(self.peek(), Some('+' | '-')) {
                    self.bump();
                }
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.bump();
                }
            }
        }
        let number_end = self.pos;
        if !matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            return Ok((start, Tok::Number(self.input[start..number_end].to_owned())));
        }
        // A duration such as 5m or 1h30m: digits and units, nothing else.
        let units = ["ms", "s", "m", "h", "d", "w", "y"];
        let mut p = start;
        let bytes = self.input.as_bytes();
        let mut ok = false;
        loop {
            let digits = bytes[p..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                break;
            }
            p += digits;
            match units.iter().find(|u| self.input[p..].starts_with(*u)) {
                Some(u) => {
                    p += u.len();
                    ok = true;
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        let followed = matches!(self.input[p..].chars().next(), Some(c) if c.is_ascii_alphanumeric() || c == '_');
        if ok && !followed && !hex {
            self.pos = p;
            return Ok((start, Tok::Duration(self.input[start..p].to_owned())));
        }
        Err((
            start,
            SelectorErrorKind::BadNumber(self.input[start..number_end].to_owned()),
        ))
    }

    fn string(&mut self, start: usize, quote: char) -> Lexed {
        self.bump();
        let mut value = String::new();
        if quote == '`' {
            loop {
                match self.bump() {
                    Some('`') => break,
                    Some(c) => value.push(c),
                    None => return Err((start, SelectorErrorKind::UnterminatedRawString)),
                }
            }
        } else {
            let mut bytes: Vec<u8> = Vec::new();
            loop {
                match self.bump() {
                    None | Some('\n') => {
                        return Err((start, SelectorErrorKind::UnterminatedString));
                    }
                    Some(c) if c == quote => break,
                    Some('\\') => self.escape(start, quote, &mut bytes)?,
                    Some(c) => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            // Go strings are bytes; a `\xff` escape may leave invalid UTF-8, which no label
            // value (always UTF-8 here) can equal.
            value = String::from_utf8_lossy(&bytes).into_owned();
        }
        Ok((
            start,
            Tok::Str {
                value,
                raw: self.input[start..self.pos].to_owned(),
            },
        ))
    }

    /// One escape after a backslash, with Go's rules (`strconv.Unquote`).
    fn escape(
        &mut self,
        start: usize,
        quote: char,
        out: &mut Vec<u8>,
    ) -> Result<(), (usize, SelectorErrorKind)> {
        let Some(c) = self.bump() else {
            return Err((start, SelectorErrorKind::UnterminatedString));
        };
        let simple = match c {
            'a' => Some(0x07u8),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, radix, max) = match c {
            '0'..='7' => (3usize, 8u32, 255u32),
            'x' => (2, 16, 255),
            'u' => (4, 16, 0x10FFFF),
            'U' => (8, 16, 0x10FFFF),
            other => return Err((start, SelectorErrorKind::UnknownEscape(other))),
        };
        let mut text = String::new();
        if radix == 8 {
            text.push(c);
        }
        while text.len() < digits {
            match self.bump() {
                Some(d) if d.is_digit(radix) => text.push(d),
                Some('\n') | None => return Err((start, SelectorErrorKind::UnterminatedString)),
                Some(d) => return Err((start, SelectorErrorKind::UnknownEscape(d))),
            }
        }
        let value = u32::from_str_radix(&text, radix).unwrap_or(u32::MAX);
        if value > max {
            return Err((start, SelectorErrorKind::UnknownEscape(c)));
        }
        if c == 'u' || c == 'U' {
            let ch = char::from_u32(value).ok_or((start, SelectorErrorKind::UnknownEscape(c)))?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        } else {
            out.push(value as u8);
        }
        Ok(())
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Parser<'a> {
        Parser {
            lexer: Lexer {
                input,
                pos: 0,
                in_braces: false,
            },
        }
    }

    fn error(&self, pos: usize, kind: SelectorErrorKind) -> Error {
        let before = &self.lexer.input[..pos.min(self.lexer.input.len())];
        let line = before.matches('\n').count() + 1;
        let column = match before.rfind('\n') {
            Some(nl) => pos - nl,
            None => pos + 1,
        };
        Error::Selector { line, column, kind }
    }

    fn next(&mut self) -> Result<(usize, Tok), Error> {
        self.lexer
            .next_token()
            .map_err(|(pos, kind)| self.error(pos, kind))
    }

    fn unexpected(&self, pos: usize, tok: &Tok, expected: Option<&'static str>) -> Error {
        let kind = match tok {
            Tok::Eof => SelectorErrorKind::EndOfInput,
            t => SelectorErrorKind::Unexpected {
                found: t.desc(),
                expected,
            },
        };
        self.error(pos, kind)
    }

    fn selector(mut self) -> Result<Selector, Error> {
        let (start, first) = self.next()?;
        let mut name = None;
        let (mut pos, mut tok) = (start, first);
        match &tok {
            Tok::Ident { text, .. } => name = Some(text.clone()),
            Tok::Keyword {
                text,
                metric_name: true,
                ..
            } => name = Some(text.clone()),
            Tok::Punct("{") => {}
            _ => return Err(self.unexpected(pos, &tok, None)),
        }
        if name.is_some() {
            (pos, tok) = self.next()?;
        }
        let mut matchers = Vec::new();
        if tok == Tok::Punct("{") {
            matchers = self.label_matchers()?;
            (pos, tok) = self.next()?;
        }
        if tok != Tok::Eof {
            return Err(self.unexpected(pos, &tok, None));
        }
        if let Some(name) = name {
            if let Some(m) = matchers
                .iter()
                .find(|m: &&Matcher| m.name == METRIC_NAME_LABEL)
            {
                return Err(self.error(
                    start,
                    SelectorErrorKind::NameSetTwice(name.clone(), m.value.clone()),
                ));
            }
            matchers.push(Matcher {
                name: METRIC_NAME_LABEL.to_owned(),
                op: MatchOp::Equal,
                value: name,
                regex: None,
            });
        }
        // Prometheus' rule: a selector must not select every series by accident.
        if matchers.iter().all(|m| m.matches("")) {
            return Err(self.error(start, SelectorErrorKind::NoNonEmptyMatcher));
        }
        Ok(Selector { matchers })
    }

    /// After `{`: `label op "value"` separated by commas, a trailing comma allowed, then `}`.
    fn label_matchers(&mut self) -> Result<Vec<Matcher>, Error> {
        let mut out = Vec::new();
        loop {
            let (pos, tok) = self.next()?;
            let (name_pos, name) = match tok {
                Tok::Punct("}") => return Ok(out),
                Tok::Ident { text, .. } => (pos, text),
                other => return Err(self.unexpected(pos, &other, Some("identifier or \"}\""))),
            };
            let (pos, tok) = self.next()?;
            let op = match &tok {
                Tok::Punct("=") => MatchOp::Equal,
                Tok::Op(o) if o == "!=" => MatchOp::NotEqual,
                Tok::Op(o) if o == "=~" => MatchOp::RegexMatch,
                Tok::Op(o) if o == "!~" => MatchOp::RegexNoMatch,
                other => {
                    return Err(self.unexpected(pos, other, Some("label matching operator")));
                }
            };
            let (pos, tok) = self.next()?;
            let value = match tok {
                Tok::Str { value, .. } => value,
                other => return Err(self.unexpected(pos, &other, Some("string"))),
            };
            out.push(Matcher::new(&name, op, &value).map_err(|k| self.error(name_pos, k))?);
            let (pos, tok) = self.next()?;
            match tok {
                Tok::Punct(",") => continue,
                Tok::Punct("}") => return Ok(out),
                other => return Err(self.unexpected(pos, &other, Some("\",\" or \"}\""))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    /// Expected messages were read off Prometheus 2.42's `/federate` and `/api/v1/query`.
    #[test_case("", "1:1: parse error: unexpected end of input")]
    #[test_case("foo{", "1:5: parse error: unexpected end of input inside braces")]
    #[test_case("foo{a", "1:6: parse error: unexpected end of input inside braces")]
    #[test_case("foo{a=", "1:7: parse error: unexpected end of input inside braces")]
    #[test_case(
        r#"foo{a="b""#,
        "1:10: parse error: unexpected end of input inside braces"
    )]
    #[test_case(r#"foo{a="b"}}"#, "1:11: parse error: unexpected character: '}'")]
    #[test_case(
        "foo{a=b}",
        r#"1:7: parse error: unexpected identifier "b" in label matching, expected string"#
    )]
    #[test_case(
        r#"foo{a>"b"}"#,
        "1:6: parse error: unexpected character inside braces: '>'"
    )]
    #[test_case("foo{1}", "1:5: parse error: unexpected character inside braces: '1'")]
    #[test_case("foo bar", r#"1:5: parse error: unexpected identifier "bar""#)]
    #[test_case("1foo", r#"1:1: parse error: bad number or duration syntax: "1""#)]
    #[test_case(
        r#"foo{a="b\q"}"#,
        "1:7: parse error: unknown escape sequence U+0071 'q'"
    )]
    #[test_case(
        r#"foo{a="unterminated}"#,
        "1:7: parse error: unterminated quoted string"
    )]
    #[test_case("foo[5m]", r#"1:4: parse error: unexpected "[""#)]
    #[test_case("rate(foo[5m])", r#"1:5: parse error: unexpected "(""#)]
    #[test_case("foo offset 5m", "1:5: parse error: unexpected <offset>")]
    #[test_case(
        "foo{,}",
        r#"1:5: parse error: unexpected "," in label matching, expected identifier or "}""#
    )]
    #[test_case(
        r#"foo{a="b" c="d"}"#,
        r#"1:11: parse error: unexpected identifier "c" in label matching, expected "," or "}""#
    )]
    #[test_case(r#""foo""#, r#"1:1: parse error: unexpected string "\"foo\"""#)]
    #[test_case(
        "foo{a==b}",
        r#"1:7: parse error: unexpected "=" in label matching, expected string"#
    )]
    #[test_case(
        "foo{a!b}",
        "1:6: parse error: unexpected character after '!' inside braces: 'b'"
    )]
    #[test_case("sum(foo)", r#"1:4: parse error: unexpected "(""#)]
    #[test_case(r#"foo{a="b"}{c="d"}"#, r#"1:11: parse error: unexpected "{""#)]
    #[test_case("on", "1:1: parse error: unexpected <on>")]
    #[test_case("inf", r#"1:1: parse error: unexpected number "inf""#)]
    #[test_case(
        r#"{A-b="x"}"#,
        "1:3: parse error: unexpected character inside braces: '-'"
    )]
    #[test_case(
        "{}",
        "1:1: parse error: vector selector must contain at least one non-empty matcher"
    )]
    #[test_case(
        r#"{x=""}"#,
        "1:1: parse error: vector selector must contain at least one non-empty matcher"
    )]
    #[test_case(
        r#" {x!~".+"}"#,
        "1:2: parse error: vector selector must contain at least one non-empty matcher"
    )]
    #[test_case(
        r#"{__name__=~".*"}"#,
        "1:1: parse error: vector selector must contain at least one non-empty matcher"
    )]
    #[test_case(
        r#"foo{__name__="bar"}"#,
        r#"1:1: parse error: metric name must not be set twice: "foo" or "bar""#
    )]
    #[test_case(
        "foo{\n  a=b}",
        r#"2:5: parse error: unexpected identifier "b" in label matching, expected string"#
    )]
    fn errors_read_like_prometheus(input: &str, message: &str) {
        let err = Selector::parse(input).expect_err("must not parse");
        assert_eq!(err.to_string(), message);
    }

    /// Read off Prometheus 2.42's `/api/v1/query?query=foo{a=~"<pattern>"}`.
    #[test_case("(", "missing closing ): `^(?:()$`")]
    #[test_case("a)", "unexpected ): `^(?:a))$`")]
    #[test_case("[a", "missing closing ]: `[a)$`")]
    #[test_case("*foo", "missing argument to repetition operator: `*`")]
    #[test_case("a|*", "missing argument to repetition operator: `*`")]
    #[test_case("a**", "invalid nested repetition operator: `**`")]
    #[test_case("a*+", "invalid nested repetition operator: `*+`")]
    #[test_case("x{2}{3}", "invalid nested repetition operator: `{2}{3}`")]
    #[test_case(r"\q", r"invalid escape sequence: `\q`")]
    #[test_case(r"\1", r"invalid escape sequence: `\1`")]
    #[test_case(r"\8", r"invalid escape sequence: `\8`")]
    #[test_case(r"\xZ", r"invalid escape sequence: `\xZ)`")]
    #[test_case(r"\x{110000}", r"invalid escape sequence: `\x{110000`")]
    #[test_case("[z-a]", "invalid character class range: `z-a`")]
    #[test_case(r"\pX", r"invalid character class range: `\pX`")]
    #[test_case(r"\p{Foo}", r"invalid character class range: `\p{Foo}`")]
    #[test_case("a{2,1}", "invalid repeat count: `{2,1}`")]
    #[test_case("x{1001}", "invalid repeat count: `{1001}`")]
    #[test_case(r"a\", r"missing closing ): `^(?:a\)$`" ; "trailing backslash escapes the anchor")]
    #[test_case("(?=a)", "invalid or unsupported Perl syntax: `(?=`")]
    #[test_case("(?z)", "invalid or unsupported Perl syntax: `(?z`")]
    #[test_case("(?i", "missing closing ): `^(?:(?i)$`")]
    #[test_case("(?P<>a)", "invalid named capture: `(?P<>`")]
    fn regex_errors_read_like_prometheus(pattern: &str, reason: &str) {
        // A raw (backtick) string, so the pattern needs no escaping.
        let input = format!("foo{{a=~`{pattern}`}}");
        let err = Selector::parse(&input).expect_err("must not parse");
        assert_eq!(
            err.to_string(),
            format!("1:5: parse error: error parsing regexp: {reason}")
        );
    }

    #[test_case("up", &[("__name__", "up")], true)]
    #[test_case("up", &[("__name__", "upx")], false)]
    #[test_case(r#"{__name__=~"istio_.*"}"#, &[("__name__", "istio_requests_total")], true)]
    #[test_case(r#"{__name__=~"istio"}"#, &[("__name__", "istio_requests_total")], false ; "regex is anchored")]
    #[test_case(r#"m{a!="x"}"#, &[("__name__", "m")], true ; "missing label is empty")]
    #[test_case(r#"m{a="",b="1"}"#, &[("__name__", "m"), ("b", "1")], true ; "empty equals missing")]
    #[test_case(r#"m{a!~"x|y"}"#, &[("__name__", "m"), ("a", "y")], false)]
    #[test_case(r#"m{a=~'x|y',}"#, &[("__name__", "m"), ("a", "y")], true ; "single quotes and trailing comma")]
    #[test_case(r#"m{a=~`\d+`}"#, &[("__name__", "m"), ("a", "42")], true ; "raw string")]
    #[test_case(r#"m{a="\u00e9\x41"}"#, &[("__name__", "m"), ("a", "éA")], true ; "go escapes")]
    #[test_case("sum", &[("__name__", "sum")], true ; "aggregator keyword as metric name")]
    #[test_case("job:rate5m # comment", &[("__name__", "job:rate5m")], true ; "recording rule name and comment")]
    #[test_case(r#"{on="x"}"#, &[("__name__", "m"), ("on", "x")], true ; "keywords are plain label names in braces")]
    fn matching(input: &str, series: &[(&str, &str)], expected: bool) {
        let sel = Selector::parse(input).expect("parses");
        let name = series
            .iter()
            .find(|(k, _)| *k == "__name__")
            .map_or("", |(_, v)| *v);
        let labels: Vec<(&str, &str)> = series
            .iter()
            .copied()
            .filter(|(k, _)| *k != "__name__")
            .collect();
        assert_eq!(
            sel.matches(name, &labels),
            expected,
            "{input} against {series:?}"
        );
    }

    #[test]
    fn displays_as_a_selector() {
        let sel = Selector::parse(r#"up{job="a\"b"}"#).expect("parses");
        assert_eq!(sel.to_string(), r#"{job="a\"b",__name__="up"}"#);
    }
}
