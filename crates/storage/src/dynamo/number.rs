//! DynamoDB's number type: a decimal of at most 38 significant digits whose magnitude lies
//! between 1E-130 and 9.99…E+125, kept exactly (never as `f64`).
//!
//! A number is held normalised: a sign, its significant digits without leading or trailing
//! zeros, and the position of the decimal point relative to the first digit
//! (`value = 0.d₁d₂…dₙ × 10^exponent`). Normalising on the way in is what DynamoDB does too:
//! `"01.50"` is stored and returned as `"1.5"`, `"1E+2"` as `"100"`, so two spellings of one
//! value are one key. Comparison and addition work on this form directly.

use std::cmp::Ordering;
use std::fmt;

/// The most significant digits a number may carry.
pub const MAX_DIGITS: usize = 38;
/// `0.d × 10^127` would reach 1E+126, beyond DynamoDB's largest magnitude (9.99…E+125).
const MAX_EXPONENT: i32 = 126;
/// `0.1 × 10^-129` is 1E-130, the smallest positive magnitude.
const MIN_EXPONENT: i32 = -129;

/// Why a string is not a DynamoDB number, with DynamoDB's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// Not a decimal literal at all.
    #[error("The parameter cannot be converted to a numeric value: {0}")]
    NotNumeric(String),
    /// An empty string.
    #[error("The parameter cannot be converted to a numeric value")]
    Empty,
    /// More than 38 significant digits.
    #[error("Attempting to store more than 38 significant digits in a Number")]
    Precision,
    /// Larger than 9.99…E+125.
    #[error(
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )]
    Overflow,
    /// Smaller than 1E-130 (and not zero).
    #[error(
        "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    )]
    Underflow,
}

/// An exact decimal number in DynamoDB's range.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    /// ASCII digits, no leading or trailing `0`; empty for zero.
    digits: Box<str>,
    exponent: i32,
}

impl Number {
    /// Zero.
    pub fn zero() -> Self {
        Self {
            negative: false,
            digits: "".into(),
            exponent: 0,
        }
    }

    /// Parses a literal as DynamoDB accepts it (`-12.5`, `1e-3`, `+7`, `.5`) and checks the
    /// range and precision.
    pub fn parse(text: &str) -> Result<Self, NumberError> {
        let n = Self::parse_unchecked(text)?;
        n.checked()
    }

    /// Parses without the range checks (the checks come after arithmetic).
    fn parse_unchecked(text: &str) -> Result<Self, NumberError> {
        if text.is_empty() {
            return Err(NumberError::Empty);
        }
        let bad = || NumberError::NotNumeric(text.to_owned());
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if let Some(&c) = bytes.first()
            && (c == b'-' || c == b'+')
        {
            negative = c == b'-';
            i = 1;
        }
        let mut mantissa = String::new();
        let mut point: Option<usize> = None;
        let mut seen_digit = false;
        while i < bytes.len() {
            match bytes[i] {
                c @ b'0'..=b'9' => {
                    mantissa.push(c as char);
                    seen_digit = true;
                }
                b'.' if point.is_none() => point = Some(mantissa.len()),
                b'e' | b'E' => break,
                _ => return Err(bad()),
            }
            i += 1;
        }
        if !seen_digit {
            return Err(bad());
        }
        let mut exp10: i64 = 0;
        if i < bytes.len() {
            // An exponent: `e`, optional sign, at least one digit.
            i += 1;
            let mut exp_negative = false;
            if let Some(&c) = bytes.get(i)
                && (c == b'-' || c == b'+')
            {
                exp_negative = c == b'-';
                i += 1;
            }
            if i >= bytes.len() {
                return Err(bad());
            }
            for &c in &bytes[i..] {
                if !c.is_ascii_digit() {
                    return Err(bad());
                }
                // Saturate: anything this large is out of range anyway.
                exp10 = (exp10 * 10 + i64::from(c - b'0')).min(1_000_000);
            }
            if exp_negative {
                exp10 = -exp10;
            }
        }
        let int_len = point.unwrap_or(mantissa.len()) as i64;
        let leading = mantissa.bytes().take_while(|&c| c == b'0').count();
        let digits = mantissa[leading..].trim_end_matches('0');
        if digits.is_empty() {
            return Ok(Self::zero());
        }
        let exponent = (int_len - leading as i64 + exp10).clamp(-1_000_000, 1_000_000);
        Ok(Self {
            negative,
            digits: digits.into(),
            exponent: exponent as i32,
        })
    }

