//! Contexts: named runtime configurations (`ferry context create|ls|use|rm|show`).
//!
//! Layout under the config directory (`$XDG_CONFIG_HOME/ferry/` in production):
//!
//! ```text
//! config.toml            current = "<name>"   (other keys are preserved)
//! contexts/<name>.toml   one file per context, mode 0600
//! ```
//!
//! The built-in [`DEFAULT_CONTEXT`] (local runtime, no settings) always exists,
//! is never written to disk and can be neither replaced nor removed, so Ferry
//! works on a fresh machine with no configuration at all.
//!
//! Secrets are referenced, never stored: a context names a file
//! ([`ContextSettings::password_file`]) or an environment variable
//! ([`ContextSettings::password_env`]) that holds the secret, and
//! [`ContextSettings::password`] reads it only when a runtime needs it.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RuntimeKind;

/// Name of the built-in context: local runtime, no daemon.
pub const DEFAULT_CONTEXT: &str = "default";

/// Longest context name accepted (a DNS label, so it can name cluster objects).
pub const MAX_NAME_LEN: usize = 63;

/// One named runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub name: String,
    pub runtime: RuntimeKind,
    #[serde(default)]
    pub settings: ContextSettings,
}

/// Runtime-specific settings; each runtime reads the ones it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSettings {
    /// Docker: `unix:///var/run/docker.sock` or `tcp://host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_host: Option<String>,
    /// Kubernetes: kubeconfig path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Slurm: `user@login-host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir_root: Option<String>,
    /// OCI: the runtime binary (`runc`, `crun`, a path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_runtime: Option<String>,
    /// Server: the Ferry server's URL (`http://host:8470`); its token is read
    /// from `password_file` or `password_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Path of a file holding a secret (registry or cluster password, token).
    /// Only the path is stored; the secret itself never is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// Name of an environment variable holding a secret. Only the variable's
    /// name is stored; its value never is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

impl ContextSettings {
    /// Each setting, set or not, and the runtimes that read it (the first is named
    /// in a refusal).
    fn each(&self) -> [(&'static str, bool, &'static [RuntimeKind]); 12] {
        use RuntimeKind::*;
        [
            ("docker_host", self.docker_host.is_some(), &[Docker]),
            ("kubeconfig", self.kubeconfig.is_some(), &[Kubernetes]),
            ("kube_context", self.kube_context.is_some(), &[Kubernetes]),
            ("namespace", self.namespace.is_some(), &[Kubernetes]),
            ("ssh", self.ssh.is_some(), &[Slurm]),
            ("partition", self.partition.is_some(), &[Slurm]),
            ("account", self.account.is_some(), &[Slurm]),
            ("workdir_root", self.workdir_root.is_some(), &[Slurm]),
            ("oci_runtime", self.oci_runtime.is_some(), &[Oci]),
            ("server", self.server.is_some(), &[Server]),
            // A Slurm login node's password; a Ferry server's API token.
            ("password_file", self.password_file.is_some(), &[Slurm, Server]),
            ("password_env", self.password_env.is_some(), &[Slurm, Server]),
        ]
    }

    /// Refuse a setting that `runtime` would not read: a context that
    /// silently ignores `--ssh` runs somewhere else than its author meant.
    pub fn check_for(&self, runtime: RuntimeKind) -> Result<()> {
        match self.each().into_iter().find(|(_, set, readers)| *set && !readers.contains(&runtime)) {
            Some((setting, _, readers)) => Err(ContextError::SettingNotRead { setting, reader: readers[0], runtime }),
            None => Ok(()),
        }
    }
}

impl Context {
    pub fn builtin_default() -> Context {
        Context { name: DEFAULT_CONTEXT.into(), runtime: RuntimeKind::Local, settings: Default::default() }
    }

    pub fn is_builtin(&self) -> bool {
        self.name == DEFAULT_CONTEXT
    }
}

