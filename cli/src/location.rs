//! Where a tool reads and writes: table locations (`region/table`, `host:port/table`, `localhost:port/table`,
//! `local/table`) and S3 locations (`s3://bucket/prefix`), as the original's command line took them
//! (its `parse-location.js`), plus `local` for the emulator's default endpoint.

use std::fmt;
use std::str::FromStr;

/// The emulator's default endpoint, meant by `local/table`.
pub const LOCAL_ENDPOINT: &str = "http://localhost:8000";

/// Why a location does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// Not `something/table`.
    #[error("invalid table location {0:?}: expected region/table, host:port/table or local/table")]
    Table(String),
    /// Not `s3://bucket[/prefix]`.
    #[error("invalid S3 location {0:?}: expected s3://bucket/prefix")]
    S3(String),
}

/// A DynamoDB table and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLocation {
    /// The region (`None` for a local endpoint, where any region does).
    pub region: Option<String>,
    /// An endpoint override (`http://host:port`), for local servers.
    pub endpoint: Option<String>,
    /// The table name.
    pub table: String,
}

impl FromStr for TableLocation {
    type Err = LocationError;
    fn from_str(text: &str) -> Result<TableLocation, LocationError> {
        let bad = || LocationError::Table(text.to_owned());
        let (place, table) = text.rsplit_once('/').ok_or_else(bad)?;
        if place.is_empty() || table.is_empty() || place.contains('/') {
            return Err(bad());
        }
        if place == "local" {
            return Ok(TableLocation {
                region: None,
                endpoint: Some(LOCAL_ENDPOINT.into()),
                table: table.into(),
            });
        }
        if let Some((host, port)) = place.rsplit_once(':') {
            let local_host = host.eq_ignore_ascii_case("localhost") || is_ipv4(host);
            if !local_host
                || port.is_empty()
                || !port.bytes().all(|b| b.is_ascii_digit())
                || port.parse::<u16>().is_err()
            {
                return Err(bad());
            }
            return Ok(TableLocation {
                region: None,
                endpoint: Some(format!("http://{place}")),
                table: table.into(),
            });
        }
        if !place.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad());
        }
        Ok(TableLocation {
            region: Some(place.into()),
            endpoint: None,
            table: table.into(),
        })
    }
}

impl fmt::Display for TableLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.endpoint, &self.region) {
            (Some(endpoint), _) => write!(f, "{}/{}", endpoint.trim_start_matches("http://"), self.table),
            (None, Some(region)) => write!(f, "{region}/{}", self.table),
            (None, None) => f.write_str(&self.table),
        }
    }
}

fn is_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// An S3 bucket and key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl FromStr for S3Location {
    type Err = LocationError;
    fn from_str(text: &str) -> Result<S3Location, LocationError> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| LocationError::S3(text.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(LocationError::S3(text.to_owned()));
        }
        Ok(S3Location {
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
        })
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> TableLocation {
        text.parse().unwrap()
    }

    #[test]
    fn regions_local_endpoints_and_the_emulator_are_told_apart() {
        assert_eq!(
            table("us-east-1/orders"),
            TableLocation {
                region: Some("us-east-1".into()),
                endpoint: None,
                table: "orders".into()
            }
        );
        assert_eq!(
            table("127.0.0.1:8000/t").endpoint.as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            table("localhost:4567/t").endpoint.as_deref(),
            Some("http://localhost:4567")
        );
        assert_eq!(table("local/t").endpoint.as_deref(), Some(LOCAL_ENDPOINT));
        assert_eq!(table("local/t").region, None);
        assert_eq!(table("eu-west-1/a.b-c_d").table, "a.b-c_d");
    }

    #[test]
    fn malformed_locations_are_refused() {
        for bad in [
            "orders",
            "/orders",
            "us-east-1/",
            "a/b/c",
            "example.com:80/t",
            "localhost:/t",
            "localhost:99999/t",
            "us east/t",
        ] {
            assert!(bad.parse::<TableLocation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn s3_locations_split_bucket_and_prefix() {
        let s3: S3Location = "s3://bucket/some/prefix/".parse().unwrap();
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("bucket", "some/prefix")
        );
        let bare: S3Location = "s3://bucket".parse().unwrap();
        assert_eq!(bare.prefix, "");
        assert!("bucket/prefix".parse::<S3Location>().is_err());
        assert!("s3:///x".parse::<S3Location>().is_err());
    }
}
