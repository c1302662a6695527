//! Shell word splitting for Compose's string forms (`command: npm start`,
//! `entrypoint: ./run.sh --fast`): POSIX quoting rules (single quotes, double quotes with
//! `\` escapes, backslash outside quotes), no expansion, as `docker compose` does.

/// Why a command string could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// A quote was opened and never closed.
    UnclosedQuote(char),
    /// The string ends with a lone backslash.
    TrailingBackslash,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::UnclosedQuote(q) => write!(f, "unclosed {q} quote"),
            SplitError::TrailingBackslash => f.write_str("ends with a lone backslash"),
        }
    }
}

/// Splits a command line into words.
pub(crate) fn split(text: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnclosedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnclosedQuote('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnclosedQuote('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("npm start", &["npm", "start"])]
    #[test_case("  a   b  ", &["a", "b"])]
    #[test_case("sh -c 'echo $HOME; exit 1'", &["sh", "-c", "echo $HOME; exit 1"])]
    #[test_case(r#"echo "a \"b\" c" d\ e"#, &["echo", "a \"b\" c", "d e"])]
    #[test_case("''", &[""])]
    #[test_case("", &[])]
    fn splits_like_a_shell(text: &str, want: &[&str]) {
        assert_eq!(
            split(text),
            Ok(want.iter().map(|s| (*s).to_owned()).collect())
        );
    }

    #[test]
    fn refuses_unclosed_quotes() {
        assert_eq!(split("echo 'x"), Err(SplitError::UnclosedQuote('\'')));
        assert_eq!(split("echo \\"), Err(SplitError::TrailingBackslash));
    }
}
