//! Go's `regexp/syntax` errors for a label matcher's pattern, worded as Prometheus reports
//! them: `error parsing regexp: <reason>: `<fragment>``.
//!
//! Prometheus (2.42, Debian's) compiles `^(?:<pattern>)$` with Go's `regexp` package, so the
//! reasons are Go's (`missing closing )`, not the `regex` crate's `unclosed group`) and the
//! fragments are cut from the anchored text the way Go's parser cuts them: the whole
//! expression for unbalanced parentheses, from the `[` to the end for an open class, the
//! operator for a repetition, the escape for an escape. Go refuses a few patterns the
//! `regex` crate accepts (`a**`, a repeat count above 1000); those are refused here too.
//! The expected messages of the tests were read off a real Prometheus 2.42.

use regex_syntax::ast::{self, Ast, ErrorKind};
use regex_syntax::hir;

/// Go's limit on a repeat count (`{1001}` is refused).
const MAX_REPEAT: u32 = 1000;

/// The anchored form Prometheus compiles.
pub(super) fn anchored(value: &str) -> String {
    format!("^(?:{value})$")
}

/// Go's complaint about `anchored`, if Go's parser refuses it: the reason and the fragment.
pub(super) fn go_error(anchored: &str) -> Option<(&'static str, String)> {
    let parsed = ast::parse::ParserBuilder::new()
        .nest_limit(1000)
        .build()
        .parse(anchored);
    let tree = match parsed {
        Ok(tree) => tree,
        Err(e) => return Some(ast_error(anchored, &e)),
    };
    if let Some(found) = go_only_refusal(anchored, &tree) {
        return Some(found);
    }
    if let Err(e) = hir::translate::Translator::new().translate(anchored, &tree) {
        use hir::ErrorKind as H;
        let reason = match e.kind() {
            H::UnicodePropertyNotFound | H::UnicodePropertyValueNotFound => {
                "invalid character class range"
            }
            _ => return None,
        };
        return Some((reason, slice(anchored, e.span()).to_owned()));
    }
    None
}

fn slice<'a>(text: &'a str, span: &ast::Span) -> &'a str {
    text.get(span.start.offset..span.end.offset).unwrap_or(text)
}

/// The repetition operator at `span` (the regex crate points at it with an empty span).
fn operator<'a>(text: &'a str, span: &ast::Span) -> &'a str {
    if span.start.offset < span.end.offset {
        return slice(text, span);
    }
    let rest = from(text, span.start.offset);
    let len = if rest.starts_with('{') {
        rest.find('}').map_or(rest.len(), |i| i + 1)
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    };
    rest.get(..len).unwrap_or(rest)
}

fn from(text: &str, at: usize) -> &str {
    text.get(at..).unwrap_or(text)
}

/// Where the group syntax (`(?`) that holds `at` starts.
fn group_start(text: &str, at: usize) -> usize {
    text.get(..at).and_then(|t| t.rfind("(?")).unwrap_or(0)
}

