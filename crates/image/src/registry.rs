//! Pulling from and pushing to OCI / Docker v2 registries (anonymous, basic
//! and bearer-token auth through `oci-client`; credentials from Docker's
//! config). Loopback registries are spoken to over plain HTTP, as Docker does.
//!
//! Layers are fetched concurrently; each is hashed while it streams into a
//! temporary file and only moved into the store once its digest matched.

use std::io::IsTerminal;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

use crate::store::{
    parse_json, Descriptor, Image, ImageStore, Index, Manifest, StoreError, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};
use crate::{credentials_for, docker_config_path, Reference};

/// How many layers are fetched at once.
const CONCURRENT_LAYERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {registry}: {operation} {reference}: {source}")]
    Registry {
        registry: String,
        operation: &'static str,
        reference: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

/// Progress bars on stderr, only when it is a terminal.
pub fn show_progress() -> bool {
    std::io::stderr().is_terminal()
}

fn client_for(r: &Reference) -> oci_client::Client {
    let protocol =
        if r.insecure() { ClientProtocol::HttpsExcept(vec![r.registry.clone()]) } else { ClientProtocol::Https };
    oci_client::Client::new(ClientConfig { protocol, ..Default::default() })
}

fn auth_for(r: &Reference) -> Result<RegistryAuth, RegistryError> {
    match credentials_for(&docker_config_path(), &r.registry) {
        Ok(Some(c)) => Ok(RegistryAuth::Basic(c.username, c.password)),
        Ok(None) => Ok(RegistryAuth::Anonymous),
        Err(e) => Err(RegistryError::Other(e.to_string())),
    }
}

fn oci_ref(r: &Reference, tag_or_digest: Option<&str>) -> oci_client::Reference {
    let target = tag_or_digest.unwrap_or_else(|| r.tag_or_digest());
    if target.starts_with("sha256:") {
        oci_client::Reference::with_digest(r.registry.clone(), r.repository.clone(), target.to_string())
    } else {
        oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), target.to_string())
    }
}

/// The manifest for this machine's platform from a list.
pub fn pick_platform(list: &[Descriptor]) -> Option<&Descriptor> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    list.iter().find(|d| d.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch)).or_else(|| {
        if list.len() == 1 {
            list.first()
        } else {
            None
        }
    })
}

const ACCEPTED: &[&str] = &[MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST];

/// Pull `r` into `store` and name it by its normalised reference.
pub async fn pull(store: &ImageStore, r: &Reference, progress: bool) -> Result<Image, RegistryError> {
    let client = client_for(r);
    let auth = auth_for(r)?;
    let reference = r.to_string();
    let err = |operation: &'static str| {
        let registry = r.registry.clone();
        let reference = reference.clone();
        move |source| RegistryError::Registry { registry, operation, reference, source }
    };
    let top = oci_ref(r, None);
    client.auth(&top, &auth, RegistryOperation::Pull).await.map_err(err("authenticate for"))?;
    let (mut body, mut digest) =
        client.pull_manifest_raw(&top, &auth, ACCEPTED).await.map_err(err("pull manifest of"))?;
    let probe: serde_json::Value = parse_json(&body, &format!("manifest of {reference}"))?;
    if probe.get("manifests").is_some() {
        let list: Index = parse_json(&body, &format!("index of {reference}"))?;
        let d = pick_platform(&list.manifests)
            .ok_or_else(|| RegistryError::Other(format!("{reference}: no image for linux/{}", std::env::consts::ARCH)))?
            .clone();
        let (b, dg) = client
            .pull_manifest_raw(&oci_ref(r, Some(&d.digest)), &auth, ACCEPTED)
            .await
            .map_err(err("pull platform manifest of"))?;
        body = b;
        digest = dg;
    }
    if digest.is_empty() {
        digest = crate::store::sha256_digest(&body);
    }
    let manifest: Manifest = parse_json(&body, &format!("manifest of {reference}"))?;
    let bars = progress.then(MultiProgress::new);
    let client = Arc::new(client);
    let blobs: Vec<Descriptor> =
        std::iter::once(manifest.config.clone()).chain(manifest.layers.iter().cloned()).collect();
    futures::stream::iter(blobs.into_iter().filter(|d| !store.has_blob(&d.digest)))
        .map(|d| {
            let client = client.clone();
            let bar = bars.as_ref().map(|m| m.add(layer_bar(&d)));
            let image = oci_ref(r, None);
            let registry = r.registry.clone();
            let reference = reference.clone();
            async move {
                fetch_blob(&client, &image, store, &d, bar.as_ref()).await.map_err(|e| match e {
                    FetchError::Registry(source) => {
                        RegistryError::Registry { registry, operation: "pull blob of", reference, source }
                    }
                    FetchError::Store(s) => RegistryError::Store(s),
                })
            }
        })
        .buffer_unordered(CONCURRENT_LAYERS)
        .try_collect::<Vec<()>>()
        .await?;
    let stored = store.put_blob(&body, Some(&digest))?;
    store.tag(&reference, &stored)?;
    Ok(store.resolve(&reference)?)
}

