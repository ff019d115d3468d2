//! `--mlcube DIR --task NAME [--platform P] [--param NAME=PATH]` on `run` and
//! `render`: an MLCube task instead of a workload file (see `ferry_spec::mlcube`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use ferry_core::RuntimeKind;
use ferry_spec::mlcube::{self, MlcubeRequest};
use ferry_spec::Workload;

use crate::cli::MlcubeArgs;

/// The workload to run and the file it came from (absolute): the MLCube's
/// task when `--mlcube` is given, else the workload file.
pub fn load_workload(file: &Path, args: &MlcubeArgs) -> Result<(Workload, PathBuf)> {
    let Some(dir) = &args.mlcube else {
        let workload = ferry_spec::load(file)?;
        let path = std::fs::canonicalize(file).with_context(|| format!("cannot open {}", file.display()))?;
        return Ok((workload, path));
    };
    let req = MlcubeRequest {
        dir: dir.clone(),
        task: args.task.clone().unwrap_or_default(),
        platform: args.platform.clone(),
        params: args.params.clone(),
    };
    let imported = mlcube::import(&req)?;
    let path = std::fs::canonicalize(&imported.spec_path)
        .with_context(|| format!("cannot open {}", imported.spec_path.display()))?;
    Ok((imported.workload, path))
}

/// `--platform kubernetes` etc. must match the runtime the workload goes to.
pub fn check_platform(args: &MlcubeArgs, runtime: RuntimeKind, via: &str) -> Result<()> {
    let Some(platform) = args.platform.as_deref().filter(|p| mlcube::PLATFORMS.contains(p)) else {
        return Ok(());
    };
    let fits = match platform {
        "docker" => matches!(runtime, RuntimeKind::Docker | RuntimeKind::Oci),
        "kubernetes" => runtime == RuntimeKind::Kubernetes,
        "slurm" => runtime == RuntimeKind::Slurm,
        _ => runtime == RuntimeKind::Local,
    };
    if !fits {
        bail!("--platform {platform} does not match {via}, which uses the {runtime} runtime; pick a {platform} context with --context");
    }
    Ok(())
}
