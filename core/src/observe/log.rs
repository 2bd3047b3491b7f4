//! Engine logs. The request path emits `tracing` spans and events (OpenTelemetry GenAI
//! attribute names); [`HubLayer`] turns the events of each client's calls into [`LogRecord`]s
//! under that client's `logging` settings (level, `json` | `text`, `redact`) and hands them,
//! in batches, to the sinks the client registered: Python's `logging`, a Node listener, a C
//! callback, Go's `slog`.
//!
//! Emitting never blocks and never calls into a host language: records go through a bounded
//! queue to one background thread (`trinity-log`), which calls the sinks. A full queue drops
//! the record and counts it ([`dropped`]); a sink that panics, raises or blocks delays only
//! that thread, never a call. [`flush`] waits until every record emitted before it reached
//! its sinks.
//!
//! Which client an event belongs to comes from the `trinity.client` field of its request span;
//! events outside a client's span are not routed. Bindings and the CLI [`install`] the layer
//! as the global subscriber; a Rust program with its own subscriber adds [`layer`] to it, or
//! reads the events with its own layers.

use super::scrub::{scrub, scrub_in_place, scrub_json};
use super::{iso8601_ms, now_ms};
use crate::config::{LogFormat, LogLevel, LoggingConfig};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, LazyLock, OnceLock, RwLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
pub use tracing::Level;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The spans that carry [`CLIENT_FIELD`]: a call's request, a monitor's evaluation. Every
/// other span of ours is made inside one.
pub const ROOT_SPANS: [&str; 2] = ["gen_ai.request", "trinity.monitor"];
/// The span field naming the client whose call a span belongs to.
pub const CLIENT_FIELD: &str = "trinity.client";
/// Records waiting for the log thread at most; more are dropped and counted.
const QUEUE: usize = 16 * 1024;
/// Records handed to a sink at once.
const BATCH: usize = 512;
/// How long the log thread lets records gather after a busy wake-up.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// One log line, as every sink gets it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub timestamp_ms: i64,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: &'static str,
    /// The emitting module (`trinity_core::llm::client`).
    pub target: &'static str,
    pub message: String,
    /// The request-log id of the call, when the call has one.
    pub request_id: Option<String>,
    /// Span fields from the request down, then the event's own (GenAI names).
    pub fields: Fields,
    /// The record rendered in the client's `logging.format` (no trailing newline).
    pub line: String,
}

impl LogRecord {
    /// The logger name for hosts with dotted names (`trinity_core.llm.client`).
    pub fn logger_name(&self) -> String {
        self.target.replace("::", ".")
    }

    /// The record as one JSON object: `timestamp`, `level`, `target`, `message`, `request_id`,
    /// then the fields.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("timestamp".into(), iso8601_ms(self.timestamp_ms).into());
        m.insert("level".into(), self.level.into());
        m.insert("target".into(), self.target.into());
        m.insert("message".into(), self.message.clone().into());
        if let Some(id) = &self.request_id {
            m.insert("request_id".into(), id.clone().into());
        }
        for (k, v) in self.fields.iter() {
            m.entry(k).or_insert_with(|| v.clone());
        }
        Value::Object(m)
    }

    /// [`Self::to_json`] plus `line`: what the Node, C and Go bindings hand over.
    pub fn to_object(&self) -> Value {
        let mut v = self.to_json();
        v["line"] = self.line.clone().into();
        v
    }

    fn render(&mut self, format: LogFormat) {
        self.line = match format {
            // Written straight from the record: no second map of cloned fields.
            LogFormat::Json => serde_json::to_string(&JsonLine(self)).unwrap_or_default(),
            LogFormat::Text => {
                use std::fmt::Write;
                let mut s = String::with_capacity(128 + self.message.len());
                let _ = write!(
                    s,
                    "{} {:>5} {}: {}",
                    iso8601_ms(self.timestamp_ms),
                    self.level.to_ascii_uppercase(),
                    self.target,
                    self.message
                );
                if let Some(id) = &self.request_id {
                    let _ = write!(s, " request_id={id}");
                }
                for (k, v) in self.fields.iter() {
                    let _ = match v {
                        Value::String(x) => write!(s, " {k}={x:?}"),
                        other => write!(s, " {k}={other}"),
                    };
                }
                s
            }
        };
    }

    fn scrub(&mut self) {
        // One pass over all the record's text tells whether anything needs replacing (most
        // records hold nothing): the patterns have no anchors, so one that matches inside a
        // field also matches in the joined text, where each field ends at a line break.
        let mut all = String::with_capacity(self.message.len() + 256);
        all.push_str(&self.message);
        self.fields
            .iter()
            .for_each(|(_, v)| join_strings(v, &mut all));
        if let std::borrow::Cow::Borrowed(_) = scrub(&all) {
            return;
        }
        scrub_in_place(&mut self.message);
        self.fields.0.iter_mut().for_each(|(_, v)| scrub_json(v));
    }
}

