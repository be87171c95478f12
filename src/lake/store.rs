//! Where an archive lives: a local folder or an object-store URL (`s3://bucket/prefix`,
//! `gs://bucket/prefix`, `az://container/prefix`), opened through the `object_store` crate with the
//! usual credential environment variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`,
//! `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, …).
//!
//! Every write is one atomic PUT (a temporary file and a rename on a local disk), so a reader
//! or a killed run never sees half an object. Writes can be conditional: "create only if absent"
//! everywhere, "replace only if unchanged since read" on object stores, which is what the archive
//! fences its checkpoint and lease with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion,
    WriteMultipart,
};
use url::Url;

use crate::error::{Error, Result};

/// An opened destination.
#[derive(Debug, Clone)]
pub struct Dest {
    store: Arc<dyn ObjectStore>,
    /// The key prefix inside the store (empty for a bucket root or a local folder).
    prefix: ObjPath,
    /// The table URL DataFusion reads (`file:///abs/dir/`, `s3://bucket/prefix/`).
    pub url: Url,
    /// As shown to users.
    pub display: String,
    /// The folder, for a local destination.
    pub local: Option<PathBuf>,
}

/// The version of an object as read, for a later conditional replace.
pub type Version = UpdateVersion;

/// How a write treats an object that is already there.
#[derive(Debug, Clone)]
pub enum WriteMode {
    Overwrite,
    /// Only if absent.
    Create,
    /// Only if unchanged since it was read with this version.
    Replace(Version),
}

/// A conditional write's outcome.
#[derive(Debug)]
pub enum Written {
    Done(Version),
    /// The condition did not hold: somebody else wrote first.
    Conflict,
}

/// Transient store errors (5xx, timeouts, resets) are retried with backoff for up to a minute:
/// long enough to ride out a blip in a scheduled job, short enough that a wrong endpoint fails
/// while somebody is still watching.
fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 6,
        retry_timeout: std::time::Duration::from_secs(60),
        ..Default::default()
    }
}

