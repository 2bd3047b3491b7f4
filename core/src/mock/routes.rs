//! Request handling: routing, auth, body limit, faults, and the answer in the caller's format.

use super::faults::Fault;
use super::openai;
use super::server::Shared;
use super::stats::Route;
use super::wire::{Format, WireError};
use crate::error::ErrorKind;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use http_body_util::{BodyExt, Either, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode, Version};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Body =
    Either<Full<Bytes>, StreamBody<BoxStream<'static, Result<Frame<Bytes>, io::Error>>>>;

/// The service error: hyper answers it by dropping the connection (HTTP/1) or resetting
/// the stream (HTTP/2), which is exactly what `reset` and `timeout` faults want.
#[derive(Debug)]
pub(crate) struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection dropped by the mock server: {}", self.0)
    }
}

impl std::error::Error for Dropped {}

const JSON: &str = "application/json";
const SSE: &str = "text/event-stream; charset=utf-8";

/// Every answer carries a request id header, as real providers' answers do.
fn request_id() -> HeaderValue {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    HeaderValue::from_str(&format!("req_mock_{n}")).expect("ASCII")
}

fn full(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Either::Left(Full::new(body.into())));
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut().insert("x-request-id", request_id());
    res
}

/// A body sent frame by frame, pausing `chunk_delay` between frames; with `cut_after`, the
/// body fails after that many frames so hyper drops the connection mid-answer.
fn streamed(
    shared: &Arc<Shared>,
    content_type: &'static str,
    frames: Vec<Bytes>,
    cut_after: Option<usize>,
) -> Response<Body> {
    let shared = shared.clone();
    let delayed = shared.plan.has_chunk_delay();
    let frames = stream::iter(frames.into_iter().enumerate()).then(move |(i, frame)| {
        let shared = shared.clone();
        async move {
            if cut_after == Some(i) {
                // Return Pending once first: hyper flushes what it has (headers and the frames
                // so far) before it sees the error, so the client gets a started answer.
                tokio::task::yield_now().await;
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "stream cut by fault injection",
                ));
            }
            if delayed && i > 0 {
                tokio::time::sleep(shared.plan.chunk_delay()).await;
            }
            Ok(Frame::data(frame))
        }
    });
    // Stop polling after the cut: the error is the last thing the body yields.
    let frames = frames.scan(false, |failed, item| {
        let done = *failed;
        *failed |= item.is_err();
        futures_util::future::ready((!done).then_some(item))
    });
    let mut res = Response::new(Either::Right(StreamBody::new(frames.boxed())));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res.headers_mut().insert("x-request-id", request_id());
    res
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path();
    let (route, format) = match (req.method(), path) {
        (&Method::POST, "/v1/chat/completions") => (Route::OpenAiChat, Format::OpenAi),
        (&Method::POST, "/v1/messages") => (Route::AnthropicMessages, Format::Anthropic),
        (&Method::POST, p) if gemini_target(p).is_some() => {
            let stream = gemini_target(p).is_some_and(|(_, m)| m == "streamGenerateContent");
            let sse = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
            let route = if stream {
                Route::GeminiStream
            } else {
                Route::GeminiGenerate
            };
            (route, Format::Gemini { stream, sse })
        }
        (&Method::GET, "/v1/models") => {
            shared.stats.route(Route::OpenAiModels);
            return Ok(reject_key(&shared, Format::OpenAi, &req)
                .unwrap_or_else(|| full(200, JSON, openai::models(&shared.models))));
        }
        (&Method::GET, "/healthz") => {
            shared.stats.route(Route::Health);
            return Ok(full(200, JSON, &b"{\"status\":\"ok\"}"[..]));
        }
        (&Method::GET, "/_mock/stats") => {
            shared.stats.route(Route::Stats);
            return Ok(full(
                200,
                JSON,
                serde_json::to_vec(&shared.stats.snapshot()).unwrap_or_default(),
            ));
        }
        (&Method::PUT, "/_mock/faults") => {
            shared.stats.route(Route::Faults);
            return Ok(set_faults(&shared, req).await);
        }
        (&Method::GET, "/_mock/requests") => {
            shared.stats.route(Route::Requests);
            let body = serde_json::json!({
                "record_requests": shared.received.limit(),
                "requests": shared.received.snapshot(),
            });
            return Ok(full(
                200,
                JSON,
                serde_json::to_vec(&body).unwrap_or_default(),
            ));
        }
        (&Method::POST, "/_mock/reset") => {
            shared.stats.reset();
            shared.plan.reset();
            shared.received.clear();
            shared.stats.route(Route::Reset);
            return Ok(full(200, JSON, &b"{\"reset\":true}"[..]));
        }
        (_, p) => {
            shared.stats.route(Route::Unknown);
            let known = matches!(
                p,
                "/v1/chat/completions"
                    | "/v1/messages"
                    | "/v1/models"
                    | "/healthz"
                    | "/_mock/stats"
                    | "/_mock/faults"
                    | "/_mock/requests"
                    | "/_mock/reset"
            );
            let (status, what) = if known {
                (405, "Method not allowed")
            } else {
                (404, "Unknown request URL")
            };
            return Ok(full(
                status,
                JSON,
                openai::error(status, &format!("{what}: {} {p}", req.method())),
            ));
        }
    };
    shared.stats.route(route);
    llm(shared, reset, req, route, format).await
}

