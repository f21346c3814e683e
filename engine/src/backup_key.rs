//! The incremental-backup object key: `{prefix}/{table}/{sha256_hex(key_json)}`.
//!
//! `key_json` is the compact DynamoDB-JSON of the key attributes only, **sorted by attribute name**
//! (`{"hash":{"S":"a"},"range":{"N":"1"}}`), so every tool computes the same name for an item. The original
//! tool hashed composite keys in other orders in some code paths (its issue #90); [`legacy_key_jsons`] lists
//! those. Versions of the original before 2025-06-26 (v10.1.0) hashed with **MD5**, so
//! [`candidate_object_keys`] also lists the MD5 names, and the reading tools find objects any version wrote
//! (see DESIGN.md §5).

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::codec::ddb_json;
use crate::model::{Item, Key};

/// The hex SHA-256 of the key's canonical DynamoDB-JSON: the last segment of the object key.
pub fn key_hash(key: &Key) -> String {
    hash_key_json(&ddb_json::key_to_sorted_string(key))
}

/// The hex SHA-256 of a key's DynamoDB-JSON text.
pub fn hash_key_json(key_json: &str) -> String {
    hex::encode(Sha256::digest(key_json.as_bytes()))
}

/// The object key of an item's incremental backup: prefix, table and key hash joined with `/`, as the
/// original joined them (an empty prefix gives a leading `/`, a trailing `/` in the prefix a double one).
pub fn object_key(prefix: &str, table: &str, key: &Key) -> String {
    format!("{prefix}/{table}/{}", key_hash(key))
}

/// The key's DynamoDB-JSON in every attribute order the original may have hashed: the canonical sorted order
/// first, then schema order (partition, sort) and its reverse, without repeats.
pub fn legacy_key_jsons(key: &Key) -> Vec<String> {
    let mut out = vec![ddb_json::key_to_sorted_string(key)];
    let schema_order = key.to_item();
    let reversed: Item = schema_order
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for item in [schema_order, reversed] {
        let text = ddb_json::item_to_string(&item);
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out
}

/// Every object key an item's incremental backup may have: ours first (SHA-256 of the sorted key JSON), then
/// SHA-256 and MD5 of every key order the original used, without repeats. Readers look them up in order.
pub fn candidate_object_keys(prefix: &str, table: &str, key: &Key) -> Vec<String> {
    candidate_hashes(key)
        .into_iter()
        .map(|hash| format!("{prefix}/{table}/{hash}"))
        .collect()
}

/// The last segment of every name in [`candidate_object_keys`], ours first, without repeats.
pub fn candidate_hashes(key: &Key) -> Vec<String> {
    let jsons = legacy_key_jsons(key);
    let sha = jsons.iter().map(|json| hash_key_json(json));
    let md5 = jsons.iter().map(|json| hex::encode(Md5::digest(json.as_bytes())));
    let mut out: Vec<String> = Vec::new();
    for hash in sha.chain(md5) {
        if !out.contains(&hash) {
            out.push(hash);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ddb_json::parse_item;
    use crate::model::{KeySchema, ScalarType};

    // Digests computed by hand:
    //   printf '%s' '{"id":{"S":"abc"}}' | sha256sum
    //   printf '%s' '{"hash":{"S":"hash1"},"range":{"S":"range1"}}' | sha256sum
    const SINGLE: &str = "8f6d96a2442d76bb99e39f6d179ac31b313bf5e31bcd8caa62c44690bf465115";
    const COMPOSITE: &str = "cfcee5fcbaf9bc7e90dd0d14bd378fc5ffa31e0da398a1321601574c7da03ae4";

    #[test]
    fn single_key_hash_matches_sha256sum() {
        let schema = KeySchema::partition_only("id", ScalarType::S);
        let key = schema
            .key_of(&parse_item(r#"{"id":{"S":"abc"},"x":{"N":"1"}}"#).unwrap())
            .unwrap();
        assert_eq!(key_hash(&key), SINGLE);
        assert_eq!(
            object_key("backups", "fake", &key),
            format!("backups/fake/{SINGLE}")
        );
    }

    #[test]
    fn the_originals_md5_names_are_candidates_too() {
        let schema = KeySchema::partition_only("id", ScalarType::S);
        let key = schema
            .key_of(&parse_item(r#"{"id":{"S":"abc"}}"#).unwrap())
            .unwrap();
        // printf '%s' '{"id":{"S":"abc"}}' | md5sum
        assert_eq!(
            candidate_object_keys("p", "t", &key),
            [
                format!("p/t/{SINGLE}"),
                "p/t/d2baf5e1a571ca613f990e3c082d6092".to_owned()
            ]
        );
    }

    #[test]
    fn composite_key_hash_sorts_attribute_names() {
        let schema = KeySchema::composite("range", ScalarType::S, "hash", ScalarType::S);
        let item = parse_item(r#"{"range":{"S":"range1"},"hash":{"S":"hash1"}}"#).unwrap();
        let key = schema.key_of(&item).unwrap();
        assert_eq!(key_hash(&key), COMPOSITE);
        assert_eq!(
            legacy_key_jsons(&key),
            [
                r#"{"hash":{"S":"hash1"},"range":{"S":"range1"}}"#,
                r#"{"range":{"S":"range1"},"hash":{"S":"hash1"}}"#,
            ]
        );
    }
}