    /// Checks DynamoDB's precision and range.
    fn checked(self) -> Result<Self, NumberError> {
        if self.digits.is_empty() {
            return Ok(self);
        }
        if self.digits.len() > MAX_DIGITS {
            return Err(NumberError::Precision);
        }
        if self.exponent > MAX_EXPONENT {
            return Err(NumberError::Overflow);
        }
        if self.exponent < MIN_EXPONENT {
            return Err(NumberError::Underflow);
        }
        Ok(self)
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Whether this is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative && !self.is_zero()
    }

    /// The significant digits (empty for zero).
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// `value = 0.digits × 10^exponent`.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// The size DynamoDB charges for this number: one byte per two significant digits on each
    /// side of the decimal point, one byte, and one more for a minus sign.
    pub fn size(&self) -> usize {
        if self.is_zero() {
            return 1;
        }
        let len = self.digits.len();
        let int_digits = self.exponent.clamp(0, len as i32) as usize;
        let frac_digits = len - int_digits;
        int_digits.div_ceil(2) + frac_digits.div_ceil(2) + 1 + usize::from(self.negative)
    }

    /// The size [`Number::size`] gives for the number `text` is the `Display` form of, as
    /// stored items hold their numbers; `None` for any other text (another spelling, or out
    /// of range), which the caller parses instead. Reads the text without allocating.
    pub fn display_size(text: impl AsRef<[u8]>) -> Option<usize> {
        let b = text.as_ref();
        if b == b"0" {
            return Some(1);
        }
        let (negative, rest) = match b.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, b),
        };
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        // The three shapes `Display` writes: `0.` zeros digits, digits zeros, int `.` frac;
        // the significant digits never start or end with `0`.
        let (len, exponent) = if let Some(frac) = rest.strip_prefix(b"0.") {
            let zeros = frac.iter().take_while(|&&c| c == b'0').count();
            let sig = &frac[zeros..];
            if !digits(sig) || sig.last() == Some(&b'0') {
                return None;
            }
            (sig.len(), -i64::try_from(zeros).ok()?)
        } else if let Some(point) = rest.iter().position(|&c| c == b'.') {
            let (int, frac) = (&rest[..point], &rest[point + 1..]);
            if !digits(int) || !digits(frac) || int[0] == b'0' || frac.last() == Some(&b'0') {
                return None;
            }
            (int.len() + frac.len(), i64::try_from(int.len()).ok()?)
        } else {
            if !digits(rest) || rest[0] == b'0' {
                return None;
            }
            let trailing = rest.iter().rev().take_while(|&&c| c == b'0').count();
            (rest.len() - trailing, i64::try_from(rest.len()).ok()?)
        };
        if len > MAX_DIGITS
            || exponent > i64::from(MAX_EXPONENT)
            || exponent < i64::from(MIN_EXPONENT)
        {
            return None;
        }
        let int_digits = exponent.clamp(0, len as i64) as usize;
        let frac_digits = len - int_digits;
        Some(int_digits.div_ceil(2) + frac_digits.div_ceil(2) + 1 + usize::from(negative))
    }

    /// The integer value if this is a whole number that fits `i64`.
    pub fn to_i64(&self) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        if self.exponent < self.digits.len() as i32 || self.exponent > 19 {
            return None;
        }
        let mut v: i64 = 0;
        for c in self.digits.bytes() {
            v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
        }
        for _ in self.digits.len()..self.exponent as usize {
            v = v.checked_mul(10)?;
        }
        Some(if self.negative { -v } else { v })
    }

    /// `self + other`, exact, then checked against DynamoDB's limits.
    pub fn add(&self, other: &Number) -> Result<Number, NumberError> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        // Align both on the lowest power of ten: value = int × 10^scale.
        let scale_a = self.exponent - self.digits.len() as i32;
        let scale_b = other.exponent - other.digits.len() as i32;
        let scale = scale_a.min(scale_b);
        // Bounded by the range checks on both inputs: at most a few hundred digits.
        let a = aligned(&self.digits, (scale_a - scale) as usize);
        let b = aligned(&other.digits, (scale_b - scale) as usize);
        let (negative, magnitude) = if self.negative == other.negative {
            (self.negative, add_magnitudes(&a, &b))
        } else {
            match compare_magnitudes(&a, &b) {
                Ordering::Equal => return Ok(Number::zero()),
                Ordering::Greater => (self.negative, sub_magnitudes(&a, &b)),
                Ordering::Less => (other.negative, sub_magnitudes(&b, &a)),
            }
        };
        let text: String = magnitude.iter().map(|d| (b'0' + d) as char).collect();
        let leading = text.bytes().take_while(|&c| c == b'0').count();
        let digits = text[leading..].trim_end_matches('0');
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        let int_len = (text.len() - leading) as i32 + scale;
        let n = Number {
            negative,
            digits: digits.into(),
            exponent: int_len,
        };
        // DynamoDB reports range before precision for arithmetic results.
        if n.exponent > MAX_EXPONENT {
            return Err(NumberError::Overflow);
        }
        if n.exponent < MIN_EXPONENT {
            return Err(NumberError::Underflow);
        }
        if n.digits.len() > MAX_DIGITS {
            return Err(NumberError::Precision);
        }
        Ok(n)
    }

    /// `-self`.
    pub fn negated(&self) -> Number {
        let mut n = self.clone();
        if !n.is_zero() {
            n.negative = !n.negative;
        }
        n
    }

    /// `self - other`.
    pub fn sub(&self, other: &Number) -> Result<Number, NumberError> {
        self.add(&other.negated())
    }
}

