//! Shard iterators: opaque tokens naming a stream, a shard, the next sequence number to read, and when the
//! iterator was issued (iterators expire after 15 minutes,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html>).

use base64::Engine as _;

/// How long a shard iterator stays valid.
pub const ITERATOR_LIFETIME_MS: u64 = 15 * 60 * 1000;

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A decoded shard iterator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIterator {
    /// Stream ARN.
    pub stream_arn: String,
    /// Shard id.
    pub shard_id: String,
    /// The next sequence counter value to read (inclusive).
    pub position: i64,
    /// When it was issued.
    pub issued_ms: u64,
}

impl ShardIterator {
    /// The token: the stream ARN in clear (as AWS's tokens start), then the encoded state.
    pub fn encode(&self, nonce: &str) -> String {
        let state = format!(
            "{}|{}|{}|{}|{nonce}",
            self.stream_arn, self.shard_id, self.position, self.issued_ms
        );
        format!("{}|1|{}", self.stream_arn, ENGINE.encode(state.as_bytes()))
    }

    /// Reads a token; `None` for anything that is not one of ours.
    pub fn decode(token: &str) -> Option<ShardIterator> {
        let (_, encoded) = token.rsplit_once("|1|")?;
        let state = String::from_utf8(ENGINE.decode(encoded).ok()?).ok()?;
        let mut parts = state.rsplitn(5, '|');
        let _nonce = parts.next()?;
        let issued_ms = parts.next()?.parse().ok()?;
        let position = parts.next()?.parse().ok()?;
        let shard_id = parts.next()?.to_owned();
        let stream_arn = parts.next()?.to_owned();
        Some(ShardIterator {
            stream_arn,
            shard_id,
            position,
            issued_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let it = ShardIterator {
            stream_arn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2020-01-01T00:00:00.000"
                .into(),
            shard_id: "shardId-00000000000000000000-abcdef01".into(),
            position: 42,
            issued_ms: 7,
        };
        assert_eq!(ShardIterator::decode(&it.encode("n0")), Some(it));
        assert_eq!(ShardIterator::decode("nonsense"), None);
        assert_eq!(ShardIterator::decode("x|1|!!!"), None);
    }
}
