//! `ferry render --runtime R FILE`: print what a runtime would submit (a
//! Slurm batch script, Kubernetes manifests) without starting anything.

use anyhow::{bail, Result};
use ferry_core::RuntimeKind;

use crate::cli::RenderArgs;

pub fn render(args: RenderArgs) -> Result<u8> {
    let kind: RuntimeKind = args.runtime.parse().map_err(anyhow::Error::msg)?;
    let _workload = ferry_spec::load(&args.file)?;
    match kind {
        // Each runtime that renders adds its arm here.
        other => bail!("the {other} runtime has nothing to render (render supports: slurm, kubernetes)"),
    }
}
