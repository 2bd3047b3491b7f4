//! `Cache`: the core's response cache, shaped like seed 000's `LLMCache` (`get`, `set(key,
//! value, ttl)`) plus chat keys, invalidation, stats and maintenance. Calls are synchronous
//! native calls: a memory hit keeps the GIL (releasing it costs more than the lookup);
//! Redis and disk release it.

use crate::conv;
use crate::error::call;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};
use std::sync::Arc;
use trinity_core::cache::key::{PlainMessage, PlainRequest};
use trinity_core::cache::{self, value, Cache, Entry, Kind, Purge};
use trinity_core::llm::ChatRequest;
use trinity_core::rt;

#[pyclass(frozen, name = "Cache", module = "trinity_core")]
pub struct PyCache(pub Arc<Cache>);

fn payload(obj: &Bound<'_, PyAny>) -> PyResult<cache::Bytes> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(value::encode_text(&conv::text(s.as_any(), "value")?));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(value::encode_bytes(b.as_bytes()));
    }
    Ok(value::encode_json(&conv::json(obj, "value")?))
}

fn to_py<'py>(py: Python<'py>, e: &Entry) -> PyResult<Bound<'py, PyAny>> {
    if e.kind != Kind::Value {
        // A chat entry: hand back the stored JSON (a response, or the chunks of a stream).
        let v: serde_json::Value = serde_json::from_slice(&e.payload)
            .map_err(|err| crate::error::to_py(cache::cache_error(err.to_string())))?;
        return conv::to_py(py, &v);
    }
    let (tag, body) = call(|| value::split(&e.payload))?;
    Ok(match tag {
        value::TAG_TEXT => {
            PyString::new(py, std::str::from_utf8(body).unwrap_or_default()).into_any()
        }
        value::TAG_BYTES => PyBytes::new(py, body).into_any(),
        _ => {
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|err| crate::error::to_py(cache::cache_error(err.to_string())))?;
            conv::to_py(py, &v)?
        }
    })
}

/// An optional field: Some(None) when absent, None when present but not of the plain shape.
fn opt<'a, 'py, T>(
    v: &'a Option<Bound<'py, PyAny>>,
    f: impl FnOnce(&'a Bound<'py, PyAny>) -> Option<T>,
) -> Option<Option<T>> {
    match v {
        None => Some(None),
        Some(v) => f(v).map(Some),
    }
}

fn plain_str<'a>(v: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    v.cast_exact::<PyString>().ok()?.to_str().ok()
}

fn plain_i64(v: &Bound<'_, PyAny>) -> Option<i64> {
    v.cast_exact::<PyInt>().ok()?.extract::<i64>().ok()
}

/// A float, or an int read as one (what the validated path does with `temperature: 0`).
fn plain_f64(v: &Bound<'_, PyAny>) -> Option<f64> {
    match v.cast_exact::<PyFloat>() {
        Ok(f) => Some(f.value()),
        Err(_) => plain_i64(v).map(|i| i as f64),
    }
}

