//! SDK configuration: region, credentials and endpoint from a location, the flags and the environment.
//!
//! Endpoint, first found: the table location's own (`host:port/table`, `local/table`); `--endpoint-url`;
//! `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_S3`; `AWS_ENDPOINT_URL`; else AWS's. Region: the
//! location's (`us-east-1/table`); `--region`; the usual chain (`AWS_REGION`, the profile); else, for a
//! custom endpoint, `us-east-1`. Credentials: the usual chain (environment, `--profile` / `AWS_PROFILE`,
//! SSO, web identity, container and instance roles); for a loopback endpoint (the emulator) with no keys
//! in the environment and no profile named, fixed dummy keys, since the emulator reads but never checks
//! signatures. S3 on a custom endpoint uses path-style addressing.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// How to reach AWS (or a local endpoint), from the global flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
}

/// Which service a client is for (each has its own endpoint variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// DynamoDB.
    DynamoDb,
    /// S3.
    S3,
    /// CloudWatch (`--metric`): only `AWS_ENDPOINT_URL_CLOUDWATCH` overrides it, since the emulator that
    /// `--endpoint-url` usually names has no CloudWatch.
    CloudWatch,
}

impl Service {
    fn env_var(self) -> &'static str {
        match self {
            Service::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
            Service::S3 => "AWS_ENDPOINT_URL_S3",
            Service::CloudWatch => "AWS_ENDPOINT_URL_CLOUDWATCH",
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint a client for `service` uses, if not AWS's.
pub fn endpoint(service: Service, location: Option<&str>, connection: &Connection) -> Option<String> {
    if service == Service::CloudWatch {
        return env(service.env_var());
    }
    location
        .map(str::to_owned)
        .or_else(|| connection.endpoint_url.clone())
        .or_else(|| env(service.env_var()))
        .or_else(|| env("AWS_ENDPOINT_URL"))
}

/// Whether an endpoint is on this machine (`localhost`, `127.x.x.x`, `[::1]`).
pub fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.starts_with("127.")
        || host == "::1"
}

/// Loads the SDK configuration for one client.
pub async fn load(
    service: Service,
    region: Option<&str>,
    location_endpoint: Option<&str>,
    connection: &Connection,
) -> SdkConfig {
    let endpoint = endpoint(service, location_endpoint, connection);
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &connection.profile {
        loader = loader.profile_name(profile);
    }
    let configured = connection.profile.is_some()
        || ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"]
            .iter()
            .any(|v| env(v).is_some());
    let region = region
        .map(str::to_owned)
        .or_else(|| connection.region.clone())
        .or_else(|| {
            // A custom endpoint without a region anywhere: any region does; skip the lookup (and its IMDS
            // timeouts off EC2).
            (endpoint.is_some() && !configured).then(|| "us-east-1".to_owned())
        });
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = &endpoint {
        loader = loader.endpoint_url(endpoint);
        let named_credentials = connection.profile.is_some()
            || env("AWS_PROFILE").is_some()
            || env("AWS_ACCESS_KEY_ID").is_some();
        if is_loopback(endpoint) && !named_credentials {
            loader = loader.credentials_provider(Credentials::new(
                "ddbrep-local",
                "ddbrep-local",
                None,
                None,
                "ddbrep-local-endpoint",
            ));
        }
    }
    let config = loader.load().await;
    if config.region().is_none() && (endpoint.is_some() || service != Service::DynamoDb) {
        return config.into_builder().region(Region::new("us-east-1")).build();
    }
    config
}

/// A DynamoDB client.
pub async fn dynamodb(
    region: Option<&str>,
    location_endpoint: Option<&str>,
    connection: &Connection,
) -> aws_sdk_dynamodb::Client {
    let config = load(Service::DynamoDb, region, location_endpoint, connection).await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A CloudWatch client in `region` (or the configured one).
pub async fn cloudwatch(region: Option<&str>, connection: &Connection) -> aws_sdk_cloudwatch::Client {
    let config = load(Service::CloudWatch, region, None, connection).await;
    aws_sdk_cloudwatch::Client::new(&config)
}

/// An S3 client in `region` (or the configured one), path-style on a custom endpoint.
pub async fn s3(region: Option<&str>, connection: &Connection) -> aws_sdk_s3::Client {
    let custom = endpoint(Service::S3, None, connection).is_some();
    let config = load(Service::S3, region, None, connection).await;
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(custom)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_recognised() {
        for local in [
            "http://localhost:8000",
            "http://127.0.0.1:4566/",
            "http://[::1]:8000",
            "localhost",
            "http://s3.localhost:8000",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "https://dynamodb.us-east-1.amazonaws.com",
            "http://10.0.0.1:8000",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }

    #[test]
    fn the_locations_endpoint_comes_first() {
        let connection = Connection {
            endpoint_url: Some("http://flag:1".into()),
            ..Connection::default()
        };
        assert_eq!(
            endpoint(Service::DynamoDb, Some("http://localhost:9"), &connection).as_deref(),
            Some("http://localhost:9")
        );
        assert_eq!(
            endpoint(Service::DynamoDb, None, &connection).as_deref(),
            Some("http://flag:1")
        );
    }
}
