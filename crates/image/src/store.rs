//! The content-addressed image store: an OCI image layout on disk plus the
//! unpacked layers the OCI runtime stacks into container root filesystems.
//!
//! ```text
//! <root>/
//!   oci-layout                 {"imageLayoutVersion": "1.0.0"}
//!   index.json                 one manifest descriptor per tagged image
//!                              (annotation org.opencontainers.image.ref.name = full reference)
//!   blobs/sha256/<hex>         manifests, configs, layers; written only after digest verification
//!   layers/<diffid-hex>/       each layer unpacked once, in overlayfs form (whiteouts as 0/0 devices)
//!   tmp/                       blobs and layers being written (never read as content)
//!   lock                       flock taken for index updates and layer unpacking
//! ```
//!
//! A blob appears under `blobs/` only by `rename` from `tmp/` after its digest
//! was checked, so a killed pull or import leaves no corrupt blob behind.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::unpack::{self, UnpackMode};

/// Annotation naming an image in `index.json` (the full normalised reference).
pub const REF_ANNOTATION: &str = "org.opencontainers.image.ref.name";

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("invalid digest {0:?} (expected sha256:<64 lowercase hex>)")]
    BadDigest(String),
    #[error("{what} is not valid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("no image {0} in the store (pull or import it first: `ferry image pull {0}`)")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Unpack(#[from] unpack::UnpackError),
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Io { context, source }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (OCI or Docker schema 2: same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image index / manifest list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// The parts of an image configuration a runtime needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One image of the store, resolved down to its config.
#[derive(Debug, Clone)]
pub struct Image {
    pub reference: String,
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

impl Image {
    /// Size of config and layers as stored (compressed where the layers are).
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// A row of `ferry image ls`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    pub reference: String,
    pub digest: String,
    pub size: u64,
    pub created: Option<String>,
    pub layers: usize,
}

/// What `prune` freed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub blobs_removed: usize,
    pub layers_removed: usize,
    pub bytes_freed: u64,
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The hex part of a well-formed sha256 digest; anything else is refused so a
/// digest from a registry or archive can never name a path outside the store.
pub fn digest_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => Ok(h),
        _ => Err(StoreError::BadDigest(digest.to_string())),
    }
}

/// A blob being written: hashed as it goes, moved into place by [`BlobWriter::commit`].
pub struct BlobWriter {
    tmp: tempfile::NamedTempFile,
    hasher: Sha256,
    written: u64,
    blobs: PathBuf,
}

