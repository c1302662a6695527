//! Istio's duration syntax: Go's `time.ParseDuration` (`30s`, `1.5s`, `100ms`, `1h30m`), which
//! is what istioctl and the API server accept in every `google.protobuf.Duration` field.

use std::fmt;
use std::time::Duration;

/// A duration as written in a manifest. Kept as text so a bad value is reported by validation
/// with its position rather than failing decoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DurationText(pub String);

impl<'de> serde::Deserialize<'de> for DurationText {
    /// Takes text, and also bare numbers (kept as written) so that `timeout: 5` is reported
    /// as a duration without a unit rather than as a type error.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl DurationText {
    /// Parses the text.
    pub fn parse(&self) -> Result<Duration, DurationError> {
        parse(&self.0)
    }
}

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Empty text.
    #[error("empty duration")]
    Empty,
    /// Negative durations are meaningless in every field that takes one.
    #[error("negative duration \"{0}\"")]
    Negative(String),
    /// A number without a unit (other than `0`).
    #[error("missing unit in duration \"{0}\"")]
    MissingUnit(String),
    /// A unit that Go does not know.
    #[error("unknown unit \"{unit}\" in duration \"{text}\"")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole text.
        text: String,
    },
    /// Not a number where one belongs.
    #[error("invalid duration \"{0}\"")]
    Invalid(String),
    /// Larger than anything sensible.
    #[error("duration \"{0}\" is too large")]
    Overflow(String),
}

/// Parses Go-style duration text.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let s = if let Some(rest) = s.strip_prefix('-') {
        if rest.chars().any(|c| c.is_ascii_digit() && c != '0') {
            return Err(DurationError::Negative(text.into()));
        }
        rest
    } else {
        s.strip_prefix('+').unwrap_or(s)
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0; // nanoseconds
    let mut rest = s;
    if rest.is_empty() {
        return Err(DurationError::Invalid(text.into()));
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(DurationError::Invalid(text.into()));
        }
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(text.into()));
        }
        let per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.into(),
                    text: text.into(),
                });
            }
        };
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return Err(DurationError::Invalid(text.into()));
        }
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| DurationError::Overflow(text.into()))?
        };
        let mut nanos = int
            .checked_mul(per)
            .ok_or_else(|| DurationError::Overflow(text.into()))?;
        let mut scale = per;
        for d in frac_part.bytes().take(18) {
            scale /= 10;
            nanos += u128::from(d - b'0') * scale;
        }
        total = total
            .checked_add(nanos)
            .ok_or_else(|| DurationError::Overflow(text.into()))?;
        rest = after;
    }
    let secs =
        u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow(text.into()))?;
    // The remainder is below 1e9, so it fits a u32.
    let nanos = u32::try_from(total % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration the way Istio prints them (`1.5s`, `100ms`, `1h0m0s`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if d.subsec_nanos().is_multiple_of(1_000_000) && ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{secs}s");
    }
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else {
        format!("{m}m{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("30s", Duration::from_secs(30))]
    #[test_case("1.5s", Duration::from_millis(1500))]
    #[test_case("100ms", Duration::from_millis(100))]
    #[test_case("1h", Duration::from_secs(3600))]
    #[test_case("1h30m", Duration::from_secs(5400))]
    #[test_case("250us", Duration::from_micros(250))]
    #[test_case(".5s", Duration::from_millis(500))]
    #[test_case("0", Duration::ZERO)]
    #[test_case("2m0.001s", Duration::from_millis(120_001))]
    fn parses_go_durations(text: &str, want: Duration) {
        assert_eq!(parse(text), Ok(want));
    }

    #[test_case("", DurationError::Empty)]
    #[test_case("30", DurationError::MissingUnit("30".into()))]
    #[test_case("-1s", DurationError::Negative("-1s".into()))]
    #[test_case("5d", DurationError::UnknownUnit { unit: "d".into(), text: "5d".into() })]
    #[test_case("s", DurationError::Invalid("s".into()))]
    #[test_case("1..5s", DurationError::Invalid("1..5s".into()))]
    fn rejects_what_go_rejects(text: &str, want: DurationError) {
        assert_eq!(parse(text), Err(want));
    }

    #[test]
    fn formats_back() {
        assert_eq!(format(Duration::from_millis(100)), "100ms");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m0s");
    }
}
