//! One HTTP provider endpoint: a pooled client (rustls, HTTP/2 where offered, proxies from
//! the environment), auth headers for its format, bounded bodies and the three timeouts.

use super::endpoint;
use super::errors;
use super::sse::Decoder;
use super::types::{ChatChunk, ChatRequest, ChatResponse};
use super::wire::{Format, StreamState};
use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{Error, ErrorKind, Result};
use crate::rt;
use crate::secret::Secret;
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Largest non-streamed answer accepted.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// A stream of chunks; dropping it closes the connection.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk>> + Send>>;

pub struct HttpProvider {
    name: String,
    format: Format,
    base_url: String,
    http: RwLock<(u64, reqwest::Client)>,
    settings: HttpSettings,
    total: Duration,
    first_token: Duration,
}

fn header(name: &str, value: &str, what: &str) -> Result<(HeaderName, HeaderValue)> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::config(format!("{what}: bad header name")))?;
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| Error::config(format!("{what}: bad header value")))?;
    v.set_sensitive(true);
    Ok((n, v))
}

fn auth_headers(kind: ProviderKind, key: Option<&Secret>, name: &str) -> Result<HeaderMap> {
    let mut h = HeaderMap::new();
    let what = format!("providers.{name}.api_key");
    if let Some(key) = key {
        let (n, v) = match kind {
            ProviderKind::Anthropic => header("x-api-key", key.expose(), &what)?,
            ProviderKind::Gemini => header("x-goog-api-key", key.expose(), &what)?,
            _ => header("authorization", &format!("Bearer {}", key.expose()), &what)?,
        };
        h.insert(n, v);
    }
    if kind == ProviderKind::Anthropic {
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
    }
    Ok(h)
}

/// What the connection pool is built from (kept to rebuild it in a forked child).
struct HttpSettings {
    headers: HeaderMap,
    connect_timeout: Duration,
    max_idle: usize,
}

impl HttpSettings {
    fn build(&self) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .default_headers(self.headers.clone())
            .user_agent(concat!("trinity-core/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(self.max_idle)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
    }
}

impl HttpProvider {
    pub fn new(name: &str, cfg: &ProviderConfig) -> Result<Self> {
        let base_url = endpoint::base_url(name, cfg, &endpoint::process_env)?;
        let format = match cfg.kind {
            ProviderKind::Openai => Format::OpenAi {
                strict_openai: true,
            },
            ProviderKind::OpenaiCompatible => Format::OpenAi {
                strict_openai: false,
            },
            ProviderKind::Anthropic => Format::Anthropic,
            ProviderKind::Gemini => Format::Gemini,
            ProviderKind::Mock => unreachable!("mock providers are answered in-process"),
        };
        let mut headers = auth_headers(cfg.kind, cfg.api_key().as_ref(), name)?;
        for (k, v) in endpoint::sdk_headers(name, cfg, &endpoint::process_env)? {
            let (n, v) = header(k, &v, &format!("providers.{name}.{k}"))?;
            headers.insert(n, v);
        }
        for (k, v) in &cfg.headers {
            let (n, v) = header(k, v, &format!("providers.{name}.headers.{k}"))?;
            headers.insert(n, v);
        }
        let settings = HttpSettings {
            headers,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.get()),
            max_idle: cfg.max_connections.get() as usize,
        };
        let http = settings.build().map_err(|e| {
            Error::config(format!("providers.{name}: cannot build HTTP client: {e}"))
        })?;
        Ok(HttpProvider {
            name: name.to_string(),
            format,
            base_url,
            http: RwLock::new((rt::generation(), http)),
            settings,
            total: Duration::from_millis(cfg.timeout_ms.get()),
            first_token: Duration::from_millis(cfg.first_token_timeout_ms.get()),
        })
    }

