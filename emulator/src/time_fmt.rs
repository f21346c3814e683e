//! Formatting instants for the wire: ISO-8601 stream labels and epoch seconds.

use ddbrep_engine::time::Millis;

/// `2015-06-27T00:48:05.899`: the form of DynamoDB's stream labels (UTC, no zone suffix).
pub fn stream_label(t: Millis) -> String {
    let mut text = t.to_rfc3339();
    text.pop(); // the `Z`
    text
}

/// Epoch seconds with milliseconds, as a JSON number (DynamoDB's timestamps on the JSON wire).
pub fn epoch_seconds(t: Millis) -> serde_json::Value {
    let text = if t.0.is_multiple_of(1000) {
        format!("{}", t.0 / 1000)
    } else {
        format!("{}.{:03}", t.0 / 1000, t.0 % 1000)
    };
    text.parse::<serde_json::Number>()
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// Whole epoch seconds, rounded down (stream records' ApproximateCreationDateTime).
pub fn epoch_whole_seconds(t: Millis) -> u64 {
    t.0 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_iso_8601() {
        assert_eq!(stream_label(Millis(0)), "1970-01-01T00:00:00.000");
        assert_eq!(stream_label(Millis(1_435_366_085_899)), "2015-06-27T00:48:05.899");
        assert_eq!(stream_label(Millis(951_782_400_000)), "2000-02-29T00:00:00.000");
    }

    #[test]
    fn epoch_seconds_keep_milliseconds() {
        assert_eq!(epoch_seconds(Millis(1_500)).to_string(), "1.500");
        assert_eq!(epoch_seconds(Millis(2_000)).to_string(), "2");
    }
}
