//! Image references: `[registry[:port]/]repository[:tag][@digest]`, normalised
//! as Docker does (`busybox` → `docker.io/library/busybox:latest`).

use std::fmt;
use std::str::FromStr;

/// The registry of references that name none.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `localhost:5000`, `docker.io`, `ghcr.io` …
    pub registry: String,
    /// `library/busybox`, `team/app` …
    pub repository: String,
    /// Absent only when a digest is given.
    pub tag: Option<String>,
    /// `sha256:…`
    pub digest: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {reference:?}: {why}")]
pub struct ReferenceError {
    pub reference: String,
    pub why: String,
}

impl Reference {
    /// Tag or digest as used in a registry URL (`/v2/<repo>/manifests/<this>`).
    pub fn tag_or_digest(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The host to talk to: Docker Hub's API lives at `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// Plain HTTP is used only for loopback registries, as Docker does.
    pub fn insecure(&self) -> bool {
        let host = self.registry.rsplit_once(':').map_or(self.registry.as_str(), |(h, _)| h);
        host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host.starts_with("127.")
    }

    /// The same image under another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        let err = |why: &str| ReferenceError { reference: s.to_string(), why: why.to_string() };
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("contains whitespace or control characters"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let (algo, hex) = d.split_once(':').ok_or_else(|| err("digest must look like sha256:<hex>"))?;
                if algo.is_empty() || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(err("digest must look like sha256:<hex>"));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A registry is the first component if it has a dot, a colon, or is "localhost".
        let (registry, path) = match rest.split_once('/') {
            Some((first, tail)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_string(), tail)
            }
            _ => (DEFAULT_REGISTRY.to_string(), rest),
        };
        // The tag is after the last ':' of the path (registry ports were split off above).
        let (repo, tag) = match path.rsplit_once(':') {
            Some((r, t)) => (r, Some(t.to_string())),
            None => (path, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(err("tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -"));
            }
        }
        if repo.is_empty() || repo.split('/').any(|c| c.is_empty()) {
            return Err(err("empty repository name component"));
        }
        let valid = |c: &str| {
            c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !repo.split('/').all(valid) {
            return Err(err("repository must be lowercase letters, digits and . _ - separated by /"));
        }
        let repository = if registry == DEFAULT_REGISTRY && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo.to_string()
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(Reference { registry, repository, tag, digest })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(parse("busybox").to_string(), "docker.io/library/busybox:latest");
        assert_eq!(parse("team/app:1.2").to_string(), "docker.io/team/app:1.2");
        let r = parse("localhost:5000/mnist:1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "mnist", Some("1"))
        );
        assert!(r.insecure());
        assert_eq!(parse("localhost/x").registry, "localhost");
        assert_eq!(parse("ghcr.io/a/b/c").tag_or_digest(), "latest");
        assert!(!parse("ghcr.io/a/b").insecure());
        assert_eq!(parse("busybox").api_host(), "registry-1.docker.io");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("localhost:5000/x@{d}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_digest(), d);
        let r = parse(&format!("x:1@{d}"));
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert!("x@sha256:zz".parse::<Reference>().is_err());
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["", "UPPER", "a b", "x:", "x:-bad", "/x", "x//y", "x:tag with space", "a\nb"] {
            assert!(bad.parse::<Reference>().is_err(), "{bad:?} should be rejected");
        }
    }
}
