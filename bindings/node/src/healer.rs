//! CSS healer: `string` or UTF-8 `Buffer` in, `{html|css, fixes}` out.

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use trinity_core::healer;

fn bytes(source: &Either<String, Buffer>) -> &[u8] {
    match source {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b.as_ref(),
    }
}

#[napi(ts_args_type = "html: string | Buffer, options?: object | undefined | null")]
pub fn heal_html(env: Env, html: Either<String, Buffer>, options: Option<Value>) -> Result<Value> {
    guard(&env, || {
        healer::heal_html_json(bytes(&html), options.unwrap_or(Value::Null))
    })
}

#[napi(ts_args_type = "css: string | Buffer, options?: object | undefined | null")]
pub fn heal_css(env: Env, css: Either<String, Buffer>, options: Option<Value>) -> Result<Value> {
    guard(&env, || {
        healer::heal_css_json(bytes(&css), options.unwrap_or(Value::Null))
    })
}