impl BlobWriter {
    pub fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.written += data.len() as u64;
        self.tmp.write_all(data).map_err(StoreError::io("write blob"))
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verify the content against `expected` (if given) and move it into the
    /// store. Returns the digest. On mismatch the temporary file is deleted.
    pub fn commit(mut self, expected: Option<&str>) -> Result<String> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.finalize_reset()));
        if let Some(expected) = expected {
            if expected != actual {
                return Err(StoreError::DigestMismatch { what: "blob".into(), expected: expected.to_string(), actual });
            }
        }
        self.tmp.as_file().sync_all().map_err(StoreError::io("sync blob"))?;
        let dest = self.blobs.join(digest_hex(&actual)?);
        self.tmp
            .persist(&dest)
            .map_err(|e| StoreError::Io { context: format!("store {}", dest.display()), source: e.error })?;
        Ok(actual)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_chunk(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The image store rooted at one directory.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ImageStore> {
        let root = root.into();
        for d in ["blobs/sha256", "layers", "tmp"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(StoreError::io(format!("create {}", p.display())))?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            let body = serde_json::to_vec_pretty(&Index {
                schema_version: 2,
                media_type: Some(MEDIA_OCI_INDEX.into()),
                manifests: Vec::new(),
            })
            .expect("serialize index");
            write_atomic(&index, &body)?;
        }
        Ok(ImageStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        std::fs::read(&p).map_err(StoreError::io(format!("read blob {digest}")))
    }

    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp")).map_err(StoreError::io("create temp blob"))?;
        Ok(BlobWriter { tmp, hasher: Sha256::new(), written: 0, blobs: self.root.join("blobs/sha256") })
    }

    /// Store `data`, checking it against `expected` when given.
    pub fn put_blob(&self, data: &[u8], expected: Option<&str>) -> Result<String> {
        let digest = sha256_digest(data);
        if let Some(e) = expected {
            if e != digest {
                return Err(StoreError::DigestMismatch { what: "blob".into(), expected: e.into(), actual: digest });
            }
        }
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut w = self.blob_writer()?;
        w.write_chunk(data)?;
        w.commit(Some(&digest))
    }

    /// Copy a file into the store, verifying it against `expected` if given.
    pub fn put_blob_file(&self, path: &Path, expected: Option<&str>) -> Result<String> {
        if let Some(e) = expected {
            if self.has_blob(e) {
                return Ok(e.to_string());
            }
        }
        let mut f = File::open(path).map_err(StoreError::io(format!("open {}", path.display())))?;
        let mut w = self.blob_writer()?;
        std::io::copy(&mut f, &mut w).map_err(StoreError::io(format!("copy {}", path.display())))?;
        w.commit(expected)
    }

    fn lock(&self) -> Result<File> {
        let p = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(StoreError::io(format!("open {}", p.display())))?;
        f.lock().map_err(StoreError::io(format!("lock {}", p.display())))?;
        Ok(f)
    }

    fn read_index(&self) -> Result<Index> {
        let p = self.root.join("index.json");
        let body = std::fs::read(&p).map_err(StoreError::io(format!("read {}", p.display())))?;
        serde_json::from_slice(&body).map_err(|source| StoreError::Json { what: p.display().to_string(), source })
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        let body = serde_json::to_vec_pretty(index).expect("serialize index");
        write_atomic(&self.root.join("index.json"), &body)
    }

    /// Name the manifest `manifest_digest` (already stored) `reference`.
    pub fn tag(&self, reference: &str, manifest_digest: &str) -> Result<()> {
        let body = self.read_blob(manifest_digest)?;
        let manifest: Manifest = parse_json(&body, &format!("manifest {manifest_digest}"))?;
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        index.manifests.retain(|d| d.annotations.get(REF_ANNOTATION).map(String::as_str) != Some(reference));
        index.manifests.push(Descriptor {
            media_type: manifest.media_type.clone().unwrap_or_else(|| MEDIA_OCI_MANIFEST.into()),
            digest: manifest_digest.to_string(),
            size: body.len() as u64,
            annotations: [(REF_ANNOTATION.to_string(), reference.to_string())].into(),
            platform: None,
        });
        self.write_index(&index)
    }

    /// The image named `reference` (a full normalised reference), or NotFound.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let index = self.read_index()?;
        let d = index
            .manifests
            .iter()
            .find(|d| d.annotations.get(REF_ANNOTATION).map(String::as_str) == Some(reference))
            .ok_or_else(|| StoreError::NotFound(reference.to_string()))?;
        self.load(reference, &d.digest)
    }

    fn load(&self, reference: &str, manifest_digest: &str) -> Result<Image> {
        let manifest: Manifest = parse_json(&self.read_blob(manifest_digest)?, &format!("manifest of {reference}"))?;
        let config: ImageConfig =
            parse_json(&self.read_blob(&manifest.config.digest)?, &format!("config of {reference}"))?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(StoreError::Invalid(format!(
                "image {reference}: config lists {} layers (rootfs.diff_ids), manifest {}",
                config.rootfs.diff_ids.len(),
                manifest.layers.len()
            )));
        }
        Ok(Image { reference: reference.to_string(), manifest_digest: manifest_digest.to_string(), manifest, config })
    }

    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let mut out = Vec::new();
        for d in self.read_index()?.manifests {
            let Some(r) = d.annotations.get(REF_ANNOTATION) else { continue };
            match self.load(r, &d.digest) {
                Ok(img) => out.push(ImageSummary {
                    reference: r.clone(),
                    digest: d.digest.clone(),
                    size: img.size(),
                    created: img.config.created.clone(),
                    layers: img.manifest.layers.len(),
                }),
                Err(e) => tracing::warn!("image {r} is damaged: {e}"),
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// Untag `reference` and delete the blobs no other image uses.
    pub fn remove(&self, reference: &str) -> Result<PruneReport> {
        {
            let _lock = self.lock()?;
            let mut index = self.read_index()?;
            let before = index.manifests.len();
            index.manifests.retain(|d| d.annotations.get(REF_ANNOTATION).map(String::as_str) != Some(reference));
            if index.manifests.len() == before {
                return Err(StoreError::NotFound(reference.to_string()));
            }
            self.write_index(&index)?;
        }
        self.collect(false)
    }

    /// Delete unreferenced blobs, unpacked layers no image uses and no
    /// container has mounted, and leftovers of interrupted writes.
    pub fn prune(&self) -> Result<PruneReport> {
        self.collect(true)
    }

    fn collect(&self, layers_too: bool) -> Result<PruneReport> {
        let _lock = self.lock()?;
        let mut keep_blobs = BTreeSet::new();
        let mut keep_layers = BTreeSet::new();
        for d in self.read_index()?.manifests {
            keep_blobs.insert(d.digest.clone());
            if let Ok(img) = self.load("", &d.digest) {
                keep_blobs.insert(img.manifest.config.digest.clone());
                keep_blobs.extend(img.manifest.layers.iter().map(|l| l.digest.clone()));
                keep_layers
                    .extend(img.config.rootfs.diff_ids.iter().filter_map(|d| digest_hex(d).ok().map(String::from)));
            }
        }
        let mut report = PruneReport::default();
        let blobs = self.root.join("blobs/sha256");
        for e in std::fs::read_dir(&blobs).map_err(StoreError::io(format!("list {}", blobs.display())))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep_blobs.contains(&format!("sha256:{name}")) {
                report.bytes_freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                if std::fs::remove_file(e.path()).is_ok() {
                    report.blobs_removed += 1;
                }
            }
        }
        if layers_too {
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let layers = self.root.join("layers");
            for e in std::fs::read_dir(&layers).map_err(StoreError::io(format!("list {}", layers.display())))?.flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = e.path();
                if keep_layers.contains(&name) || mounts.contains(path.to_string_lossy().as_ref()) {
                    continue;
                }
                if std::fs::remove_dir_all(&path).is_ok() {
                    report.layers_removed += 1;
                }
            }
            let tmp = self.root.join("tmp");
            for e in std::fs::read_dir(&tmp).map_err(StoreError::io(format!("list {}", tmp.display())))?.flatten() {
                let p = e.path();
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
        Ok(report)
    }

    /// The unpacked directory of every layer of `img`, lowest first,
    /// unpacking (once, shared by every container of every image) those
    /// not unpacked yet.
    pub fn layer_dirs(&self, img: &Image) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for (layer, diff_id) in img.manifest.layers.iter().zip(&img.config.rootfs.diff_ids) {
            let dir = self.root.join("layers").join(digest_hex(diff_id)?);
            if !dir.exists() {
                let _lock = self.lock()?;
                if !dir.exists() {
                    let tmp = tempfile::Builder::new()
                        .prefix("layer-")
                        .tempdir_in(self.root.join("tmp"))
                        .map_err(StoreError::io("create temp layer dir"))?;
                    let got = self.unpack_blob(&layer.digest, tmp.path(), UnpackMode::Overlay)?;
                    if &got != diff_id {
                        return Err(StoreError::DigestMismatch {
                            what: format!("uncompressed layer {}", layer.digest),
                            expected: diff_id.clone(),
                            actual: got,
                        });
                    }
                    let tmp = tmp.keep();
                    std::fs::rename(&tmp, &dir).map_err(StoreError::io(format!("store layer {}", dir.display())))?;
                }
            }
            out.push(dir);
        }
        Ok(out)
    }

    /// Unpack all layers of `img` on top of each other into `dest` (whiteouts
    /// applied as deletions): the fallback when overlayfs is unavailable.
    pub fn flatten_into(&self, img: &Image, dest: &Path) -> Result<()> {
        for layer in &img.manifest.layers {
            self.unpack_blob(&layer.digest, dest, UnpackMode::Apply)?;
        }
        Ok(())
    }

    /// Unpack layer blob `digest` into `dest`; returns the diff id (digest of the uncompressed tar).
    fn unpack_blob(&self, digest: &str, dest: &Path, mode: UnpackMode) -> Result<String> {
        let p = self.blob_path(digest)?;
        let f = File::open(&p).map_err(StoreError::io(format!("open layer {digest}")))?;
        Ok(unpack::unpack_layer(BufReader::new(f), dest, mode)?)
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| StoreError::Json { what: what.to_string(), source })
}

