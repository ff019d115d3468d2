//! `ferry render --runtime R FILE`: print what a runtime would submit (a
//! Slurm batch script, Kubernetes manifests) without starting anything.

use anyhow::{bail, Result};
use ferry_core::RuntimeKind;

use crate::cli::RenderArgs;

pub fn render(args: RenderArgs) -> Result<u8> {
    let kind: RuntimeKind = args.runtime.parse().map_err(anyhow::Error::msg)?;
    let (workload, file) = super::mlcube::load_workload(&args.file, &args.mlcube)?;
    super::mlcube::check_platform(&args.mlcube, kind, "--runtime")?;
    match kind {
        RuntimeKind::Kubernetes => {
            // The id a run would get is chosen at run time; render shows a fresh one.
            let id = ferry_core::WorkloadId::random();
            let manifests = ferry_kube::render(&id, &workload.name, &workload, &ferry_kube::RenderOptions::default())?;
            print!("{}", manifests.to_yaml()?);
            Ok(0)
        }
        RuntimeKind::Slurm => {
            // The current context's settings when it is a Slurm context;
            // a fresh workload id, as a run would get one.
            let ctx = crate::app::resolve_context(None)?.context;
            let (name, settings) = if ctx.runtime == RuntimeKind::Slurm {
                (ctx.name, ctx.settings)
            } else {
                ("render".to_string(), Default::default())
            };
            let state_dir = ferry_core::paths::data_dir().join("slurm");
            print!("{}", ferry_slurm::render_file(&file, workload, &name, &settings, &state_dir)?);
            Ok(0)
        }
        // Each runtime that renders adds its arm here.
        other => bail!("the {other} runtime has nothing to render (render supports: slurm, kubernetes)"),
    }
}
