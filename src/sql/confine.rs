//! What a cluster process may touch. `jsreplay scheduler` and `jsreplay executor` take plans
//! from anybody who reaches their ports (Ballista has no authentication; a local user on the
//! same machine is enough), and they often run as a service user that can read much more than
//! the analyst. So on those two, until the cluster authenticates its clients, everything a plan
//! reaches goes through [`Confinement`]:
//!
//! - every object store is read-only: a plan can neither write nor delete (`COPY … TO`,
//!   `INSERT INTO` a listing table, a sink of any kind writing through an object store);
//! - local files are read only under the folders given with `--read-root` (none by default),
//!   checked after symbolic links are resolved, and listings show nothing outside them;
//! - a plan holding a sink or an operator that reads or writes files around the object stores
//!   (`DataSinkExec`, a streaming table over a FIFO or file) is refused before it runs: on the
//!   scheduler as a physical optimizer rule (the last one), on the executor before a task runs
//!   (a client may also submit a physical plan directly).
//!
//! DDL that registers tables runs in the client (Ballista plans `CREATE EXTERNAL TABLE` there);
//! what such a table names is then read on the cluster, where the rules above apply.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ListResult, ObjectMeta, ObjectStore};

use crate::error::{Error, Result};
use crate::lake::store::{ReadGate, ReadOnly};

/// The folders a cluster process reads local files from (canonical paths), everything else
/// read-only or refused.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    roots: Vec<PathBuf>,
}

impl Confinement {
    /// Confinement to `roots` (each must exist; symbolic links in them are resolved now).
    pub fn new(roots: &[PathBuf]) -> Result<Self> {
        let roots = roots
            .iter()
            .map(|r| std::fs::canonicalize(r).map_err(|e| Error::io(r, e)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { roots })
    }

    /// The roots, for the startup line.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    fn allows(&self, path: &Path) -> bool {
        self.roots.iter().any(|r| path.starts_with(r))
    }

    /// `store`, the store of `url`, made read-only; a local file system (`file://`) also
    /// confined to the roots.
    pub fn wrap(&self, store: Arc<dyn ObjectStore>, url: &url::Url) -> Arc<dyn ObjectStore> {
        let local = url.scheme() == "file";
        Arc::new(ReadOnly::new(
            store,
            Confined {
                local: local.then(|| (LocalFileSystem::new(), self.clone())),
            },
        ))
    }
}

fn outside(location: &ObjPath) -> object_store::Error {
    object_store::Error::PermissionDenied {
        path: location.to_string(),
        source: "outside the folders this cluster process may read (--read-root)".into(),
    }
}

/// What a cluster process may read of one store, as a [`ReadGate`]: anything of an object
/// store; of the local file system, only what lies under the roots.
#[derive(Debug)]
struct Confined {
    /// For the local file system: the mapping of keys to paths and the roots.
    local: Option<(LocalFileSystem, Confinement)>,
}

impl std::fmt::Display for Confined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confined")
    }
}

/// A key a listing of the local file system may show: one under a root (lexically: a listing
/// shows names; reading one resolves its links first).
fn listable(fs: &LocalFileSystem, confinement: &Confinement, meta: &ObjectMeta) -> bool {
    fs.path_to_filesystem(&meta.location)
        .is_ok_and(|p| confinement.allows(&p))
}

#[async_trait::async_trait]
impl ReadGate for Confined {
    /// A key's path with links resolved lies under a root (remote stores: always).
    fn readable(&self, location: &ObjPath) -> object_store::Result<()> {
        let Some((fs, confinement)) = &self.local else {
            return Ok(());
        };
        let path = fs.path_to_filesystem(location)?;
        match std::fs::canonicalize(&path) {
            Ok(real) if confinement.allows(&real) => Ok(()),
            Ok(_) => Err(outside(location)),
            // Nothing there: say so only when asking would have been allowed.
            Err(_) if confinement.allows(&path) => Err(object_store::Error::NotFound {
                path: location.to_string(),
                source: "no such file".into(),
            }),
            Err(_) => Err(outside(location)),
        }
    }

