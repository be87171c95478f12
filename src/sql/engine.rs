//! The SQL engine every query, hunt, timeline and tree runs on: one DataFusion session state
//! built the same way here, on a Ballista scheduler and on its executors, so a statement means the
//! same thing wherever it runs. The state carries the operator memory limit (a fair spill pool),
//! jsreplay's SQL functions ([`crate::sql::udf`]) and an object-store registry that opens
//! `s3://`, `gs://` and `az://` URLs the way the archive does, from the credential environment
//! variables of the process that reads them (so a cluster's machines use their own credentials,
//! and none travel with a query).
//!
//! [`session`] gives a local session, or, when `--cluster df://HOST:PORT` was given, one whose
//! plans run on that Ballista scheduler's executors.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use ballista_core::extension::SessionStateExt;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};
use crate::lake::store::Dest;
use crate::sql::confine::Confinement;

/// Memory the query operators (sorts, joins, aggregates, windows) may hold, unless the command
/// line sets another limit: beyond it, sorts and aggregates spill to the temporary folder and a
/// query whose operator cannot spill fails with a clear message instead of the machine swapping.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

static MEMORY_LIMIT: OnceLock<usize> = OnceLock::new();
static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// Sets the operator memory limit of every session this process opens (first call wins).
pub fn set_memory_limit(bytes: usize) {
    let _ = MEMORY_LIMIT.set(bytes);
}

/// A DataFusion error as jsreplay reports it (exit 5), with a hint naming `--memory-limit` when an
/// operator ran out of the pool (DataFusion names its own setting instead).
pub fn query_error(e: DataFusionError) -> Error {
    let mut text = e.strip_backtrace();
    if text.contains("Resources exhausted") {
        text += &format!(
            "\n(the SQL engine's memory limit is {} MiB: raise it with --memory-limit or \
             JSREPLAY_MEMORY_LIMIT, or narrow the statement)",
            memory_limit() >> 20
        );
    }
    Error::Query(text)
}

/// The operator memory limit of this process's sessions.
pub fn memory_limit() -> usize {
    MEMORY_LIMIT.get().copied().unwrap_or(DEFAULT_MEMORY_LIMIT)
}

/// A Ballista scheduler's address, from `df://HOST:PORT` (the port defaults to Ballista's 50050).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub host: String,
    pub port: u16,
}

impl Cluster {
    pub const DEFAULT_PORT: u16 = 50050;

    /// Parses `df://HOST[:PORT]`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let rest = text.strip_prefix("df://").ok_or_else(|| {
            format!("{text:?}: a cluster is given as df://HOST:PORT (a Ballista scheduler)")
        })?;
        let url = Url::parse(&format!("http://{rest}"))
            .map_err(|e| format!("{text:?} is not a scheduler address: {e}"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?} names no host"))?;
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{text:?}: give the scheduler as df://HOST:PORT, nothing after the port"
            ));
        }
        Ok(Self {
            host: host.to_string(),
            port: url.port().unwrap_or(Self::DEFAULT_PORT),
        })
    }

    /// The scheduler's gRPC endpoint, as Ballista's client dials it.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// Makes every session this process opens run on `cluster` (first call wins).
pub fn set_cluster(cluster: Cluster) {
    let _ = CLUSTER.set(cluster);
}

/// The cluster sessions run on, if one was given.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get()
}

/// Object stores by bucket, opened on first use the way the archive opens its destination
/// ([`Dest::open`]: `s3://`, `gs://`, `az://` with the usual credential variables); local paths
/// read through the local file system. A store registered explicitly (a Delta snapshot's view)
/// wins over one opened here.
#[derive(Debug, Default)]
pub struct LakeStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
    /// On a scheduler or executor: every store read-only, local files only under the roots.
    confinement: Option<Confinement>,
}

impl LakeStores {
    fn confined(&self, store: Arc<dyn ObjectStore>, url: &Url) -> Arc<dyn ObjectStore> {
        match &self.confinement {
            Some(c) => c.wrap(store, url),
            None => store,
        }
    }
}

