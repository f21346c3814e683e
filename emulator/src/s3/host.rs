//! Virtual-host-style addressing: `bucket.<domain>[:port]` names the bucket in the host; any other host
//! (`localhost:8000`, an IP address, another name) is path style.
//!
//! s3s's own `SingleDomain` needs the port in the domain and treats every unknown host as a bucket name
//! (CNAME style), which would turn `127.0.0.1.nip.io`-like or container host names into buckets. This one
//! matches the configured domain with any port and falls back to path style.

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

/// Parses `Host` against one domain.
#[derive(Debug, Clone)]
pub struct DomainHost {
    domain: String,
}

impl DomainHost {
    /// `domain` without a port, e.g. `localhost`.
    pub fn new(domain: &str) -> DomainHost {
        DomainHost {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    /// The bucket named by a `Host` header, if it is virtual-host style.
    pub fn bucket_of<'h>(&self, host: &'h str) -> Option<&'h str> {
        let name = strip_port(host);
        let suffix_len = self.domain.len() + 1;
        if name.len() <= suffix_len {
            return None;
        }
        let at = name.len() - suffix_len;
        if !name.is_char_boundary(at) {
            return None;
        }
        let (bucket, suffix) = name.split_at(at);
        let matches = suffix.starts_with('.') && suffix[1..].eq_ignore_ascii_case(&self.domain);
        matches.then_some(bucket)
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host; // an IPv6 literal: never a bucket
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

impl S3Host for DomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(self.domain.as_str()).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subdomain_of_the_domain_names_the_bucket() {
        let h = DomainHost::new("localhost");
        assert_eq!(h.bucket_of("photos.localhost:8000"), Some("photos"));
        assert_eq!(
            h.bucket_of("my.dotted.bucket.localhost"),
            Some("my.dotted.bucket")
        );
        assert_eq!(h.bucket_of("localhost:8000"), None);
        assert_eq!(h.bucket_of("127.0.0.1:8000"), None);
        assert_eq!(h.bucket_of("example.com"), None);
        assert_eq!(h.bucket_of("xlocalhost"), None);
    }
}