/// Write a small file so readers never see it half-written.
pub(crate) fn write_atomic(path: &Path, body: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(StoreError::io(format!("write {}", path.display())))?;
    tmp.write_all(body).map_err(StoreError::io(format!("write {}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| StoreError::Io { context: format!("replace {}", path.display()), source: e.error })?;
    Ok(())
}

/// Hash everything `r` yields.
pub(crate) fn sha256_reader(mut r: impl Read) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((format!("sha256:{}", hex::encode(h.finalize())), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_count(s: &ImageStore) -> usize {
        std::fs::read_dir(s.root().join("blobs/sha256")).unwrap().count()
    }

    #[test]
    fn interrupted_or_corrupt_writes_leave_no_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        // A pull killed half-way: the writer is dropped before commit.
        let mut w = s.blob_writer().unwrap();
        w.write_chunk(b"half a layer").unwrap();
        drop(w);
        assert_eq!(blob_count(&s), 0);
        // Content that does not match its digest is refused.
        let mut w = s.blob_writer().unwrap();
        w.write_chunk(b"tampered").unwrap();
        let err = w.commit(Some(&sha256_digest(b"original"))).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert_eq!(blob_count(&s), 0);
        assert!(s.prune().is_ok());
        assert_eq!(std::fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn digests_cannot_name_paths_outside_the_store() {
        for bad in ["sha256:../../etc/passwd", "md5:abc", "sha256:ABC"] {
            assert!(matches!(digest_hex(bad), Err(StoreError::BadDigest(_))), "{bad}");
        }
    }

    #[test]
    fn tag_resolve_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        let layer = {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(2);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, "f", &b"hi"[..]).unwrap();
            b.into_inner().unwrap()
        };
        let layer_digest = s.put_blob(&layer, None).unwrap();
        let config = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).to_string();
        let config_digest = s.put_blob(config.as_bytes(), None).unwrap();
        let d = |media: &str, digest: &str, size: usize| Descriptor {
            media_type: media.into(),
            digest: digest.into(),
            size: size as u64,
            annotations: BTreeMap::new(),
            platform: None,
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_MANIFEST.into()),
            config: d(MEDIA_OCI_CONFIG, &config_digest, config.len()),
            layers: vec![d(MEDIA_OCI_LAYER, &layer_digest, layer.len())],
        };
        let m = s.put_blob(&serde_json::to_vec(&manifest).unwrap(), None).unwrap();
        s.tag("example.com/a:1", &m).unwrap();
        s.tag("example.com/a:1", &m).unwrap(); // re-tagging replaces
        let img = s.resolve("example.com/a:1").unwrap();
        assert_eq!(s.list().unwrap().len(), 1);
        let dirs = s.layer_dirs(&img).unwrap();
        assert_eq!(std::fs::read(dirs[0].join("f")).unwrap(), b"hi");
        assert!(matches!(s.resolve("example.com/b:1"), Err(StoreError::NotFound(_))));
        let r = s.remove("example.com/a:1").unwrap();
        assert_eq!(r.blobs_removed, 3);
        assert_eq!(s.prune().unwrap().layers_removed, 1);
        assert!(s.list().unwrap().is_empty());
    }
}
