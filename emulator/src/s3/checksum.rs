//! Upload integrity: which checksums a request asks for (headers, `aws-chunked` trailers, the SDK's
//! algorithm header), computing them while the body streams, and checking them and `Content-MD5` at the end.
//!
//! S3 answers `BadDigest` when a checksum or `Content-MD5` does not match the bytes, and stores the
//! checksums of every algorithm it computed; without any request, it computes CRC64NVME ("S3 adds a default
//! CRC64NVME checksum to new objects", Checking object integrity in the S3 user guide). The digests come
//! from s3s's `ChecksumHasher`.

use base64::Engine as _;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::{s3_error, S3Error};

use super::body::Trailers;
use crate::storage::objects::Checksums;

/// A checksum algorithm S3 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC32.
    Crc32,
    /// CRC32C.
    Crc32c,
    /// CRC64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The header (and trailer) carrying it.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    fn parse(name: &str) -> Option<Algorithm> {
        let name = name.trim();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name) || a.header().eq_ignore_ascii_case(name))
    }

    fn get(self, c: &Checksums) -> Option<&String> {
        match self {
            Algorithm::Crc32 => c.crc32.as_ref(),
            Algorithm::Crc32c => c.crc32c.as_ref(),
            Algorithm::Crc64Nvme => c.crc64nvme.as_ref(),
            Algorithm::Sha1 => c.sha1.as_ref(),
            Algorithm::Sha256 => c.sha256.as_ref(),
        }
    }
}

/// Where a claimed checksum value comes from.
#[derive(Debug, Clone)]
enum Claim {
    /// Sent as a header, before the body.
    Header(String),
    /// Announced in `x-amz-trailer`, sent after the body.
    Trailer,
}

/// What to compute and check for one upload.
pub struct Plan {
    claims: Vec<(Algorithm, Claim)>,
    content_md5: Option<Vec<u8>>,
    hasher: ChecksumHasher,
}

impl Plan {
    /// Reads the request's checksum headers. `Content-MD5` that is not base64 of 16 bytes is refused with
    /// `InvalidDigest`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Plan, S3Error> {
        let mut claims = Vec::new();
        for a in Algorithm::ALL {
            if let Some(v) = headers.get(a.header()).and_then(|v| v.to_str().ok()) {
                claims.push((a, Claim::Header(v.trim().to_owned())));
            }
        }
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            for name in trailer.split(',') {
                if let Some(a) = Algorithm::parse(name) {
                    claims.push((a, Claim::Trailer));
                }
            }
        }
        let mut wanted: Vec<Algorithm> = claims.iter().map(|(a, _)| *a).collect();
        for name in ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"] {
            if let Some(a) = headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(Algorithm::parse)
            {
                wanted.push(a);
            }
        }
        if wanted.is_empty() {
            wanted.push(Algorithm::Crc64Nvme);
        }
        let content_md5 = match headers.get("content-md5") {
            None => None,
            Some(v) => {
                let digest = base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .ok()
                    .filter(|d| d.len() == 16)
                    .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))?;
                Some(digest)
            }
        };
        Ok(Plan {
            claims,
            content_md5,
            hasher: hasher_for(&wanted),
        })
    }

    /// Feeds body bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Checks the claims against what was computed (trailers are read now, after the body) and `md5`
    /// against `Content-MD5`; returns the checksums to store.
    pub fn finish(self, md5: &[u8], trailers: Option<&Trailers>) -> Result<Checksums, S3Error> {
        if let Some(expected) = &self.content_md5 {
            if expected.as_slice() != md5 {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        let computed = to_checksums(self.hasher.finalize());
        for (a, claim) in &self.claims {
            let claimed = match claim {
                Claim::Header(v) => Some(v.clone()),
                Claim::Trailer => trailers.and_then(|t| t.get(a.header())),
            };
            let Some(claimed) = claimed else {
                return Err(s3_error!(
                    InvalidRequest,
                    "The {} trailer announced in x-amz-trailer was not sent.",
                    a.header()
                ));
            };
            if a.get(&computed) != Some(&claimed) {
                return Err(s3_error!(
                    BadDigest,
                    "The {} you specified did not match the calculated checksum.",
                    a.name()
                ));
            }
        }
        Ok(computed)
    }
}

fn hasher_for(wanted: &[Algorithm]) -> ChecksumHasher {
    let mut h = ChecksumHasher::default();
    for a in wanted {
        match a {
            Algorithm::Crc32 => h.crc32 = Some(Crc32::new()),
            Algorithm::Crc32c => h.crc32c = Some(Crc32c::new()),
            Algorithm::Crc64Nvme => h.crc64nvme = Some(Crc64Nvme::new()),
            Algorithm::Sha1 => h.sha1 = Some(Sha1::new()),
            Algorithm::Sha256 => h.sha256 = Some(Sha256::new()),
        }
    }
    h
}

fn to_checksums(c: s3s::dto::Checksum) -> Checksums {
    Checksums {
        crc32: c.checksum_crc32,
        crc32c: c.checksum_crc32c,
        crc64nvme: c.checksum_crc64nvme,
        sha1: c.checksum_sha1,
        sha256: c.checksum_sha256,
    }
}

/// An MD5 being computed.
pub struct Md5Hasher(Md5);

impl Default for Md5Hasher {
    fn default() -> Self {
        Md5Hasher(Md5::new())
    }
}

impl Md5Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        self.0.finalize().as_ref().to_vec()
    }
}