/// A record as its JSON line: [`LogRecord::to_json`]'s members, the fixed ones first and the
/// fields in their order (request span first, the event's own last).
struct JsonLine<'a>(&'a LogRecord);

impl serde::Serialize for JsonLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        const FIXED: [&str; 5] = ["timestamp", "level", "target", "message", "request_id"];
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &iso8601_ms(r.timestamp_ms))?;
        m.serialize_entry("level", r.level)?;
        m.serialize_entry("target", r.target)?;
        m.serialize_entry("message", &r.message)?;
        if let Some(id) = &r.request_id {
            m.serialize_entry("request_id", id)?;
        }
        for (k, v) in r.fields.iter() {
            // A field named like one of the above loses to it, as in `to_json`.
            if !FIXED.contains(&k) {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// Every string in `v`, each after a line break.
fn join_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('\n');
            out.push_str(s);
        }
        Value::Array(a) => a.iter().for_each(|x| join_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| join_strings(x, out)),
        _ => {}
    }
}

/// Where a client's records go.
pub type Sink = Arc<dyn Fn(&[LogRecord]) + Send + Sync>;

/// What a sink wants: the most verbose level it would keep, None for nothing. Asked when the
/// sink is added and again every second on the log thread, so a host whose own logging is off
/// (Python's, before the application configures it) costs the calls nothing.
pub type Interest = Arc<dyn Fn() -> Option<Level> + Send + Sync>;

/// How often sinks are asked what they want.
const INTEREST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

struct SinkEntry {
    sink: Sink,
    interest: Option<Interest>,
    /// Rank of the most verbose level wanted, `NONE` for nothing.
    wanted: AtomicUsize,
}

/// A rank no level has: nothing wanted.
const NONE: usize = usize::MAX;

struct Route {
    level: Level,
    format: LogFormat,
    redact: bool,
    sinks: RwLock<Vec<Arc<SinkEntry>>>,
    /// The most verbose rank any sink of this client wants, within `level` (`NONE`: none).
    wanted: AtomicUsize,
}

impl Route {
    fn sinks(&self) -> Vec<Arc<SinkEntry>> {
        self.sinks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn recompute(&self) {
        let wanted = most_verbose(self.sinks().iter().map(|s| &s.wanted));
        let wanted = if wanted == NONE {
            NONE
        } else {
            wanted.min(rank(&self.level))
        };
        self.wanted.store(wanted, Ordering::Relaxed);
    }
}

/// The most verbose of some wanted ranks (`NONE` when none wants anything).
fn most_verbose<'a>(wanted: impl Iterator<Item = &'a AtomicUsize>) -> usize {
    wanted
        .map(|w| w.load(Ordering::Relaxed))
        .filter(|&w| w != NONE)
        .max()
        .unwrap_or(NONE)
}

impl SinkEntry {
    /// Asks the sink what it wants (it may take a host lock: call with no hub lock held).
    fn ask(&self) {
        let wanted = match &self.interest {
            None => rank(&Level::TRACE),
            Some(ask) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ask().map(|l| rank(&l))))
                    .ok()
                    .flatten()
                    .unwrap_or(NONE)
            }
        };
        self.wanted.store(wanted, Ordering::Relaxed);
    }
}