fn ast_error(text: &str, e: &ast::Error) -> (&'static str, String) {
    let span = e.span();
    let at = span.start.offset;
    match e.kind() {
        ErrorKind::GroupUnclosed => ("missing closing )", text.to_owned()),
        ErrorKind::GroupUnopened => ("unexpected )", text.to_owned()),
        ErrorKind::ClassUnclosed => ("missing closing ]", from(text, at).to_owned()),
        ErrorKind::ClassRangeInvalid | ErrorKind::ClassRangeLiteral => (
            "invalid character class range",
            slice(text, span).to_owned(),
        ),
        ErrorKind::ClassEscapeInvalid
        | ErrorKind::EscapeUnrecognized
        | ErrorKind::UnsupportedBackreference => {
            ("invalid escape sequence", slice(text, span).to_owned())
        }
        ErrorKind::EscapeHexEmpty
        | ErrorKind::EscapeHexInvalid
        | ErrorKind::EscapeHexInvalidDigit => {
            ("invalid escape sequence", hex_escape(text, at).to_owned())
        }
        ErrorKind::EscapeUnexpectedEof => {
            ("trailing backslash at end of expression", String::new())
        }
        ErrorKind::RepetitionMissing => (
            "missing argument to repetition operator",
            operator(text, span).to_owned(),
        ),
        ErrorKind::RepetitionCountInvalid => ("invalid repeat count", slice(text, span).to_owned()),
        ErrorKind::UnsupportedLookAround => (
            "invalid or unsupported Perl syntax",
            slice(text, span).to_owned(),
        ),
        ErrorKind::FlagUnrecognized
        | ErrorKind::FlagDanglingNegation
        | ErrorKind::FlagRepeatedNegation { .. }
        | ErrorKind::FlagDuplicate { .. }
        | ErrorKind::FlagUnexpectedEof => {
            let start = group_start(text, at);
            let end = span.end.offset.max(at + 1).min(text.len());
            (
                "invalid or unsupported Perl syntax",
                text.get(start..end).unwrap_or(text).to_owned(),
            )
        }
        ErrorKind::GroupNameEmpty
        | ErrorKind::GroupNameInvalid
        | ErrorKind::GroupNameUnexpectedEof => {
            let start = group_start(text, at);
            let end = text
                .get(at..)
                .and_then(|t| t.find('>'))
                .map_or(text.len(), |i| at + i + 1);
            (
                "invalid named capture",
                text.get(start..end).unwrap_or(text).to_owned(),
            )
        }
        ErrorKind::NestLimitExceeded(_) => ("expression nests too deeply", text.to_owned()),
        // What Go words otherwise, or accepts where the regex crate does not (`a{2` is a
        // literal for Go): the regex crate's own reason, with its fragment.
        other => (crate_reason(other), slice(text, span).to_owned()),
    }
}

/// The regex crate's description of an error kind Go has no word for.
fn crate_reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RepetitionCountUnclosed => "unclosed counted repetition",
        ErrorKind::RepetitionCountDecimalEmpty | ErrorKind::DecimalEmpty => {
            "repetition quantifier expects a valid decimal"
        }
        ErrorKind::DecimalInvalid => "decimal literal invalid",
        ErrorKind::GroupNameDuplicate { .. } => "duplicate capture group name",
        ErrorKind::CaptureLimitExceeded => "exceeded the maximum number of capturing groups",
        _ => "invalid regular expression",
    }
}

/// A `\x` escape as Go's parser consumed it before giving up: `\x` and two more characters,
/// or up to the closing brace of `\x{...}`.
fn hex_escape(text: &str, at: usize) -> &str {
    let start = text.get(..=at).and_then(|t| t.rfind('\\')).unwrap_or(at);
    let rest = from(text, start);
    let end = if rest.starts_with("\\x{") {
        rest.find('}').unwrap_or(rest.len())
    } else {
        rest.char_indices().nth(4).map_or(rest.len(), |(i, _)| i)
    };
    rest.get(..end).unwrap_or(rest)
}

/// What Go refuses and the regex crate accepts: a repetition of a repetition (`a**`,
/// `x{2}{3}`; `a*?` is one lazy operator) and a repeat count above 1000.
fn go_only_refusal(text: &str, tree: &Ast) -> Option<(&'static str, String)> {
    match tree {
        Ast::Repetition(rep) => {
            if let Ast::Repetition(inner) = rep.ast.as_ref() {
                let fragment = text
                    .get(inner.op.span.start.offset..rep.op.span.end.offset)
                    .unwrap_or(text);
                return Some(("invalid nested repetition operator", fragment.to_owned()));
            }
            if let ast::RepetitionKind::Range(range) = &rep.op.kind {
                let too_many = match *range {
                    ast::RepetitionRange::Exactly(n) | ast::RepetitionRange::AtLeast(n) => {
                        n > MAX_REPEAT
                    }
                    ast::RepetitionRange::Bounded(m, n) => m > MAX_REPEAT || n > MAX_REPEAT,
                };
                if too_many {
                    return Some(("invalid repeat count", slice(text, &rep.op.span).to_owned()));
                }
            }
            go_only_refusal(text, &rep.ast)
        }
        Ast::Group(g) => go_only_refusal(text, &g.ast),
        Ast::Alternation(a) => a.asts.iter().find_map(|x| go_only_refusal(text, x)),
        Ast::Concat(c) => c.asts.iter().find_map(|x| go_only_refusal(text, x)),
        _ => None,
    }
}