/// The MD5 of `data`.
pub fn md5(data: &[u8]) -> Vec<u8> {
    Md5::checksum(data).as_ref().to_vec()
}

/// The checksums of a multipart object: for each algorithm every part has, the checksum of the parts'
/// decoded checksums concatenated, suffixed `-N` (S3's composite checksum).
pub fn composite(parts: &[&Checksums]) -> Checksums {
    let mut out = Checksums::default();
    let n = parts.len();
    for a in Algorithm::ALL {
        let mut raw = Vec::new();
        let mut complete = n > 0;
        for p in parts {
            match a
                .get(p)
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            {
                Some(bytes) => raw.extend_from_slice(&bytes),
                None => complete = false,
            }
        }
        if !complete {
            continue;
        }
        let mut h = hasher_for(&[a]);
        h.update(&raw);
        let whole = to_checksums(h.finalize());
        let value = a.get(&whole).map(|v| format!("{v}-{n}"));
        match a {
            Algorithm::Crc32 => out.crc32 = value,
            Algorithm::Crc32c => out.crc32c = value,
            Algorithm::Crc64Nvme => out.crc64nvme = value,
            Algorithm::Sha1 => out.sha1 = value,
            Algorithm::Sha256 => out.sha256 = value,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_checksum_that_does_not_match_is_a_bad_digest() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-checksum-crc32", "AAAAAA==".parse().unwrap());
        let mut plan = Plan::from_headers(&h).unwrap();
        plan.update(b"hello");
        let err = plan.finish(&md5(b"hello"), None).unwrap_err();
        assert_eq!(err.code().as_str(), "BadDigest");
    }

    #[test]
    fn a_matching_crc32_is_stored_and_crc64nvme_is_the_default() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-checksum-crc32", "NhCmhg==".parse().unwrap()); // crc32("hello")
        let mut plan = Plan::from_headers(&h).unwrap();
        plan.update(b"hello");
        let sums = plan.finish(&md5(b"hello"), None).unwrap();
        assert_eq!(sums.crc32.as_deref(), Some("NhCmhg=="));
        let mut plan = Plan::from_headers(&HeaderMap::new()).unwrap();
        plan.update(b"hello");
        assert!(plan.finish(&md5(b"hello"), None).unwrap().crc64nvme.is_some());
    }
}