impl PyCache {
    fn lookup<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let c = &self.0;
        let found = match c.get_memory(key) {
            Some(e) => Some(e),
            None if c.has_lower_tiers() => py.detach(|| c.get_lower_blocking(key)),
            None => None,
        };
        found.map(|e| to_py(py, &e)).transpose()
    }

    fn store(
        &self,
        py: Python<'_>,
        key: &str,
        value: &Bound<'_, PyAny>,
        ttl: Option<u64>,
    ) -> PyResult<()> {
        let e = self.0.entry(Kind::Value, payload(value)?, ttl);
        if self.0.has_lower_tiers() {
            py.detach(|| self.0.put_blocking(key, e));
        } else {
            self.0.put_blocking(key, e);
        }
        Ok(())
    }

    fn chat_key(&self, request: &Bound<'_, PyAny>, provider: Option<&str>) -> PyResult<String> {
        if let Some(key) = self.plain_key(request, provider) {
            return Ok(key);
        }
        let value = conv::json(request, "request")?;
        let req = call(|| ChatRequest::from_json(value))?;
        Ok(self.0.key_for(&req, provider))
    }

    /// The key of a request in its common shape (exact dicts, lists, str, int, float; text
    /// messages; no tools, formats, metadata or cache control), walked straight into the core's
    /// [`PlainRequest`] without building JSON or a `ChatRequest`. None sends the request down
    /// the validated path, which gives the same key or the error.
    fn plain_key(&self, request: &Bound<'_, PyAny>, provider: Option<&str>) -> Option<String> {
        let d = request.cast_exact::<PyDict>().ok()?;
        // model, messages, temperature, top_p, max_tokens, stop, seed, user, timeout_ms
        let mut slots: [Option<Bound<'_, PyAny>>; 9] = Default::default();
        for (k, v) in d.iter() {
            let i = match k.cast_exact::<PyString>().ok()?.to_str().ok()? {
                "model" => 0,
                "messages" => 1,
                "temperature" => 2,
                "top_p" => 3,
                "max_tokens" => 4,
                "stop" => 5,
                "seed" => 6,
                "user" => 7,
                "timeout_ms" => 8,
                _ => return None,
            };
            if !v.is_none() {
                slots[i] = Some(v);
            }
        }
        let [model, messages, temperature, top_p, max_tokens, stop, seed, user, timeout_ms] =
            &slots;
        // role, content, name, tool_call_id of each message, held while borrowed below.
        let mut held: Vec<[Option<Bound<'_, PyAny>>; 4]> = Vec::new();
        for m in messages.as_ref()?.cast_exact::<PyList>().ok()?.iter() {
            let mut fields: [Option<Bound<'_, PyAny>>; 4] = Default::default();
            for (k, v) in m.cast_exact::<PyDict>().ok()?.iter() {
                let i = match k.cast_exact::<PyString>().ok()?.to_str().ok()? {
                    "role" => 0,
                    "content" => 1,
                    "name" => 2,
                    "tool_call_id" => 3,
                    _ => return None,
                };
                if !v.is_none() {
                    fields[i] = Some(v);
                }
            }
            held.push(fields);
        }
        let stop_list;
        let stop = match stop {
            None => vec![],
            Some(s) => match s.cast_exact::<PyString>() {
                Ok(s) => vec![s.to_str().ok()?],
                Err(_) => {
                    stop_list = s.cast_exact::<PyList>().ok()?.iter().collect::<Vec<_>>();
                    stop_list
                        .iter()
                        .map(plain_str)
                        .collect::<Option<Vec<_>>>()?
                }
            },
        };
        let req = PlainRequest {
            model: plain_str(model.as_ref()?)?,
            messages: held
                .iter()
                .map(|[role, content, name, id]| {
                    Some(PlainMessage {
                        role: plain_str(role.as_ref()?)?,
                        content: opt(content, plain_str)?,
                        name: opt(name, plain_str)?,
                        tool_call_id: opt(id, plain_str)?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
            temperature: opt(temperature, plain_f64)?,
            top_p: opt(top_p, plain_f64)?,
            max_tokens: opt(max_tokens, |v| u32::try_from(plain_i64(v)?).ok())?,
            stop,
            seed: opt(seed, plain_i64)?,
            user: opt(user, plain_str)?,
            timeout_ms: opt(timeout_ms, |v| u64::try_from(plain_i64(v)?).ok())?,
        };
        self.0.key_for_plain(&req, provider)
    }

    fn wait<T: Send>(
        &self,
        py: Python<'_>,
        f: impl std::future::Future<Output = trinity_core::Result<T>> + Send,
    ) -> PyResult<T> {
        py.detach(|| call(|| rt::wait(f)))
    }
}

#[pymethods]
impl PyCache {
    /// `Cache(config=None, **fields)`: our `cache` config section (`ttl_s`, `namespace`,
    /// `strategy`, `memory`, `redis`, `filesystem`) or seed 000's `cache_config.yaml`
    /// (`enabled`, `backend`, `ttl`, `max_size`, `redis: {host, port, db}`, `filesystem: {path}`).
    #[new]
    #[pyo3(signature = (config=None, **fields))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let value = conv::json_with_keywords(config, fields, "config")?;
        let cache = py.detach(|| call(|| Cache::new(&cache::config::from_json(value)?)))?;
        Ok(PyCache(Arc::new(cache)))
    }

    /// The value stored under `key`, or None (missing, expired, or damaged).
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.lookup(py, &conv::text(key, "key")?)
    }

    /// Stores a str, bytes or JSON-like value for `ttl` seconds (the configured TTL when None).
    #[pyo3(signature = (key, value, ttl=None))]
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Option<u64>,
    ) -> PyResult<()> {
        self.store(py, &conv::text(key, "key")?, value, ttl)
    }

    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = conv::text(key, "key")?.into_owned();
        self.wait(py, async {
            self.0.remove(&key).await;
            Ok(())
        })
    }

    /// The key of a chat request (a dict in the request schema), the same in every language.
    #[pyo3(signature = (request, provider=None))]
    fn key(&self, request: &Bound<'_, PyAny>, provider: Option<&str>) -> PyResult<String> {
        self.chat_key(request, provider)
    }

    /// `get(key(request))` in one call.
    #[pyo3(signature = (request, provider=None))]
    fn lookup_chat<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
        provider: Option<&str>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.lookup(py, &self.chat_key(request, provider)?)
    }

    /// `set(key(request), value, ttl)` in one call; returns the key.
    #[pyo3(signature = (request, value, ttl=None, provider=None))]
    fn store_chat(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Option<u64>,
        provider: Option<&str>,
    ) -> PyResult<String> {
        let key = self.chat_key(request, provider)?;
        self.store(py, &key, value, ttl)?;
        Ok(key)
    }

    /// Removes the keys matching a glob (`*`, `?`, `[abc]`) from every tier; returns how many.
    fn invalidate(&self, py: Python<'_>, pattern: &str) -> PyResult<u64> {
        self.wait(py, self.0.invalidate(pattern))
    }

    fn invalidate_namespace(&self, py: Python<'_>, namespace: &str) -> PyResult<u64> {
        self.wait(py, self.0.invalidate_namespace(namespace))
    }

    /// Hits, misses, hit rate, money saved, and per tier: hits, misses, writes, bytes,
    /// evictions, errors, corrupt entries, mean lookup time.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.stats())
    }

    /// Counts of valid, corrupt, expired and orphaned entries (filesystem), memory entries.
    fn validate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let report = py.detach(|| call(|| self.0.validate()))?;
        conv::serialized(py, &report)
    }

    /// `purge("all" | "expired")`, `purge(namespace="ns")` or `purge(pattern="ns:*")`.
    #[pyo3(signature = (what=None, *, namespace=None, pattern=None))]
    fn purge<'py>(
        &self,
        py: Python<'py>,
        what: Option<&str>,
        namespace: Option<String>,
        pattern: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let purge = call(|| Purge::from_parts(what, namespace, pattern))?;
        let report = self.wait(py, self.0.purge(purge))?;
        conv::serialized(py, &report)
    }

    fn __repr__(&self) -> String {
        let s = self.0.stats();
        format!(
            "Cache(namespace={:?}, strategy={:?}, entries={}, hit_rate={:.3})",
            self.0.namespace(),
            self.0.strategy().as_str(),
            s.entries,
            s.hit_rate
        )
    }
}