/// `scheme://authority`: the part of a URL one store serves.
fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let store = self.confined(store, url);
        self.stores
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(store_key(url), store)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self
            .stores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(store.clone());
        }
        let store: Arc<dyn ObjectStore> = if url.scheme() == "file" {
            Arc::new(LocalFileSystem::new())
        } else {
            Dest::open(&format!("{key}/"))
                .map_err(|e| DataFusionError::Configuration(e.to_string()))?
                .store()
                .0
        };
        let store = self.confined(store, url);
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        Ok(stores.entry(key).or_insert(store).clone())
    }
}

/// The runtime of a session: the fair spill pool under `limit` and the lake's stores.
pub fn runtime(limit: usize) -> DfResult<Arc<RuntimeEnv>> {
    runtime_confined(limit, None)
}

/// [`runtime`], with the lake's stores confined (a scheduler's or an executor's).
pub fn runtime_confined(
    limit: usize,
    confinement: Option<Confinement>,
) -> DfResult<Arc<RuntimeEnv>> {
    // Fair among the operators that can spill, so one big sort cannot starve the others.
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
        .with_object_store_registry(Arc::new(LakeStores {
            confinement,
            ..Default::default()
        }))
        .build_arc()
}

/// Settings every session shares: Parquet filters pushed into the scan and reordered by cost.
pub fn configure(config: SessionConfig) -> SessionConfig {
    config
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true)
}

/// jsreplay's SQL functions added to a state (after anything that resets its function list).
pub fn with_udfs(mut state: SessionState) -> DfResult<SessionState> {
    for udf in crate::sql::udf::all() {
        state.register_udf(Arc::new(udf))?;
    }
    Ok(state)
}

/// A full session state over `config` and `runtime`: DataFusion's functions and jsreplay's.
pub fn state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> DfResult<SessionState> {
    with_udfs(
        SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build(),
    )
}

/// A session for one command: local, or planned here and run on the cluster given with
/// `--cluster` (the scheduler answers on first use; [`check_reachable`] asks it first).
pub fn session() -> Result<SessionContext> {
    let state = state(
        configure(SessionConfig::new()),
        runtime(memory_limit()).map_err(query_error)?,
    )
    .map_err(query_error)?;
    let state = match cluster() {
        None => state,
        // Ballista's upgrade swaps in its planner and resets the function list to DataFusion's.
        Some(c) => with_udfs(
            state
                .upgrade_for_ballista(c.endpoint())
                .map_err(query_error)?,
        )
        .map_err(query_error)?,
    };
    Ok(SessionContext::new_with_state(state))
}

/// Fails with a connection error (exit 3) when the cluster's scheduler does not accept a
/// connection within five seconds, instead of a query error deep inside the first statement.
pub async fn check_reachable(cluster: &Cluster) -> Result<()> {
    let addr = format!("{}:{}", cluster.host, cluster.port);
    let fail = |reason: String| Error::Connect {
        server: cluster.to_string(),
        reason,
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(format!(
            "{e} (is `jsreplay scheduler` running there?)"
        ))),
        Err(_) => Err(fail("no answer within 5 s".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_addresses() {
        let c = Cluster::parse("df://10.0.0.5:50050").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("10.0.0.5", 50050));
        assert_eq!(c.endpoint(), "http://10.0.0.5:50050");
        let c = Cluster::parse("df://scheduler.soc").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("scheduler.soc", 50050));
        assert_eq!(c.to_string(), "df://scheduler.soc:50050");
        let c = Cluster::parse("df://[::1]:6000").unwrap();
        assert_eq!(c.endpoint(), "http://[::1]:6000");
        for bad in [
            "http://x:1",
            "df://",
            "df://:50050",
            "df://x:99999",
            "df://x:1/path",
            "df://u@x:1",
            "x:1",
        ] {
            assert!(Cluster::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stores_are_keyed_by_bucket() {
        let a = Url::parse("s3://bucket/a/b.parquet").unwrap();
        let b = Url::parse("s3://bucket/").unwrap();
        assert_eq!(store_key(&a), store_key(&b));
        let registry = LakeStores::default();
        let local = registry
            .get_store(&Url::parse("file:///tmp/x").unwrap())
            .unwrap();
        let again = registry
            .get_store(&Url::parse("file:///").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&local, &again));
        assert!(registry
            .get_store(&Url::parse("ftp://host/x").unwrap())
            .is_err());
    }
}