    /// The connection pool of this process: a forked child cannot use the parent's pooled
    /// connections (their I/O driver lived on the parent's runtime), so it gets a fresh pool.
    fn http(&self) -> reqwest::Client {
        let generation = rt::generation();
        {
            let current = self.http.read().unwrap_or_else(|p| p.into_inner());
            if current.0 == generation {
                return current.1.clone();
            }
        }
        let mut current = self.http.write().unwrap_or_else(|p| p.into_inner());
        if current.0 != generation {
            // Built once already with the same settings, so this cannot fail differently.
            if let Ok(fresh) = self.settings.build() {
                *current = (generation, fresh);
            }
        }
        current.1.clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn timeout_error(&self, what: &str, after: Duration) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!("{}: {what} after {} ms", self.name, after.as_millis()),
        )
        .with_details(
            serde_json::json!({ "provider": self.name, "timeout_ms": after.as_millis() as u64 }),
        )
    }

    async fn post(
        &self,
        req: &ChatRequest,
        model: &str,
        stream: bool,
        max_output: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Result<reqwest::Response> {
        let body = serde_json::to_vec(&self.format.body(req, model, stream, max_output))
            .expect("JSON serializes");
        let mut post = self
            .http()
            .post(self.format.url(&self.base_url, model, stream))
            .header(CONTENT_TYPE, "application/json");
        if let Some(key) = idempotency_key {
            // The same key on every attempt of one request lets the provider drop duplicates.
            post = post.header("Idempotency-Key", key);
        }
        self.answered(post.body(body).send().await).await
    }

    /// A response with a 2xx status, else the error its status and body make.
    async fn answered(
        &self,
        sent: reqwest::Result<reqwest::Response>,
    ) -> Result<reqwest::Response> {
        let resp = sent.map_err(|e| errors::from_transport(&self.name, &e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = read_bounded(resp, 64 << 10, &self.name)
            .await
            .unwrap_or_default();
        let (ptype, message) = self.format.error_info(&bytes);
        Err(errors::from_status(
            &self.name, status, &headers, ptype, message,
        ))
    }

    /// `GET base_url + path` with the provider's headers: `Ok` on 2xx, else the error a call
    /// would have had.
    pub async fn check(&self, path: &str) -> Result<()> {
        let url = format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        self.answered(self.http().get(url).send().await)
            .await
            .map(drop)
    }

    /// One complete answer.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        model: &str,
        max_output: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Result<ChatResponse> {
        let total = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.total);
        let call = async {
            let resp = self
                .post(req, model, false, max_output, idempotency_key)
                .await?;
            let request_id = errors::request_id(resp.headers());
            let bytes = read_bounded(resp, MAX_BODY_BYTES, &self.name).await?;
            let mut answer = self.format.parse(&bytes)?;
            answer.request_id = request_id;
            Ok(answer)
        };
        tokio::time::timeout(total, call)
            .await
            .map_err(|_| self.timeout_error("no complete answer", total))?
    }

    /// A stream of chunks. The first-token timeout covers the time to the first chunk, the
    /// total timeout the whole stream; a stream that ends without the provider's end marker
    /// is a `network` error, never a silently short answer.
    pub async fn chat_stream(
        &self,
        req: &ChatRequest,
        model: &str,
        max_output: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Result<ChunkStream> {
        let started = Instant::now();
        let total = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.total);
        let first = self.first_token.min(total);
        let resp = tokio::time::timeout(
            first,
            self.post(req, model, true, max_output, idempotency_key),
        )
        .await
        .map_err(|_| self.timeout_error("no first token", first))??;
        if !is_event_stream(resp.headers()) {
            // Some servers (LiteLLM's proxy with mock answers) answer a stream request with the
            // whole JSON body: it is delivered as a one-chunk stream with its usage.
            let left = (started + total).saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.whole_as_chunk(resp))
                .await
                .map_err(|_| self.timeout_error("no complete answer", total))??;
            return Ok(Box::pin(futures_util::stream::once(
                async move { Ok(chunk) },
            )));
        }
        let state = Streaming {
            name: self.name.clone(),
            body: Box::pin(resp.bytes_stream()),
            decoder: Decoder::new(),
            state: self.format.stream_state(),
            needs_marker: !matches!(self.format, Format::Gemini),
            pending: VecDeque::new(),
            finished: false,
            marker_seen: false,
            saw_finish: false,
            head: Vec::new(),
            events: 0,
            got_first: false,
            first_deadline: started + first,
            deadline: started + total,
            first,
            total,
        };
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            Streaming::next,
        )))
    }

    /// A complete answer where a stream was asked for, as one chunk; a body that is not the
    /// format's answer is a `provider` error that shows what came back.
    async fn whole_as_chunk(&self, resp: reqwest::Response) -> Result<ChatChunk> {
        let content_type = content_type(resp.headers()).to_string();
        let bytes = read_bounded(resp, MAX_BODY_BYTES, &self.name).await?;
        match self.format.parse(&bytes) {
            Ok(answer) => Ok(ChatChunk::whole(answer)),
            Err(_) => Err(not_a_stream(&self.name, &content_type, &bytes)),
        }
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// An answer to read as SSE: `text/event-stream`, or anything that is not plainly a document
/// (JSON, HTML, XML); servers that leave the type out still stream.
fn is_event_stream(headers: &HeaderMap) -> bool {
    let ct = content_type(headers).to_ascii_lowercase();
    ct.contains("event-stream") || !["json", "html", "xml"].iter().any(|t| ct.contains(t))
}

/// What a server sent instead of an event stream, quoted (bounded) so the user can see it.
fn not_a_stream(provider: &str, content_type: &str, body: &[u8]) -> Error {
    let start: String = String::from_utf8_lossy(&body[..body.len().min(300)]).into();
    let shown = if content_type.is_empty() {
        "no content type"
    } else {
        content_type
    };
    Error::new(
        ErrorKind::Provider,
        format!(
            "{provider}: a stream was asked for, but the answer ({shown}, {} bytes) is neither an \
             event stream nor a complete answer: {start}",
            body.len()
        ),
    )
    .with_details(serde_json::json!({
        "provider": provider,
        "content_type": content_type,
        "body_start": start,
        "retryable": false,
    }))
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

struct Streaming {
    name: String,
    body: ByteStream,
    decoder: Decoder,
    state: StreamState,
    needs_marker: bool,
    pending: VecDeque<ChatChunk>,
    finished: bool,
    /// The provider's end marker (`[DONE]`, `message_stop`) arrived.
    marker_seen: bool,
    /// A chunk with a finish reason arrived (Gemini's only sign of a complete stream).
    saw_finish: bool,
    /// The first bytes, kept until an event arrives, to show what came back if none does.
    head: Vec<u8>,
    events: usize,
    got_first: bool,
    first_deadline: Instant,
    deadline: Instant,
    first: Duration,
    total: Duration,
}

impl Streaming {
    async fn next(mut self) -> Option<(Result<ChatChunk>, Self)> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                self.got_first = true;
                return Some((Ok(chunk), self));
            }
            if self.finished {
                return None;
            }
            match self.pull().await {
                Ok(()) => {}
                Err(e) => {
                    self.finished = true;
                    return Some((Err(e), self));
                }
            }
        }
    }

    /// Reads more bytes and turns them into pending chunks.
    async fn pull(&mut self) -> Result<()> {
        let (deadline, limit, what) = if self.got_first {
            (self.deadline, self.total, "stream not finished")
        } else {
            (
                self.first_deadline.min(self.deadline),
                self.first,
                "no first token",
            )
        };
        let next = tokio::time::timeout_at(deadline.into(), self.body.next())
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Timeout,
                    format!("{}: {what} after {} ms", self.name, limit.as_millis()),
                )
            })?;
        let events = match next {
            Some(Ok(bytes)) => {
                if !self.saw_event() && self.head.len() < 300 {
                    self.head.extend_from_slice(&bytes[..bytes.len().min(300)]);
                }
                self.decoder.feed(&bytes)?
            }
            Some(Err(e)) => return Err(errors::from_transport(&self.name, &e)),
            None => {
                self.finished = true;
                let tail: Vec<_> = self.decoder.finish().into_iter().collect();
                self.apply(&tail)?;
                let complete = if self.needs_marker {
                    self.marker_seen
                } else {
                    self.saw_finish
                };
                if !complete && !self.saw_event() && !self.head.is_empty() {
                    return Err(not_a_stream(&self.name, "", &self.head));
                }
                if !complete {
                    return Err(Error::new(
                        ErrorKind::Network,
                        format!("{}: stream ended before it was complete", self.name),
                    )
                    .with_details(serde_json::json!({ "provider": self.name })));
                }
                return Ok(());
            }
        };
        self.apply(&events)
    }

    fn saw_event(&self) -> bool {
        self.got_first || self.marker_seen || !self.pending.is_empty() || self.events > 0
    }

    fn apply(&mut self, events: &[super::sse::Event]) -> Result<()> {
        self.events += events.len();
        for ev in events {
            let step = self.state.event(ev)?;
            self.saw_finish |= step.chunks.iter().any(|c| c.finish_reason.is_some());
            self.pending.extend(step.chunks);
            if step.done {
                self.marker_seen = true;
                self.finished = true;
                break;
            }
        }
        Ok(())
    }
}

/// Reads a whole body, failing once it passes `limit` bytes rather than buffering it all.
async fn read_bounded(
    mut resp: reqwest::Response,
    limit: usize,
    provider: &str,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(
        resp.content_length()
            .map_or(8 << 10, |n| (n as usize).min(limit)),
    );
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| errors::from_transport(provider, &e))?
    {
        if out.len() + chunk.len() > limit {
            return Err(Error::new(
                ErrorKind::Provider,
                format!("{provider}: answer exceeds {limit} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
