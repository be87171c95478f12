//! A TCP proxy on loopback for the tests and the bench (the kernel here has no netem): it delays
//! every chunk by a one-way latency in each direction without limiting bandwidth (chunks are
//! pipelined, so WAN round trips are simulated, not a slow link), can cap the bandwidth towards
//! the client (to make an export last long enough for something to happen during it), and can
//! cut every open connection at once (a network failure the client must recover from).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// How the proxy treats traffic.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// Added to every chunk in each direction (RTT = 2 × this).
    pub one_way: Duration,
    /// Bytes per second towards the client; `None` = unlimited.
    pub down_rate: Option<u64>,
}

/// A running proxy; it stops accepting when dropped (open connections end with the runtime).
pub struct Proxy {
    pub port: u16,
    accepted: Arc<AtomicU64>,
    cut: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy in front of `127.0.0.1:upstream`.
    pub async fn start(upstream: u16, shape: Shape) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cuts) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    continue; // upstream down: the client sees the connection close
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                pipe(ri, wo, shape.one_way, None, cuts.clone());
                pipe(ro, wi, shape.one_way, shape.down_rate, cuts.clone());
            }
        });
        Proxy {
            port,
            accepted,
            cut,
            accept,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Closes every connection open now; new connections are accepted as before.
    pub fn cut_all(&self) {
        self.cut.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

/// One direction: a reader task stamps chunks with their due time, a writer task sends them
/// when due (and no faster than `rate`); both stop when the connection is cut.
fn pipe(
    mut r: impl AsyncRead + Unpin + Send + 'static,
    mut w: impl AsyncWrite + Unpin + Send + 'static,
    one_way: Duration,
    rate: Option<u64>,
    cuts: watch::Receiver<u64>,
) {
    // Each task watches for cuts made after this connection opened.
    let watcher = || {
        let mut c = cuts.clone();
        c.borrow_and_update();
        c
    };
    let (mut reader_cut, mut writer_cut) = (watcher(), watcher());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = tokio::select! {
                n = r.read(&mut buf) => n,
                _ = reader_cut.changed() => return,
            };
            match n {
                Ok(n) if n > 0 => {
                    let due = tokio::time::Instant::now() + one_way;
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    tokio::spawn(async move {
        let send = async {
            while let Some((due, chunk)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                w.write_all(&chunk).await?;
                if let Some(rate) = rate {
                    let secs = chunk.len() as f64 / rate as f64;
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
            }
            w.shutdown().await
        };
        tokio::select! {
            _ = send => {}
            _ = writer_cut.changed() => {}
        }
    });
}
