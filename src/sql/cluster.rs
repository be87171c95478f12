//! Hunts on a cluster: a DataFusion Ballista scheduler and executors that run jsreplay's SQL
//! with jsreplay's functions and object stores. The scheduler plans a submitted statement into
//! stages (listing the dataset's files through the same registry the client uses); each executor
//! runs its share of the tasks, reading Parquet from object storage (or a path all machines
//! share) with its own credentials, and serves the results to the client over Arrow Flight.
//!
//! Both run until SIGINT or SIGTERM. They are Ballista's own scheduler and executor, with three
//! things given to them: the session state of [`engine::state`] (DataFusion's functions and
//! jsreplay's, the lake's object stores, the operator memory limit) and, on the executor, the
//! same functions in the registry its task plans are decoded with.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;

use crate::error::{Error, Result};
use crate::sql::confine::{CheckedEngine, Confinement, RefuseWrites};
use crate::sql::engine;

/// Where a scheduler listens and how executors are told to reach it.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// The host name executors and clients use for this scheduler (defaults to the bind address).
    pub external_host: Option<String>,
    /// The only local folders plans may read (it lists files and reads footers to plan).
    pub confinement: Confinement,
}

/// Where an executor listens, which scheduler it serves, where it keeps shuffle files.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler: engine::Cluster,
    pub bind_host: String,
    /// The host name the scheduler, the other executors and clients reach this executor by.
    pub external_host: Option<String>,
    /// Arrow Flight (results and shuffle data).
    pub port: u16,
    /// gRPC (tasks from the scheduler).
    pub grpc_port: u16,
    /// Tasks run at once (defaults to the machine's cores).
    pub concurrent_tasks: Option<usize>,
    /// Shuffle files (defaults to a temporary folder).
    pub work_dir: Option<String>,
    /// The only local folders tasks may read.
    pub confinement: Confinement,
}

fn ballista_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Input(format!("{what}: {e}"))
}

/// The state every session on the scheduler gets: the client's settings (they come with the
/// job), the lake's stores (confined), the memory limit, jsreplay's functions, and the rule that
/// refuses plans that write.
fn scheduler_state(
    config: SessionConfig,
    confinement: &Confinement,
) -> datafusion::error::Result<datafusion::execution::SessionState> {
    let state = engine::state(
        config,
        engine::runtime_confined(engine::memory_limit(), Some(confinement.clone()))?,
    )?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_physical_optimizer_rule(Arc::new(RefuseWrites))
        .build())
}

/// The startup line's account of what plans may read locally.
fn roots_line(confinement: &Confinement) -> String {
    match confinement.roots() {
        [] => "no local files (--read-root DIR to allow a folder)".to_string(),
        roots => roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Runs a scheduler until SIGINT or SIGTERM.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<()> {
    let external_host = options
        .external_host
        .unwrap_or_else(|| options.bind.ip().to_string());
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: external_host.clone(),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder({
        let confinement = options.confinement.clone();
        Arc::new(move |config| scheduler_state(config, &confinement))
    });
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ballista_error("cannot set up the scheduler", e))?;
    let server = start_server(cluster, options.bind, Arc::new(config));
    eprintln!(
        "jsreplay scheduler listening on {} (Ballista {}, DataFusion {}); clients use --cluster \
         df://{}:{}; plans read {} and write nothing; anybody who reaches this port can run \
         queries here",
        options.bind,
        ballista_core::BALLISTA_VERSION,
        datafusion::DATAFUSION_VERSION,
        external_host,
        options.bind.port(),
        roots_line(&options.confinement)
    );
    tokio::select! {
        done = server => done.map_err(|e| ballista_error("the scheduler stopped", e)),
        signal = stop_signal() => {
            eprintln!("jsreplay scheduler: {signal}, stopping");
            Ok(())
        }
    }
}

/// The executor's function registry: DataFusion's functions and jsreplay's.
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for udf in crate::sql::udf::all() {
        registry
            .scalar_functions
            .insert(udf.name().to_string(), Arc::new(udf));
    }
    registry
}

/// Runs an executor until SIGINT or SIGTERM (Ballista's own handler tells the scheduler first).
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    let limit = engine::memory_limit();
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: options.external_host.clone(),
        port: options.port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.host.clone(),
        scheduler_port: options.scheduler.port,
        // Wait for a scheduler that starts after the executor (a service manager's order).
        scheduler_connect_timeout_seconds: 60,
        vcores: options.concurrent_tasks.unwrap_or(defaults.vcores),
        work_dir: options.work_dir.clone(),
        override_function_registry: Some(Arc::new(function_registry())),
        override_runtime_producer: Some({
            let confinement = options.confinement.clone();
            Arc::new(move |_: &SessionConfig| {
                engine::runtime_confined(limit, Some(confinement.clone()))
            })
        }),
        override_execution_engine: Some(Arc::new(CheckedEngine::default())),
        ..defaults
    };
    eprintln!(
        "jsreplay executor: Flight on {}:{}, tasks on {}:{}, scheduler {}; tasks read {} and \
         write nothing",
        options.bind_host,
        options.port,
        options.bind_host,
        options.grpc_port,
        options.scheduler,
        roots_line(&options.confinement)
    );
    tokio::select! {
        done = start_executor_process(Arc::new(config)) => {
            done.map_err(|e| ballista_error("the executor stopped", e))
        }
        signal = terminated() => {
            eprintln!("jsreplay executor: {signal}, stopping");
            Ok(())
        }
    }
}

/// SIGINT or SIGTERM, whichever comes first.
async fn stop_signal() -> &'static str {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        s = terminated() => s,
    }
}

/// SIGTERM (a service manager's stop); never, where it cannot be watched.
async fn terminated() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
            "SIGTERM"
        }
        Err(_) => std::future::pending().await,
    }
}
