//! DynamoDB stream records: the Lambda event (`{"Records":[…]}`) and the records of the Streams API's
//! GetRecords, which share one shape
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Record.html>).
//!
//! Images and keys decode through the exact DynamoDB-JSON codec (numbers and binary exact, unlike the
//! original's `JSON.parse`). `ApproximateCreationDateTime` is epoch seconds, possibly fractional; it becomes
//! exact milliseconds without passing through a float. Sequence numbers compare as the big integers they are.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DecodeError;
use crate::model::{Item, Number};
use crate::time::Millis;

/// A Lambda event from a DynamoDB stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    /// The records, in stream order.
    #[serde(rename = "Records")]
    pub records: Vec<StreamRecord>,
}

/// Parses a Lambda DynamoDB-stream event.
pub fn parse_event(text: &str) -> Result<StreamEvent, DecodeError> {
    serde_json::from_str(text).map_err(DecodeError::json)
}

/// One change on a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    /// Unique id of the record.
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// INSERT, MODIFY or REMOVE.
    pub event_name: EventName,
    /// Record format version (`1.1` on current streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_version: Option<String>,
    /// `aws:dynamodb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    /// The table's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// The stream's ARN (Lambda events only): `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`.
    #[serde(rename = "eventSourceARN", default, skip_serializing_if = "Option::is_none")]
    pub event_source_arn: Option<String>,
    /// The change itself.
    pub dynamodb: StreamChange,
    /// Who made the change: present for TTL deletions (`dynamodb.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<UserIdentity>,
}

impl StreamRecord {
    /// The source table's name, the part after `table/` in `eventSourceARN` (as the original took it).
    pub fn source_table(&self) -> Option<&str> {
        table_from_arn(self.event_source_arn.as_deref()?)
    }
}

/// The table name in a table or stream ARN: the path segment after `table/`.
pub fn table_from_arn(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":table/")?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// The `dynamodb` part of a stream record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamChange {
    /// When the change was made, to the second or better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_creation_date_time: Option<EpochTime>,
    /// The item's key attributes.
    pub keys: Item,
    /// The item after the change (NEW_IMAGE, NEW_AND_OLD_IMAGES; absent for REMOVE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_image: Option<Item>,
    /// The item before the change (OLD_IMAGE, NEW_AND_OLD_IMAGES; absent for INSERT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_image: Option<Item>,
    /// Position in the shard.
    pub sequence_number: SequenceNumber,
    /// Size of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// What the stream carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<StreamViewType>,
}

/// The kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventName {
    /// A new item.
    Insert,
    /// A changed item.
    Modify,
    /// A deleted item.
    Remove,
}

/// What a stream's records carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamViewType {
    /// Keys only.
    KeysOnly,
    /// The item after the change.
    NewImage,
    /// The item before the change.
    OldImage,
    /// Both.
    NewAndOldImages,
}

impl StreamViewType {
    /// Whether records carry the item after the change (what backup and replicate need).
    pub fn has_new_image(self) -> bool {
        matches!(self, StreamViewType::NewImage | StreamViewType::NewAndOldImages)
    }
}

/// `userIdentity`: Lambda events write `type`/`principalId`, GetRecords `Type`/`PrincipalId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdentity {
    /// `Service` for TTL deletions.
    #[serde(rename = "type", alias = "Type")]
    pub kind: String,
    /// `dynamodb.amazonaws.com` for TTL deletions.
    #[serde(rename = "principalId", alias = "PrincipalId")]
    pub principal_id: String,
}

/// A stream sequence number: a string of decimal digits (21 to 40 on AWS; tests use shorter ones), ordered
/// as the integer it spells.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SequenceNumber(String);

/// Longest sequence number accepted.
const MAX_SEQUENCE_DIGITS: usize = 40;

/// Why a text is not a sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sequence number {0:?}: expected 1 to 40 decimal digits")]
pub struct SequenceNumberError(String);

