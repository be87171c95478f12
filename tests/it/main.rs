//! Integration tests: one binary (shared helpers in `util`), real nats-servers (2.9 and 2.14).

mod archive;
mod auth;
mod cluster;
mod decode_prop;
mod delta;
mod detection;
mod export;
mod failover;
mod hostile;
mod hunt;
mod layout;
#[path = "../support/proxy.rs"]
mod proxy;
#[path = "../support/pty.rs"]
mod pty;
mod query;
#[path = "../support/readers.rs"]
mod readers;
#[path = "../support/run.rs"]
mod run;
#[path = "../support/servers.rs"]
mod servers;
mod shell;
#[path = "../support/stores.rs"]
mod stores;
mod story;
mod util;

/// Declares one test per server version around an `async fn(Kind)`.
#[macro_export]
macro_rules! both_servers {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn v2_9() {
                super::$name($crate::util::Kind::V2_9).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn v2_14() {
                super::$name($crate::util::Kind::V2_14).await
            }
        }
    };
}
