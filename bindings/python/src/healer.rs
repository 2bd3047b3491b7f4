//! `heal_html`, `heal_css`: `str` or UTF-8 `bytes` in, `{"html"|"css", "fixes"}` out.

use crate::conv;
use crate::error::{call, invalid_input};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use trinity_core::healer;

/// The document as bytes: `str` is always UTF-8; `bytes` are checked by the core.
fn source(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    conv::text(obj, what)
        .map(|t| t.into_owned().into_bytes())
        .map_err(|_| {
            invalid_input(format!(
                "{what}: expected str or bytes, got {}",
                conv::type_name(obj)
            ))
        })
}

fn options(obj: Option<&Bound<'_, PyAny>>) -> PyResult<serde_json::Value> {
    match obj {
        Some(o) if !o.is_none() => conv::json(o, "options"),
        _ => Ok(serde_json::Value::Null),
    }
}

type HealFn = fn(&[u8], serde_json::Value) -> trinity_core::Result<serde_json::Value>;

/// Both functions: convert, heal with the GIL released, convert back.
fn heal<'py>(
    py: Python<'py>,
    f: HealFn,
    (text, what): (&Bound<'py, PyAny>, &str),
    options: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (bytes, opts) = (source(text, what)?, self::options(options)?);
    let healed = py.detach(|| call(|| f(&bytes, opts)))?;
    conv::to_py(py, &healed)
}

/// Heals a page: `{"html": str, "fixes": [{"rule", "selector", "reason", "added"}]}`.
#[pyfunction]
#[pyo3(signature = (html, options=None))]
pub fn heal_html<'py>(
    py: Python<'py>,
    html: &Bound<'py, PyAny>,
    options: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    heal(py, healer::heal_html_json, (html, "html"), options)
}

/// Heals a stylesheet: `{"css": str, "fixes": [...]}`.
#[pyfunction]
#[pyo3(signature = (css, options=None))]
pub fn heal_css<'py>(
    py: Python<'py>,
    css: &Bound<'py, PyAny>,
    options: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    heal(py, healer::heal_css_json, (css, "css"), options)
}
