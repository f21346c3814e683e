//! `Number`: DynamoDB's exact decimal number. Never a float.
//!
//! DynamoDB numbers have up to 38 significant digits and a magnitude between 1E-130 and
//! 9.9999999999999999999999999999999999999E+125 (positive or negative), or are zero; leading and trailing
//! zeros are trimmed when stored
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number>).
//! A `Number` keeps exactly that: a sign, the significant digits, and a decimal exponent. `1.0`, `1`, `1e0` and
//! `0.1E1` are the same `Number`; it prints in DynamoDB's normalised plain notation (`1000`, never `1E+3`).
//!
//! Equality, hashing and ordering are numeric because the representation is normalised: two equal values have
//! identical fields.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Most significant digits a DynamoDB number may have.
pub const MAX_SIGNIFICANT_DIGITS: usize = 38;
/// Largest decimal exponent (of the leading digit) of a DynamoDB number: 9.99…E+125.
pub const MAX_EXPONENT: i32 = 125;
/// Smallest decimal exponent (of the leading digit) of a non-zero DynamoDB number: 1E-130.
pub const MIN_EXPONENT: i32 = -130;

/// Why a text is not a DynamoDB number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Empty text.
    #[error("empty number")]
    Empty,
    /// Not decimal number syntax (NaN, Infinity, hex, stray characters, whitespace).
    #[error("not a number: {0:?}")]
    Syntax(String),
    /// More than 38 significant digits.
    #[error("more than {MAX_SIGNIFICANT_DIGITS} significant digits ({digits})")]
    TooManyDigits {
        /// How many significant digits the text had.
        digits: usize,
    },
    /// Magnitude above 9.99…E+125.
    #[error("number magnitude larger than supported range (above 9.99E+125)")]
    Overflow,
    /// Non-zero magnitude below 1E-130.
    #[error("number magnitude smaller than supported range (below 1E-130)")]
    Underflow,
}

/// An exact DynamoDB number: `(-1)^negative × d₁.d₂d₃… × 10^exponent`.
///
/// Invariants: `digits` holds 1..=38 ASCII digits with no leading and no trailing `0`, and
/// `MIN_EXPONENT <= exponent <= MAX_EXPONENT`; or `digits` is empty, `exponent` is 0 and `negative` is false
/// (zero).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    digits: Box<[u8]>,
    exponent: i16,
}

/// Cap on a written exponent: anything beyond is out of range anyway, and capping keeps the arithmetic in i64.
const EXPONENT_CAP: i64 = 1_000_000_000;

impl Number {
    /// Zero.
    pub fn zero() -> Number {
        Number {
            negative: false,
            digits: Box::new([]),
            exponent: 0,
        }
    }