/// `/v1beta/models/{model}:{method}` (or `/v1/models/...`) → (model, method).
fn gemini_target(path: &str) -> Option<(&str, &str)> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, method) = rest.rsplit_once(':')?;
    matches!(method, "generateContent" | "streamGenerateContent").then_some((model, method))
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The key where each provider's clients send it.
fn presented_key(format: Format, req: &Request<Incoming>) -> Option<&str> {
    let bearer = || header(req, "authorization").and_then(|v| v.strip_prefix("Bearer "));
    match format {
        Format::OpenAi => bearer(),
        Format::Anthropic => header(req, "x-api-key").or_else(bearer),
        Format::Gemini { .. } => header(req, "x-goog-api-key").or_else(|| {
            req.uri()
                .query()?
                .split('&')
                .find_map(|kv| kv.strip_prefix("key="))
        }),
    }
}

/// The 401 for a request whose key is not the configured one (none configured: any key).
fn reject_key(shared: &Shared, format: Format, req: &Request<Incoming>) -> Option<Response<Body>> {
    let expected = shared.api_key.as_ref()?;
    (presented_key(format, req) != Some(expected.expose())).then(|| {
        let message =
            "Incorrect API key provided. The mock server was started with a different key.";
        full(401, JSON, format.error(401, message))
    })
}

fn fault_response(shared: &Shared, format: Format, fault: Fault) -> Response<Body> {
    let (status, message) = match fault {
        Fault::RateLimited => (
            429,
            "Rate limit reached (injected by the mock server). Please try again later.",
        ),
        Fault::Unavailable => (
            503,
            "The server is overloaded (injected by the mock server).",
        ),
        Fault::BadRequest => (400, "Invalid request (injected by the mock server)."),
        _ => (
            500,
            "The server had an error while processing your request (injected by the mock server).",
        ),
    };
    let mut res = full(status, JSON, format.error(status, message));
    if fault == Fault::RateLimited {
        let ms = shared.plan.config().retry_after_ms;
        let headers = res.headers_mut();
        headers.insert("retry-after", ms.div_ceil(1000).into());
        headers.insert("retry-after-ms", ms.into());
    }
    res
}

