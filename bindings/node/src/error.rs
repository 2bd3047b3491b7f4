//! Core errors become JS `Error`s with `.code` (the stable string code) and `.details`;
//! panics become `internal` errors instead of unwinding into Node.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use trinity_core::error::{catch_panic, ErrorKind};

/// Runs a core call: a panic is caught, a core error becomes a JS error carrying code and details.
pub(crate) fn guard<T>(env: &Env, f: impl FnOnce() -> trinity_core::Result<T>) -> Result<T> {
    catch_panic(f).map_err(|e| to_js(env, e))
}

/// Builds the JS error object itself, because a plain `napi::Error` can carry a code but no details.
pub(crate) fn to_js(env: &Env, e: trinity_core::Error) -> Error {
    let build = || -> Result<Error> {
        let mut obj = env.create_error(Error::new(Status::GenericFailure, e.message.clone()))?;
        obj.set_named_property("code", e.kind.code())?;
        if let Some(details) = &e.details {
            obj.set_named_property("details", details.clone())?;
        }
        Ok(Error::from(obj.to_unknown()))
    };
    // If even building the error fails, still report the code.
    build().unwrap_or_else(|_| Error::new(Status::GenericFailure, e.to_string()))
}

/// One error kind, as the TypeScript wrapper builds its classes from (`NotFoundError`, ...).
#[napi(object)]
pub struct ErrorKindInfo {
    pub code: String,
    pub number: u32,
    /// The class name: the core's kind name plus `Error`.
    pub class_name: String,
}

/// Every error kind of the core, in number order.
#[napi]
pub fn error_kinds() -> Vec<ErrorKindInfo> {
    ErrorKind::ALL
        .iter()
        .map(|k| ErrorKindInfo {
            code: k.code().to_string(),
            number: k.number(),
            class_name: format!("{}Error", k.name()),
        })
        .collect()
}

/// Panics on purpose, so the tests can check that a panic reaches JS as an `internal` error.
#[napi]
pub fn panic_for_test(env: Env) -> Result<()> {
    guard(&env, || panic!("deliberate panic from panicForTest"))
}
