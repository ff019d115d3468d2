//! Registry credentials from Docker's config (`$DOCKER_CONFIG/config.json`,
//! default `~/.docker/config.json`), as written by `docker login`.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// Username and password (or token) for one registry. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: auths.{registry}.auth is not base64 of user:password")]
    BadAuth { path: PathBuf, registry: String },
}

/// Where Docker keeps its client config.
pub fn docker_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker/config.json")
}

/// Credentials for `registry` from the config at `path`; `Ok(None)` when the
/// file or the entry does not exist (anonymous access).
pub fn credentials_for(path: &Path, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
    let body = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CredentialsError::Read { path: path.into(), source }),
    };
    let config: serde_json::Value =
        serde_json::from_slice(&body).map_err(|source| CredentialsError::Json { path: path.into(), source })?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else { return Ok(None) };
    // Docker Hub is stored under its legacy URL.
    let keys: Vec<String> = if registry == "docker.io" {
        vec!["https://index.docker.io/v1/".into(), "docker.io".into(), "index.docker.io".into()]
    } else {
        vec![registry.into(), format!("https://{registry}"), format!("http://{registry}")]
    };
    let Some(entry) = keys.iter().find_map(|k| auths.get(k.as_str()).or_else(|| auths.get(&format!("{k}/")))) else {
        return Ok(None);
    };
    let bad = || CredentialsError::BadAuth { path: path.into(), registry: registry.into() };
    if let (Some(u), Some(p)) =
        (entry.get("username").and_then(|v| v.as_str()), entry.get("password").and_then(|v| v.as_str()))
    {
        return Ok(Some(Credentials { username: u.into(), password: p.into() }));
    }
    let Some(auth) = entry.get("auth").and_then(|v| v.as_str()) else { return Ok(None) };
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (u, p) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some(Credentials { username: u.into(), password: p.into() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_login_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        std::fs::write(
            &path,
            format!(r#"{{"auths":{{"localhost:5000":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
        let c = credentials_for(&path, "localhost:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("alice", "s3cr:et"));
        assert!(credentials_for(&path, "docker.io").unwrap().is_some());
        assert!(credentials_for(&path, "ghcr.io").unwrap().is_none());
        assert!(!format!("{c:?}").contains("s3cr"));
        assert!(credentials_for(&dir.path().join("missing.json"), "x").unwrap().is_none());
        std::fs::write(&path, r#"{"auths":{"r":{"auth":"!!"}}}"#).unwrap();
        assert!(credentials_for(&path, "r").is_err());
    }
}
