//! MLCube import: an MLCube task becomes a Ferry [`Workload`].
//!
//! Two MLCube layouts are read:
//!
//! - **`mlcube.yaml`** (current MLCube): `name`, `docker.image`, and
//!   `tasks.<task>` with optional `entrypoint` and `parameters.inputs` /
//!   `parameters.outputs`, each `{type: file|directory, default: PATH}` or a
//!   bare `PATH`; defaults are relative to `<DIR>/workspace`. An optional
//!   `kubernetes: {pvc: CLAIM}` (or `k8s:`) names the claim that holds the
//!   workspace on a cluster.
//! - **task file + platform file** (the MLCube Kubernetes runner, seed 004):
//!   `schema_type: mlcube_invoke` with `input_binding` / `output_binding`
//!   (`path` plus `k8s: {pvc: CLAIM}`), and `schema_type: mlcube_platform` with
//!   `container.image`. `--task` is then the task file (or the name of one in
//!   `<DIR>/run/`), `--platform` the platform file (default
//!   `<DIR>/platforms/docker.yaml`).
//!
//! The workload runs the image as MLCube's Docker runner does: the image's
//! ENTRYPOINT with the task name as first argument (no task name for the
//! older layout, as the seed's Job shows; a task `entrypoint` replaces the
//! image's), followed by `--<param>=<path>` for every input and output
//! (`pass_io_as: args`). Paths of bindings are relative to the MLCube
//! directory, which is the workload's directory. On Kubernetes each binding
//! is the claim's sub-path `<path>` mounted at `/ferry/io/<param>`: the same
//! data the seed's Job reaches at `/mnt/mlcube/<claim>/<path>`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::field_path::FieldPath;
use crate::yaml::{self, Node, Pos};
use crate::{Binding, Kind, KubernetesOptions, KubernetesVolume, PassIoAs, RuntimeOptions, SpecError, Workload};

/// What `ferry run --mlcube DIR --task NAME [--platform P] [--param k=v …]` asks for.
#[derive(Debug, Clone, Default)]
pub struct MlcubeRequest {
    pub dir: PathBuf,
    /// A task name, or (older layout) a task file.
    pub task: String,
    /// `docker`, `kubernetes`, `slurm`, `local`, or (older layout) a platform file.
    pub platform: Option<String>,
    /// Parameter overrides: `data_dir=other/data` (paths relative to the MLCube directory).
    pub params: Vec<(String, String)>,
}

/// The workload and the file it came from (its directory is the workload's).
#[derive(Debug, Clone)]
pub struct Imported {
    pub workload: Workload,
    pub spec_path: PathBuf,
}

/// Platform names `--platform` accepts besides a platform file.
pub const PLATFORMS: [&str; 4] = ["docker", "kubernetes", "slurm", "local"];

/// Read the MLCube at `req.dir` and make a workload of `req.task`.
pub fn import(req: &MlcubeRequest) -> Result<Imported, SpecError> {
    let platform_kind = req.platform.as_deref().filter(|p| PLATFORMS.contains(p));
    let task_file = older_task_file(req);
    let mut imported = match task_file {
        Some(task_file) => {
            if platform_kind == Some("local") {
                return Err(SpecError::io(
                    &task_file,
                    "the MLCube task file + platform file layout describes a container; --platform local needs an mlcube.yaml task with an entrypoint",
                ));
            }
            import_invoke(req, &task_file)?
        }
        None => import_mlcube_yaml(req, platform_kind)?,
    };
    apply_params(&mut imported, &req.params)?;
    Ok(imported)
}

/// The older layout is used when `--task` is a file, or names `<DIR>/run/<task>.yaml`
/// and there is no `mlcube.yaml` task of that name.
fn older_task_file(req: &MlcubeRequest) -> Option<PathBuf> {
    let as_path = PathBuf::from(&req.task);
    if as_path.is_file() {
        return Some(as_path);
    }
    let in_dir = req.dir.join(&req.task);
    if req.task.ends_with(".yaml") && in_dir.is_file() {
        return Some(in_dir);
    }
    let in_run = req.dir.join("run").join(format!("{}.yaml", req.task));
    (!req.dir.join("mlcube.yaml").is_file() && in_run.is_file()).then_some(in_run)
}

