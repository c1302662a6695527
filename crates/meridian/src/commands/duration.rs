//! The one syntax for durations on the command line: Go's, as Kubernetes and Istio write them
//! (`500ms`, `30s`, `5m`, `1h30m`). Earlier forms still work and say what to write instead:
//! a bare number of seconds (`600`) and days (`30d`).

use std::time::Duration;

/// A duration flag's value; zero is allowed.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    match meridian_config::duration::parse(text) {
        Ok(d) => Ok(d),
        Err(e) => match legacy(text.trim()) {
            Some((d, instead)) => {
                eprintln!(
                    "warning: duration \"{}\" is deprecated; write \"{instead}\"",
                    text.trim()
                );
                Ok(d)
            }
            None => Err(format!("{e} (write it as 30s, 5m, 1h30m)")),
        },
    }
}

/// A duration flag's value that must be more than zero.
pub(crate) fn positive(text: &str) -> Result<Duration, String> {
    let d = parse(text)?;
    if d.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(d)
}

/// The earlier forms, with the Go form to write instead.
fn legacy(text: &str) -> Option<(Duration, String)> {
    let (digits, days) = match text.strip_suffix('d') {
        Some(n) => (n, true),
        None => (text, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let secs = if days { n.checked_mul(86_400)? } else { n };
    let d = Duration::from_secs(secs);
    Some((d, go_form(d)))
}

/// `1h30m`, `45s`, `720h`: how Go prints whole-second durations, without zero parts.
fn go_form(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(positive("0s").is_err());
    }

    #[test]
    fn earlier_forms_still_work() {
        assert_eq!(parse("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(go_form(Duration::from_secs(600)), "10m");
        assert_eq!(go_form(Duration::from_secs(5400)), "1h30m");
        assert_eq!(go_form(Duration::from_secs(30 * 86_400)), "720h");
        assert_eq!(go_form(Duration::from_secs(61)), "1m1s");
    }

    #[test]
    fn nonsense_is_refused_with_the_syntax() {
        let e = parse("1y").expect_err("unknown unit");
        assert!(e.contains("write it as 30s, 5m, 1h30m"), "{e}");
        assert!(parse("99999999999999999999d").is_err());
        assert!(parse("1e400").is_err());
        assert!(parse("-5s").is_err());
    }
}