    fn list(
        &self,
        inner: &Arc<dyn ObjectStore>,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let Some((_, confinement)) = &self.local else {
            return inner.list(prefix);
        };
        let (fs, confinement) = (LocalFileSystem::new(), confinement.clone());
        inner
            .list(prefix)
            .filter(move |m| {
                let keep = match m {
                    Ok(meta) => listable(&fs, &confinement, meta),
                    Err(_) => true,
                };
                std::future::ready(keep)
            })
            .boxed()
    }

    async fn list_with_delimiter(
        &self,
        inner: &Arc<dyn ObjectStore>,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        let mut found = inner.list_with_delimiter(prefix).await?;
        if let Some((fs, confinement)) = &self.local {
            found.objects.retain(|m| listable(fs, confinement, m));
            // A folder is shown when it is under a root or leads to one.
            found.common_prefixes.retain(|p| {
                fs.path_to_filesystem(p).is_ok_and(|path| {
                    confinement
                        .roots
                        .iter()
                        .any(|r| path.starts_with(r) || r.starts_with(&path))
                })
            });
        }
        Ok(found)
    }

    fn why_read_only(&self) -> &'static str {
        "a jsreplay cluster only reads (its scheduler and executors accept plans from anybody \
         who reaches them)"
    }
}

/// Refuses a plan with an operator that writes, or reads files around the object stores.
pub fn check_plan(plan: &Arc<dyn ExecutionPlan>) -> DfResult<()> {
    plan.apply(|node| {
        let name = node.name();
        if name.contains("Sink") || name == "StreamingTableExec" {
            return Err(DataFusionError::Plan(format!(
                "{name}: a jsreplay cluster runs queries that read, not statements that write \
                 or read around its object stores (COPY, INSERT, streaming tables)"
            )));
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map(|_| ())
}

/// The scheduler's last physical optimizer rule: [`check_plan`] on every plan it makes.
#[derive(Debug, Default)]
pub struct RefuseWrites;

impl PhysicalOptimizerRule for RefuseWrites {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        check_plan(&plan)?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        "jsreplay_refuse_writes"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The executor's engine: Ballista's own, after [`check_plan`] on each task's plan.
#[derive(Default)]
pub struct CheckedEngine {
    inner: DefaultExecutionEngine,
}

impl ExecutionEngine for CheckedEngine {
    fn create_query_stage_exec(
        &self,
        job_id: ballista_core::JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> DfResult<Arc<dyn QueryStageExecutor>> {
        check_plan(&plan)?;
        self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn reads_only_under_the_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("in.txt"), b"ok").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("link.txt")).unwrap();
        let c = Confinement::new(std::slice::from_ref(&root)).unwrap();
        let file = url::Url::parse("file:///").unwrap();
        let store = c.wrap(Arc::new(LocalFileSystem::new()), &file);
        let key =
            |p: &Path| ObjPath::from_absolute_path(std::fs::canonicalize(p).unwrap()).unwrap();
        let got = store.get(&key(&root.join("in.txt"))).await.unwrap();
        assert_eq!(&got.bytes().await.unwrap()[..], b"ok");
        for bad in [tmp.path().join("secret.txt"), root.join("link.txt")] {
            let e = store.get(&key(&bad)).await.unwrap_err();
            assert!(
                matches!(e, object_store::Error::PermissionDenied { .. }),
                "{e}"
            );
        }
        let e = store
            .put(&key(&root).join("new.txt"), PutPayload::from_static(b"x"))
            .await
            .unwrap_err();
        assert!(matches!(e, object_store::Error::NotSupported { .. }), "{e}");
        assert!(!root.join("new.txt").exists());
        let listed: Vec<_> = store
            .list(Some(&key(tmp.path())))
            .map(|m| m.unwrap().location.to_string())
            .collect()
            .await;
        assert!(
            listed.iter().all(|l| !l.ends_with("secret.txt")),
            "{listed:?}"
        );
        assert!(listed.iter().any(|l| l.ends_with("in.txt")), "{listed:?}");
        // No roots: no local file at all.
        let none = Confinement::default().wrap(Arc::new(LocalFileSystem::new()), &file);
        assert!(none.get(&key(&root.join("in.txt"))).await.is_err());
    }
}
