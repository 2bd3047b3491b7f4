//! Context tools: `pruneContext`, `getAvailableContextWindow`, `validateConversation`,
//! `prioritizeContext`, `warnIfTooLarge`.
//! Options arrive with the core's snake_case names (the TypeScript wrapper maps them).

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use std::cell::RefCell;
use trinity_core::context::{self, Dialect, PruneOptions};

fn options<T: serde::de::DeserializeOwned + Default>(
    v: Option<Value>,
    what: &str,
) -> trinity_core::Result<T> {
    match v {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| trinity_core::Error::invalid_input(format!("{what}: {e}"))),
    }
}

fn list(messages: Value) -> trinity_core::Result<Vec<Value>> {
    match messages {
        Value::Array(list) => Ok(list),
        _ => Err(trinity_core::Error::invalid_input(
            "messages: expected an array of messages",
        )),
    }
}

#[napi(ts_return_type = "Record<string, unknown>")]
pub fn prune_context(
    env: Env,
    messages: Value,
    model: String,
    options_json: Option<Value>,
    summarize: Option<Function<'_, Value, String>>,
) -> Result<Value> {
    // The callback's own exception, thrown as it is rather than as an engine error.
    let thrown: RefCell<Option<Error>> = RefCell::new(None);
    let result = guard(&env, || {
        let list = list(messages)?;
        let opts: PruneOptions = options(options_json, "options")?;
        let mut f = |gone: &[Value]| -> trinity_core::Result<String> {
            let cb = summarize.as_ref().expect("called only when given");
            cb.call(Value::Array(gone.to_vec())).map_err(|e| {
                *thrown.borrow_mut() = Some(e);
                trinity_core::Error::internal("summarize threw")
            })
        };
        let summarizer: Option<context::Summarizer<'_>> = match summarize.is_some() {
            true => Some(&mut f),
            false => None,
        };
        let registry = trinity_core::registry::global();
        let pruned = context::prune(&registry, &list, &model, &opts, summarizer)?;
        serde_json::to_value(pruned).map_err(|e| trinity_core::Error::internal(e.to_string()))
    });
    match thrown.into_inner() {
        Some(e) => Err(e),
        None => result,
    }
}

#[napi(ts_return_type = "Record<string, unknown>")]
pub fn available_context_window(
    env: Env,
    model: String,
    reserve_output_tokens: Option<i64>,
    max_input_tokens: Option<i64>,
) -> Result<Value> {
    guard(&env, || {
        let tokens = |v: Option<i64>, what: &str| -> trinity_core::Result<Option<u64>> {
            v.map(|n| {
                u64::try_from(n).map_err(|_| {
                    trinity_core::Error::invalid_input(format!(
                        "{what}: expected a count of tokens, got {n}"
                    ))
                })
            })
            .transpose()
        };
        let registry = trinity_core::registry::global();
        let w = context::available_window(
            &registry,
            &model,
            tokens(reserve_output_tokens, "reserveOutputTokens")?,
            tokens(max_input_tokens, "maxInputTokens")?,
        )?;
        serde_json::to_value(w).map_err(|e| trinity_core::Error::internal(e.to_string()))
    })
}

#[napi(ts_return_type = "Record<string, unknown> | null")]
pub fn validate_conversation(env: Env, messages: Value, dialect: Option<String>) -> Result<Value> {
    guard(&env, || {
        let list = list(messages)?;
        let dialect: Dialect = options(dialect.map(Value::String), "dialect")?;
        Ok(match context::validate(&list, dialect) {
            Ok(()) => Value::Null,
            Err(v) => {
                serde_json::to_value(v).map_err(|e| trinity_core::Error::internal(e.to_string()))?
            }
        })
    })
}

#[napi(ts_return_type = "Record<string, unknown>")]
pub fn prioritize_context(env: Env, items: Value, query: Option<String>) -> Result<Value> {
    guard(&env, || {
        let Value::Array(items) = items else {
            return Err(trinity_core::Error::invalid_input(
                "items: expected an array of documents or messages",
            ));
        };
        let out = context::prioritize(&items, query.as_deref())?;
        serde_json::to_value(out).map_err(|e| trinity_core::Error::internal(e.to_string()))
    })
}

#[napi(ts_return_type = "Record<string, unknown>[]")]
pub fn warn_if_too_large(env: Env, request: Value, model: Option<String>) -> Result<Value> {
    guard(&env, || {
        let registry = trinity_core::registry::global();
        let out = context::warn_if_too_large(&registry, &request, model.as_deref())?;
        serde_json::to_value(out).map_err(|e| trinity_core::Error::internal(e.to_string()))
    })
}