impl ContextSettings {
    /// Read the referenced secret, if the context references one.
    ///
    /// `password_file` wins over `password_env`; a trailing newline in the file
    /// is dropped (editors add one). Called only when a runtime needs the
    /// secret, so it is never copied into Ferry's own files.
    pub fn password(&self) -> Result<Option<String>, ContextError> {
        if let Some(file) = &self.password_file {
            let path = PathBuf::from(file);
            let text = std::fs::read_to_string(&path).map_err(|source| ContextError::Io {
                action: "cannot read the password file",
                path,
                source,
            })?;
            let secret = text.strip_suffix('\n').unwrap_or(&text);
            let secret = secret.strip_suffix('\r').unwrap_or(secret);
            return Ok(Some(secret.to_owned()));
        }
        if let Some(var) = &self.password_env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(ContextError::MissingSecret { var: var.clone() }),
            };
        }
        Ok(None)
    }
}

/// Which rule picked the context in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextSource {
    /// `--context NAME` on the command line.
    Flag,
    /// The `FERRY_CONTEXT` environment variable.
    Env,
    /// `current` in `config.toml`, set by `ferry context use`.
    Config,
    /// Nothing chose one: the built-in `default`.
    Default,
}

impl fmt::Display for ContextSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextSource::Flag => "--context",
            ContextSource::Env => "FERRY_CONTEXT",
            ContextSource::Config => "`ferry context use`",
            ContextSource::Default => "built-in default",
        })
    }
}

/// The context in force and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub context: Context,
    pub source: ContextSource,
}

/// Why a context operation failed, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("invalid context name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    #[error("{}", not_found_message(name, suggestion.as_deref(), *selected_by))]
    NotFound { name: String, suggestion: Option<String>, selected_by: Option<ContextSource> },
    #[error("context {name:?} already exists (remove it first with: ferry context rm {name})")]
    AlreadyExists { name: String },
    #[error("the built-in context {:?} cannot be {action}", DEFAULT_CONTEXT)]
    Builtin { action: &'static str },
    #[error("context {name:?} is in use; switch first with: ferry context use {}", DEFAULT_CONTEXT)]
    InUse { name: String },
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write context {name:?}: {source}")]
    Serialize {
        name: String,
        #[source]
        source: toml::ser::Error,
    },
    #[error(
        "{setting} is a setting of {reader} contexts; a {runtime} context does not read it (leave it out, or use --runtime {reader})"
    )]
    SettingNotRead { setting: &'static str, reader: RuntimeKind, runtime: RuntimeKind },
    #[error("the context references the environment variable {var} for its secret, but it is not set")]
    MissingSecret { var: String },
}

impl ContextError {
    /// What kind of failure this is, for a protocol's status code.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            ContextError::NotFound { .. } => ErrorKind::NotFound,
            ContextError::AlreadyExists { .. } | ContextError::InUse { .. } => ErrorKind::Conflict,
            ContextError::InvalidName { .. }
            | ContextError::Builtin { .. }
            | ContextError::Parse { .. }
            | ContextError::Invalid { .. }
            | ContextError::SettingNotRead { .. }
            | ContextError::MissingSecret { .. } => ErrorKind::Invalid,
            ContextError::Io { source, .. } => ErrorKind::of_io(source),
            ContextError::Serialize { .. } => ErrorKind::Internal,
        }
    }
}

fn not_found_message(name: &str, suggestion: Option<&str>, selected_by: Option<ContextSource>) -> String {
    let mut m = format!("no context named {name:?}");
    if let Some(src) = selected_by {
        m.push_str(&format!(" (selected by {src})"));
    }
    match suggestion {
        Some(s) => m.push_str(&format!("; did you mean {s:?}?")),
        None => m.push_str("; see: ferry context ls"),
    }
    m
}

pub type Result<T, E = ContextError> = std::result::Result<T, E>;