/// The object a local upload's staging file (`<name>#<digits>`, as `object_store` names it)
/// belongs to.
fn staged_upload_of(name: &str) -> Option<&str> {
    name.rsplit_once('#').and_then(|(base, digits)| {
        (!base.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some(base)
    })
}

fn store_error(what: &str, e: object_store::Error) -> Error {
    Error::Store(format!("{what}: {e}"))
}

impl Dest {
    /// Opens a destination: a URL with a scheme of `s3`, `gs`, `az`/`abfs`, or a local path.
    pub fn open(text: &str) -> Result<Self> {
        let Some((scheme, _)) = text.split_once("://").filter(|(s, _)| s.len() > 1) else {
            return Self::open_local(Path::new(text));
        };
        if scheme == "file" {
            let url = Url::parse(text).map_err(|e| Error::Usage(format!("{text}: {e}")))?;
            let path = url
                .to_file_path()
                .map_err(|_| Error::Usage(format!("{text}: not a local path")))?;
            return Self::open_local(&path);
        }
        let mut url = Url::parse(text)
            .map_err(|e| Error::Usage(format!("{text} is not a valid URL: {e}")))?;
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(Error::Usage(format!("{text}: the URL names no bucket")));
        }
        let built: std::result::Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
            "s3" | "s3a" => AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .with_retry(retry())
                .with_conditional_put(S3ConditionalPut::ETagMatch)
                .build()
                .map(|s| Arc::new(s) as _),
            "gs" => GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry())
                .build()
                .map(|s| Arc::new(s) as _),
            "az" | "abfs" | "abfss" | "azure" => MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry())
                .build()
                .map(|s| Arc::new(s) as _),
            other => {
                return Err(Error::Usage(format!(
                "{text}: unsupported scheme {other}:// (use a local path, s3://, gs:// or az://)"
            )))
            }
        };
        let store = built.map_err(|e| {
            Error::Usage(format!(
                "cannot open {text}: {e} (check the credential environment variables)"
            ))
        })?;
        let prefix =
            ObjPath::from_url_path(url.path()).map_err(|e| Error::Usage(format!("{text}: {e}")))?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self {
            store,
            prefix,
            display: text.trim_end_matches('/').to_string(),
            url,
            local: None,
        })
    }

    fn open_local(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let abs = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        let store = LocalFileSystem::new_with_prefix(&abs)
            .map_err(|e| store_error(&abs.display().to_string(), e))?;
        let url = Url::from_directory_path(&abs)
            .map_err(|_| Error::Usage(format!("{}: not an absolute path", abs.display())))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: ObjPath::default(),
            display: path.display().to_string(),
            url,
            local: Some(abs),
        })
    }

    /// True when the destination can replace an object only if unchanged (object stores; a
    /// local folder relies on a file lock instead).
    pub fn conditional_replace(&self) -> bool {
        self.local.is_none()
    }

    /// The store and the URL of its root (`s3://bucket`), for DataFusion to read through.
    pub fn store(&self) -> (Arc<dyn ObjectStore>, Url) {
        let mut root = self.url.clone();
        root.set_path("/");
        (self.store.clone(), root)
    }

    /// The store seen from the destination's root (what a Delta log store is built on) and the
    /// store's own root.
    pub fn table_stores(&self) -> (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) {
        match &self.local {
            Some(_) => (self.store.clone(), Arc::new(LocalFileSystem::new())),
            None => (
                Arc::new(object_store::prefix::PrefixStore::new(
                    self.store.clone(),
                    self.prefix.clone(),
                )),
                self.store.clone(),
            ),
        }
    }

    /// The store whose keys [`Dest::root_key`] gives and the URL of its root (`s3://bucket/`,
    /// `file:///`): what a query engine registers to read the destination's files by full key.
    pub fn store_root(&self) -> (Arc<dyn ObjectStore>, Url) {
        let (_, root) = self.table_stores();
        let mut url = self.url.clone();
        url.set_path("/");
        (root, url)
    }

    /// The key of `rel` in the store [`Dest::store_root`] returns.
    pub fn root_key(&self, rel: &str) -> ObjPath {
        match &self.local {
            Some(abs) => rel.split('/').filter(|p| !p.is_empty()).fold(
                ObjPath::from_absolute_path(abs).unwrap_or_default(),
                |k, part| k.join(part),
            ),
            None => self.key(rel),
        }
    }

    fn key(&self, rel: &str) -> ObjPath {
        rel.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |k, part| k.join(part))
    }

    /// Reads an object; `None` when there is none.
    pub async fn read(&self, rel: &str) -> Result<Option<(Bytes, Version)>> {
        match self.store.get(&self.key(rel)).await {
            Ok(got) => {
                let version = Version {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                };
                let bytes = got.bytes().await.map_err(|e| store_error(rel, e))?;
                Ok(Some((bytes, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(&format!("reading {rel}"), e)),
        }
    }

    /// Bytes `range` of an object.
    pub async fn read_range(&self, rel: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.key(rel), range)
            .await
            .map_err(|e| store_error(&format!("reading {rel}"), e))
    }

    /// When an object was last written; `None` when there is none.
    pub async fn modified(&self, rel: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        match self.store.head(&self.key(rel)).await {
            Ok(meta) => Ok(Some(meta.last_modified)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(&format!("reading {rel}"), e)),
        }
    }

    /// Writes an object in one atomic PUT.
    pub async fn write(
        &self,
        rel: &str,
        bytes: impl Into<PutPayload>,
        mode: WriteMode,
    ) -> Result<Written> {
        let mode = match mode {
            WriteMode::Overwrite => PutMode::Overwrite,
            WriteMode::Create => PutMode::Create,
            WriteMode::Replace(v) if self.conditional_replace() => PutMode::Update(v),
            // A local folder is guarded by the archive's file lock.
            WriteMode::Replace(_) => PutMode::Overwrite,
        };
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.key(rel), bytes.into(), opts)
            .await
        {
            Ok(r) => Ok(Written::Done(Version {
                e_tag: r.e_tag,
                version: r.version,
            })),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Written::Conflict),
            Err(e) => Err(store_error(&format!("writing {rel}"), e)),
        }
    }

    /// Uploads a local file (in parts when it is large); the object appears whole or not at all.
    pub async fn upload(&self, file: &Path, rel: &str) -> Result<()> {
        const PART: usize = 8 << 20;
        let len = std::fs::metadata(file)
            .map_err(|e| Error::io(file, e))?
            .len();
        if len <= PART as u64 {
            let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
            self.write(rel, bytes, WriteMode::Overwrite).await?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&self.key(rel))
            .await
            .map_err(|e| store_error(&format!("uploading {rel}"), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
        let mut buf = vec![0u8; PART];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| Error::io(file, e))?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(2)
                .await
                .map_err(|e| store_error(&format!("uploading {rel}"), e))?;
            writer.write(&buf[..n]);
        }
        writer
            .finish()
            .await
            .map_err(|e| store_error(&format!("uploading {rel}"), e))?;
        Ok(())
    }

    /// Deletes an object; one already gone is not an error.
    /// In a local folder, the staging files of unfinished uploads of it go too (see
    /// [`Dest::staged_uploads`]): an object deleted is gone whole and in part.
    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self.store.delete(&self.key(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(&format!("deleting {rel}"), e)),
        }
        let Some(root) = &self.local else {
            return Ok(());
        };
        let path = root.join(rel);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(());
        };
        let name = name.to_string_lossy();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let sibling = entry.file_name().to_string_lossy().to_string();
            if staged_upload_of(&sibling) == Some(&name)
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                let staged = entry.path();
                std::fs::remove_file(&staged).map_err(|e| Error::io(&staged, e))?;
            }
        }
        Ok(())
    }

    /// The staging files of unfinished uploads in a local destination that are older than
    /// `older_than`, relative to it, sorted: `object_store` writes `<name>#<digits>` and renames
    /// it on completion, and hides such names from listings, so a run killed mid-upload leaves
    /// one nothing else sees, while a folder reader (pyarrow, Spark) trips on the empty or
    /// half-written file. [`Dest::delete`] removes those of an object it deletes; `vacuum`
    /// removes the rest with [`Dest::remove_staged_upload`]. Object stores have none (an upload
    /// appears whole or not at all). Links are not followed.
    pub fn staged_uploads(&self, older_than: std::time::Duration) -> Vec<String> {
        let Some(root) = &self.local else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    dirs.push(path);
                } else if meta.is_file()
                    && staged_upload_of(&entry.file_name().to_string_lossy()).is_some()
                    && meta
                        .modified()
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age >= older_than)
                {
                    found.push(
                        path.strip_prefix(root)
                            .unwrap_or(&path)
                            .display()
                            .to_string(),
                    );
                }
            }
        }
        found.sort();
        found
    }

    /// Removes one staging file [`Dest::staged_uploads`] named.
    pub fn remove_staged_upload(&self, rel: &str) -> Result<()> {
        let (Some(root), Some(name)) = (&self.local, rel.rsplit('/').next()) else {
            return Ok(());
        };
        if staged_upload_of(name).is_none() {
            return Err(Error::Store(format!("{rel} is not an unfinished upload")));
        }
        let path = root.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Every object under the destination (or under `under`), as (relative path, size), sorted.
    pub async fn list(&self, under: Option<&str>) -> Result<Vec<(String, u64)>> {
        let root = under.map_or(self.prefix.clone(), |u| self.key(u));
        let prefix_len = self.prefix.as_ref().len();
        let mut all: Vec<(String, u64)> = self
            .store
            .list(Some(&root))
            .map_ok(|m| {
                let full = m.location.as_ref();
                let rel = full[prefix_len..].trim_start_matches('/').to_string();
                (rel, m.size)
            })
            .try_collect()
            .await
            .map_err(|e| store_error(&format!("listing {}", self.display), e))?;
        all.sort();
        Ok(all)
    }
}

