//! The OCI runtime's commands: `ferry image pull|push|import|ls|rm|prune`,
//! `ferry checkpoint`, `ferry restore`, `ferry doctor`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use ferry_core::store::NewWorkload;
use ferry_core::{paths, RuntimeKind};
use ferry_image::registry::{self, show_progress};
use ferry_image::{ImageStore, Reference};

use crate::cli::Format;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull an image from its registry into Ferry's image store.
    Pull {
        /// The image, e.g. 127.0.0.1:5000/busybox:1.
        reference: String,
    },
    /// Push a stored image to a registry (to DEST, default: its own name).
    Push {
        /// The stored image.
        source: String,
        /// Where to push it (default: its own name).
        dest: Option<String>,
    },
    /// Import a docker-archive (`docker save`) or OCI-archive tarball.
    Import {
        /// The tarball.
        file: PathBuf,
        /// Name for the image (required when the archive names none).
        #[arg(long)]
        tag: Option<String>,
    },
    /// List stored images.
    Ls {
        /// Output format: table or json.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Remove images (blobs no other image uses are deleted).
    Rm {
        /// The images to remove.
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Delete unreferenced blobs, unused unpacked layers and interrupted downloads.
    Prune,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Workload name, id or id prefix (a running OCI container).
    pub workload: String,
    /// Directory for the checkpoint (CRIU images + what `ferry restore` needs).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory written by `ferry checkpoint`.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format: table or json.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// Root of the OCI runtime's files (image store, containers, runtime state).
pub fn oci_root() -> PathBuf {
    paths::data_dir().join("oci")
}

fn store() -> Result<ImageStore> {
    let root = oci_root();
    ImageStore::open(&root).with_context(|| format!("cannot open the image store {}", root.display()))
}

fn parse_ref(s: &str) -> Result<Reference> {
    s.parse::<Reference>().map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn image(cmd: ImageCommand) -> Result<u8> {
    let store = store()?;
    match cmd {
        ImageCommand::Pull { reference } => {
            let r = parse_ref(&reference)?;
            let img = registry::pull(&store, &r, show_progress()).await?;
            unpack(&store, vec![img.reference.clone()]).await?;
            println!("{} {}", img.reference, img.manifest_digest);
        }
        ImageCommand::Push { source, dest } => {
            let src = parse_ref(&source)?.to_string();
            let dest = parse_ref(dest.as_deref().unwrap_or(&source))?;
            let digest = registry::push(&store, &src, &dest, show_progress()).await?;
            println!("{dest} {digest}");
        }
        ImageCommand::Import { file, tag } => {
            let tag = tag.as_deref().map(parse_ref).transpose()?;
            let store2 = store.clone();
            let names = tokio::task::spawn_blocking(move || ferry_image::archive::import(&store2, &file, tag.as_ref()))
                .await??;
            unpack(&store, names.clone()).await?;
            for n in names {
                println!("{n}");
            }
        }
        ImageCommand::Ls { output: fmt } => {
            let images = store.list()?;
            if fmt == Format::Json {
                return output::print_json(&images).map(|_| 0);
            }
            let mut t = output::table(&["REFERENCE", "DIGEST", "SIZE", "LAYERS"]);
            for i in &images {
                let short: String = i.digest.trim_start_matches("sha256:").chars().take(12).collect();
                t.add_row(vec![i.reference.clone(), short, output::bytes(i.size), i.layers.to_string()]);
            }
            output::print_table(&t);
        }
        ImageCommand::Rm { references } => {
            for r in references {
                let name = parse_ref(&r)?.to_string();
                let report = store.remove(&name)?;
                println!(
                    "removed {name} ({} blobs, {} freed)",
                    report.blobs_removed,
                    output::bytes(report.bytes_freed)
                );
            }
        }
        ImageCommand::Prune => {
            let r = store.prune()?;
            println!(
                "removed {} blobs and {} unpacked layers, {} freed",
                r.blobs_removed,
                r.layers_removed,
                output::bytes(r.bytes_freed)
            );
        }
    }
    Ok(0)
}

pub async fn checkpoint(ctx: Option<&str>, args: CheckpointArgs) -> Result<u8> {
    let engine = crate::app::engine(ctx)?;
    let (rec, handle, runtime) = engine.find_started(&args.workload).await?;
    if handle.runtime != RuntimeKind::Oci {
        bail!("workload {} runs on the {} runtime; checkpoint/restore needs the oci runtime", rec.name, handle.runtime);
    }
    let dir = absolute(&args.dir)?;
    runtime.checkpoint(&handle, &dir).await?;
    engine.refresh(engine.store()?.get(&rec.id)?).await?;
    println!("{}", dir.display());
    Ok(0)
}

pub async fn restore(ctx: Option<&str>, args: RestoreArgs) -> Result<u8> {
    let engine = crate::app::engine(ctx)?;
    let runtime = engine.runtime()?;
    if runtime.kind() != RuntimeKind::Oci {
        bail!("context {:?} uses the {} runtime; restore needs an oci context", engine.context.name, runtime.kind());
    }
    let dir = absolute(&args.dir)?;
    let handle = runtime.restore(&dir).await?;
    let spec_path = handle.details.get("dir").map(|d| PathBuf::from(d).join("spec.json"));
    let spec: ferry_spec::Workload = match &spec_path {
        Some(p) => serde_json::from_slice(&std::fs::read(p)?)?,
        None => bail!("the restored container kept no spec"),
    };
    let status = runtime.status(&handle).await?;
    engine.store()?.adopt(
        &NewWorkload {
            id: handle.workload.clone(),
            name: spec.name.clone(),
            context: engine.context.name.clone(),
            runtime: RuntimeKind::Oci,
            spec,
            spec_path: None,
        },
        &handle,
        &status,
    )?;
    println!("{}", handle.workload);
    Ok(0)
}

pub async fn doctor(ctx: Option<&str>, args: DoctorArgs) -> Result<u8> {
    let setting = crate::app::resolve_context(ctx).ok().and_then(|r| r.context.settings.oci_runtime.clone());
    let scratch = oci_root().join("tmp");
    let checks = tokio::task::spawn_blocking(move || ferry_oci::doctor::checks(setting, &scratch)).await?;
    let failed = checks.iter().any(|c| c.required && !c.ok);
    if args.output == Format::Json {
        output::print_json(&checks)?;
    } else {
        let mut t = output::table(&["CHECK", "OK", "DETAIL"]);
        for c in &checks {
            let ok = match (c.ok, c.required) {
                (true, _) => "yes",
                (false, true) => "NO",
                (false, false) => "no",
            };
            t.add_row(vec![c.name.clone(), ok.into(), c.detail.clone()]);
        }
        output::print_table(&t);
    }
    Ok(if failed { 1 } else { 0 })
}

/// Unpack the layers of freshly stored images now, as `docker pull` does,
/// so the first container of an image starts without waiting for it.
async fn unpack(store: &ImageStore, references: Vec<String>) -> Result<()> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for r in references {
            let img = store.resolve(&r)?;
            store.layer_dirs(&img).with_context(|| format!("cannot unpack the layers of {r}"))?;
        }
        Ok(())
    })
    .await?
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}