fn layer_bar(d: &Descriptor) -> ProgressBar {
    let bar = ProgressBar::new(d.size);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(d.digest.trim_start_matches("sha256:").chars().take(12).collect::<String>());
    bar
}

enum FetchError {
    Registry(oci_client::errors::OciDistributionError),
    Store(StoreError),
}

async fn fetch_blob(
    client: &oci_client::Client,
    image: &oci_client::Reference,
    store: &ImageStore,
    d: &Descriptor,
    bar: Option<&ProgressBar>,
) -> Result<(), FetchError> {
    let desc = OciDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size as i64,
        ..Default::default()
    };
    let mut stream = client.pull_blob_stream(image, &desc).await.map_err(FetchError::Registry)?;
    let mut w = store.blob_writer().map_err(FetchError::Store)?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| FetchError::Store(StoreError::Io { context: format!("download {}", d.digest), source: e }))?;
        // Writes are small and to the local disk; blocking here is cheaper
        // than a thread hop per chunk.
        w.write_chunk(&chunk).map_err(FetchError::Store)?;
        if let Some(b) = bar {
            b.set_position(w.written());
        }
    }
    w.commit(Some(&d.digest)).map_err(FetchError::Store)?;
    if let Some(b) = bar {
        b.finish();
    }
    Ok(())
}

/// Push the stored image `source` to `dest`. Returns the manifest digest.
pub async fn push(store: &ImageStore, source: &str, dest: &Reference, progress: bool) -> Result<String, RegistryError> {
    let img = store.resolve(source)?;
    let client = client_for(dest);
    let auth = auth_for(dest)?;
    let reference = dest.to_string();
    let err = |operation: &'static str| {
        let registry = dest.registry.clone();
        let reference = reference.clone();
        move |source| RegistryError::Registry { registry, operation, reference, source }
    };
    let target = oci_ref(dest, None);
    client.auth(&target, &auth, RegistryOperation::Push).await.map_err(err("authenticate for"))?;
    let bars = progress.then(MultiProgress::new);
    let blobs: Vec<Descriptor> =
        std::iter::once(img.manifest.config.clone()).chain(img.manifest.layers.iter().cloned()).collect();
    for d in blobs {
        if client.blob_exists(&target, &d.digest).await.map_err(err("check blob in"))? {
            continue;
        }
        let bar = bars.as_ref().map(|m| m.add(layer_bar(&d)));
        let data = store.read_blob(&d.digest)?;
        client.push_blob(&target, data, &d.digest).await.map_err(err("push blob to"))?;
        if let Some(b) = bar {
            b.set_position(d.size);
            b.finish();
        }
    }
    let body = store.read_blob(&img.manifest_digest)?;
    let media = img.manifest.media_type.clone().unwrap_or_else(|| MEDIA_OCI_MANIFEST.into());
    let content_type = media.parse().map_err(|_| RegistryError::Other(format!("bad media type {media:?}")))?;
    client.push_manifest_raw(&target, body, content_type).await.map_err(err("push manifest to"))?;
    Ok(img.manifest_digest)
}