    /// Parses DynamoDB number text: an optional sign, digits with an optional decimal point, and an optional
    /// exponent (`-12.50e3`). Rejects everything DynamoDB rejects; see [`NumberError`].
    pub fn parse(text: &str) -> Result<Number, NumberError> {
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Err(NumberError::Empty);
        }
        let syntax = || NumberError::Syntax(truncate_for_message(text));
        let mut i = 0;
        let negative = match bytes[0] {
            b'-' => {
                i = 1;
                true
            }
            b'+' => {
                i = 1;
                false
            }
            _ => false,
        };
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &bytes[int_start..i];
        let mut frac_part: &[u8] = &[];
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &bytes[frac_start..i];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(syntax());
        }
        let mut written_exponent: i64 = 0;
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            i += 1;
            let exp_negative = match bytes.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let exp_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                written_exponent = (written_exponent * 10 + i64::from(bytes[i] - b'0')).min(EXPONENT_CAP);
                i += 1;
            }
            if i == exp_start {
                return Err(syntax());
            }
            if exp_negative {
                written_exponent = -written_exponent;
            }
        }
        if i != bytes.len() {
            return Err(syntax());
        }

        // All mantissa digits, in order; value = mantissa × 10^(written_exponent - frac_len).
        let all = int_part.iter().chain(frac_part.iter()).copied();
        let leading_zeros = all.clone().take_while(|&d| d == b'0').count();
        let total = int_part.len() + frac_part.len();
        if leading_zeros == total {
            return Ok(Number::zero());
        }
        let trailing_zeros = all.clone().rev().take_while(|&d| d == b'0').count();
        let significant = total - leading_zeros - trailing_zeros;
        if significant > MAX_SIGNIFICANT_DIGITS {
            return Err(NumberError::TooManyDigits { digits: significant });
        }
        let digits: Box<[u8]> = all.skip(leading_zeros).take(significant).collect();
        // The last significant digit sits at power (written_exponent - frac_len + trailing_zeros); the first is
        // (significant - 1) places above it.
        let frac_len = i64::try_from(frac_part.len()).unwrap_or(i64::MAX / 4);
        let trailing = i64::try_from(trailing_zeros).unwrap_or(i64::MAX / 4);
        let sig = i64::try_from(significant).unwrap_or(0);
        let exponent = written_exponent - frac_len + trailing + sig - 1;
        Number::from_parts(negative, digits, exponent)
    }

    /// Builds a number from already-trimmed significant digits and the exponent of the first digit.
    fn from_parts(negative: bool, digits: Box<[u8]>, exponent: i64) -> Result<Number, NumberError> {
        debug_assert!(!digits.is_empty() && digits[0] != b'0' && digits[digits.len() - 1] != b'0');
        if exponent > i64::from(MAX_EXPONENT) {
            return Err(NumberError::Overflow);
        }
        if exponent < i64::from(MIN_EXPONENT) {
            return Err(NumberError::Underflow);
        }
        let exponent = i16::try_from(exponent).map_err(|_| NumberError::Overflow)?;
        Ok(Number {
            negative,
            digits,
            exponent,
        })
    }

    /// Builds a number from ASCII digits `d₁d₂…` (leading and trailing zeros allowed) and the exponent of
    /// the first digit: the value is `d₁.d₂… × 10^exponent`. Refuses more than 38 significant digits and
    /// magnitudes out of range, as [`Number::parse`] does. For exact arithmetic in this crate.
    pub(crate) fn from_digits(negative: bool, digits: &[u8], exponent: i64) -> Result<Number, NumberError> {
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        let rest = digits.get(leading..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(Number::zero());
        }
        let trailing = rest.iter().rev().take_while(|&&d| d == b'0').count();
        let significant = rest.get(..rest.len() - trailing).unwrap_or(&[]);
        let exponent = exponent.saturating_sub(i64::try_from(leading).unwrap_or(i64::MAX / 4));
        // A magnitude out of range is reported as such even when it also has too many digits.
        if exponent > i64::from(MAX_EXPONENT) {
            return Err(NumberError::Overflow);
        }
        if exponent < i64::from(MIN_EXPONENT) {
            return Err(NumberError::Underflow);
        }
        if significant.len() > MAX_SIGNIFICANT_DIGITS {
            return Err(NumberError::TooManyDigits {
                digits: significant.len(),
            });
        }
        Number::from_parts(negative, significant.into(), exponent)
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Whether this is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The significant digits as ASCII, without leading or trailing zeros (empty for zero).
    pub fn significant_digits(&self) -> &[u8] {
        &self.digits
    }

    /// The decimal exponent of the first significant digit (0 for zero): `123.4` has exponent 2.
    pub fn exponent(&self) -> i32 {
        i32::from(self.exponent)
    }

    /// The number with its sign flipped.
    pub fn negated(&self) -> Number {
        if self.is_zero() {
            return self.clone();
        }
        Number {
            negative: !self.negative,
            ..self.clone()
        }
    }

    /// The value as an `i64` when it is an integer in range, else `None`.
    pub fn to_i64(&self) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        let exp = usize::try_from(self.exponent).ok()?;
        if self.digits.len() > exp + 1 || exp > 18 {
            return None;
        }
        let mut v: i128 = 0;
        for &d in self.digits.iter() {
            v = v * 10 + i128::from(d - b'0');
        }
        for _ in self.digits.len()..exp + 1 {
            v *= 10;
        }
        if self.negative {
            v = -v;
        }
        i64::try_from(v).ok()
    }

    /// The exact value scaled by `10^scale` when that is an integer fitting in `i128`, else `None`.
    /// `Number::parse("1.5")?.scaled_integer(3) == Some(1500)`.
    pub fn scaled_integer(&self, scale: u32) -> Option<i128> {
        if self.is_zero() {
            return Some(0);
        }
        // Power of ten of the last significant digit, after scaling.
        let last_power = i64::from(self.exponent) - (self.digits.len() as i64 - 1) + i64::from(scale);
        if last_power < 0 {
            return None;
        }
        let mut v: i128 = 0;
        for &d in self.digits.iter() {
            v = v.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
        }
        for _ in 0..last_power {
            v = v.checked_mul(10)?;
        }
        Some(if self.negative { -v } else { v })
    }

    /// Writes the normalised plain notation DynamoDB returns: no exponent, no superfluous zeros.
    fn write_plain(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if self.is_zero() {
            return out.write_char('0');
        }
        if self.negative {
            out.write_char('-')?;
        }
        let digits = &self.digits;
        let len = digits.len() as i64;
        let exp = i64::from(self.exponent);
        let ascii = |b: &[u8]| -> String { b.iter().map(|&d| char::from(d)).collect() };
        if exp < 0 {
            out.write_str("0.")?;
            for _ in 0..(-exp - 1) {
                out.write_char('0')?;
            }
            out.write_str(&ascii(digits))
        } else if exp >= len - 1 {
            out.write_str(&ascii(digits))?;
            for _ in 0..(exp - (len - 1)) {
                out.write_char('0')?;
            }
            Ok(())
        } else {
            let split = usize::try_from(exp + 1).unwrap_or(0);
            out.write_str(&ascii(&digits[..split]))?;
            out.write_char('.')?;
            out.write_str(&ascii(&digits[split..]))
        }
    }
}