/// What a read-only view of a store lets through: reads of the keys it allows, and listings it
/// filters or makes up. [`ReadOnly`] refuses every write and delete around it.
#[async_trait::async_trait]
pub trait ReadGate: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static {
    /// `Ok` when `location` may be read, else the error to answer with.
    fn readable(&self, location: &ObjPath) -> object_store::Result<()>;
    /// The objects under `prefix`, given the store underneath.
    fn list(
        &self,
        inner: &Arc<dyn ObjectStore>,
        prefix: Option<&ObjPath>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>;
    /// One level of the listing under `prefix`.
    async fn list_with_delimiter(
        &self,
        inner: &Arc<dyn ObjectStore>,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<object_store::ListResult>;
    /// Why writes are refused, for the error.
    fn why_read_only(&self) -> &'static str;
}

/// A store that only reads, through a [`ReadGate`]: a Delta snapshot's files, a cluster
/// process's confined view.
#[derive(Debug)]
pub struct ReadOnly<G> {
    inner: Arc<dyn ObjectStore>,
    gate: G,
}

impl<G> ReadOnly<G> {
    pub fn new(inner: Arc<dyn ObjectStore>, gate: G) -> Self {
        Self { inner, gate }
    }

    pub fn gate(&self) -> &G {
        &self.gate
    }
}

impl<G: ReadGate> std::fmt::Display for ReadOnly<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.gate, self.inner)
    }
}

