//! The cluster's own processes: `scheduler` and `executor`.

use super::*;

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (gRPC for clients and executors). 0.0.0.0:50050 for other machines.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// The name executors and clients reach this machine by (default: the bind address).
    #[arg(long)]
    pub external_host: Option<String>,
    /// A local folder plans may read (repeat for more); none by default: without it the
    /// scheduler lists and reads only object stores. Nothing is ever written.
    #[arg(long, value_name = "DIR")]
    pub read_root: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to serve, df://HOST:PORT.
    #[arg(long, value_name = "df://HOST:PORT", value_parser = crate::sql::engine::Cluster::parse)]
    pub scheduler: crate::sql::engine::Cluster,
    /// Host or address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The name the scheduler, the other executors and clients reach this machine by.
    #[arg(long)]
    pub external_host: Option<String>,
    /// Arrow Flight port (results and shuffle data).
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// gRPC port (tasks from the scheduler).
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrent_tasks: Option<u16>,
    /// Folder for shuffle files (default: a new temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// A local folder tasks may read (repeat for more; the scheduler needs the same); none by
    /// default: without it tasks read only object stores. Nothing is ever written.
    #[arg(long, value_name = "DIR")]
    pub read_root: Vec<PathBuf>,
}

pub(super) async fn cmd_scheduler(a: SchedulerArgs) -> Result<u8> {
    cluster::run_scheduler(cluster::SchedulerOptions {
        bind: a.bind,
        external_host: a.external_host,
        confinement: Confinement::new(&a.read_root)?,
    })
    .await?;
    Ok(exit::OK)
}

pub(super) async fn cmd_executor(a: ExecutorArgs) -> Result<u8> {
    cluster::run_executor(cluster::ExecutorOptions {
        scheduler: a.scheduler,
        bind_host: a.bind,
        external_host: a.external_host,
        port: a.port,
        grpc_port: a.grpc_port,
        concurrent_tasks: a.concurrent_tasks.map(usize::from),
        work_dir: a.work_dir.map(|p| p.display().to_string()),
        confinement: Confinement::new(&a.read_root)?,
    })
    .await?;
    Ok(exit::OK)
}