impl SequenceNumber {
    /// Parses 1 to 40 decimal digits.
    pub fn parse(text: &str) -> Result<SequenceNumber, SequenceNumberError> {
        if text.is_empty() || text.len() > MAX_SEQUENCE_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
            let shown: String = text.chars().take(48).collect();
            return Err(SequenceNumberError(shown));
        }
        Ok(SequenceNumber(text.to_owned()))
    }

    /// The digits as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn significant(&self) -> &str {
        let trimmed = self.0.trim_start_matches('0');
        if trimmed.is_empty() {
            "0"
        } else {
            trimmed
        }
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &SequenceNumber) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len()
            .cmp(&b.len())
            .then_with(|| a.cmp(b))
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &SequenceNumber) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SequenceNumber({})", self.0)
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SequenceNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SequenceNumber, D::Error> {
        let text = String::deserialize(deserializer)?;
        SequenceNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An instant in epoch seconds as the wire writes it (`1479499740` or `1479499740.123`), kept as exact
/// milliseconds (finer fractions are truncated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochTime(pub Millis);

impl EpochTime {
    /// Parses epoch seconds from decimal text, exactly. Negative or out-of-range times are refused.
    pub fn parse_seconds(text: &str) -> Option<EpochTime> {
        let n = Number::parse(text).ok()?;
        if n.is_negative() {
            return None;
        }
        let plain = n.to_string();
        let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
        let seconds: u64 = int.parse().ok()?;
        let mut ms = 0u64;
        for d in frac.bytes().chain(std::iter::repeat(b'0')).take(3) {
            ms = ms * 10 + u64::from(d - b'0');
        }
        Some(EpochTime(Millis(seconds.checked_mul(1000)?.checked_add(ms)?)))
    }
}

impl EpochTime {
    /// Epoch seconds as a stream writes them: `1479499740`, or `1479499740.120` with milliseconds.
    pub fn to_seconds_text(self) -> String {
        let ms = (self.0).0;
        if ms.is_multiple_of(1000) {
            format!("{}", ms / 1000)
        } else {
            format!("{}.{:03}", ms / 1000, ms % 1000)
        }
    }
}

impl Serialize for EpochTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.to_seconds_text().parse::<serde_json::Number>() {
            Ok(n) => n.serialize(serializer),
            Err(_) => serializer.serialize_u64((self.0).0 / 1000),
        }
    }
}

impl<'de> Deserialize<'de> for EpochTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EpochTime, D::Error> {
        let n = serde_json::Number::deserialize(deserializer)?;
        EpochTime::parse_seconds(&n.to_string())
            .ok_or_else(|| serde::de::Error::custom(format!("invalid epoch seconds {n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_integers() {
        let s = |t: &str| SequenceNumber::parse(t).unwrap();
        assert!(s("999") < s("1000"));
        assert!(s("000000000000000000001") < s("2"));
        assert!(s("111") < s("222"));
        assert!(SequenceNumber::parse("").is_err());
        assert!(SequenceNumber::parse("12a").is_err());
        assert!(SequenceNumber::parse(&"1".repeat(41)).is_err());
    }

    #[test]
    fn epoch_seconds_become_exact_milliseconds() {
        assert_eq!(
            EpochTime::parse_seconds("1479499740"),
            Some(EpochTime(Millis(1_479_499_740_000)))
        );
        assert_eq!(
            EpochTime::parse_seconds("1479499740.123"),
            Some(EpochTime(Millis(1_479_499_740_123)))
        );
        assert_eq!(
            EpochTime::parse_seconds("1479499740.1239"),
            Some(EpochTime(Millis(1_479_499_740_123)))
        );
        assert_eq!(
            EpochTime::parse_seconds("1.5e9"),
            Some(EpochTime(Millis(1_500_000_000_000)))
        );
        assert_eq!(EpochTime::parse_seconds("-1"), None);
        let json = serde_json::to_string(&EpochTime(Millis(1_479_499_740_120))).unwrap();
        assert_eq!(json, "1479499740.120");
        assert_eq!(
            EpochTime(Millis(1_479_499_740_000)).to_seconds_text(),
            "1479499740"
        );
    }

    #[test]
    fn table_name_comes_from_the_arn() {
        assert_eq!(
            table_from_arn("arn:aws:dynamodb:us-east-1:123456789012:table/fake"),
            Some("fake")
        );
        assert_eq!(
            table_from_arn("arn:aws:dynamodb:us-east-1:1:table/my-table/stream/2015-06-27T00:48:05.899"),
            Some("my-table")
        );
        assert_eq!(table_from_arn("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn a_bad_image_is_refused_with_its_path() {
        let text = r#"{"Records":[{"eventName":"INSERT","dynamodb":{"Keys":{"id":{"S":"a"}},
            "NewImage":{"id":{"S":"a"},"n":{"N":"1e999"}},"SequenceNumber":"1"}}]}"#;
        let e = parse_event(text).unwrap_err().to_string();
        assert!(e.contains("n.N: number magnitude larger"), "{e}");
    }
}