impl<G: ReadGate> ReadOnly<G> {
    fn refuse(&self, op: &str) -> object_store::Error {
        object_store::Error::NotSupported {
            source: format!("{op}: {}", self.gate.why_read_only()).into(),
        }
    }
}

#[async_trait::async_trait]
impl<G: ReadGate> ObjectStore for ReadOnly<G> {
    async fn put_opts(
        &self,
        _: &ObjPath,
        _: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        Err(self.refuse("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &ObjPath,
        _: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        Err(self.refuse("put"))
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.gate.readable(location)?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<ObjPath>> {
        use futures::StreamExt;
        let refused = self.refuse("delete").to_string();
        locations
            .map(move |_| {
                Err(object_store::Error::NotSupported {
                    source: refused.clone().into(),
                })
            })
            .boxed()
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.gate.list(&self.inner, prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<object_store::ListResult> {
        self.gate.list_with_delimiter(&self.inner, prefix).await
    }

    async fn copy_opts(
        &self,
        _: &ObjPath,
        _: &ObjPath,
        _: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        Err(self.refuse("copy"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_uploads_go_with_their_object_or_with_vacuum() {
        let tmp = std::env::temp_dir().join(format!("jsreplay-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("dt=2025-07-10/hour=02")).unwrap();
        let part = "dt=2025-07-10/hour=02/part-S-1-2.parquet";
        let other = "dt=2025-07-10/hour=02/part-S-3-4.parquet";
        std::fs::write(tmp.join(format!("{part}#12")), b"").unwrap();
        std::fs::write(tmp.join(format!("{other}#7")), b"").unwrap();
        std::fs::write(tmp.join(other), b"data").unwrap();
        std::fs::write(tmp.join("notes#draft"), b"kept").unwrap();
        let outside = tmp.with_extension("victim");
        std::fs::write(&outside, b"x").unwrap();
        std::os::unix::fs::symlink(&outside, tmp.join("link#3")).unwrap();
        let dest = Dest::open(tmp.to_str().unwrap()).unwrap();
        // Deleting an object (here one never finished) removes its unfinished uploads only.
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(dest.delete(part))
            .unwrap();
        assert!(!tmp.join(format!("{part}#12")).exists());
        assert!(tmp.join(format!("{other}#7")).exists());
        // The rest, for vacuum: only when old enough, never a link or another name with `#`.
        assert!(dest
            .staged_uploads(std::time::Duration::from_secs(3600))
            .is_empty());
        let found = dest.staged_uploads(std::time::Duration::ZERO);
        assert_eq!(found, vec![format!("{other}#7")]);
        for rel in &found {
            dest.remove_staged_upload(rel).unwrap();
        }
        assert!(dest.remove_staged_upload(other).is_err());
        assert!(tmp.join(other).exists());
        assert!(tmp.join("notes#draft").exists());
        assert!(outside.exists());
        let _ = std::fs::remove_dir_all(&tmp);
        let _ = std::fs::remove_file(&outside);
    }
}
