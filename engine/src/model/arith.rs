//! Exact decimal arithmetic on [`Number`], for update expressions (`SET a = a + :n`, `ADD a :n`). Pure; performs
//! no I/O.
//!
//! DynamoDB adds and subtracts exactly and refuses a result it cannot store: more than 38 significant digits,
//! or a magnitude outside 1E-130..9.99…E+125
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number>).
//! Operands are aligned on their decimal point as digit strings of at most ~300 digits, so no float and no
//! overflow is ever involved.

use std::cmp::Ordering;

use super::number::{Number, NumberError};

/// One operand as a sign, its digits and the power of ten of its first and last digit.
struct Aligned<'a> {
    negative: bool,
    digits: &'a [u8],
    first: i64,
    last: i64,
}

fn aligned(n: &Number) -> Aligned<'_> {
    let digits = n.significant_digits();
    let first = i64::from(n.exponent());
    Aligned {
        negative: n.is_negative(),
        digits,
        first,
        last: first - (digits.len() as i64 - 1),
    }
}

/// The magnitude as big-endian digit values (0..=9) covering powers `hi` down to `lo`.
fn magnitude(a: &Aligned<'_>, hi: i64, lo: i64) -> Vec<u8> {
    let width = usize::try_from(hi - lo + 1).unwrap_or(0);
    let mut out = vec![0u8; width];
    for (i, &d) in a.digits.iter().enumerate() {
        let power = a.first - i as i64;
        if let Ok(at) = usize::try_from(hi - power) {
            if let Some(slot) = out.get_mut(at) {
                *slot = d - b'0';
            }
        }
    }
    out
}

impl Number {
    /// `self + other`, exact; an error when the result is not a valid DynamoDB number.
    pub fn checked_add(&self, other: &Number) -> Result<Number, NumberError> {
        if other.is_zero() {
            return Ok(self.clone());
        }
        if self.is_zero() {
            return Ok(other.clone());
        }
        let (a, b) = (aligned(self), aligned(other));
        // One spare digit on top for a carry.
        let hi = a.first.max(b.first) + 1;
        let lo = a.last.min(b.last);
        let (ma, mb) = (magnitude(&a, hi, lo), magnitude(&b, hi, lo));
        let (negative, digits) = if a.negative == b.negative {
            (a.negative, add_magnitudes(&ma, &mb))
        } else {
            match ma.cmp(&mb) {
                Ordering::Equal => return Ok(Number::zero()),
                Ordering::Greater => (a.negative, sub_magnitudes(&ma, &mb)),
                Ordering::Less => (b.negative, sub_magnitudes(&mb, &ma)),
            }
        };
        let ascii: Vec<u8> = digits.iter().map(|d| d + b'0').collect();
        Number::from_digits(negative, &ascii, hi)
    }

    /// `self - other`, exact; an error when the result is not a valid DynamoDB number.
    pub fn checked_sub(&self, other: &Number) -> Result<Number, NumberError> {
        self.checked_add(&other.negated())
    }
}

/// Sum of two equal-width big-endian magnitudes whose top digit is 0 (so the carry fits).
fn add_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u8;
    for i in (0..a.len()).rev() {
        let s = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        if let Some(slot) = out.get_mut(i) {
            *slot = s % 10;
        }
        carry = s / 10;
    }
    out
}

/// `a - b` for equal-width big-endian magnitudes with `a > b`.
fn sub_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0u8;
    for i in (0..a.len()).rev() {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0) + borrow;
        let (d, next) = if x >= y { (x - y, 0) } else { (x + 10 - y, 1) };
        if let Some(slot) = out.get_mut(i) {
            *slot = d;
        }
        borrow = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    fn add(a: &str, b: &str) -> Result<String, NumberError> {
        n(a).checked_add(&n(b)).map(|r| r.to_string())
    }

    #[test]
    fn addition_is_exact_across_scales() {
        assert_eq!(add("0.1", "0.2").unwrap(), "0.3");
        assert_eq!(add("1", "-1").unwrap(), "0");
        assert_eq!(add("-5", "3").unwrap(), "-2");
        assert_eq!(add("999", "1").unwrap(), "1000");
        assert_eq!(
            add("1e20", "1e-17").unwrap(),
            "100000000000000000000.00000000000000001"
        );
        assert_eq!(n("10").checked_sub(&n("0.01")).unwrap().to_string(), "9.99");
        assert_eq!(n("-1.5").checked_sub(&n("-1.5")).unwrap().to_string(), "0");
    }

    #[test]
    fn results_dynamodb_cannot_store_are_errors() {
        assert_eq!(
            add("9.9999999999999999999999999999999999999E+125", "1E+88"),
            Err(NumberError::Overflow)
        );
        assert_eq!(
            add("1E+30", "1E-30"),
            Err(NumberError::TooManyDigits { digits: 61 })
        );
        assert_eq!(add("1.5E-130", "-1.4E-130"), Err(NumberError::Underflow));
        let d38 = "99999999999999999999999999999999999999";
        assert_eq!(add(d38, "1").unwrap(), format!("1{}", "0".repeat(38)));
    }
}
