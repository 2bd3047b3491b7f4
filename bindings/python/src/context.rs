//! Context tools: `prune_context`, `available_context_window`, `validate_conversation`,
//! `prioritize_context`, `warn_if_too_large`. Messages go in and come out as OpenAI,
//! Anthropic or Gemini shaped dicts; the core does the work.

use crate::conv;
use crate::error::{call, invalid_input};
use pyo3::prelude::*;
use std::cell::RefCell;
use trinity_core::context::{self, Dialect, PruneOptions, Strategy};

fn parse<T: serde::de::DeserializeOwned>(value: &str, what: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| invalid_input(format!("{what}: unknown value '{value}'")))
}

/// `messages` cut to fit `model`'s window less the room for the answer, still valid for the
/// provider (`dialect`: openai, anthropic, gemini, strict). `summarize(dropped) -> str` with
/// `strategy="summarize"`. Returns `{messages, dropped, tokens_before, tokens_after, budget,
/// truncated, summarized}`; `ContextTooLargeError` when even the instructions and the latest
/// user message cannot fit.
#[pyfunction]
#[pyo3(signature = (messages, model, *, max_input_tokens=None, reserve_output_tokens=None,
                    strategy="drop_oldest", dialect="openai", summarize=None))]
#[allow(clippy::too_many_arguments)]
pub fn prune_context<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
    model: &str,
    max_input_tokens: Option<u64>,
    reserve_output_tokens: Option<u64>,
    strategy: &str,
    dialect: &str,
    summarize: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let list = match conv::json(messages, "messages")? {
        serde_json::Value::Array(list) => list,
        _ => return Err(invalid_input("messages: expected a list of message dicts")),
    };
    let opts = PruneOptions {
        strategy: parse::<Strategy>(strategy, "strategy")?,
        dialect: parse::<Dialect>(dialect, "dialect")?,
        max_input_tokens,
        reserve_output_tokens,
    };
    // The callback's own exception, raised as it is rather than as an engine error.
    let raised: RefCell<Option<PyErr>> = RefCell::new(None);
    let mut f = |gone: &[serde_json::Value]| -> trinity_core::Result<String> {
        let cb = summarize.as_ref().expect("called only when given");
        let result = conv::to_py(py, &serde_json::Value::Array(gone.to_vec()))
            .and_then(|arg| cb.call1((arg,)))
            .and_then(|s| s.extract::<String>());
        result.map_err(|e| {
            *raised.borrow_mut() = Some(e);
            trinity_core::Error::internal("summarize raised")
        })
    };
    let summarizer: Option<context::Summarizer<'_>> = match summarize.is_some() {
        true => Some(&mut f),
        false => None,
    };
    let registry = trinity_core::registry::global();
    let pruned = call(|| context::prune(&registry, &list, model, &opts, summarizer));
    if let Some(e) = raised.into_inner() {
        return Err(e);
    }
    let mut pruned = pruned?;
    // Nothing merged, cut or summarised: the kept messages are the caller's own, handed back
    // as they came rather than converted twice (most of the call's time on a long history).
    let untouched = !pruned.truncated
        && !pruned.summarized
        && pruned.messages.len() + pruned.dropped.len() == list.len();
    if !untouched {
        return conv::serialized(py, &pruned);
    }
    pruned.messages.clear();
    let out = conv::serialized(py, &pruned)?;
    let mut dropped = pruned.dropped.iter().peekable();
    let kept = pyo3::types::PyList::empty(py);
    for (i, m) in messages.try_iter()?.enumerate() {
        if dropped.next_if_eq(&&i).is_none() {
            kept.append(m?)?;
        }
    }
    out.set_item("messages", kept)?;
    Ok(out)
}

/// `{model, context_window, reserved_output, available, exact}`: what a conversation may use.
#[pyfunction]
#[pyo3(signature = (model, *, reserve_output_tokens=None, max_input_tokens=None))]
pub fn available_context_window<'py>(
    py: Python<'py>,
    model: &str,
    reserve_output_tokens: Option<u64>,
    max_input_tokens: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let registry = trinity_core::registry::global();
    let w = call(|| {
        context::available_window(&registry, model, reserve_output_tokens, max_input_tokens)
    })?;
    conv::serialized(py, &w)
}

/// None when `messages` follow `dialect`'s rules, else `{index, rule}` of the first broken.
#[pyfunction]
#[pyo3(signature = (messages, dialect="openai"))]
pub fn validate_conversation<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
    dialect: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let list = match conv::json(messages, "messages")? {
        serde_json::Value::Array(list) => list,
        _ => return Err(invalid_input("messages: expected a list of message dicts")),
    };
    let dialect = parse::<Dialect>(dialect, "dialect")?;
    match context::validate(&list, dialect) {
        Ok(()) => Ok(None),
        Err(v) => conv::serialized(py, &v).map(Some),
    }
}

/// Documents (a list of str, ranked against `query`) or messages (a list of dicts; `query`
/// defaults to the latest user message) reordered so the most relevant sit first and last.
/// Returns `{items, order, scores}`: the items in their new order, the input index of each,
/// and each input's BM25 score (`None` for a message that stays in place).
#[pyfunction]
#[pyo3(signature = (items, query=None))]
pub fn prioritize_context<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    query: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let list = match conv::json(items, "items")? {
        serde_json::Value::Array(list) => list,
        _ => {
            return Err(invalid_input(
                "items: expected a list of str or message dicts",
            ))
        }
    };
    let query = conv::opt_text(query, "query")?;
    let out = py.detach(|| call(|| context::prioritize(&list, query.as_deref())))?;
    conv::serialized(py, &out)
}

/// Warnings for `request` (any provider's shape) sent to `model` (default: the request's
/// `model`): a list of `{code, message, tokens, limit, path}`.
#[pyfunction]
#[pyo3(signature = (request, model=None))]
pub fn warn_if_too_large<'py>(
    py: Python<'py>,
    request: &Bound<'py, PyAny>,
    model: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let request = conv::json(request, "request")?;
    let registry = trinity_core::registry::global();
    let out = py.detach(|| call(|| context::warn_if_too_large(&registry, &request, model)))?;
    conv::serialized(py, &out)
}
