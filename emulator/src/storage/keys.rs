//! Key columns: DynamoDB key values encoded so that SQLite's BLOB order (memcmp, shorter prefix first) is
//! DynamoDB's order, and the 32-bit partition hash that orders Scan and splits it into segments.
//!
//! Strings are their UTF-8 bytes and binary its bytes, which memcmp already orders as DynamoDB does. Numbers
//! are encoded sign first, then the exponent, then the digits (complemented, with a high terminator, for
//! negative numbers), so a byte comparison is a numeric comparison.

use ddbrep_engine::model::{Key, KeyValue, Number, MIN_EXPONENT};

/// The byte encoding of a key value; see the module comment.
pub fn encode(value: &KeyValue) -> Vec<u8> {
    match value {
        KeyValue::S(s) => s.as_bytes().to_vec(),
        KeyValue::B(b) => b.clone(),
        KeyValue::N(n) => encode_number(n),
    }
}

const NEGATIVE: u8 = 0x00;
const ZERO: u8 = 0x01;
const POSITIVE: u8 = 0x02;
/// After a negative number's complemented digits: sorts above every digit, so a shorter mantissa (smaller
/// magnitude) sorts later, as it must among negatives.
const NEGATIVE_END: u8 = 0xff;

fn encode_number(n: &Number) -> Vec<u8> {
    if n.is_zero() {
        return vec![ZERO];
    }
    // The exponent fits a byte: -130..=125 shifted to 0..=255.
    let exp = u8::try_from(n.exponent() - MIN_EXPONENT).unwrap_or(u8::MAX);
    let digits = n.significant_digits();
    let mut out = Vec::with_capacity(digits.len() + 3);
    if n.is_negative() {
        out.push(NEGATIVE);
        out.push(u8::MAX - exp);
        out.extend(digits.iter().map(|d| b'9' - d + b'0'));
        out.push(NEGATIVE_END);
    } else {
        out.push(POSITIVE);
        out.push(exp);
        out.extend_from_slice(digits);
    }
    out
}

/// The partition hash: FNV-1a over the encoded partition key, its top 32 bits. Scan walks items in hash
/// order, and segment `i` of `n` is the hash range `[i·2³²/n, (i+1)·2³²/n)`, so every item is in exactly one
/// segment and each segment is one contiguous range of the index.
pub fn partition_hash(encoded_partition: &[u8]) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h = OFFSET;
    for &b in encoded_partition {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    i64::from((h >> 32) as u32)
}

/// The hash range `[start, end)` of Scan segment `segment` of `total`.
pub fn segment_range(segment: u32, total: u32) -> (i64, i64) {
    let total = u64::from(total.max(1));
    let span = 1u64 << 32;
    let start = u64::from(segment) * span / total;
    let end = (u64::from(segment) + 1) * span / total;
    (start as i64, end as i64)
}

/// The encoded columns of a key: partition hash, partition key, sort key (empty without one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyColumns {
    /// Partition hash.
    pub h: i64,
    /// Encoded partition key.
    pub pk: Vec<u8>,
    /// Encoded sort key, empty for tables without one.
    pub sk: Vec<u8>,
}

impl KeyColumns {
    /// The columns of a key.
    pub fn of(key: &Key) -> KeyColumns {
        let pk = encode(&key.partition.value);
        let sk = key.sort.as_ref().map(|s| encode(&s.value)).unwrap_or_default();
        KeyColumns {
            h: partition_hash(&pk),
            pk,
            sk,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbrep_engine::testing;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn byte_order_is_dynamodb_order(a in testing::key_value(), b in testing::key_value()) {
            if a.scalar_type() == b.scalar_type() {
                prop_assert_eq!(encode(&a).cmp(&encode(&b)), a.cmp(&b));
            }
        }
    }

    #[test]
    fn numbers_encode_in_numeric_order() {
        let sorted = [
            "-1E+125", "-100", "-12.5", "-12", "-1.23", "-1.2", "-1", "-0.5", "0", "1E-130", "0.5", "1",
            "1.2", "1.23", "12", "100",
        ];
        let enc: Vec<_> = sorted
            .iter()
            .map(|s| encode(&KeyValue::N(Number::parse(s).unwrap())))
            .collect();
        for (w, names) in enc.windows(2).zip(sorted.windows(2)) {
            assert!(w[0] < w[1], "{} < {}", names[0], names[1]);
        }
    }

    #[test]
    fn segments_tile_the_hash_space() {
        for total in [1u32, 2, 3, 7, 1000, 1_000_000] {
            let mut previous_end = 0;
            for s in 0..total.min(50) {
                let (start, end) = segment_range(s, total);
                assert_eq!(
                    start, previous_end,
                    "segment {s} of {total} starts where the last ended"
                );
                assert!(start <= end);
                previous_end = end;
            }
            assert_eq!(segment_range(total - 1, total).1, 1i64 << 32);
        }
    }
}
