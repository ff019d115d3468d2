//! `ferry build`, `ferry push`, `ferry up` (seed 000's build → push → run),
//! and the hidden `__docker-timeout` supervisor. The work is in
//! `ferry_docker::build`; this module picks the Engine and shows progress.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context as _, Result};
use ferry_core::context::Context;
use ferry_core::RuntimeKind;
use ferry_docker::build::{self, BuildOutcome, BuildPlan, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::app;
use crate::cli::{BuildArgs, PushArgs, UpArgs};

/// The Engine that builds for `ctx`: the context's own when it is a docker
/// context, else `DOCKER_HOST` or the local socket (seed 000: a context has
/// a builder and a runner).
fn builder_host(ctx: &Context) -> String {
    match ctx.runtime {
        RuntimeKind::Docker => ferry_docker::host_for(ctx.settings.docker_host.as_deref()),
        _ => ferry_docker::host_for(None),
    }
}

/// Whether workloads of `ctx` run somewhere that cannot see the builder's images.
fn runs_elsewhere(ctx: &Context, builder: &str) -> bool {
    match ctx.runtime {
        RuntimeKind::Docker => ferry_docker::host_for(ctx.settings.docker_host.as_deref()) != builder,
        _ => true,
    }
}

/// A progress bar on a terminal, plain lines otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
}

impl Reporter {
    fn new(what: &str) -> Reporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{bar:25}] {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_prefix(what.to_owned());
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        Reporter { bar }
    }

    fn show(&self, p: Progress) {
        match (&self.bar, p) {
            (Some(b), Progress::Step { index, total, text }) => {
                b.set_length(total as u64);
                b.set_position(index as u64);
                b.set_message(text);
            }
            (None, Progress::Step { index, total, text }) => eprintln!("step {index}/{total}: {text}"),
            (Some(b), Progress::Output(line)) => b.println(format!("  {line}")),
            (None, Progress::Output(line)) => eprintln!("  {line}"),
            (Some(b), Progress::Layer { status, current, total, .. }) => {
                if total > 0 {
                    b.set_length(total);
                    b.set_position(current);
                }
                b.set_message(status);
            }
            (None, Progress::Layer { status, total, .. }) => {
                if total == 0 && !status.is_empty() {
                    eprintln!("  {status}");
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn load(file: &Path) -> Result<ferry_spec::Workload> {
    Ok(ferry_spec::load(file)?)
}

/// Build `file`'s image on `host`; prints what happened on stderr.
async fn build_file(host: &str, file: &Path, force: bool) -> Result<BuildOutcome> {
    let w = load(file)?;
    let plan = BuildPlan::new(file, &w)?;
    let docker = ferry_docker::connect(host)?;
    let reporter = Reporter::new("building");
    let outcome = build::build(&docker, host, &plan, &build::BuildOptions { force }, |p| reporter.show(p)).await;
    reporter.finish();
    let outcome = outcome?;
    match &outcome {
        BuildOutcome::UpToDate { tag, .. } => eprintln!("{tag} is up to date (inputs unchanged)"),
        BuildOutcome::Built { tag, image_id } => eprintln!("built {tag} ({})", short_id(image_id)),
    }
    Ok(outcome)
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

async fn push_image(host: &str, image: &str) -> Result<()> {
    let docker = ferry_docker::connect(host)?;
    let reporter = Reporter::new("pushing");
    let result = build::push(&docker, image, |p| reporter.show(p)).await;
    reporter.finish();
    result?;
    eprintln!("pushed {image}");
    Ok(())
}

pub async fn build(ctx: Option<&str>, args: BuildArgs) -> Result<u8> {
    if args.dry_run {
        let w = load(&args.file)?;
        let plan = BuildPlan::new(&args.file, &w)?;
        println!("# image: {}", plan.tag);
        println!("# Dockerfile");
        print!("{}", plan.dockerfile);
        println!("# files from {} ({})", plan.workdir.display(), plan.files.len());
        for f in &plan.files {
            println!("{}", f.display());
        }
        return Ok(0);
    }
    let context = app::resolve_context(ctx)?.context;
    let outcome = build_file(&builder_host(&context), &args.file, args.force).await?;
    println!("{}", outcome.tag());
    Ok(0)
}

pub async fn push(ctx: Option<&str>, args: PushArgs) -> Result<u8> {
    let context = app::resolve_context(ctx)?.context;
    let image = match args.image {
        Some(i) => i,
        None => build::image_tag(&load(&args.file)?),
    };
    push_image(&builder_host(&context), &image).await?;
    println!("{image}");
    Ok(0)
}

pub async fn up(ctx: Option<&str>, args: UpArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    let builder = builder_host(&engine.context);
    let mut workload = load(&args.file)?;
    // Refused before anything is built or pushed: `up` always runs an image.
    let mut planned = workload.clone();
    planned.image.get_or_insert_with(|| "the image of `build:`".to_owned());
    engine.check(&planned)?;
    if workload.build.is_some() {
        let outcome = build_file(&builder, &args.file, false).await?;
        workload.image = Some(outcome.tag().to_owned());
    }
    let image = workload.image.clone().context("image: missing (add `image:` or a `build:` section)")?;
    if args.push || runs_elsewhere(&engine.context, &builder) {
        push_image(&builder, &image).await?;
    }
    let spec_path =
        std::fs::canonicalize(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let rec = engine.launch(workload, Some(spec_path), args.name).await?;
    println!("{} {} {}", rec.id, rec.name, rec.status);
    if rec.runtime == ferry_core::RuntimeKind::Kubernetes {
        // Ports live inside the cluster: forward them and print the local endpoints.
        return super::kube::forward_all(&engine, &rec).await;
    }
    if let Some(ports) = rec.handle.as_ref().and_then(|h| h.details.get(ferry_docker::DETAIL_PORTS)) {
        for endpoint in ports.split(", ") {
            println!("endpoint {endpoint}");
        }
    }
    Ok(0)
}

pub async fn timeout_supervisor(dir: &Path) -> Result<u8> {
    ferry_docker::timeout::supervise(dir).await?;
    Ok(0)
}