enum Msg {
    Record(Arc<Route>, Box<LogRecord>),
    Flush(SyncSender<()>),
}

struct Hub {
    routes: RwLock<HashMap<u64, Arc<Route>>>,
    next_id: AtomicU64,
    /// The most verbose level any client's sinks want (`NONE`: none): other events are
    /// skipped at their call site.
    max_level: AtomicUsize,
    queue: OnceLock<SyncSender<Msg>>,
    dropped: AtomicU64,
}

static HUB: LazyLock<Hub> = LazyLock::new(|| Hub {
    routes: RwLock::default(),
    next_id: AtomicU64::new(1),
    max_level: AtomicUsize::new(NONE),
    queue: OnceLock::new(),
    dropped: AtomicU64::new(0),
});

/// Level as a number, most severe first (ERROR 0 .. TRACE 4).
fn rank(l: &Level) -> usize {
    match *l {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

fn level_of(l: LogLevel) -> Level {
    match l {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    }
}

fn level_name(l: &Level) -> &'static str {
    ["error", "warn", "info", "debug", "trace"][rank(l)]
}

impl Hub {
    fn routes(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Arc<Route>>> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn recompute_max(&self) {
        let max = most_verbose(self.routes().values().map(|r| &r.wanted));
        self.max_level.store(max, Ordering::Relaxed);
    }

    /// Asks every sink that can change its mind what it wants now (on the log thread).
    fn refresh_interests(&self) {
        let routes: Vec<Arc<Route>> = self.routes().values().cloned().collect();
        for route in routes {
            for sink in route.sinks() {
                if sink.interest.is_some() {
                    sink.ask();
                }
            }
            route.recompute();
        }
        self.recompute_max();
    }

    /// The log thread's queue, the thread started on first use.
    fn queue(&self) -> &SyncSender<Msg> {
        self.queue.get_or_init(spawn_log_thread)
    }

    fn wants(&self, level: &Level) -> bool {
        let max = self.max_level.load(Ordering::Relaxed);
        max != NONE && rank(level) <= max
    }

    fn send(&self, msg: Msg) -> bool {
        match self.queue().try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(Msg::Flush(_))) => false,
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

fn spawn_log_thread() -> SyncSender<Msg> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("trinity-log".into())
        .spawn(move || drain(rx))
        .expect("the log thread starts");
    tx
}

/// The log thread: batches of consecutive records of one client go to its sinks together.
fn drain(rx: Receiver<Msg>) {
    let mut batch: Vec<LogRecord> = Vec::with_capacity(BATCH);
    let mut route: Option<Arc<Route>> = None;
    let mut asked = std::time::Instant::now();
    loop {
        let first = match rx.recv_timeout(INTEREST_EVERY) {
            Ok(msg) => Some(msg),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if asked.elapsed() >= INTEREST_EVERY {
            HUB.refresh_interests();
            asked = std::time::Instant::now();
        }
        let busy = first.is_some();
        let mut next = first;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(r, rec) => {
                    if route.as_ref().is_some_and(|cur| !Arc::ptr_eq(cur, &r))
                        || batch.len() == BATCH
                    {
                        deliver(route.take(), &mut batch);
                    }
                    route = Some(r);
                    batch.push(*rec);
                }
                Msg::Flush(done) => {
                    deliver(route.take(), &mut batch);
                    let _ = done.send(());
                }
            }
            // Back to the outer loop once a batch is full, so interests are asked even
            // under a steady stream of records.
            next = match batch.len() < BATCH {
                true => rx.try_recv().ok(),
                false => None,
            };
        }
        deliver(route.take(), &mut batch);
        // Under steady traffic, let records gather: one wake-up of this thread per batch
        // rather than one per call (a context switch each), for at most LINGER of delay.
        if busy {
            std::thread::sleep(LINGER);
        }
    }
}

fn deliver(route: Option<Arc<Route>>, batch: &mut Vec<LogRecord>) {
    if let Some(route) = route {
        for r in batch.iter_mut() {
            if route.redact {
                r.scrub();
            }
            r.render(route.format);
        }
        // Cloned out so no lock is held while a sink runs (a sink may wait for a host lock,
        // such as Python's GIL, that a thread registering a sink holds).
        for entry in route.sinks() {
            let records = &batch[..];
            let sink = &entry.sink;
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(records)));
        }
    }
    batch.clear();
}

