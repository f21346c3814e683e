//! The original's Lambda environment contract, parsed once into a typed [`Config`].
//!
//! Variables (all optional unless a handler needs them): `ReplicaTable`, `ReplicaRegion`, `ReplicaEndpoint`,
//! `ReplicaAccessKeyId`, `ReplicaSecretAccessKey` (the seed README's misspelling `ReplicaSecretAccesseKey` is
//! accepted too), `BackupBucket`, `BackupPrefix`, `BackupRegion`, and `TurnoverRole` (`BEFORE`/`AFTER`) with
//! `TurnoverAt` (epoch milliseconds), which keep only the records created before, or at and after, that
//! instant (by `ApproximateCreationDateTime`, epoch seconds). Beyond the original: `ReplicaRoleArn`
//! (cross-account access through STS AssumeRole) and `ReplicaTableMap` (`source=replica,source2=replica2`),
//! which picks the replica table by the event's source table so one deployment serves several tables;
//! `BackupRedeliveryCheck` (`true` by default; `false` writes every delivery again, as the original did,
//! saving the read the check costs per key and batch).

use std::collections::BTreeMap;

use ddbrep_engine::time::Millis;

/// Why the environment is not a usable configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A variable has a value that cannot be used.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A variable the handler needs is missing.
    #[error("environment variable {0} is required by the {1} handler")]
    Missing(&'static str, &'static str),
    /// One variable of a pair is set without the other.
    #[error("environment variables {0} and {1} must be set together")]
    Pair(&'static str, &'static str),
}

/// Static credentials for the replica (prefer `ReplicaRoleArn`).
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where the replicate handler writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// The replica table (when no table map applies).
    pub table: Option<String>,
    /// Source table → replica table.
    pub table_map: BTreeMap<String, String>,
    /// The replica's region.
    pub region: Option<String>,
    /// An endpoint override.
    pub endpoint: Option<String>,
    /// Static credentials.
    pub credentials: Option<StaticCredentials>,
    /// A role to assume for the replica.
    pub role_arn: Option<String>,
}

impl ReplicaConfig {
    /// The replica table for records of `source_table`: the map's entry, else `ReplicaTable`.
    pub fn table_for(&self, source_table: Option<&str>) -> Option<&str> {
        source_table
            .and_then(|s| self.table_map.get(s))
            .or(self.table.as_ref())
            .map(String::as_str)
    }
}

/// Where the backup handler writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (joined with `/` as the original did; may be empty).
    pub prefix: String,
    /// The bucket's region.
    pub region: Option<String>,
    /// Skip the changes a key's object already holds (a redelivered batch): `BackupRedeliveryCheck`.
    pub skip_delivered: bool,
}

/// Which side of a table turnover this deployment handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnoverRole {
    /// Only records created before the turnover instant.
    Before,
    /// Only records created at or after it.
    After,
}

/// A turnover filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turnover {
    /// The side.
    pub role: TurnoverRole,
    /// The instant, epoch milliseconds.
    pub at: Millis,
}

impl Turnover {
    /// Whether a record created at `created` (whole-second precision, as the stream gives it) is handled.
    /// The original compared `ApproximateCreationDateTime` seconds with three zeros appended to `TurnoverAt`.
    pub fn keeps(&self, created: Millis) -> bool {
        match self.role {
            TurnoverRole::Before => created < self.at,
            TurnoverRole::After => created >= self.at,
        }
    }
}

/// The whole environment contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Replica settings (`ReplicaTable` or `ReplicaTableMap` present).
    pub replica: Option<ReplicaConfig>,
    /// Backup settings (`BackupBucket` present).
    pub backup: Option<BackupConfig>,
    /// Turnover filter (`TurnoverRole` and `TurnoverAt` both present).
    pub turnover: Option<Turnover>,
}

impl Config {
    /// Reads the contract through `get` (the process environment in production, a map in tests).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Config, EnvError> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let table_map = match var("ReplicaTableMap") {
            None => BTreeMap::new(),
            Some(text) => parse_table_map(&text)?,
        };
        let table = var("ReplicaTable");
        let replica = if table.is_some() || !table_map.is_empty() {
            let key = var("ReplicaAccessKeyId");
            let secret = var("ReplicaSecretAccessKey").or_else(|| var("ReplicaSecretAccesseKey"));
            let credentials = match (key, secret) {
                (Some(access_key_id), Some(secret_access_key)) => Some(StaticCredentials {
                    access_key_id,
                    secret_access_key,
                }),
                (None, None) => None,
                _ => return Err(EnvError::Pair("ReplicaAccessKeyId", "ReplicaSecretAccessKey")),
            };
            Some(ReplicaConfig {
                table,
                table_map,
                region: var("ReplicaRegion"),
                endpoint: var("ReplicaEndpoint"),
                credentials,
                role_arn: var("ReplicaRoleArn"),
            })
        } else {
            None
        };
        let skip_delivered = match var("BackupRedeliveryCheck").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(EnvError::Invalid {
                    name: "BackupRedeliveryCheck",
                    value: other.to_owned(),
                    reason: "expected true or false",
                })
            }
        };
        let backup = var("BackupBucket").map(|bucket| BackupConfig {
            bucket,
            prefix: get("BackupPrefix").unwrap_or_default(),
            region: var("BackupRegion"),
            skip_delivered,
        });
        let turnover = match (var("TurnoverRole"), var("TurnoverAt")) {
            (None, None) => None,
            (Some(role), Some(at)) => {
                let role = match role.as_str() {
                    "BEFORE" => TurnoverRole::Before,
                    "AFTER" => TurnoverRole::After,
                    _ => {
                        return Err(EnvError::Invalid {
                            name: "TurnoverRole",
                            value: role,
                            reason: "expected BEFORE or AFTER",
                        })
                    }
                };
                let ms = at.parse::<u64>().map_err(|_| EnvError::Invalid {
                    name: "TurnoverAt",
                    value: at.clone(),
                    reason: "expected epoch milliseconds",
                })?;
                Some(Turnover { role, at: Millis(ms) })
            }
            _ => return Err(EnvError::Pair("TurnoverRole", "TurnoverAt")),
        };
        Ok(Config {
            replica,
            backup,
            turnover,
        })
    }

    /// The replica settings, or the error the replicate handler reports.
    pub fn require_replica(&self) -> Result<&ReplicaConfig, EnvError> {
        self.replica
            .as_ref()
            .ok_or(EnvError::Missing("ReplicaTable", "replicate"))
    }

    /// The backup settings, or the error the backup handler reports.
    pub fn require_backup(&self) -> Result<&BackupConfig, EnvError> {
        self.backup
            .as_ref()
            .ok_or(EnvError::Missing("BackupBucket", "backup"))
    }
}