fn read(path: &Path) -> Result<Node, SpecError> {
    let src = std::fs::read_to_string(path).map_err(|e| SpecError::io(path, format!("cannot read file: {e}")))?;
    yaml::parse(&src)
        .map_err(|e| SpecError::at(path, e.pos, &e.path, e.message))?
        .ok_or_else(|| SpecError::at(path, Pos::START, &FieldPath::root(), "the file is empty"))
}

fn decode<T: for<'de> Deserialize<'de>>(path: &Path, node: &Node) -> Result<T, SpecError> {
    crate::de::from_node(node)
        .map_err(|e| SpecError::at(path, e.pos.unwrap_or(node.pos), &e.path.unwrap_or_default(), e.message))
}

/// An error located at the field `keys` (or its nearest written ancestor).
fn error_at(path: &Path, root: &Node, keys: &[&str], message: impl Into<String>) -> SpecError {
    let mut segs = keys.to_vec();
    let pos = loop {
        if let Some((k, v)) = root.find(&FieldPath::of(&segs)) {
            break k.map_or(v.pos, |k| k.pos);
        }
        if segs.pop().is_none() {
            break root.pos;
        }
    };
    SpecError::at(path, pos, &FieldPath::of(keys), message)
}

/// `mlcube-<name>`, as a workload name (lowercase; `_` and `.` kept).
fn workload_name(name: &str) -> String {
    let clean: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect();
    let mut n = format!("mlcube-{}", clean.trim_matches(|c: char| !c.is_ascii_alphanumeric()));
    n.truncate(63);
    n.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

// ---- mlcube.yaml ----

#[derive(Debug, Deserialize)]
struct MlcubeFile {
    name: String,
    #[serde(default)]
    docker: Option<DockerSection>,
    #[serde(default)]
    tasks: BTreeMap<String, TaskSpec>,
    #[serde(default, alias = "k8s")]
    kubernetes: Option<KubeSection>,
}

#[derive(Debug, Deserialize)]
struct DockerSection {
    image: Option<String>,
}

#[derive(Debug, Deserialize)]
struct KubeSection {
    pvc: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TaskSpec {
    #[serde(default)]
    entrypoint: Option<String>,
    #[serde(default)]
    parameters: Parameters,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameters {
    #[serde(default)]
    inputs: BTreeMap<String, Param>,
    #[serde(default)]
    outputs: BTreeMap<String, Param>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Param {
    Short(String),
    Full(ParamSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamSpec {
    #[serde(rename = "type", default)]
    kind: Option<ParamType>,
    default: String,
    #[serde(default)]
    #[allow(dead_code)] // MLCube's mount options (ro/rw); Ferry mounts inputs read-only anyway.
    opts: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ParamType {
    File,
    Directory,
}

impl Param {
    fn default_path(&self) -> &str {
        match self {
            Param::Short(p) => p,
            Param::Full(s) => &s.default,
        }
    }
}

fn import_mlcube_yaml(req: &MlcubeRequest, platform: Option<&str>) -> Result<Imported, SpecError> {
    let path = req.dir.join("mlcube.yaml");
    if !path.is_file() {
        return Err(SpecError::io(
            &path,
            format!("no mlcube.yaml here, and --task {:?} is not a task file (nor run/{}.yaml)", req.task, req.task),
        ));
    }
    let root = read(&path)?;
    let cube: MlcubeFile = decode(&path, &root)?;
    let Some(task) = cube.tasks.get(&req.task) else {
        let known: Vec<&str> = cube.tasks.keys().map(String::as_str).collect();
        return Err(error_at(
            &path,
            &root,
            &["tasks"],
            format!("no task {:?}; this MLCube has: {}", req.task, known.join(", ")),
        ));
    };
    let local = platform == Some("local");
    let image = cube.docker.as_ref().and_then(|d| d.image.clone());
    if image.is_none() && !local {
        return Err(error_at(&path, &root, &["docker", "image"], "missing: the image the task runs in"));
    }
    let entrypoint: Option<Vec<String>> =
        task.entrypoint.as_ref().map(|e| e.split_whitespace().map(str::to_string).collect());
    let (command, run) =
        match (&entrypoint, local) {
            (Some(words), _) if !words.is_empty() => {
                // Replace the image's ENTRYPOINT; binding args arrive as "$@".
                let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
                (None, Some(format!("exec {} \"$@\"", quoted.join(" "))))
            }
            (_, true) => return Err(error_at(
                &path,
                &root,
                &["tasks", &req.task],
                "--platform local runs the task on this machine and needs tasks.<task>.entrypoint (the program to run)",
            )),
            // The image's ENTRYPOINT gets the task name first, as `docker run IMAGE TASK --param=…`.
            _ => (Some(vec![req.task.clone()]), None),
        };
    let mut inputs = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    for (section, params, into) in
        [("inputs", &task.parameters.inputs, &mut inputs), ("outputs", &task.parameters.outputs, &mut outputs)]
    {
        for (name, p) in params {
            if section == "outputs" && matches!(p, Param::Full(ParamSpec { kind: Some(ParamType::File), .. })) {
                return Err(error_at(
                    &path,
                    &root,
                    &["tasks", &req.task, "parameters", section, name, "type"],
                    "Ferry outputs are directories (created before the task starts); make this a directory parameter",
                ));
            }
            let rel = workspace_path(p.default_path())
                .map_err(|why| error_at(&path, &root, &["tasks", &req.task, "parameters", section, name], why))?;
            into.insert(name.clone(), Binding { path: rel });
        }
    }
    let mut workload = base_workload(workload_name(&cube.name), if local { None } else { image });
    workload.command = command;
    workload.run = run;
    workload.inputs = inputs;
    workload.outputs = outputs;
    let claim = cube.kubernetes.as_ref().and_then(|k| k.pvc.clone());
    if claim.is_none() && platform == Some("kubernetes") && !(workload.inputs.is_empty() && workload.outputs.is_empty())
    {
        // Said in MLCube's terms: this user wrote an mlcube.yaml, not a Ferry workload file.
        return Err(error_at(
            &path,
            &root,
            &["kubernetes"],
            "missing: on Kubernetes the task's workspace must be a PersistentVolumeClaim; add `kubernetes: {pvc: CLAIM}` \
             to mlcube.yaml, naming the claim whose workspace/ holds the task's parameters",
        ));
    }
    if let Some(pvc) = claim {
        // The claim holds the workspace: each binding is its path below `workspace/`.
        let volumes = workload
            .inputs
            .iter()
            .chain(workload.outputs.iter())
            .map(|(name, b)| {
                let sub = b.path.strip_prefix("workspace").unwrap_or(&b.path).display().to_string();
                (name.clone(), KubernetesVolume { pvc: pvc.clone(), sub_path: (!sub.is_empty()).then_some(sub) })
            })
            .collect();
        workload.runtime.kubernetes = Some(KubernetesOptions { volumes, ..Default::default() });
    }
    Ok(Imported { workload, spec_path: path })
}

/// `data` → `workspace/data`; `${workspace}/data` too. Absolute paths and
/// `..` are refused: bindings stay inside the MLCube directory.
fn workspace_path(p: &str) -> Result<PathBuf, String> {
    let p = p.strip_prefix("${workspace}/").unwrap_or(p);
    let rel = Path::new(p);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("{p:?} must be a path inside the workspace (relative, without ..)"));
    }
    Ok(Path::new("workspace").join(rel))
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn base_workload(name: String, image: Option<String>) -> Workload {
    Workload {
        name,
        kind: Kind::Job,
        image,
        command: None,
        run: None,
        workdir: None,
        env: BTreeMap::new(),
        resources: Default::default(),
        nodes: 1,
        tasks_per_node: 1,
        mpi: None,
        ports: Vec::new(),
        inputs: BTreeMap::new(),
        outputs: BTreeMap::new(),
        pass_io_as: PassIoAs::Args,
        retries: 0,
        timeout: None,
        build: None,
        runtime: RuntimeOptions::default(),
    }
}

// ---- task file + platform file (mlcube_invoke / mlcube_platform) ----

#[derive(Debug, Deserialize)]
struct InvokeFile {
    schema_type: String,
    #[serde(default)]
    #[allow(dead_code)] // read for completeness; any 1.x is accepted
    schema_version: Option<String>,
    #[serde(default)]
    task_name: Option<String>,
    #[serde(default)]
    input_binding: BTreeMap<String, InvokeBinding>,
    #[serde(default)]
    output_binding: BTreeMap<String, InvokeBinding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeBinding {
    path: String,
    #[serde(default)]
    k8s: Option<KubeSection>,
}

#[derive(Debug, Deserialize)]
struct PlatformFile {
    schema_type: String,
    #[serde(default)]
    container: Option<ContainerSection>,
}

#[derive(Debug, Deserialize)]
struct ContainerSection {
    image: Option<String>,
}

/// The MLCube Kubernetes runner's retry count (seed 004's `backoffLimit: 4`).
const INVOKE_RETRIES: u32 = 4;

fn import_invoke(req: &MlcubeRequest, task_path: &Path) -> Result<Imported, SpecError> {
    let root = read(task_path)?;
    let task: InvokeFile = decode(task_path, &root)?;
    if task.schema_type != "mlcube_invoke" {
        return Err(error_at(
            task_path,
            &root,
            &["schema_type"],
            format!("expected mlcube_invoke (an MLCube task file), got {:?}", task.schema_type),
        ));
    }
    let platform_path = match req.platform.as_deref() {
        Some(p) if !PLATFORMS.contains(&p) => PathBuf::from(p),
        _ => req.dir.join("platforms").join("docker.yaml"),
    };
    let proot = read(&platform_path)?;
    let platform: PlatformFile = decode(&platform_path, &proot)?;
    if platform.schema_type != "mlcube_platform" {
        return Err(error_at(
            &platform_path,
            &proot,
            &["schema_type"],
            format!("expected mlcube_platform (an MLCube platform file), got {:?}", platform.schema_type),
        ));
    }
    let image = platform.container.and_then(|c| c.image).ok_or_else(|| {
        error_at(&platform_path, &proot, &["container", "image"], "missing: the image the task runs in")
    })?;
    // The cube's name is its directory's (`examples/mnist` → `mlcube-mnist`).
    let dir_name = req
        .dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| task.task_name.clone().unwrap_or_else(|| "task".into()));
    let mut workload = base_workload(workload_name(&dir_name), Some(image));
    // Only the binding arguments: the image's ENTRYPOINT is the program.
    workload.command = Some(Vec::new());
    workload.retries = INVOKE_RETRIES;
    let mut volumes = BTreeMap::new();
    for (section, bindings, outputs) in
        [("input_binding", &task.input_binding, false), ("output_binding", &task.output_binding, true)]
    {
        for (name, b) in bindings {
            let rel = PathBuf::from(&b.path);
            if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
                return Err(error_at(
                    task_path,
                    &root,
                    &[section, name, "path"],
                    "must be a relative path inside the MLCube directory (without ..)",
                ));
            }
            match b.k8s.as_ref().and_then(|k| k.pvc.clone()) {
                Some(pvc) => {
                    volumes.insert(name.clone(), KubernetesVolume { pvc, sub_path: Some(b.path.clone()) });
                }
                None if req.platform.as_deref() == Some("kubernetes") => {
                    return Err(error_at(
                        task_path,
                        &root,
                        &[section, name, "k8s", "pvc"],
                        format!(
                            "missing: on Kubernetes each binding lives in a PersistentVolumeClaim; add `k8s: {{pvc: CLAIM}}` \
                             under {section}.{name} in this task file"
                        ),
                    ));
                }
                None => {}
            }
            let binding = Binding { path: rel };
            if outputs {
                workload.outputs.insert(name.clone(), binding);
            } else {
                workload.inputs.insert(name.clone(), binding);
            }
        }
    }
    if !volumes.is_empty() {
        workload.runtime.kubernetes = Some(KubernetesOptions { volumes, ..Default::default() });
    }
    Ok(Imported { workload, spec_path: task_path.to_path_buf() })
}

/// `--param name=path` overrides one binding's path (and its claim sub-path).
fn apply_params(imported: &mut Imported, params: &[(String, String)]) -> Result<(), SpecError> {
    let w = &mut imported.workload;
    for (name, value) in params {
        let rel = PathBuf::from(value);
        if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(SpecError::io(
                &imported.spec_path,
                format!("--param {name}={value}: the path must be relative to the MLCube directory (without ..)"),
            ));
        }
        let binding = w.inputs.get_mut(name).or_else(|| w.outputs.get_mut(name));
        match binding {
            Some(b) => b.path = rel,
            None => {
                let known: Vec<&str> = w.inputs.keys().chain(w.outputs.keys()).map(String::as_str).collect();
                return Err(SpecError::io(
                    &imported.spec_path,
                    format!("--param {name}: the task has no parameter {name:?} (it has: {})", known.join(", ")),
                ));
            }
        }
        if let Some(v) = w.runtime.kubernetes.as_mut().and_then(|k| k.volumes.get_mut(name)) {
            v.sub_path = Some(value.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const MLCUBE: &str = "name: mnist\ndescription: MNIST\ndocker:\n  image: mlcommons/mnist:0.0.1\n\
        tasks:\n  download:\n    parameters:\n      inputs: {data_config: {type: file, default: data.yaml}}\n\
        \x20     outputs: {data_dir: {type: directory, default: data}, log_dir: logs}\n\
        \x20 train:\n    entrypoint: python /workspace/mnist.py train\n    parameters:\n\
        \x20     inputs: {data_dir: data}\n      outputs: {model_dir: model}\n";

    #[test]
    fn mlcube_yaml_task_becomes_a_workload() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "mlcube.yaml", MLCUBE);
        let req = MlcubeRequest { dir: d.path().into(), task: "download".into(), ..Default::default() };
        let w = import(&req).unwrap().workload;
        assert_eq!(w.name, "mlcube-mnist");
        assert_eq!(w.image.as_deref(), Some("mlcommons/mnist:0.0.1"));
        assert_eq!(w.command, Some(vec!["download".to_string()]));
        assert_eq!(w.pass_io_as, PassIoAs::Args);
        assert_eq!(w.inputs["data_config"].path, Path::new("workspace/data.yaml"));
        assert_eq!(w.outputs["log_dir"].path, Path::new("workspace/logs"));

        // An entrypoint replaces the image's; binding args follow it.
        let req = MlcubeRequest { task: "train".into(), ..req };
        let w = import(&req).unwrap().workload;
        assert_eq!(w.run.as_deref(), Some("exec python /workspace/mnist.py train \"$@\""));
        assert!(w.command.is_none());
    }

    #[test]
    fn unknown_tasks_and_params_are_named() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "mlcube.yaml", MLCUBE);
        let req = MlcubeRequest { dir: d.path().into(), task: "evaluate".into(), ..Default::default() };
        let err = import(&req).unwrap_err().to_string();
        assert!(
            err.contains("mlcube.yaml:") && err.contains("no task \"evaluate\"") && err.contains("download, train"),
            "{err}"
        );
        let req = MlcubeRequest {
            dir: d.path().into(),
            task: "train".into(),
            params: vec![("modeldir".into(), "m".into())],
            ..Default::default()
        };
        let err = import(&req).unwrap_err().to_string();
        assert!(err.contains("no parameter \"modeldir\"") && err.contains("model_dir"), "{err}");
        let req = MlcubeRequest { params: vec![("model_dir".into(), "/etc".into())], ..req };
        assert!(import(&req).unwrap_err().to_string().contains("relative"));
        let req = MlcubeRequest { params: vec![("model_dir".into(), "out/m".into())], ..req };
        assert_eq!(import(&req).unwrap().workload.outputs["model_dir"].path, Path::new("out/m"));
    }

    #[test]
    fn bad_parameter_types_are_located() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "mlcube.yaml",
            "name: x\ndocker: {image: i}\ntasks:\n  t:\n    parameters:\n      inputs: {a: {type: file, default: a, mode: rw}}\n",
        );
        let req = MlcubeRequest { dir: d.path().into(), task: "t".into(), ..Default::default() };
        let err = import(&req).unwrap_err().to_string();
        assert!(err.contains("mlcube.yaml:6:"), "{err}");
        write(
            d.path(),
            "mlcube.yaml",
            "name: x\ndocker: {image: i}\ntasks:\n  t:\n    parameters:\n      outputs:\n        log: {type: file, default: log.txt}\n",
        );
        let err = import(&req).unwrap_err().to_string();
        assert!(
            err.contains("mlcube.yaml:7:") && err.contains("outputs.log.type") && err.contains("directories"),
            "{err}"
        );
    }

    #[test]
    fn seed_004_task_and_platform_files() {
        let d = tempfile::tempdir().unwrap();
        let cube = d.path().join("mnist");
        write(
            &cube,
            "run/kubernetes.yaml",
            "schema_type: mlcube_invoke\nschema_version: 1.0.0\ntask_name: kubernetes\ninput_binding:\n  data_dir:\n    path: workspace/data\n    k8s:\n      pvc: mlcube-input\noutput_binding:\n  model_dir:\n    path: workspace/model\n    k8s:\n      pvc: mlcube-output\n",
        );
        write(
            &cube,
            "platforms/docker.yaml",
            "schema_type: mlcube_platform\nschema_version: 0.1.0\nplatform:\n  name: \"docker\"\n  version: \">=18.01\"\ncontainer:\n  image: \"mlcommons/mlcube:mnist\"\n",
        );
        let req = MlcubeRequest {
            dir: cube.clone(),
            task: cube.join("run/kubernetes.yaml").display().to_string(),
            platform: Some(cube.join("platforms/docker.yaml").display().to_string()),
            params: vec![],
        };
        let w = import(&req).unwrap().workload;
        assert_eq!(w.name, "mlcube-mnist");
        assert_eq!(w.image.as_deref(), Some("mlcommons/mlcube:mnist"));
        assert_eq!(w.command, Some(vec![]));
        assert_eq!(w.retries, 4);
        let k = w.runtime.kubernetes.unwrap();
        assert_eq!(
            k.volumes["data_dir"],
            KubernetesVolume { pvc: "mlcube-input".into(), sub_path: Some("workspace/data".into()) }
        );
        assert_eq!(k.volumes["model_dir"].pvc, "mlcube-output");
        // By name, with the default platform file.
        let req = MlcubeRequest { dir: cube.clone(), task: "kubernetes".into(), ..Default::default() };
        assert_eq!(import(&req).unwrap().workload.image.as_deref(), Some("mlcommons/mlcube:mnist"));
        // A platform file of the wrong kind is named.
        write(&cube, "platforms/bad.yaml", "schema_type: mlcube_invoke\n");
        let req = MlcubeRequest { platform: Some(cube.join("platforms/bad.yaml").display().to_string()), ..req };
        let err = import(&req).unwrap_err().to_string();
        assert!(err.contains("bad.yaml:1:") && err.contains("expected mlcube_platform"), "{err}");
    }

    #[test]
    fn a_kubernetes_platform_without_a_claim_is_explained_in_mlcube_terms() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "mlcube.yaml", MLCUBE);
        let req = MlcubeRequest {
            dir: d.path().into(),
            task: "train".into(),
            platform: Some("kubernetes".into()),
            ..Default::default()
        };
        let err = import(&req).unwrap_err().to_string();
        assert!(
            err.contains("mlcube.yaml:1:") && err.contains("add `kubernetes: {pvc: CLAIM}` to mlcube.yaml"),
            "{err}"
        );
        assert!(!err.contains("runtime.kubernetes"), "no workload-file field: {err}");
        // Another platform needs no claim.
        let req = MlcubeRequest { platform: Some("docker".into()), ..req };
        assert!(import(&req).is_ok());

        // The task-file layout: the binding without `k8s.pvc` is named.
        write(
            d.path(),
            "run/k8s.yaml",
            "schema_type: mlcube_invoke\nschema_version: 1.0.0\ninput_binding:\n  data_dir:\n    path: workspace/data\n",
        );
        write(d.path(), "platforms/docker.yaml", "schema_type: mlcube_platform\ncontainer: {image: i}\n");
        let req = MlcubeRequest {
            dir: d.path().into(),
            task: d.path().join("run/k8s.yaml").display().to_string(),
            platform: Some("kubernetes".into()),
            params: vec![],
        };
        let err = import(&req).unwrap_err().to_string();
        assert!(
            err.contains("k8s.yaml:4:") && err.contains("add `k8s: {pvc: CLAIM}` under input_binding.data_dir"),
            "{err}"
        );
    }
}
