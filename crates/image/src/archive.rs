//! `ferry image import FILE`: docker-archive (`docker save`) and OCI-archive
//! (`skopeo copy … oci-archive:`) tarballs into the store.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use crate::store::{
    parse_json, sha256_reader, Descriptor, ImageStore, Index, Manifest, StoreError, MEDIA_DOCKER_LIST,
    MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX, MEDIA_OCI_LAYER, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST, REF_ANNOTATION,
};
use crate::Reference;

/// One entry of a docker-archive's `manifest.json`.
#[derive(Debug, Deserialize)]
struct DockerArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Import every image of the archive at `path`. `tag` names the image when the
/// archive does not (or overrides its names). Returns the references stored.
pub fn import(store: &ImageStore, path: &Path, tag: Option<&Reference>) -> Result<Vec<String>, StoreError> {
    let f = File::open(path).map_err(StoreError::io(format!("open {}", path.display())))?;
    let mut input = BufReader::new(f);
    let head = std::io::BufRead::fill_buf(&mut input).map_err(StoreError::io(format!("read {}", path.display())))?;
    let reader: Box<dyn Read> =
        if head.starts_with(&[0x1f, 0x8b]) { Box::new(flate2::read::GzDecoder::new(input)) } else { Box::new(input) };
    let tmp = tempfile::Builder::new()
        .prefix("import-")
        .tempdir_in(store.root().join("tmp"))
        .map_err(StoreError::io("create temp dir"))?;
    // tar's `unpack` refuses entries escaping the target directory.
    tar::Archive::new(reader)
        .unpack(tmp.path())
        .map_err(StoreError::io(format!("{}: not a readable tar archive", path.display())))?;
    let dir = tmp.path();
    if dir.join("manifest.json").exists() {
        import_docker_archive(store, dir, path, tag)
    } else if dir.join("oci-layout").exists() {
        import_oci_layout(store, dir, path, tag)
    } else {
        Err(StoreError::Invalid(format!(
            "{}: neither a docker-archive (no manifest.json) nor an OCI archive (no oci-layout)",
            path.display()
        )))
    }
}

fn inside(dir: &Path, name: &str, archive: &Path) -> Result<std::path::PathBuf, StoreError> {
    let p = Path::new(name);
    if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(StoreError::Invalid(format!("{}: entry {name:?} escapes the archive", archive.display())));
    }
    Ok(dir.join(p))
}

fn import_docker_archive(
    store: &ImageStore,
    dir: &Path,
    archive: &Path,
    tag: Option<&Reference>,
) -> Result<Vec<String>, StoreError> {
    let entries: Vec<DockerArchiveEntry> = parse_json(
        &std::fs::read(dir.join("manifest.json")).map_err(StoreError::io("read manifest.json"))?,
        &format!("{}: manifest.json", archive.display()),
    )?;
    let mut names = Vec::new();
    for e in entries {
        let config_path = inside(dir, &e.config, archive)?;
        let config_body = std::fs::read(&config_path).map_err(StoreError::io(format!("read {}", e.config)))?;
        let config_digest = store.put_blob(&config_body, None)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            let p = inside(dir, l, archive)?;
            let (digest, size) = sha256_reader(File::open(&p).map_err(StoreError::io(format!("open {l}")))?)
                .map_err(StoreError::io(format!("read {l}")))?;
            store.put_blob_file(&p, Some(&digest))?;
            let mut magic = [0u8; 2];
            let gz = File::open(&p).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == [0x1f, 0x8b];
            layers.push(Descriptor {
                media_type: if gz { MEDIA_OCI_LAYER_GZIP } else { MEDIA_OCI_LAYER }.into(),
                digest,
                size,
                annotations: BTreeMap::new(),
                platform: None,
            });
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: MEDIA_OCI_CONFIG.into(),
                digest: config_digest,
                size: config_body.len() as u64,
                annotations: BTreeMap::new(),
                platform: None,
            },
            layers,
        };
        let body = serde_json::to_vec(&manifest).expect("serialize manifest");
        let digest = store.put_blob(&body, None)?;
        let refs: Vec<String> = match tag {
            Some(t) => vec![t.to_string()],
            None => e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| t.parse::<Reference>().map(|r| r.to_string()).map_err(|e| StoreError::Invalid(e.to_string())))
                .collect::<Result<_, _>>()?,
        };
        if refs.is_empty() {
            return Err(StoreError::Invalid(format!(
                "{}: the image has no RepoTags; name it with --tag",
                archive.display()
            )));
        }
        for r in refs {
            store.tag(&r, &digest)?;
            names.push(r);
        }
    }
    Ok(names)
}

fn import_oci_layout(
    store: &ImageStore,
    dir: &Path,
    archive: &Path,
    tag: Option<&Reference>,
) -> Result<Vec<String>, StoreError> {
    let index: Index = parse_json(
        &std::fs::read(dir.join("index.json")).map_err(StoreError::io("read index.json"))?,
        &format!("{}: index.json", archive.display()),
    )?;
    let blob = |digest: &str| -> Result<std::path::PathBuf, StoreError> {
        Ok(dir.join("blobs/sha256").join(crate::store::digest_hex(digest)?))
    };
    let mut names = Vec::new();
    for d in &index.manifests {
        let mut manifest_desc = d.clone();
        // An index inside the archive: take this machine's platform.
        if d.media_type == MEDIA_OCI_INDEX || d.media_type == MEDIA_DOCKER_LIST {
            let inner: Index =
                parse_json(&std::fs::read(blob(&d.digest)?).map_err(StoreError::io("read index"))?, "nested index")?;
            manifest_desc = crate::registry::pick_platform(&inner.manifests)
                .ok_or_else(|| StoreError::Invalid(format!("{}: no image for this platform", archive.display())))?
                .clone();
        }
        let body = std::fs::read(blob(&manifest_desc.digest)?).map_err(StoreError::io("read manifest"))?;
        let manifest: Manifest = parse_json(&body, "manifest")?;
        store.put_blob_file(&blob(&manifest.config.digest)?, Some(&manifest.config.digest))?;
        for l in &manifest.layers {
            store.put_blob_file(&blob(&l.digest)?, Some(&l.digest))?;
        }
        let digest = store.put_blob(&body, Some(&manifest_desc.digest))?;
        let name = match (tag, d.annotations.get(REF_ANNOTATION)) {
            (Some(t), _) => t.to_string(),
            (None, Some(n)) if n.contains('/') || n.contains(':') => {
                n.parse::<Reference>().map_err(|e| StoreError::Invalid(e.to_string()))?.to_string()
            }
            (None, _) => {
                return Err(StoreError::Invalid(format!(
                    "{}: the image has no full name in the archive; name it with --tag",
                    archive.display()
                )))
            }
        };
        store.tag(&name, &digest)?;
        names.push(name);
    }
    Ok(names)
}