fn truncate_for_message(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl FromStr for Number {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Number, NumberError> {
        Number::parse(s)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_plain(f)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Number {
        // An i64 has at most 19 digits: always in range.
        Number::parse(&v.to_string()).unwrap_or_else(|_| Number::zero())
    }
}

impl From<u64> for Number {
    fn from(v: u64) -> Number {
        Number::parse(&v.to_string()).unwrap_or_else(|_| Number::zero())
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        fn sign(n: &Number) -> i8 {
            match (n.is_zero(), n.negative) {
                (true, _) => 0,
                (false, true) => -1,
                (false, false) => 1,
            }
        }
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        let magnitude = self
            .exponent
            .cmp(&other.exponent)
            // No trailing zeros, so comparing digit strings compares the mantissas.
            .then_with(|| self.digits.cmp(&other.digits));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_to_dynamodb_plain_form() {
        for (input, out) in [
            ("1.0", "1"),
            ("-0", "0"),
            ("-0.000", "0"),
            ("0.50", "0.5"),
            ("1e3", "1000"),
            ("1E+3", "1000"),
            ("+5", "5"),
            (".5", "0.5"),
            ("5.", "5"),
            ("00012.3400", "12.34"),
            ("-12.5e-3", "-0.0125"),
            (
                "123456789012345678901234567890.12345678",
                "123456789012345678901234567890.12345678",
            ),
            ("0.1E1", "1"),
            ("100", "100"),
            ("1e-3", "0.001"),
        ] {
            assert_eq!(n(input).to_string(), out, "{input}");
        }
    }

    #[test]
    fn range_limits_are_dynamodbs() {
        let max = "9.9999999999999999999999999999999999999E+125";
        assert_eq!(n(max).exponent(), 125);
        assert_eq!(n(max).to_string().len(), 126);
        assert_eq!(n("1E-130").to_string(), format!("0.{}1", "0".repeat(129)));
        assert_eq!(Number::parse("1E+126"), Err(NumberError::Overflow));
        assert_eq!(Number::parse("-1E+126"), Err(NumberError::Overflow));
        assert_eq!(Number::parse("1E-131"), Err(NumberError::Underflow));
        assert_eq!(Number::parse("0E+999999999999999"), Ok(Number::zero()));
        assert_eq!(
            Number::parse("1e99999999999999999999999"),
            Err(NumberError::Overflow)
        );
        assert_eq!(
            Number::parse("1e-99999999999999999999999"),
            Err(NumberError::Underflow)
        );
    }

    #[test]
    fn thirty_eight_digits_are_exact_and_thirty_nine_are_refused() {
        let d38 = "12345678901234567890123456789012345678";
        assert_eq!(n(d38).to_string(), d38);
        assert_eq!(n(&format!("-{d38}")).to_string(), format!("-{d38}"));
        assert_eq!(n(&format!("0.{d38}")).to_string(), format!("0.{d38}"));
        assert_eq!(
            Number::parse(&format!("{d38}9")),
            Err(NumberError::TooManyDigits { digits: 39 })
        );
        // Trailing zeros are not significant.
        assert_eq!(n(&format!("{d38}000")).to_string(), format!("{d38}000"));
    }

    #[test]
    fn refuses_what_is_not_a_decimal() {
        for bad in [
            "NaN",
            "nan",
            "Infinity",
            "-Infinity",
            "inf",
            "0x10",
            "1e",
            "e3",
            ".",
            "-",
            "+",
            "1.2.3",
            " 1",
            "1 ",
            "1_000",
            "１",
            "--1",
            "1e+-3",
        ] {
            assert!(
                matches!(Number::parse(bad), Err(NumberError::Syntax(_))),
                "{bad:?}"
            );
        }
        assert_eq!(Number::parse(""), Err(NumberError::Empty));
    }

    #[test]
    fn orders_numerically() {
        let sorted = [
            "-1E+125", "-100", "-99.5", "-1", "-0.001", "0", "1E-130", "0.001", "0.5", "1", "1.5", "2", "10",
            "99", "100", "1E+125",
        ];
        for w in sorted.windows(2) {
            assert!(n(w[0]) < n(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(n("1.0").cmp(&n("1")), Ordering::Equal);
    }

    #[test]
    fn converts_to_integers_exactly() {
        assert_eq!(n("1e3").to_i64(), Some(1000));
        assert_eq!(n("-9223372036854775808").to_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775808").to_i64(), None);
        assert_eq!(n("1.5").to_i64(), None);
        assert_eq!(n("1.5").scaled_integer(3), Some(1500));
        assert_eq!(n("1700000000.123").scaled_integer(3), Some(1_700_000_000_123));
        assert_eq!(n("0.0001").scaled_integer(3), None);
        assert_eq!(Number::from(-42i64).to_string(), "-42");
    }
}