fn aligned(digits: &str, zeros: usize) -> Vec<u8> {
    let mut v: Vec<u8> = digits.bytes().map(|c| c - b'0').collect();
    v.extend(std::iter::repeat_n(0, zeros));
    v
}

fn compare_magnitudes(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let mut s = carry;
        if i > 0 {
            i -= 1;
            s += a[i];
        }
        if j > 0 {
            j -= 1;
            s += b[j];
        }
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b`.
fn sub_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        i -= 1;
        let mut d = a[i] as i8 - borrow;
        if j > 0 {
            j -= 1;
            d -= b[j] as i8;
        }
        if d < 0 {
            d += 10;
            borrow = 1;
        } else {
            borrow = 0;
        }
        out.push(d as u8);
    }
    out.reverse();
    out
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |n: &Number| -> i8 {
            if n.is_zero() {
                0
            } else if n.negative {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let magnitude = self
            .exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.as_bytes().cmp(other.digits.as_bytes()));
        if sa < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation, as DynamoDB returns numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let len = self.digits.len() as i32;
        if self.exponent <= 0 {
            f.write_str("0.")?;
            for _ in 0..-self.exponent {
                f.write_str("0")?;
            }
            f.write_str(&self.digits)
        } else if self.exponent >= len {
            f.write_str(&self.digits)?;
            for _ in 0..self.exponent - len {
                f.write_str("0")?;
            }
            Ok(())
        } else {
            let (int, frac) = self.digits.split_at(self.exponent as usize);
            write!(f, "{int}.{frac}")
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        // An i64 always parses and is always in range.
        Self::parse_unchecked(&v.to_string()).unwrap_or_else(|_| Number::zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test_case("0", "0")]
    #[test_case("-0", "0")]
    #[test_case("0042", "42")]
    #[test_case("1.200", "1.2")]
    #[test_case("+7", "7")]
    #[test_case(".5", "0.5")]
    #[test_case("5.", "5")]
    #[test_case("1E+2", "100")]
    #[test_case("1e-3", "0.001")]
    #[test_case("-12.50e1", "-125")]
    #[test_case("123.456", "123.456")]
    #[test_case("0.000", "0")]
    fn normalises(input: &str, expected: &str) {
        assert_eq!(n(input).to_string(), expected);
    }

    #[test_case(""; "empty")]
    #[test_case("abc")]
    #[test_case("1.2.3")]
    #[test_case("1e")]
    #[test_case("-")]
    #[test_case(" 1")]
    #[test_case("1e+")]
    #[test_case("0x10")]
    #[test_case("NaN")]
    fn refuses_non_numbers(input: &str) {
        assert!(matches!(
            Number::parse(input),
            Err(NumberError::NotNumeric(_) | NumberError::Empty)
        ));
    }

    #[test]
    fn limits() {
        assert!(Number::parse("12345678901234567890123456789012345678").is_ok());
        assert_eq!(
            Number::parse("123456789012345678901234567890123456789"),
            Err(NumberError::Precision)
        );
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
        assert_eq!(Number::parse("1E+126"), Err(NumberError::Overflow));
        assert!(Number::parse("1E-130").is_ok());
        assert_eq!(Number::parse("1E-131"), Err(NumberError::Underflow));
        assert_eq!(
            Number::parse("1e99999999999999999"),
            Err(NumberError::Overflow)
        );
    }

    #[test_case("1", "2", "3")]
    #[test_case("1.5", "-0.5", "1")]
    #[test_case("-1.5", "0.5", "-1")]
    #[test_case("0.1", "0.2", "0.3")]
    #[test_case("100", "-100", "0")]
    #[test_case("99999999999999999999", "1", "100000000000000000000")]
    #[test_case("1e20", "1e-5", "100000000000000000000.00001")]
    fn adds(a: &str, b: &str, sum: &str) {
        assert_eq!(n(a).add(&n(b)).unwrap().to_string(), sum);
    }

    #[test]
    fn addition_keeps_the_limits() {
        assert_eq!(n("1e100").add(&n("1")), Err(NumberError::Precision));
        assert_eq!(
            n("9.9999999999999999999999999999999999999E+125").add(&n("1e125")),
            Err(NumberError::Overflow)
        );
    }

    #[test_case("1", "2")]
    #[test_case("-2", "-1")]
    #[test_case("-1", "0")]
    #[test_case("0", "0.001")]
    #[test_case("9", "10")]
    #[test_case("1.1", "1.11")]
    #[test_case("-1.11", "-1.1")]
    fn orders(lo: &str, hi: &str) {
        assert!(n(lo) < n(hi));
        assert!(n(hi) > n(lo));
    }

    #[test_case("42", 2)]
    #[test_case("1010", 3)]
    #[test_case("1.5", 3)]
    #[test_case("0.15", 2)]
    #[test_case("-42", 3)]
    #[test_case("-0", 1)]
    #[test_case("1E125", 2)]
    #[test_case("12345678901234567890123456789012345678", 20)]
    fn sizes_as_dynamodb(literal: &str, size: usize) {
        assert_eq!(n(literal).size(), size);
    }

    proptest::proptest! {
        #[test]
        fn order_matches_i64(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
            proptest::prop_assert_eq!(Number::from(a).cmp(&Number::from(b)), a.cmp(&b));
            proptest::prop_assert_eq!(Number::from(a).add(&Number::from(b)).unwrap(), Number::from(a + b));
            proptest::prop_assert_eq!(Number::from(a).to_i64(), Some(a));
        }

        #[test]
        fn the_display_form_tells_its_size(
            text in "-?[0-9]{1,40}(\\.[0-9]{1,40})?([eE][-+]?[0-9]{1,3})?",
        ) {
            if let Ok(n) = Number::parse(&text) {
                proptest::prop_assert_eq!(Number::display_size(n.to_string()), Some(n.size()));
            }
        }

        #[test]
        fn only_a_display_form_is_sized_without_parsing(text in "[-0-9.eE+]{0,12}") {
            if let Some(size) = Number::display_size(&text) {
                let n = Number::parse(&text);
                proptest::prop_assert!(n.is_ok(), "{text}");
                let n = n.unwrap();
                proptest::prop_assert_eq!(n.to_string(), text);
                proptest::prop_assert_eq!(n.size(), size);
            }
        }
    }

    #[test_case("0", Some(1))]
    #[test_case("-0", None)]
    #[test_case("1.50", None)]
    #[test_case("01", None)]
    #[test_case("1e2", None)]
    #[test_case("100", Some(2))]
    #[test_case("-0.0015", Some(3))]
    #[test_case("12.345", Some(4))]
    #[test_case(".5", None)]
    #[test_case("5.", None)]
    fn display_sizes(text: &str, size: Option<usize>) {
        assert_eq!(Number::display_size(text), size);
    }
}
