//! `ferry build`, `ferry push`: an image from a workload file's `build:`
//! section, built by the Docker Engine (classic builder, API 1.41).
//!
//! The build context is generated: a Dockerfile, the static init
//! (`tini-static`), and the files of `workdir` minus `.git` and whatever
//! `.ferryignore` / `.dockerignore` exclude (gitignore syntax, `!` re-includes).
//! The image's entrypoint (the init) and command (the workload's `command` or
//! `run`) are fixed at build time, so the image behaves the same on every
//! runtime that starts it.
//!
//! Rebuilding an unchanged file is a no-op: a sha256 of every input (the
//! Dockerfile, each file's path, mode and content, the init, the base image's
//! id) is stored as the image label `io.ferry.build-digest` and compared first.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, PushImageOptions};
use bollard::Docker;
use ferry_core::RuntimeError;
use ferry_image::Reference;
use ferry_spec::Workload;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::client;
use crate::container::IMAGE_LABEL_INIT;

/// Image label holding the digest of all build inputs.
pub const LABEL_BUILD_DIGEST: &str = "io.ferry.build-digest";
/// Where the init lives inside built images.
pub const INIT_PATH: &str = "/ferry/init";
/// Where the code of `workdir` lands inside built images (also the working directory).
pub const CODE_DIR: &str = "/workspace";
/// Environment variable naming the static init to copy into images.
pub const INIT_ENV: &str = "FERRY_INIT";
/// Where the static init is looked for when `FERRY_INIT` is unset (Debian's `tini` package).
pub const INIT_CANDIDATES: &[&str] = &["/usr/bin/tini-static", "/usr/local/bin/tini-static", "/sbin/tini-static"];

/// Errors of building and pushing, worded for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{file}: build: missing; add e.g. `build: {{base: ferry-test/busybox:1, setup: [\"echo hi\"]}}`")]
    NoBuildSection { file: String },
    #[error("{file}: {field}: {why}")]
    Invalid { file: String, field: &'static str, why: String },
    #[error("no static init to copy into the image: set {INIT_ENV}=/path/to/tini-static or install Debian's `tini` package (looked in {})", INIT_CANDIDATES.join(", "))]
    NoInit,
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("build.base {base} is not in the Docker Engine at {host} and could not be pulled: {why}")]
    BaseMissing { base: String, host: String, why: String },
    #[error("build failed at {step}: {message}\n--- output of that step\n{output}")]
    StepFailed { step: String, message: String, output: String },
    #[error("push of {image} failed: {message}")]
    PushFailed { image: String, message: String },
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    #[error("docker: {0}")]
    Engine(String),
}

/// What `ferry build` will do, computed without building anything.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// The tag to build (the file's `image:`, else `ferry/<name>:latest`).
    pub tag: String,
    pub base: String,
    pub dockerfile: String,
    /// Files of `workdir` that go into the image, relative, sorted.
    pub files: Vec<PathBuf>,
    pub workdir: PathBuf,
    pub init: PathBuf,
}

/// Options of [`build`].
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Build even when the digest matches.
    pub force: bool,
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    /// An image with the same input digest exists: nothing was built.
    UpToDate {
        tag: String,
        image_id: String,
    },
    Built {
        tag: String,
        image_id: String,
    },
}

impl BuildOutcome {
    pub fn tag(&self) -> &str {
        match self {
            BuildOutcome::UpToDate { tag, .. } | BuildOutcome::Built { tag, .. } => tag,
        }
    }
}

/// Something to show while building or pushing.
#[derive(Debug, Clone)]
pub enum Progress {
    /// `Step 2/7 : RUN …` (index, total, text).
    Step { index: usize, total: usize, text: String },
    /// A line the builder printed.
    Output(String),
    /// Push progress of one layer.
    Layer { id: String, status: String, current: u64, total: u64 },
}

/// The image tag a workload file builds.
pub fn image_tag(w: &Workload) -> String {
    w.image.clone().unwrap_or_else(|| format!("ferry/{}:latest", w.name))
}

