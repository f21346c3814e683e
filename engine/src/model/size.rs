//! Item size as DynamoDB counts it, for the 400 KB limit and for capacity units.
//!
//! The rules of "Item sizes and formats"
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>):
//! - each attribute counts its name's UTF-8 length plus its value;
//! - S: UTF-8 length; B: byte length; NULL and BOOL: 1 byte;
//! - N: "approximately 1 byte per two significant digits, plus 1 byte". We count what that approximates, a
//!   base-100 mantissa aligned on the decimal point (so `1.5` is two centesimal digits, `15` one) plus one
//!   exponent byte, plus one byte for a negative number's terminator;
//! - L and M: 3 bytes of overhead plus 1 byte per element, plus the elements (and, for M, their names);
//! - SS, NS, BS: the sum of their members' sizes.

use super::item::Item;
use super::number::Number;
use super::value::Value;

/// DynamoDB's maximum item size, 400 KB
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items>).
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// Overhead of a list or map, whatever its contents.
const CONTAINER_OVERHEAD: usize = 3;
/// Overhead of each list or map element.
const ELEMENT_OVERHEAD: usize = 1;

/// The size of an item: every attribute name plus its value.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// The size of one value, without its attribute name.
pub fn value_size(value: &Value) -> usize {
    match value {
        Value::S(s) => s.len(),
        Value::N(n) => number_size(n),
        Value::B(b) => b.len(),
        Value::Ss(set) => set.iter().map(String::len).sum(),
        Value::Ns(set) => set.iter().map(number_size).sum(),
        Value::Bs(set) => set.iter().map(Vec::len).sum(),
        Value::M(map) => {
            CONTAINER_OVERHEAD
                + map
                    .iter()
                    .map(|(k, v)| k.len() + value_size(v) + ELEMENT_OVERHEAD)
                    .sum::<usize>()
        }
        Value::L(list) => {
            CONTAINER_OVERHEAD
                + list
                    .iter()
                    .map(|v| value_size(v) + ELEMENT_OVERHEAD)
                    .sum::<usize>()
        }
        Value::Null | Value::Bool(_) => 1,
    }
}

/// The size of a number: its base-100 digits (aligned on the decimal point), one exponent byte, and one more
/// byte when negative.
pub fn number_size(n: &Number) -> usize {
    if n.is_zero() {
        return 1;
    }
    let first = i64::from(n.exponent());
    let last = first - (n.significant_digits().len() as i64 - 1);
    let centesimal_digits = first.div_euclid(2) - last.div_euclid(2) + 1;
    let sign = usize::from(n.is_negative());
    usize::try_from(centesimal_digits).unwrap_or(0) + 1 + sign
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> usize {
        number_size(&Number::parse(s).unwrap())
    }

    #[test]
    fn numbers_take_one_byte_per_two_digits_plus_one() {
        assert_eq!(n("0"), 1);
        assert_eq!(n("1"), 2);
        assert_eq!(n("12"), 2);
        assert_eq!(n("123"), 3);
        assert_eq!(n("1234"), 3);
        assert_eq!(n("1.5"), 3); // 01.50: two centesimal digits
        assert_eq!(n("-1"), 3);
        assert_eq!(n("1000000"), 2);
        assert_eq!(n("12345678901234567890123456789012345678"), 20);
    }

    #[test]
    fn containers_have_three_bytes_plus_one_per_element() {
        let item: Item = [
            ("s", Value::from("abc")),                             // 1 + 3
            ("l", Value::L(vec![Value::Null, Value::Bool(true)])), // 1 + 3 + 2*(1+1)
            (
                "m",
                Value::M([("k".to_owned(), Value::from("v"))].into_iter().collect()),
            ), // 1 + 3 + (1+1+1)
            ("ss", Value::Ss(vec!["ab".into(), "c".into()])),      // 2 + 3
        ]
        .into_iter()
        .collect();
        assert_eq!(item_size(&item), 4 + 8 + 7 + 5);
    }
}