fn parse_table_map(text: &str) -> Result<BTreeMap<String, String>, EnvError> {
    let invalid = || EnvError::Invalid {
        name: "ReplicaTableMap",
        value: text.to_owned(),
        reason: "expected source=replica pairs separated by commas",
    };
    let mut map = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (source, replica) = pair.split_once('=').ok_or_else(invalid)?;
        let (source, replica) = (source.trim(), replica.trim());
        if source.is_empty()
            || replica.is_empty()
            || map.insert(source.to_owned(), replica.to_owned()).is_some()
        {
            return Err(invalid());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, EnvError> {
        let map: BTreeMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn the_originals_variables_are_read() {
        let c = config(&[
            ("ReplicaTable", "replica"),
            ("ReplicaRegion", "eu-west-1"),
            ("ReplicaEndpoint", "http://localhost:8000"),
            ("ReplicaAccessKeyId", "AKID"),
            ("ReplicaSecretAccessKey", "secret"),
            ("BackupBucket", "bucket"),
            ("BackupPrefix", "incremental"),
            ("BackupRegion", "us-east-1"),
            ("TurnoverRole", "AFTER"),
            ("TurnoverAt", "1479499740000"),
        ])
        .unwrap();
        let replica = c.require_replica().unwrap();
        assert_eq!(replica.table_for(Some("anything")), Some("replica"));
        assert_eq!(replica.endpoint.as_deref(), Some("http://localhost:8000"));
        assert_eq!(replica.credentials.as_ref().unwrap().secret_access_key, "secret");
        assert!(
            !format!("{:?}", replica.credentials).contains("secret"),
            "secrets never print"
        );
        assert_eq!(c.require_backup().unwrap().prefix, "incremental");
        assert!(c.require_backup().unwrap().skip_delivered);
        let turnover = c.turnover.unwrap();
        assert!(turnover.keeps(Millis(1_479_499_740_000)));
        assert!(!turnover.keeps(Millis(1_479_499_739_000)));
    }

    #[test]
    fn the_seed_readmes_misspelling_is_accepted() {
        let c = config(&[
            ("ReplicaTable", "r"),
            ("ReplicaAccessKeyId", "A"),
            ("ReplicaSecretAccesseKey", "s"),
        ])
        .unwrap();
        assert_eq!(
            c.require_replica()
                .unwrap()
                .credentials
                .as_ref()
                .unwrap()
                .secret_access_key,
            "s"
        );
    }

    #[test]
    fn a_table_map_picks_the_replica_by_source_table() {
        let c = config(&[
            ("ReplicaTableMap", "orders=orders-replica, users=users-replica"),
            ("ReplicaTable", "fallback"),
        ])
        .unwrap();
        let r = c.require_replica().unwrap();
        assert_eq!(r.table_for(Some("users")), Some("users-replica"));
        assert_eq!(r.table_for(Some("other")), Some("fallback"));
        assert!(config(&[("ReplicaTableMap", "orders")]).is_err());
        assert!(config(&[("ReplicaTableMap", "a=b,a=c")]).is_err());
    }

    #[test]
    fn half_pairs_and_bad_values_are_errors_that_name_the_variable() {
        assert_eq!(
            config(&[("TurnoverRole", "BEFORE")]),
            Err(EnvError::Pair("TurnoverRole", "TurnoverAt"))
        );
        let e = config(&[("TurnoverRole", "DURING"), ("TurnoverAt", "1")]).unwrap_err();
        assert!(e.to_string().contains("TurnoverRole=\"DURING\""));
        assert!(config(&[("TurnoverRole", "BEFORE"), ("TurnoverAt", "soon")]).is_err());
        assert_eq!(
            config(&[("ReplicaTable", "r"), ("ReplicaAccessKeyId", "A")]),
            Err(EnvError::Pair("ReplicaAccessKeyId", "ReplicaSecretAccessKey"))
        );
        assert_eq!(
            config(&[]).unwrap().require_backup(),
            Err(EnvError::Missing("BackupBucket", "backup"))
        );
    }
}