/// A client's place in the hub: its settings and sinks. Unregistered when dropped.
pub struct ClientLog {
    id: u64,
    route: Arc<Route>,
}

impl ClientLog {
    pub fn new(cfg: &LoggingConfig) -> ClientLog {
        let route = Arc::new(Route {
            level: level_of(cfg.level),
            format: cfg.format,
            redact: cfg.redact,
            sinks: RwLock::default(),
            wanted: AtomicUsize::new(NONE),
        });
        let id = HUB.next_id.fetch_add(1, Ordering::Relaxed);
        HUB.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, route.clone());
        ClientLog { id, route }
    }

    /// The value of [`CLIENT_FIELD`] on this client's request spans.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Some sink of this client wants records: its calls make spans and events.
    pub fn active(&self) -> bool {
        self.route.wanted.load(Ordering::Relaxed) != NONE
    }

    /// Adds a sink: from now on it gets every record of this client at its level or above.
    pub fn add_sink(&self, sink: Sink) {
        self.add(sink, None);
    }

    /// Adds a sink that says what it wants ([`Interest`]); while it wants nothing (and no
    /// other sink of the client does), the client's calls build no log record at all.
    pub fn add_sink_with_interest(&self, sink: Sink, interest: Interest) {
        self.add(sink, Some(interest));
    }

    fn add(&self, sink: Sink, interest: Option<Interest>) {
        let entry = Arc::new(SinkEntry {
            sink,
            interest,
            wanted: AtomicUsize::new(NONE),
        });
        entry.ask();
        self.route
            .sinks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
        self.route.recompute();
        HUB.recompute_max();
        HUB.queue();
    }
}

impl Drop for ClientLog {
    fn drop(&mut self) {
        HUB.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        HUB.recompute_max();
    }
}

/// Waits until every record emitted before this call has been handed to its sinks (at most
/// `timeout`); false if the log thread did not get there in time.
pub fn flush(timeout: std::time::Duration) -> bool {
    let (tx, rx) = mpsc::sync_channel(1);
    if !HUB.send(Msg::Flush(tx)) {
        return false;
    }
    rx.recv_timeout(timeout).is_ok()
}

/// Some client has a sink: calls build what their log lines need.
pub fn active() -> bool {
    HUB.max_level.load(Ordering::Relaxed) != NONE
}

/// Records dropped because the log thread's queue was full.
pub fn dropped() -> u64 {
    HUB.dropped.load(Ordering::Relaxed)
}

/// The layer that routes events to the clients' sinks, for a Rust program's own subscriber.
pub fn layer() -> HubLayer {
    HubLayer
}

/// Installs the layer as the process's global subscriber (the bindings and the CLI do, once).
/// False when the program had already installed another one.
pub fn install() -> bool {
    static INSTALLED: LazyLock<bool> = LazyLock::new(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(HubLayer);
        tracing::subscriber::set_global_default(subscriber).is_ok()
    });
    *INSTALLED
}

/// A record's fields (and a span's), in the order they were first recorded: span fields from
/// the request down, then the event's own; a later value of a name replaces the earlier one.
/// A list, not a map: a call's record is built on its path, and names are `'static`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    fn set(&mut self, name: &'static str, v: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = v,
            None => self.0.push((name, v)),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| *k == name)?;
        Some(self.0.remove(at).1)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;
    /// `Value::Null` for a name the record lacks, as `serde_json`'s maps index.
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

/// As a map (for hosts: a dict, an object).
impl serde::Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        self.set(f.name(), Value::String(format!("{v:?}")));
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        self.set(f.name(), Value::String(v.to_owned()));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.set(f.name(), v.into());
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.set(f.name(), v.into());
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.set(f.name(), v.into());
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.set(f.name(), v.into());
    }
}

/// See the module's documentation.
pub struct HubLayer;

fn ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("trinity")
}

