//! `MockServer`: a real HTTP/1.1 + h2c server on loopback, on the core runtime.

use super::config::MockConfig;
use super::conn::ResetOnDrop;
use super::faults::FaultPlan;
use super::fixtures::Fixtures;
use super::received::{Received, ReceivedRequest};
use super::routes;
use super::stats::{Counters, MockStats};
use crate::error::{Error, Result};
use crate::rt;
use crate::secret::Secret;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long `stop` waits for in-flight answers before returning anyway.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What every request handler reads; built once per server.
pub(crate) struct Shared {
    pub fixtures: Fixtures,
    pub plan: FaultPlan,
    pub stats: Counters,
    pub api_key: Option<Secret>,
    pub max_body: usize,
    pub models: Vec<String>,
    pub received: Received,
    pub shutdown: CancellationToken,
}

/// A running mock server. Stops on `stop()` or when dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Closes (yields `None`) once the accept loop and every connection task have ended:
    /// each holds a clone of the matching sender.
    drained: Option<mpsc::Receiver<()>>,
}

impl MockServer {
    /// Binds 127.0.0.1 on `config.port` (0: a free port) and serves on the core runtime.
    pub fn start(mut config: MockConfig) -> Result<MockServer> {
        let fixtures = config.take_fixtures()?;
        let plan = config.fault_plan()?;
        let mut models = config.models.clone();
        models.extend(fixtures.models());
        models.sort();
        models.dedup();
        let shared = Arc::new(Shared {
            fixtures,
            plan,
            stats: Counters::default(),
            api_key: config.api_key.take(),
            max_body: config.max_body_bytes,
            models,
            received: Received::new(config.record_requests),
            shutdown: CancellationToken::new(),
        });

        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .map_err(|e| Error::io(&format!("mock server: bind 127.0.0.1:{}", config.port), e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("mock server: listener", e))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| Error::io("mock server: listener", e))?;
        // Register the socket with the core runtime's reactor, whoever the caller is.
        let listener = {
            let _guard = rt::handle().enter();
            TcpListener::from_std(std_listener)
                .map_err(|e| Error::io("mock server: listener", e))?
        };
        let (done_tx, drained) = mpsc::channel(1);
        rt::spawn(accept_loop(listener, shared.clone(), done_tx));
        Ok(MockServer {
            addr,
            shared,
            drained: Some(drained),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (OpenAI clients want `{url}/v1` as their base URL).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> MockStats {
        self.shared.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// The last `record_requests` LLM requests as they arrived, oldest first (also
    /// `GET /_mock/requests`; `POST /_mock/reset` empties it, as does `clear_requests`).
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.received.snapshot()
    }

    pub fn clear_requests(&self) {
        self.shared.received.clear();
    }

    /// New faults from now on (the `faults` section's shape; its script from the start): a
    /// provider that goes down, or comes back, mid-test. Also `PUT /_mock/faults`.
    pub fn set_faults(&self, faults: serde_json::Value) -> crate::Result<()> {
        let config: super::faults::FaultConfig = serde_json::from_value(faults)
            .map_err(|e| crate::Error::config(format!("faults: {e}")))?;
        self.shared.plan.set_faults(config)
    }

    /// Replays the fault script from the start and restarts the RNGs from the seed.
    pub fn reset_faults(&self) {
        self.shared.plan.reset();
    }

    /// Stops accepting, lets in-flight answers finish (held `timeout` faults are dropped), and
    /// waits up to 5 s for that — unless called from async code on a runtime, where blocking
    /// is not allowed: there it only signals (use `shutdown().await` to wait). Idempotent.
    pub fn stop(&mut self) {
        self.shared.shutdown.cancel();
        if let Some(mut drained) = self.drained.take() {
            if tokio::runtime::Handle::try_current().is_err() {
                rt::block_on(async {
                    let _ = tokio::time::timeout(STOP_GRACE, drained.recv()).await;
                });
            }
        }
    }

    /// `stop`, awaited: returns once every connection has ended (or after 5 s).
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(mut drained) = self.drained.take() {
            let _ = tokio::time::timeout(STOP_GRACE, drained.recv()).await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, done: mpsc::Sender<()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The timer enables hyper's header-read timeout (slow clients cannot pin a connection).
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let stream = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        // Inside a task on the core runtime, plain `tokio::spawn` is that runtime.
        tokio::spawn(serve(stream, builder.clone(), shared.clone(), done.clone()));
    }
}

async fn serve(
    stream: TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    shared: Arc<Shared>,
    _done: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let (io, reset) = ResetOnDrop::new(stream);
    let shutdown = shared.shutdown.clone();
    let service = service_fn(move |req| routes::handle(shared.clone(), reset.clone(), req));
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