async fn read_body(
    shared: &Shared,
    format: Format,
    body: Incoming,
    declared: Option<u64>,
) -> Result<Result<Bytes, Response<Body>>, Dropped> {
    let limit = shared.max_body;
    let too_large = || {
        let msg = format!("Request body exceeds the limit of {limit} bytes");
        Ok(Err(full(413, JSON, format.error(413, &msg))))
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(Ok(collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => too_large(),
        Err(_) => Err(Dropped("request body could not be read")),
    }
}

/// `PUT /_mock/faults` with a `faults` section as JSON: from now on, requests fail by it (a
/// provider that goes down, or comes back, in the middle of a test).
async fn set_faults(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return full(400, JSON, openai::error(400, "unreadable body")),
    };
    let parsed = serde_json::from_slice::<super::faults::FaultConfig>(&body)
        .map_err(|e| e.to_string())
        .and_then(|c| shared.plan.set_faults(c).map_err(|e| e.message));
    // (MockServer::set_faults is the in-process twin.)
    match parsed {
        Ok(()) => full(
            200,
            JSON,
            serde_json::to_vec(&*shared.plan.config()).unwrap_or_default(),
        ),
        Err(why) => full(400, JSON, openai::error(400, &format!("faults: {why}"))),
    }
}

/// Waits, unless the server is stopping (then the request is dropped, not answered late).
async fn pause(shared: &Shared, d: Duration) -> Result<(), Dropped> {
    if d.is_zero() {
        return Ok(());
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = shared.shutdown.cancelled() => Err(Dropped("server stopping")),
    }
}

async fn llm(
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
    req: Request<Incoming>,
    route: Route,
    format: Format,
) -> Result<Response<Body>, Dropped> {
    if let Some(rejected) = reject_key(&shared, format, &req) {
        return Ok(rejected);
    }
    let path_model = match format {
        Format::Gemini { .. } => gemini_target(req.uri().path())
            .map_or("", |(m, _)| m)
            .to_string(),
        _ => String::new(),
    };
    // (Only when recording: most servers never look.)
    let path = (shared.received.limit() > 0).then(|| req.uri().path().to_string());
    let http1 = req.version() < Version::HTTP_2;
    let declared = header(&req, CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
    let body = match read_body(&shared, format, req.into_body(), declared).await? {
        Ok(b) => b,
        Err(res) => return Ok(res),
    };
    if let Some(path) = &path {
        shared.received.record(route, path, &body);
    }

    let decision = shared.plan.next();
    shared.stats.fault(decision.fault);
    pause(&shared, decision.delay).await?;
    match decision.fault {
        Fault::RateLimited | Fault::ServerError | Fault::Unavailable | Fault::BadRequest => {
            return Ok(fault_response(&shared, format, decision.fault))
        }
        Fault::Timeout => {
            pause(
                &shared,
                Duration::from_millis(shared.plan.config().timeout_hold_ms),
            )
            .await?;
            return Err(Dropped("timeout fault: held past the hold time"));
        }
        Fault::Reset => {
            // Over HTTP/2 the stream reset (from the error) is the reset; the connection stays.
            reset.store(http1, Ordering::Relaxed);
            return Err(Dropped("reset fault"));
        }
        Fault::Ok | Fault::Cut | Fault::Malformed | Fault::JsonBody => {}
    }

    let parsed = match format.parse(&body, &path_model) {
        Ok(p) => p,
        Err(WireError { status, message }) => {
            return Ok(full(status, JSON, format.error(status, &message)))
        }
    };
    let content_type = if format.is_sse(parsed.stream) {
        SSE
    } else {
        JSON
    };
    if decision.fault == Fault::Malformed {
        return Ok(streamed(
            &shared,
            content_type,
            format.malformed(parsed.stream),
            None,
        ));
    }
    let answer = match shared.fixtures.respond_stream(&parsed.request) {
        Ok(a) => a,
        Err(e) => {
            let status = if e.kind == ErrorKind::NotFound {
                404
            } else {
                500
            };
            return Ok(full(status, JSON, format.error(status, &e.message)));
        }
    };
    let (response, chunks) = answer;
    let cut = decision.fault == Fault::Cut;
    if parsed.stream && decision.fault != Fault::JsonBody {
        shared.stats.stream();
        let frames = format.render_stream(&response, &chunks, &parsed);
        let cut_after = cut.then(|| (frames.len() / 2).max(1));
        return Ok(streamed(&shared, content_type, frames, cut_after));
    }
    let body = format.render(&response);
    if cut {
        let half = body.len() / 2;
        let body = Bytes::from(body);
        return Ok(streamed(
            &shared,
            JSON,
            vec![body.slice(..half), body.slice(half..)],
            Some(1),
        ));
    }
    Ok(full(200, JSON, body))
}
