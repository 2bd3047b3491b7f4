//! `metrics.listen`: the client's metrics served at `GET /metrics` for Prometheus to scrape,
//! on the core runtime, until the client is dropped.

use crate::error::{Error, Result};
use crate::rt;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the page shows, rendered per scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The running endpoint; dropping it stops the server.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl MetricsServer {
    /// Binds `listen` (`host:port`; port 0 picks one) now, so a bad address or a port in use
    /// fails the client's construction with a `config` error naming `metrics.listen`.
    pub fn start(listen: &str, render: Render) -> Result<MetricsServer> {
        let bad = |why: String| {
            Error::config(format!("metrics.listen: {why}"))
                .with_details(serde_json::json!({ "path": "metrics.listen" }))
        };
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| bad(format!("cannot listen on '{listen}': {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| bad(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| bad(e.to_string()))?;
        let listener = {
            let _guard = rt::handle().enter();
            TcpListener::from_std(listener).map_err(|e| bad(e.to_string()))?
        };
        let stop = CancellationToken::new();
        rt::spawn(serve(listener, render, stop.clone()));
        Ok(MetricsServer { addr, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(listener: TcpListener, render: Render, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let (render, stop) = (render.clone(), stop.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let render = render.clone();
                async move { Ok::<_, std::convert::Infallible>(page(&req, &render)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

fn page(req: &Request<hyper::body::Incoming>, render: &Render) -> Response<Full<Bytes>> {
    let (status, kind, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/metrics") => (StatusCode::OK, OPENMETRICS, render()),
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are at /metrics\n".into(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", kind)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
