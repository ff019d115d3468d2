//! Connecting to a Docker Engine, pinned to API 1.41 (Engine 20.10, the
//! oldest Engine Ferry supports; newer Engines still serve 1.41).

use bollard::{ClientVersion, Docker};
use ferry_core::{ErrorKind, RuntimeError, RuntimeKind};

/// The Engine API version Ferry speaks.
pub const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 41 };

/// Where Docker listens when neither the context nor `DOCKER_HOST` says.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Seconds a single Engine request may take. Long on purpose: `stop` waits
/// out the grace period and a followed log stays open as long as it runs.
const REQUEST_TIMEOUT_SECS: u64 = 24 * 3600;

/// The Engine address for a context: its `docker_host`, else `DOCKER_HOST`,
/// else the local socket.
pub fn host_for(context_host: Option<&str>) -> String {
    context_host
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

/// A client for `host` (`unix://…`, `tcp://…` or `http://…`). Does not talk
/// to the daemon yet.
pub fn connect(host: &str) -> Result<Docker, RuntimeError> {
    let fail = |why: String| {
        RuntimeError::Unavailable(format!(
            "cannot connect to Docker at {host}: {why} (set the context's --docker-host or DOCKER_HOST)"
        ))
    };
    if let Some(path) = host.strip_prefix("unix://") {
        if !std::path::Path::new(path).exists() {
            return Err(fail(format!("no socket at {path}; is dockerd running?")));
        }
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, &API_VERSION).map_err(|e| fail(e.to_string()))
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, &API_VERSION).map_err(|e| fail(e.to_string()))
    } else {
        Err(fail("unsupported address (expected unix:///path or tcp://host:port)".into()))
    }
}

/// Whether the Engine lives on this machine (its cgroups and processes are ours to read).
pub fn is_local(host: &str) -> bool {
    host.starts_with("unix://")
}

/// The HTTP status of an Engine error, if it is one.
pub fn status_code(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The kind of an Engine error: from its HTTP status when the Engine
/// answered, else (no connection, a broken stream, a timeout) `Unavailable`.
pub fn kind_of(e: &bollard::errors::Error) -> ErrorKind {
    match status_code(e) {
        Some(404) => ErrorKind::NotFound,
        Some(304 | 409) => ErrorKind::Conflict,
        Some(400) => ErrorKind::Invalid,
        Some(_) => ErrorKind::Internal,
        None => match e {
            bollard::errors::Error::JsonDataError { .. } | bollard::errors::Error::JsonSerdeError { .. } => {
                ErrorKind::Internal
            }
            _ => ErrorKind::Unavailable,
        },
    }
}

/// An Engine error while `doing` something, kind kept (see [`kind_of`]).
pub fn failed(doing: impl std::fmt::Display, e: &bollard::errors::Error) -> RuntimeError {
    RuntimeError::backend(kind_of(e), format!("docker: {doing}: {}", message(e)))
}

/// An Engine error for `native_id`: 404 becomes `NotFound`, the rest `Backend`
/// with what was being done.
pub fn engine_error(doing: &str, native_id: &str) -> impl FnOnce(bollard::errors::Error) -> RuntimeError {
    let doing = doing.to_owned();
    let native_id = native_id.to_owned();
    move |e| {
        if status_code(&e) == Some(404) {
            RuntimeError::NotFound { runtime: RuntimeKind::Docker, native_id: native_id.clone() }
        } else {
            failed(format_args!("{doing} {}", short(&native_id)), &e)
        }
    }
}

/// The daemon's own words for an error, without bollard's prefix; for a
/// connection that failed, the system's reason (`Connection refused`)
/// instead of the HTTP client's "client error (Connect)".
pub fn message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        bollard::errors::Error::HyperLegacyError { .. } => {
            let mut root: &dyn std::error::Error = e;
            while let Some(next) = root.source() {
                root = next;
            }
            format!("cannot connect: {root}")
        }
        other => other.to_string(),
    }
}

/// The first 12 characters of a container id, as `docker ps` shows.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_host_wins_over_the_environment() {
        assert_eq!(host_for(Some("tcp://10.0.0.1:2375")), "tcp://10.0.0.1:2375");
        assert!(!host_for(None).is_empty());
    }

    /// An Engine that cannot be reached is `Unavailable` (a server answers
    /// 503 and a client may retry), not an internal error.
    #[tokio::test]
    async fn an_engine_that_does_not_listen_is_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let docker = connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let e = docker.ping().await.unwrap_err();
        assert_eq!(kind_of(&e), ErrorKind::Unavailable, "{e:?}");
        assert_eq!(failed("pinging", &e).kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn bad_addresses_are_explained() {
        let e = connect("ssh://host").unwrap_err().to_string();
        assert!(e.contains("unsupported address"), "{e}");
        let e = connect("unix:///nonexistent/docker.sock").unwrap_err().to_string();
        assert!(e.contains("no socket at /nonexistent/docker.sock"), "{e}");
    }
}
