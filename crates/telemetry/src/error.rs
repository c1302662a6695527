//! The crate's error type.

/// Everything that can go wrong in the telemetry crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metric name that Prometheus would refuse.
    #[error("invalid metric name {name:?}: it must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName {
        /// The offending name.
        name: String,
    },
    /// A label name that Prometheus would refuse or that is reserved.
    #[error(
        "invalid label name {label:?} on metric {metric}: it must match [a-zA-Z_][a-zA-Z0-9_]*, not start with \"__\" and not be \"le\""
    )]
    InvalidLabelName {
        /// The metric being registered.
        metric: String,
        /// The offending label name.
        label: String,
    },
    /// Two metrics registered under one name.
    #[error("metric {name} is already registered")]
    DuplicateMetric {
        /// The name registered twice.
        name: String,
    },
    /// `with(..)` called with the wrong number of label values.
    #[error("metric {metric} takes {expected} label values ({labels}), got {got}")]
    LabelCount {
        /// The metric.
        metric: String,
        /// How many values it takes.
        expected: usize,
        /// Its label names, comma separated.
        labels: String,
        /// How many values were given.
        got: usize,
    },
    /// Histogram buckets that are empty, not finite or not strictly increasing.
    #[error("histogram {metric} needs finite, strictly increasing buckets, got {buckets:?}")]
    InvalidBuckets {
        /// The histogram.
        metric: String,
        /// The offending buckets.
        buckets: Vec<f64>,
    },
    /// A `match[]` selector that does not parse; the message is Prometheus' own wording.
    #[error("{line}:{column}: parse error: {kind}")]
    Selector {
        /// 1-based line of the error in the selector.
        line: usize,
        /// 1-based column (in bytes) of the error.
        column: usize,
        /// What is wrong.
        kind: SelectorErrorKind,
    },
    /// A query string that cannot be decoded.
    #[error("error parsing form values: invalid URL escape {escape:?}")]
    FormEscape {
        /// The bad `%xx` sequence.
        escape: String,
    },
    /// A `traceparent` header that does not follow W3C Trace Context.
    #[error("invalid traceparent {value:?}: {reason}")]
    Traceparent {
        /// The header value.
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A `b3` or `x-b3-*` header that does not follow the B3 specification.
    #[error("invalid b3 header {value:?}: {reason}")]
    B3 {
        /// The header value.
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A sampling percentage outside 0..=100.
    #[error("sampling rate {percent} is outside 0..=100 percent")]
    SamplingRate {
        /// The offending percentage.
        percent: f64,
    },
    /// An OTLP collector endpoint that the exporter cannot use.
    #[error("collector endpoint {endpoint:?} is not usable: {reason}")]
    CollectorEndpoint {
        /// The configured endpoint.
        endpoint: String,
        /// Why; e.g. only `http://` is supported.
        reason: &'static str,
    },
    /// The access log writer thread could not start.
    #[error("cannot start the access log writer thread: {0}")]
    WriterThread(#[source] std::io::Error),
}

/// What is wrong with a selector, worded as Prometheus' PromQL parser words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorErrorKind {
    /// The selector is empty or ends early.
    #[error("unexpected end of input")]
    EndOfInput,
    /// The input ends before the closing brace.
    #[error("unexpected end of input inside braces")]
    EndOfInputInsideBraces,
    /// A character the lexer does not know outside braces.
    #[error("unexpected character: {}", go_quote_char(*.0))]
    Character(char),
    /// A character the lexer does not know inside braces.
    #[error("unexpected character inside braces: {}", go_quote_char(*.0))]
    CharacterInsideBraces(char),
    /// `!` followed by something else than `=` or `~` inside braces.
    #[error("unexpected character after '!' inside braces: {}", go_quote_char(*.0))]
    CharacterAfterBang(char),
    /// `!` followed by something else than `=` outside braces.
    #[error("unexpected character after '!': {}", go_quote_char(*.0))]
    CharacterAfterBangOutsideBraces(char),
    /// A string without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedString,
    /// A raw (backtick) string without its closing backtick.
    #[error("unterminated raw string")]
    UnterminatedRawString,
    /// A backslash escape that Go does not know.
    #[error("unknown escape sequence {}", go_unicode(*.0))]
    UnknownEscape(char),
    /// A number or duration that does not lex.
    #[error("bad number or duration syntax: {}", go_quote(.0))]
    BadNumber(String),
    /// A token that the grammar does not allow here.
    #[error("unexpected {found}{}", .expected.map(|e| format!(" in label matching, expected {e}")).unwrap_or_default())]
    Unexpected {
        /// The token, described as Prometheus describes it (`identifier "b"`, `"("`, ...).
        found: String,
        /// What the label-matching grammar wanted instead, if inside braces.
        expected: Option<&'static str>,
    },
    /// A regular expression that does not compile.
    #[error("error parsing regexp: {0}")]
    Regex(String),
    /// Every matcher matches the empty string, so the selector would select everything.
    #[error("vector selector must contain at least one non-empty matcher")]
    NoNonEmptyMatcher,
    /// `foo{__name__="bar"}`.
    #[error("metric name must not be set twice: {} or {}", go_quote(.0), go_quote(.1))]
    NameSetTwice(String, String),
}

/// Go's `%q` for a rune: `'x'`, with Go escapes for what is not printable.
pub(crate) fn go_quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '\\' => "'\\\\'".to_owned(),
        _ => format!("'{}'", go_escape(c, '\'')),
    }
}

/// Go's `%q` for a string.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push_str(&go_escape(c, '"')),
        }
    }
    out.push('"');
    out
}

/// Go's `%#U`: `U+0071 'q'`.
fn go_unicode(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

fn go_escape(c: char, _quote: char) -> String {
    match c {
        '\x07' => "\\a".to_owned(),
        '\x08' => "\\b".to_owned(),
        '\x0c' => "\\f".to_owned(),
        '\n' => "\\n".to_owned(),
        '\r' => "\\r".to_owned(),
        '\t' => "\\t".to_owned(),
        '\x0b' => "\\v".to_owned(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
        c if c.is_control() => {
            if (c as u32) < 0x10000 {
                format!("\\u{:04x}", c as u32)
            } else {
                format!("\\U{:08x}", c as u32)
            }
        }
        c => c.to_string(),
    }
}
