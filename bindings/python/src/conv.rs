//! Argument conversion: Python values → the core's types, with `invalid_input` for wrong types.

use crate::error::invalid_input;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::borrow::Cow;

/// A `str` argument as UTF-8. A string holding lone surrogates (legal in Python, not in UTF-8)
/// is converted the way tiktoken does — UTF-16 with `surrogatepass`, decoded with `replace` —
/// so each lone surrogate counts as one U+FFFD, exactly as tiktoken counts it.
pub fn text<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, str>> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| invalid_input(format!("{what}: expected str, got {}", type_name(obj))))?;
    match s.to_str() {
        Ok(t) => Ok(Cow::Borrowed(t)),
        Err(_) => {
            let fixed = s
                .call_method1("encode", ("utf-16", "surrogatepass"))?
                .call_method1("decode", ("utf-16", "replace"))?;
            Ok(Cow::Owned(fixed.extract::<String>()?))
        }
    }
}

/// An optional `str` argument (`None` allowed).
pub fn opt_text(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<String>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => text(o, what).map(|t| Some(t.into_owned())),
    }
}

/// Any JSON-like Python value (dict, list, str, number, bool, None) as JSON.
pub fn json(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<serde_json::Value> {
    match exact_json(obj, 0) {
        Some(v) => Ok(v),
        None => pythonize::depythonize(obj).map_err(|e| invalid_input(format!("{what}: {e}"))),
    }
}

/// The common case without pythonize's generic dispatch, whose `Mapping`/`Sequence` checks are
/// Python-level isinstance calls (microseconds per nested dict, most of a cache-key lookup).
/// Exact built-in types only; None sends anything else (tuples, subclasses, surrogates,
/// huge ints, deep nesting) to pythonize, which also words the errors.
fn exact_json(obj: &Bound<'_, PyAny>, depth: usize) -> Option<serde_json::Value> {
    use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList};
    use serde_json::Value;
    if depth > 64 {
        return None;
    }
    if obj.is_none() {
        return Some(Value::Null);
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return s.to_str().ok().map(|t| Value::String(t.to_owned()));
    }
    if let Ok(d) = obj.cast_exact::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let k = k.cast_exact::<PyString>().ok()?.to_str().ok()?.to_owned();
            map.insert(k, exact_json(&v, depth + 1)?);
        }
        return Some(Value::Object(map));
    }
    if let Ok(l) = obj.cast_exact::<PyList>() {
        return l
            .iter()
            .map(|v| exact_json(&v, depth + 1))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array);
    }
    if obj.is_exact_instance_of::<PyBool>() {
        return Some(Value::Bool(obj.is_truthy().ok()?));
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return obj.extract::<i64>().ok().map(Value::from);
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        return serde_json::Number::from_f64(obj.extract::<f64>().ok()?).map(Value::Number);
    }
    None
}

/// An optional dict argument with `**keywords` merged over it (keywords win): the shape of
/// `chat(request, **kw)`, `MockServer(config, **kw)` and `update_model(name, updates, **kw)`.
/// A base that is not a dict is returned as it is, for the core to reject with its own code.
pub fn json_with_keywords(
    base: Option<&Bound<'_, PyAny>>,
    keywords: Option<&Bound<'_, pyo3::types::PyDict>>,
    what: &str,
) -> PyResult<serde_json::Value> {
    let mut value = match base {
        Some(b) if !b.is_none() => json(b, what)?,
        _ => serde_json::Value::Object(Default::default()),
    };
    if let (Some(obj), Some(kw)) = (value.as_object_mut(), keywords) {
        if let serde_json::Value::Object(extra) = json(kw.as_any(), what)? {
            obj.extend(extra);
        }
    }
    Ok(value)
}

/// JSON back to Python objects.
pub fn to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value).map_err(PyErr::from)
}

/// Any serializable core value (responses, reports, stats) as Python objects.
pub fn serialized<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    to_py(
        py,
        &serde_json::to_value(value).expect("core values serialize"),
    )
}

/// A finite float argument.
pub fn number(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_input(format!(
            "{what}: expected a number, got bool"
        )));
    }
    obj.extract::<f64>()
        .map_err(|_| invalid_input(format!("{what}: expected a number, got {}", type_name(obj))))
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}