/// Quote a string as a JSON string (the Dockerfile exec form takes JSON arrays).
fn json(s: &[String]) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Find the static init: `FERRY_INIT`, else the usual places.
pub fn find_init() -> Result<PathBuf, BuildError> {
    if let Some(p) = std::env::var_os(INIT_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    INIT_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or(BuildError::NoInit)
}

impl BuildPlan {
    /// Plan the build of workload `w` read from `file`.
    pub fn new(file: &Path, w: &Workload) -> Result<BuildPlan, BuildError> {
        let fname = file.display().to_string();
        let build = w.build.as_ref().ok_or_else(|| BuildError::NoBuildSection { file: fname.clone() })?;
        let tag = image_tag(w);
        tag.parse::<Reference>().map_err(|e| BuildError::Invalid {
            file: fname.clone(),
            field: "image",
            why: e.to_string(),
        })?;
        build.base.parse::<Reference>().map_err(|e| BuildError::Invalid {
            file: fname.clone(),
            field: "build.base",
            why: e.to_string(),
        })?;
        let spec_dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let workdir = spec_dir.join(w.workdir.clone().unwrap_or_else(|| PathBuf::from(".")));
        if !workdir.is_dir() {
            return Err(BuildError::Invalid {
                file: fname,
                field: "workdir",
                why: format!("{} is not a directory", workdir.display()),
            });
        }
        let files = snapshot_files(&workdir)?;
        let cmd = crate::container::argv(w, Vec::new()).map_err(|e| BuildError::Invalid {
            file: fname.clone(),
            field: "command",
            why: e.to_string(),
        })?;
        let mut dockerfile = format!("FROM {}\n", build.base);
        dockerfile += &format!("COPY ferry-init {INIT_PATH}\n");
        dockerfile += &format!("WORKDIR {CODE_DIR}\n");
        if !files.is_empty() {
            dockerfile += &format!("COPY code/ {CODE_DIR}/\n");
        }
        for step in &build.setup {
            // Exec form: Docker passes the string to sh as one argument, unparsed.
            dockerfile += &format!("RUN {}\n", json(&["/bin/sh".into(), "-c".into(), step.clone()]));
        }
        dockerfile += &format!("ENTRYPOINT {}\n", json(&[INIT_PATH.into(), "--".into()]));
        dockerfile += &format!("CMD {}\n", json(&cmd));
        Ok(BuildPlan { tag, base: build.base.clone(), dockerfile, files, workdir, init: find_init()? })
    }

    /// The digest of every input; `base_id` is the base image's id in the Engine.
    pub fn digest(&self, base_id: &str) -> Result<String, BuildError> {
        let mut h = Sha256::new();
        h.update(b"ferry-build-v1\0");
        h.update(self.dockerfile.as_bytes());
        h.update(b"\0base\0");
        h.update(base_id.as_bytes());
        h.update(b"\0init\0");
        h.update(read(&self.init)?);
        for f in &self.files {
            let path = self.workdir.join(f);
            let meta = std::fs::symlink_metadata(&path).map_err(io("cannot read", &path))?;
            h.update(b"\0file\0");
            h.update(f.to_string_lossy().as_bytes());
            h.update(format!("\0{:o}\0", std::os::unix::fs::PermissionsExt::mode(&meta.permissions())).as_bytes());
            if meta.file_type().is_symlink() {
                h.update(std::fs::read_link(&path).map_err(io("cannot read", &path))?.to_string_lossy().as_bytes());
            } else {
                h.update(read(&path)?);
            }
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The build context as a tar archive: `Dockerfile`, `ferry-init`, `code/…`.
    pub fn context_tar(&self) -> Result<Vec<u8>, BuildError> {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        let add_bytes = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(mode);
            header.set_mtime(0);
            header.set_cksum();
            b.append_data(&mut header, name, data)
        };
        let tar_err =
            |e| BuildError::Io { action: "cannot write the build context", path: PathBuf::from("(memory)"), source: e };
        add_bytes(&mut b, "Dockerfile", self.dockerfile.as_bytes(), 0o644).map_err(tar_err)?;
        add_bytes(&mut b, "ferry-init", &read(&self.init)?, 0o755).map_err(tar_err)?;
        for f in &self.files {
            let path = self.workdir.join(f);
            b.append_path_with_name(&path, Path::new("code").join(f))
                .map_err(io("cannot add to the build context", &path))?;
        }
        b.into_inner().map_err(tar_err)
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io { action, path, source }
}

fn read(path: &Path) -> Result<Vec<u8>, BuildError> {
    let mut buf = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut buf)).map_err(io("cannot read", path))?;
    Ok(buf)
}

/// The files of `dir` to snapshot: regular files and symlinks, relative and
/// sorted; `.git` and what `.ferryignore` / `.dockerignore` exclude are left out.
pub fn snapshot_files(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut walk = ignore::WalkBuilder::new(dir);
    walk.standard_filters(false)
        .follow_links(false)
        .add_custom_ignore_filename(".ferryignore")
        .add_custom_ignore_filename(".dockerignore")
        .filter_entry(|e| e.file_name() != ".git");
    let mut out = Vec::new();
    for entry in walk.build() {
        let entry = entry.map_err(|e| BuildError::Io {
            action: "cannot list",
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let Some(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(dir) {
            out.push(rel.to_path_buf());
        }
    }
    out.sort();
    Ok(out)
}

/// Registry credentials for `reference` as `docker login` stored them.
pub fn registry_credentials(reference: &Reference) -> Result<Option<DockerCredentials>, RuntimeError> {
    let path = ferry_image::docker_config_path();
    let creds = ferry_image::credentials_for(&path, &reference.registry)
        .map_err(|e| RuntimeError::internal(format!("registry credentials: {e}")))?;
    Ok(creds.map(|c| DockerCredentials {
        username: Some(c.username),
        password: Some(c.password),
        serveraddress: Some(reference.registry.clone()),
        ..Default::default()
    }))
}

/// The image id of `image` in the Engine and its labels, or `None`.
async fn image_labels(docker: &Docker, image: &str) -> Result<Option<(String, HashMap<String, String>)>, BuildError> {
    match docker.inspect_image(image).await {
        Ok(i) => Ok(Some((i.id.unwrap_or_default(), i.config.and_then(|c| c.labels).unwrap_or_default()))),
        Err(e) if client::status_code(&e) == Some(404) => Ok(None),
        Err(e) => Err(BuildError::Engine(client::message(&e))),
    }
}

/// Build `plan` in the Engine behind `docker` (`host` for messages).
pub async fn build(
    docker: &Docker,
    host: &str,
    plan: &BuildPlan,
    opts: &BuildOptions,
    mut progress: impl FnMut(Progress),
) -> Result<BuildOutcome, BuildError> {
    let base_id = match image_labels(docker, &plan.base).await? {
        Some((id, _)) => id,
        None => {
            crate::pull(docker, &plan.base).await.map_err(|e| BuildError::BaseMissing {
                base: plan.base.clone(),
                host: host.to_owned(),
                why: e.to_string(),
            })?;
            image_labels(docker, &plan.base).await?.map(|(id, _)| id).unwrap_or_default()
        }
    };
    let digest = plan.digest(&base_id)?;
    if !opts.force {
        if let Some((id, labels)) = image_labels(docker, &plan.tag).await? {
            if labels.get(LABEL_BUILD_DIGEST) == Some(&digest) {
                return Ok(BuildOutcome::UpToDate { tag: plan.tag.clone(), image_id: id });
            }
        }
    }
    let labels: HashMap<String, String> =
        [(LABEL_BUILD_DIGEST.to_owned(), digest), (IMAGE_LABEL_INIT.to_owned(), "tini".to_owned())].into();
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(plan.tag.clone()),
        rm: true,
        forcerm: true,
        labels: Some(labels),
        ..Default::default()
    };
    let tar = plan.context_tar()?;
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    let mut step = String::from("the start");
    let mut step_output = String::new();
    let mut image_id = String::new();
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(i) => i,
            Err(e) => {
                return Err(BuildError::StepFailed { step, message: client::message(&e), output: step_output });
            }
        };
        if let Some(detail) = info.error_detail {
            let message = detail.message.unwrap_or_else(|| "the builder reported an error".into());
            return Err(BuildError::StepFailed { step, message, output: step_output });
        }
        if let Some(aux) = info.aux.and_then(|a| a.id) {
            image_id = aux;
        }
        let Some(text) = info.stream else { continue };
        for line in text.lines() {
            if let Some((index, total, what)) = parse_step(line) {
                step = format!("step {index}/{total} ({what})");
                step_output.clear();
                progress(Progress::Step { index, total, text: what.to_owned() });
            } else if !line.trim().is_empty() {
                if let Some(id) = line.strip_prefix("Successfully built ") {
                    image_id = id.trim().to_owned();
                }
                if !is_builder_chatter(line) {
                    step_output.push_str(line);
                    step_output.push('\n');
                }
                progress(Progress::Output(line.to_owned()));
            }
        }
    }
    if image_id.is_empty() {
        image_id = image_labels(docker, &plan.tag).await?.map(|(id, _)| id).unwrap_or_default();
    }
    Ok(BuildOutcome::Built { tag: plan.tag.clone(), image_id })
}

/// The classic builder's own bookkeeping lines, not the step's output.
fn is_builder_chatter(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("---> ") || t.starts_with("Removing intermediate container") || t.starts_with("Successfully ")
}

/// `Step 2/7 : RUN x` → (2, 7, "RUN x").
fn parse_step(line: &str) -> Option<(usize, usize, &str)> {
    let rest = line.strip_prefix("Step ")?;
    let (nums, what) = rest.split_once(" : ")?;
    let (i, n) = nums.split_once('/')?;
    Some((i.trim().parse().ok()?, n.trim().parse().ok()?, what))
}

/// Push `image` (as tagged in the Engine) to its registry.
pub async fn push(docker: &Docker, image: &str, mut progress: impl FnMut(Progress)) -> Result<(), BuildError> {
    let reference: Reference = image.parse().map_err(|e: ferry_image::ReferenceError| BuildError::PushFailed {
        image: image.into(),
        message: e.to_string(),
    })?;
    let creds = registry_credentials(&reference)?;
    let repo = image.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(image, |(r, _)| r);
    let repo = repo.split('@').next().unwrap_or(repo);
    let opts = PushImageOptions { tag: Some(reference.tag_or_digest().to_owned()), platform: None };
    let mut stream = docker.push_image(repo, Some(opts), creds);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| BuildError::PushFailed { image: image.into(), message: client::message(&e) })?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(BuildError::PushFailed { image: image.into(), message: err });
        }
        let (current, total) = info
            .progress_detail
            .map(|p| (p.current.unwrap_or(0).max(0) as u64, p.total.unwrap_or(0).max(0) as u64))
            .unwrap_or((0, 0));
        progress(Progress::Layer { id: String::new(), status: info.status.unwrap_or_default(), current, total });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(v: serde_json::Value) -> Workload {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn snapshot_skips_git_and_ignored_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".git/objects")).unwrap();
        std::fs::write(d.path().join(".git/HEAD"), "x").unwrap();
        std::fs::create_dir_all(d.path().join("data")).unwrap();
        std::fs::write(d.path().join("data/big.bin"), "x").unwrap();
        std::fs::write(d.path().join("data/keep.txt"), "x").unwrap();
        std::fs::write(d.path().join("main.sh"), "x").unwrap();
        std::fs::write(d.path().join("secret.env"), "x").unwrap();
        std::fs::write(d.path().join(".ferryignore"), "data/\n!data/keep.txt\n").unwrap();
        std::fs::write(d.path().join(".dockerignore"), "*.env\n").unwrap();
        let files = snapshot_files(d.path()).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        assert!(names.contains(&"main.sh".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with(".git/")), "{names:?}");
        assert!(!names.contains(&"secret.env".to_string()), "{names:?}");
        assert!(!names.contains(&"data/big.bin".to_string()), "{names:?}");
    }

    #[test]
    fn dockerfile_fixes_entrypoint_and_cmd_and_quotes_setup() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("app.sh"), "echo hi").unwrap();
        let file = d.path().join("ferry.yaml");
        let init = d.path().join("fake-init");
        std::fs::write(&init, "init").unwrap();
        std::env::set_var(INIT_ENV, &init);
        let w = workload(serde_json::json!({
            "name": "demo", "image": "127.0.0.1:5000/demo:1", "command": ["sh", "app.sh", "it's"],
            "build": {"base": "ferry-test/busybox:1", "setup": ["echo \"$HOME\" > /setup.txt && echo 'a b'"]}
        }));
        let plan = BuildPlan::new(&file, &w).unwrap();
        assert_eq!(plan.tag, "127.0.0.1:5000/demo:1");
        assert!(plan.dockerfile.starts_with("FROM ferry-test/busybox:1\n"), "{}", plan.dockerfile);
        assert!(plan.dockerfile.contains("ENTRYPOINT [\"/ferry/init\",\"--\"]\n"), "{}", plan.dockerfile);
        assert!(plan.dockerfile.contains("CMD [\"sh\",\"app.sh\",\"it's\"]\n"), "{}", plan.dockerfile);
        assert!(
            plan.dockerfile.contains(r#"RUN ["/bin/sh","-c","echo \"$HOME\" > /setup.txt && echo 'a b'"]"#),
            "{}",
            plan.dockerfile
        );
        let d1 = plan.digest("sha256:base").unwrap();
        assert_eq!(d1, plan.digest("sha256:base").unwrap());
        assert_ne!(d1, plan.digest("sha256:other").unwrap());
        std::fs::write(d.path().join("app.sh"), "echo changed").unwrap();
        assert_ne!(d1, plan.digest("sha256:base").unwrap(), "a changed file changes the digest");
        // The context holds the Dockerfile, the init and the code.
        let tar = plan.context_tar().unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let names: Vec<String> =
            a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert!(names.contains(&"Dockerfile".into()) && names.contains(&"ferry-init".into()));
        assert!(names.contains(&"code/app.sh".into()), "{names:?}");
    }

    #[test]
    fn missing_build_section_names_the_file() {
        let w = workload(serde_json::json!({"name": "x", "command": ["true"]}));
        let e = BuildPlan::new(Path::new("dir/ferry.yaml"), &w).unwrap_err().to_string();
        assert!(e.starts_with("dir/ferry.yaml: build: missing"), "{e}");
    }

    #[test]
    fn step_lines() {
        assert_eq!(parse_step("Step 2/7 : RUN echo hi"), Some((2, 7, "RUN echo hi")));
        assert_eq!(parse_step(" ---> Running in abc"), None);
    }
}