impl<S> Layer<S> for HubLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // HTTP and runtime crates' own events never reach the per-event check.
        match ours(meta) {
            true => tracing::subscriber::Interest::sometimes(),
            false => tracing::subscriber::Interest::never(),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        if !ours(meta) {
            return false;
        }
        if !meta.is_span() {
            return HUB.wants(meta.level());
        }
        // A call's request span whenever its client's sinks want anything: it routes the
        // call's records to them. Spans inside it (attempt, cache, queue, ...) only at a level
        // some sink wants, or at `warn` each call would pay for their bookkeeping for nothing
        // (the warnings name their provider and model themselves). And only inside a request
        // span, which a client makes only if its own sinks want records: another client's
        // sinks do not make this one's calls pay for spans.
        active()
            && match ROOT_SPANS.contains(&meta.name()) {
                true => true,
                false => HUB.wants(meta.level()) && ctx.lookup_current().is_some(),
            }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut client = None;
        let mut fields = Fields(Vec::with_capacity(16));
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<Fields>() {
                    for (k, v) in &f.0 {
                        match *k {
                            CLIENT_FIELD => client = v.as_u64(),
                            _ => fields.set(k, v.clone()),
                        }
                    }
                }
            }
        }
        let Some(route) = client.and_then(|id| HUB.routes().get(&id).cloned()) else {
            return;
        };
        let meta = event.metadata();
        let wanted = route.wanted.load(Ordering::Relaxed);
        if wanted == NONE || rank(meta.level()) > wanted {
            return;
        }
        let mut own = Fields::default();
        event.record(&mut own);
        let mut message = String::new();
        for (k, v) in own.0 {
            match (k, v) {
                ("message", Value::String(s)) => message = s,
                (k, v) => fields.set(k, v),
            }
        }
        let request_id = match fields.take("request_id") {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let record = LogRecord {
            timestamp_ms: now_ms(),
            level: level_name(meta.level()),
            target: meta.target(),
            message,
            request_id,
            fields,
            line: String::new(),
        };
        // Scrubbed and rendered on the log thread, off the call's path.
        HUB.send(Msg::Record(route, Box::new(record)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &str, fields: Value) -> LogRecord {
        LogRecord {
            timestamp_ms: 0,
            level: "info",
            target: "trinity_core::test",
            message: message.into(),
            request_id: None,
            // Names are 'static in records (tracing's field names): leaked here, in tests.
            fields: Fields(
                fields
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (&*Box::leak(k.into_boxed_str()), v))
                    .collect(),
            ),
            line: String::new(),
        }
    }

    #[test]
    fn the_json_line_is_the_record_as_json() {
        let fields = serde_json::json!({"a": 1, "gen_ai.x": "y", "m": [1, {"k": "v"}], "message": "no",
                                         "s": "q\"uote", "tz": true, "zz": null});
        for id in [None, Some("req_1".to_string())] {
            let mut r = record("call \"answered\"", fields.clone());
            r.request_id = id;
            r.render(LogFormat::Json);
            let line: Value = serde_json::from_str(&r.line).unwrap();
            assert_eq!(line, r.to_json());
            let head = r#"{"timestamp":"1970-01-01T00:00:00.000Z","level":"info","target":"trinity_core::test","message":"#;
            assert!(r.line.starts_with(head), "{}", r.line);
        }
    }

    #[test]
    fn a_secret_in_any_field_is_scrubbed_and_a_clean_record_is_left_alone() {
        let key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
        let mut r = record(
            "call failed",
            serde_json::json!({"a": "x", "nested": {"deep": [format!("Bearer {key}")]}}),
        );
        r.scrub();
        let text = serde_json::to_string(&r.fields).unwrap();
        assert!(
            !text.contains(key) && text.contains("Bearer [REDACTED]"),
            "{text}"
        );
        let clean = serde_json::json!({"gen_ai.request.model": "gpt-4o-mini", "n": 3});
        let mut r = record("call answered", clean.clone());
        r.scrub();
        assert_eq!(serde_json::to_value(&r.fields).unwrap(), clean);
    }
}
