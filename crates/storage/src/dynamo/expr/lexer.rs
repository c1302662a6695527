//! Tokens of DynamoDB's expression language, each with its byte span so that syntax errors
//! can quote the source as DynamoDB does (`token: "X", near: "X Y"`).

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A bare name or keyword (`a`, `AND`, `SET`, `attribute_exists`).
    Ident(String),
    /// `#name`.
    NamePlaceholder(String),
    /// `:value`.
    ValuePlaceholder(String),
    /// A list index.
    Int(String),
    /// Punctuation and comparators.
    Sym(&'static str),
}

/// A token and where it is.
#[derive(Debug, Clone)]
pub(super) struct Spanned {
    /// The token.
    pub tok: Tok,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset after its last character.
    pub end: usize,
}

/// A character that starts no token, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadChar {
    /// The character, as text.
    pub token: String,
    /// Where.
    pub at: usize,
}

/// A name token starts with a letter (`_abc` is a syntax error to DynamoDB); placeholders
/// after `#` and `:` may start with any name character.
fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `src` into tokens.
pub(super) fn tokenize(src: &str) -> Result<Vec<Spanned>, BadChar> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let take_while = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
                          from: usize,
                          f: fn(char) -> bool| {
            let mut end = from;
            while let Some(&(i, c)) = chars.peek() {
                if f(c) {
                    end = i + c.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            end
        };
        let tok = if is_ident_start(c) {
            let end = take_while(&mut chars, start, is_ident);
            Spanned {
                tok: Tok::Ident(src[start..end].to_owned()),
                start,
                end,
            }
        } else if c.is_ascii_digit() {
            let end = take_while(&mut chars, start, |c| c.is_ascii_digit());
            Spanned {
                tok: Tok::Int(src[start..end].to_owned()),
                start,
                end,
            }
        } else if c == '#' || c == ':' {
            chars.next();
            let end = take_while(&mut chars, start + 1, is_ident);
            if end == start + 1 {
                return Err(BadChar {
                    token: c.to_string(),
                    at: start,
                });
            }
            let text = src[start..end].to_owned();
            let tok = if c == '#' {
                Tok::NamePlaceholder(text)
            } else {
                Tok::ValuePlaceholder(text)
            };
            Spanned { tok, start, end }
        } else {
            chars.next();
            let next = chars.peek().map(|&(_, c)| c);
            let (sym, len): (&'static str, usize) = match (c, next) {
                ('<', Some('>')) => ("<>", 2),
                ('<', Some('=')) => ("<=", 2),
                ('>', Some('=')) => (">=", 2),
                ('<', _) => ("<", 1),
                ('>', _) => (">", 1),
                ('=', _) => ("=", 1),
                ('(', _) => ("(", 1),
                (')', _) => (")", 1),
                ('[', _) => ("[", 1),
                (']', _) => ("]", 1),
                (',', _) => (",", 1),
                ('.', _) => (".", 1),
                ('+', _) => ("+", 1),
                ('-', _) => ("-", 1),
                _ => {
                    return Err(BadChar {
                        token: c.to_string(),
                        at: start,
                    });
                }
            };
            if len == 2 {
                chars.next();
            }
            Spanned {
                tok: Tok::Sym(sym),
                start,
                end: start + len,
            }
        };
        out.push(tok);
    }
    Ok(out)
}

impl Tok {
    /// The token as DynamoDB quotes it.
    pub(super) fn text(&self) -> &str {
        match self {
            Tok::Ident(s) | Tok::NamePlaceholder(s) | Tok::ValuePlaceholder(s) | Tok::Int(s) => s,
            Tok::Sym(s) => s,
        }
    }

    /// Whether this is the keyword `kw` (keywords are case-insensitive).
    pub(super) fn is_keyword(&self, kw: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_condition() {
        let toks = tokenize("#a.b[3] <> :v AND size(x)>=:n").unwrap();
        let texts: Vec<&str> = toks.iter().map(|t| t.tok.text()).collect();
        assert_eq!(
            texts,
            [
                "#a", ".", "b", "[", "3", "]", "<>", ":v", "AND", "size", "(", "x", ")", ">=", ":n"
            ]
        );
    }

    #[test]
    fn refuses_stray_characters() {
        assert_eq!(
            tokenize("a ! b").unwrap_err(),
            BadChar {
                token: "!".into(),
                at: 2
            }
        );
        assert_eq!(
            tokenize("# = 1").unwrap_err(),
            BadChar {
                token: "#".into(),
                at: 0
            }
        );
    }
}