/// Check a context name: it becomes a file name, so it must not escape the
/// directory, and it may name cluster objects, so it stays DNS-label sized.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |why| Err(ContextError::InvalidName { name: name.to_owned(), why });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("it is longer than 63 characters");
    }
    let mut bytes = name.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_alphanumeric()) {
        return invalid("it must start with a letter or digit");
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return invalid("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

/// The closest candidate to `query`, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(query: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .filter(|c| *c != query)
        .map(|c| (strsim::jaro_winkler(query, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_owned())
}

/// Contexts on disk. Cheap to create: nothing is read or written until asked.
#[derive(Debug, Clone)]
pub struct ContextStore {
    dir: PathBuf,
}

/// What a context file holds. The file name is the context's name; a `name`
/// key is written for people reading the file and must agree with it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    runtime: RuntimeKind,
    #[serde(default)]
    settings: ContextSettings,
}

impl ContextStore {
    /// Use `dir` (normally [`crate::paths::config_dir`]); it is created on first write.
    pub fn open(dir: PathBuf) -> ContextStore {
        ContextStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn contexts_dir(&self) -> PathBuf {
        self.dir.join("contexts")
    }

    fn context_path(&self, name: &str) -> PathBuf {
        self.contexts_dir().join(format!("{name}.toml"))
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// Names of the contexts on disk, sorted, without reading their files
    /// (so one broken file does not hide the others' names).
    fn stored_names(&self) -> Result<Vec<String>> {
        let dir = self.contexts_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ContextError::Io { action: "cannot list contexts in", path: dir, source }),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ContextError::Io {
                action: "cannot list contexts in",
                path: dir.clone(),
                source,
            })?;
            let file_name = entry.file_name();
            let Some(stem) = file_name.to_str().and_then(|f| f.strip_suffix(".toml")) else { continue };
            // Temp files, hand-made oddities and a stray default.toml are not contexts.
            if stem == DEFAULT_CONTEXT || validate_name(stem).is_err() {
                continue;
            }
            names.push(stem.to_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Every context: `default` first, then the others by name.
    pub fn list(&self) -> Result<Vec<Context>> {
        let mut out = vec![Context::builtin_default()];
        for name in self.stored_names()? {
            out.push(self.read(&name)?);
        }
        Ok(out)
    }

    /// One context by name; suggests a close name when there is none.
    pub fn get(&self, name: &str) -> Result<Context> {
        if name == DEFAULT_CONTEXT {
            return Ok(Context::builtin_default());
        }
        if validate_name(name).is_ok() && self.context_path(name).is_file() {
            return self.read(name);
        }
        Err(self.not_found(name))
    }

    fn not_found(&self, name: &str) -> ContextError {
        let mut names = self.stored_names().unwrap_or_default();
        names.push(DEFAULT_CONTEXT.to_owned());
        ContextError::NotFound {
            name: name.to_owned(),
            suggestion: did_you_mean(name, names.iter().map(String::as_str)),
            selected_by: None,
        }
    }

    fn read(&self, name: &str) -> Result<Context> {
        let path = self.context_path(name);
        let text = std::fs::read_to_string(&path).map_err(|source| ContextError::Io {
            action: "cannot read",
            path: path.clone(),
            source,
        })?;
        let file: ContextFile =
            toml::from_str(&text).map_err(|e| ContextError::Parse { path: path.clone(), source: Box::new(e) })?;
        if let Some(inner) = &file.name {
            if inner != name {
                return Err(ContextError::Invalid {
                    path,
                    why: format!("the file says name = {inner:?} but is named after {name:?}; make them agree"),
                });
            }
        }
        Ok(Context { name: name.to_owned(), runtime: file.runtime, settings: file.settings })
    }

    /// Save a new context. Never replaces an existing one (nor `default`).
    pub fn create(&self, ctx: Context) -> Result<()> {
        if ctx.name == DEFAULT_CONTEXT {
            return Err(ContextError::Builtin { action: "replaced" });
        }
        validate_name(&ctx.name)?;
        ctx.settings.check_for(ctx.runtime)?;
        let file = ContextFile { name: Some(ctx.name.clone()), runtime: ctx.runtime, settings: ctx.settings };
        let text = toml::to_string_pretty(&file)
            .map_err(|source| ContextError::Serialize { name: ctx.name.clone(), source })?;
        let path = self.context_path(&ctx.name);
        match write_atomic(&path, text.as_bytes(), false) {
            Err(ContextError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(ContextError::AlreadyExists { name: ctx.name })
            }
            other => other,
        }
    }

    /// Whether [`ContextStore::remove`] would remove `name`: not the built-in
    /// context, not the current one, and it exists. Asked before anything is
    /// done to the context's workloads.
    pub fn check_removable(&self, name: &str) -> Result<()> {
        if name == DEFAULT_CONTEXT {
            return Err(ContextError::Builtin { action: "removed" });
        }
        if validate_name(name).is_err() || !self.context_path(name).is_file() {
            return Err(self.not_found(name));
        }
        if self.current_name()? == name {
            return Err(ContextError::InUse { name: name.to_owned() });
        }
        Ok(())
    }

    /// Delete a context. Refuses `default` and the one `ferry context use` chose.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.check_removable(name)?;
        let path = self.context_path(name);
        std::fs::remove_file(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => self.not_found(name),
            _ => ContextError::Io { action: "cannot remove", path, source },
        })
    }

    /// Make `name` the current context (it must exist and be readable).
    pub fn use_context(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let path = self.config_path();
        let mut table = self.read_config()?;
        table.insert("current".into(), toml::Value::String(name.to_owned()));
        let text = toml::to_string_pretty(&table)
            .map_err(|source| ContextError::Serialize { name: name.to_owned(), source })?;
        write_atomic(&path, text.as_bytes(), true)
    }

    /// `config.toml` as a table; empty if there is none. Kept whole so keys
    /// added by later versions survive `ferry context use`.
    fn read_config(&self) -> Result<toml::Table> {
        let path = self.config_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(toml::Table::new()),
            Err(source) => return Err(ContextError::Io { action: "cannot read", path, source }),
        };
        text.parse::<toml::Table>().map_err(|e| ContextError::Parse { path, source: Box::new(e) })
    }

    /// The name chosen with `ferry context use`, or `default`.
    pub fn current_name(&self) -> Result<String> {
        match self.read_config()?.get("current") {
            None => Ok(DEFAULT_CONTEXT.to_owned()),
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(ContextError::Invalid {
                path: self.config_path(),
                why: format!("`current` must be a context name (a string), found {}", other.type_str()),
            }),
        }
    }

    /// The context in force: `--context` flag, else `FERRY_CONTEXT` (passed in
    /// as `env`; empty means unset), else `ferry context use`, else `default`.
    pub fn resolve(&self, flag: Option<&str>, env: Option<&str>) -> Result<Resolved> {
        let (name, source) = if let Some(f) = flag {
            (f.to_owned(), ContextSource::Flag)
        } else if let Some(e) = env.filter(|e| !e.is_empty()) {
            (e.to_owned(), ContextSource::Env)
        } else {
            let current = self.current_name()?;
            if current == DEFAULT_CONTEXT && !self.read_config()?.contains_key("current") {
                (current, ContextSource::Default)
            } else {
                (current, ContextSource::Config)
            }
        };
        match self.get(&name) {
            Ok(context) => Ok(Resolved { context, source }),
            Err(ContextError::NotFound { name, suggestion, .. }) => {
                Err(ContextError::NotFound { name, suggestion, selected_by: Some(source) })
            }
            Err(e) => Err(e),
        }
    }
}

/// Write `bytes` to `path` so readers see the old file or the new one, never
/// half of one: a 0600 temp file in the same directory, fsynced, then renamed
/// (or, with `overwrite == false`, hard-linked, which fails if `path` exists,
/// so two concurrent `create`s cannot both win).
fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| ContextError::Io { action, path: p, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(io("cannot create directory", dir))?;
    let file_name = path.file_name().and_then(|f| f.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{file_name}.{}.{:08x}.tmp", std::process::id(), rand::random::<u32>()));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io("cannot create", &tmp))?;
        f.write_all(bytes).map_err(io("cannot write", &tmp))?;
        f.sync_all().map_err(io("cannot write", &tmp))?;
        drop(f);
        if overwrite {
            std::fs::rename(&tmp, path).map_err(io("cannot replace", path))
        } else {
            std::fs::hard_link(&tmp, path).map_err(io("cannot create", path))
        }
    })();
    // After a rename the temp name is gone; after a link (or a failure) remove it.
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Create `dir` and its parents, new ones readable by the owner only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContextStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ContextStore::open(dir.path().join("ferry"));
        (dir, s)
    }

    fn docker(name: &str) -> Context {
        Context {
            name: name.into(),
            runtime: RuntimeKind::Docker,
            settings: ContextSettings { docker_host: Some("unix:///var/run/docker.sock".into()), ..Default::default() },
        }
    }

    #[test]
    fn a_setting_the_runtime_does_not_read_is_refused() {
        let (_d, s) = store();
        let mut ctx = docker("lonely");
        ctx.runtime = RuntimeKind::Local;
        ctx.settings = ContextSettings { ssh: Some("me@login".into()), ..Default::default() };
        let e = s.create(ctx.clone()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ssh is a setting of slurm contexts; a local context does not read it (leave it out, or use --runtime slurm)"
        );
        ctx.runtime = RuntimeKind::Docker;
        ctx.settings = ContextSettings { oci_runtime: Some("runc".into()), ..Default::default() };
        assert!(matches!(s.create(ctx.clone()), Err(ContextError::SettingNotRead { setting: "oci_runtime", .. })));
        assert!(!s.context_path("lonely").exists(), "a refused context was written");
        ctx.runtime = RuntimeKind::Oci;
        s.create(ctx).unwrap();
    }

    #[test]
    fn fresh_store_has_only_default_and_writes_nothing() {
        let (_d, s) = store();
        assert_eq!(s.list().unwrap(), vec![Context::builtin_default()]);
        assert_eq!(s.get("default").unwrap(), Context::builtin_default());
        assert_eq!(s.current_name().unwrap(), "default");
        assert!(!s.dir().exists(), "reading must not create the config dir");
    }

    #[test]
    fn create_get_list_round_trip() {
        let (_d, s) = store();
        s.create(docker("zeta")).unwrap();
        s.create(docker("alpha")).unwrap();
        let names: Vec<_> = s.list().unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["default", "alpha", "zeta"]);
        assert_eq!(s.get("alpha").unwrap(), docker("alpha"));
    }

    #[test]
    fn duplicate_create_is_refused_and_keeps_the_original() {
        let (_d, s) = store();
        s.create(docker("dock")).unwrap();
        let mut other = docker("dock");
        other.settings.docker_host = Some("tcp://elsewhere:2375".into());
        let err = s.create(other).unwrap_err();
        assert!(matches!(err, ContextError::AlreadyExists { .. }), "{err:?}");
        assert_eq!(err.to_string(), r#"context "dock" already exists (remove it first with: ferry context rm dock)"#);
        assert_eq!(s.get("dock").unwrap(), docker("dock"));
    }

    #[test]
    fn default_cannot_be_created_or_removed() {
        let (_d, s) = store();
        let err = s.create(docker("default")).unwrap_err();
        assert!(matches!(err, ContextError::Builtin { action: "replaced" }), "{err:?}");
        let err = s.remove("default").unwrap_err();
        assert!(matches!(err, ContextError::Builtin { action: "removed" }), "{err:?}");
        assert!(err.to_string().contains("cannot be removed"));
    }

    #[test]
    fn invalid_names_are_refused() {
        let (_d, s) = store();
        for bad in ["", "-x", ".hidden", "..", "a/b", "a b", "é", &"x".repeat(64)] {
            let err = s.create(docker(bad)).unwrap_err();
            assert!(matches!(err, ContextError::InvalidName { .. }), "{bad:?}: {err:?}");
        }
        for good in ["a", "A1", "my_ctx.v2-prod", &"x".repeat(63)] {
            s.create(docker(good)).unwrap();
        }
    }

    #[test]
    fn remove_in_use_is_refused_until_switched() {
        let (_d, s) = store();
        s.create(docker("dock")).unwrap();
        s.use_context("dock").unwrap();
        let err = s.remove("dock").unwrap_err();
        assert!(matches!(err, ContextError::InUse { .. }), "{err:?}");
        assert_eq!(err.to_string(), r#"context "dock" is in use; switch first with: ferry context use default"#);
        s.use_context("default").unwrap();
        s.remove("dock").unwrap();
        assert!(matches!(s.get("dock"), Err(ContextError::NotFound { .. })));
        assert!(matches!(s.remove("dock"), Err(ContextError::NotFound { .. })));
    }

    #[test]
    fn use_requires_an_existing_context() {
        let (_d, s) = store();
        assert!(matches!(s.use_context("nope"), Err(ContextError::NotFound { .. })));
        assert_eq!(s.current_name().unwrap(), "default");
    }

    #[test]
    fn use_keeps_other_config_keys() {
        let (_d, s) = store();
        s.create(docker("dock")).unwrap();
        std::fs::write(s.dir().join("config.toml"), "theme = \"dark\"\ncurrent = \"default\"\n").unwrap();
        s.use_context("dock").unwrap();
        let text = std::fs::read_to_string(s.dir().join("config.toml")).unwrap();
        assert!(text.contains("theme = \"dark\""), "{text}");
        assert_eq!(s.current_name().unwrap(), "dock");
    }

    #[test]
    fn resolution_precedence_flag_env_config_default() {
        let (_d, s) = store();
        for n in ["flagged", "enved", "used"] {
            s.create(docker(n)).unwrap();
        }
        let r = s.resolve(None, None).unwrap();
        assert_eq!((r.context.name.as_str(), r.source), ("default", ContextSource::Default));

        s.use_context("used").unwrap();
        let r = s.resolve(None, None).unwrap();
        assert_eq!((r.context.name.as_str(), r.source), ("used", ContextSource::Config));
        // An empty FERRY_CONTEXT counts as unset.
        let r = s.resolve(None, Some("")).unwrap();
        assert_eq!(r.source, ContextSource::Config);

        let r = s.resolve(None, Some("enved")).unwrap();
        assert_eq!((r.context.name.as_str(), r.source), ("enved", ContextSource::Env));

        let r = s.resolve(Some("flagged"), Some("enved")).unwrap();
        assert_eq!((r.context.name.as_str(), r.source), ("flagged", ContextSource::Flag));

        // Choosing `default` explicitly with `use` still reports the config as the source.
        s.use_context("default").unwrap();
        let r = s.resolve(None, None).unwrap();
        assert_eq!((r.context.name.as_str(), r.source), ("default", ContextSource::Config));
    }

    #[test]
    fn resolving_a_missing_context_says_who_chose_it() {
        let (_d, s) = store();
        s.create(docker("staging")).unwrap();
        let err = s.resolve(None, Some("stagin")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("FERRY_CONTEXT"), "{msg}");
        assert!(msg.contains(r#"did you mean "staging"?"#), "{msg}");
    }

    #[test]
    fn unknown_name_suggests_the_closest() {
        let (_d, s) = store();
        s.create(docker("production")).unwrap();
        s.create(docker("staging")).unwrap();
        match s.get("prodution").unwrap_err() {
            ContextError::NotFound { suggestion, .. } => assert_eq!(suggestion.as_deref(), Some("production")),
            e => panic!("{e:?}"),
        }
        match s.get("defualt").unwrap_err() {
            ContextError::NotFound { suggestion, .. } => assert_eq!(suggestion.as_deref(), Some("default")),
            e => panic!("{e:?}"),
        }
        let err = s.get("zzzzzz").unwrap_err();
        assert!(err.to_string().contains("ferry context ls"), "{err}");
        // A path-like name is just "not found", never a file outside the dir.
        assert!(matches!(s.get("../config"), Err(ContextError::NotFound { .. })));
    }

    #[test]
    fn corrupt_context_file_names_the_file_and_position() {
        let (_d, s) = store();
        s.create(docker("dock")).unwrap();
        let path = s.dir().join("contexts/dock.toml");
        std::fs::write(&path, "runtime = \"docker\"\nsettings = [oops\n").unwrap();
        let msg = s.get("dock").unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let msg = s.list().unwrap_err().to_string();
        assert!(msg.contains("dock.toml"), "{msg}");
        // Unknown keys (a pasted password, a typo) are errors too.
        std::fs::write(&path, "runtime = \"docker\"\n[settings]\npassword = \"hunter2\"\n").unwrap();
        let msg = s.get("dock").unwrap_err().to_string();
        assert!(msg.contains("unknown field `password`"), "{msg}");
        // A broken file can still be removed.
        s.remove("dock").unwrap();
    }

    #[test]
    fn corrupt_config_file_is_an_error_not_a_panic() {
        let (_d, s) = store();
        std::fs::create_dir_all(s.dir()).unwrap();
        std::fs::write(s.dir().join("config.toml"), "current = \n").unwrap();
        let msg = s.resolve(None, None).unwrap_err().to_string();
        assert!(msg.contains("config.toml") && msg.contains("line 1"), "{msg}");
        std::fs::write(s.dir().join("config.toml"), "current = 3\n").unwrap();
        let msg = s.current_name().unwrap_err().to_string();
        assert!(msg.contains("must be a context name"), "{msg}");
    }

    #[test]
    fn name_inside_the_file_must_match() {
        let (_d, s) = store();
        s.create(docker("dock")).unwrap();
        std::fs::write(s.dir().join("contexts/dock.toml"), "name = \"other\"\nruntime = \"docker\"\n").unwrap();
        let msg = s.get("dock").unwrap_err().to_string();
        assert!(msg.contains("make them agree"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, s) = store();
        s.create(docker("dock")).unwrap();
        s.use_context("dock").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&s.dir().join("contexts/dock.toml")), 0o600);
        assert_eq!(mode(&s.dir().join("config.toml")), 0o600);
        assert_eq!(mode(&s.dir().join("contexts")), 0o700);
        // No temp files left behind.
        let leftovers: Vec<_> = std::fs::read_dir(s.dir().join("contexts")).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn secrets_are_referenced_not_stored() {
        let (d, s) = store();
        let secret_file = d.path().join("token");
        std::fs::write(&secret_file, "s3cret\n").unwrap();
        // Only Slurm contexts read a password (for ssh to the login node).
        let mut ctx = docker("dock");
        ctx.runtime = RuntimeKind::Slurm;
        ctx.settings = ContextSettings { ssh: Some("me@login".into()), ..Default::default() };
        ctx.settings.password_file = Some(secret_file.display().to_string());
        s.create(ctx).unwrap();
        let on_disk = std::fs::read_to_string(s.dir().join("contexts/dock.toml")).unwrap();
        assert!(!on_disk.contains("s3cret"), "{on_disk}");
        assert_eq!(s.get("dock").unwrap().settings.password().unwrap().as_deref(), Some("s3cret"));

        let by_env = ContextSettings { password_env: Some("FERRY_TEST_SURELY_UNSET_VAR".into()), ..Default::default() };
        assert!(matches!(by_env.password(), Err(ContextError::MissingSecret { .. })));
        assert_eq!(ContextSettings::default().password().unwrap(), None);
    }

    #[test]
    fn concurrent_creates_of_one_name_yield_one_winner() {
        let (_d, s) = store();
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| s.create(docker("race")))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(ContextError::AlreadyExists { .. }))));
    }
}
