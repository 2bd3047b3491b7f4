//! Conversions at the boundary: `(ptr, len)` strings in, `trinity_string` out, out-parameters.
//! Every check answers with `invalid_input`; nothing here dereferences a NULL pointer.

use crate::boundary::guard;
use serde::Serialize;
use std::ffi::c_char;
use trinity_core::{Error, Result};

/// A string owned by the library: UTF-8, `len` bytes, also NUL-terminated at `ptr[len]`.
/// Free it with `trinity_string_free`.
#[repr(C)]
pub struct trinity_string {
    pub ptr: *mut c_char,
    pub len: usize,
}

impl trinity_string {
    const EMPTY: trinity_string = trinity_string {
        ptr: std::ptr::null_mut(),
        len: 0,
    };

    pub(crate) fn new(s: String) -> trinity_string {
        let len = s.len();
        let mut bytes = s.into_bytes();
        bytes.push(0);
        // A boxed slice has exactly `len + 1` bytes, which `trinity_string_free` relies on.
        let ptr = Box::into_raw(bytes.into_boxed_slice()) as *mut c_char;
        trinity_string { ptr, len }
    }
}

/// Frees a string the library returned and zeroes it, so a second free is a no-op.
/// NULL, and a zeroed string, are no-ops.
///
/// Thread safety: the caller must be the string's only user.
#[no_mangle]
pub unsafe extern "C" fn trinity_string_free(s: *mut trinity_string) {
    guard((), || {
        // SAFETY: NULL or a `trinity_string` this library filled (or zeroed).
        let Some(s) = (unsafe { s.as_mut() }) else {
            return;
        };
        if !s.ptr.is_null() {
            let bytes = std::ptr::slice_from_raw_parts_mut(s.ptr as *mut u8, s.len + 1);
            // SAFETY: made by `trinity_string::new` with exactly `len + 1` bytes.
            drop(unsafe { Box::from_raw(bytes) });
        }
        *s = trinity_string::EMPTY;
    })
}

/// A required string argument. NULL with `len == 0` is the empty string.
pub(crate) unsafe fn str_in<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return if len == 0 {
            Ok("")
        } else {
            Err(Error::invalid_input(format!(
                "{what}: NULL pointer with length {len}"
            )))
        };
    }
    // SAFETY: the caller promises `len` readable bytes at `ptr` for the call's duration.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    std::str::from_utf8(bytes)
        .map_err(|e| Error::invalid_input(format!("{what}: invalid UTF-8 ({e})")))
}

/// An optional string argument: NULL means "not given".
pub(crate) unsafe fn opt_str_in<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<Option<&'a str>> {
    if ptr.is_null() && len == 0 {
        return Ok(None);
    }
    // SAFETY: forwarded caller contract.
    unsafe { str_in(ptr, len, what) }.map(Some)
}

/// A JSON document argument.
pub(crate) unsafe fn json_in(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<serde_json::Value> {
    // SAFETY: forwarded caller contract.
    let text = unsafe { str_in(ptr, len, what) }?;
    serde_json::from_str(text)
        .map_err(|e| Error::invalid_input(format!("{what}: invalid JSON ({e})")))
}

/// A required pointer (out-parameter or handle) as a reference.
pub(crate) unsafe fn non_null<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: NULL or valid, aligned and unaliased for the call (header contract).
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::invalid_input(format!("{what}: NULL pointer")))
}

/// Claims a string out-parameter: checks it and empties it, so a failed call leaves `{NULL, 0}`.
pub(crate) unsafe fn string_out<'a>(
    out: *mut trinity_string,
    what: &str,
) -> Result<&'a mut trinity_string> {
    // SAFETY: forwarded caller contract.
    let out = unsafe { non_null(out, what) }?;
    *out = trinity_string::EMPTY;
    Ok(out)
}

/// Serializes `value` into a claimed out-parameter.
pub(crate) fn put_json(out: &mut trinity_string, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::internal(format!("cannot serialize result: {e}")))?;
    *out = trinity_string::new(text);
    Ok(())
}

/// JSON text lent to a callback: NUL-terminated, so C may read it as a C string too (the
/// callback gets the length without the NUL).
pub(crate) fn json_bytes(value: &impl Serialize) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(value)
        .map_err(|e| Error::internal(format!("cannot serialize result: {e}")))?;
    bytes.push(0);
    Ok(bytes)
}

/// A callback the caller must pass; NULL is `invalid_input` naming the parameter.
pub(crate) fn required<F>(callback: Option<F>, name: &str) -> Result<F> {
    callback.ok_or_else(|| Error::invalid_input(format!("{name}: NULL function pointer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_free_twice() {
        let mut s = trinity_string::new("héllo".to_string());
        assert_eq!(s.len, 6);
        // SAFETY: `s` was made by the library.
        unsafe {
            assert_eq!(*s.ptr.add(s.len), 0);
            trinity_string_free(&mut s);
            assert!(s.ptr.is_null());
            trinity_string_free(&mut s);
            trinity_string_free(std::ptr::null_mut());
        }
    }

    #[test]
    fn inputs_are_validated() {
        // SAFETY: pointers and lengths match.
        unsafe {
            assert_eq!(str_in(std::ptr::null(), 0, "x").unwrap(), "");
            assert!(str_in(std::ptr::null(), 3, "x").is_err());
            let bad = b"\xff\xfe";
            assert!(str_in(bad.as_ptr() as *const c_char, 2, "x").is_err());
            assert_eq!(opt_str_in(std::ptr::null(), 0, "x").unwrap(), None);
            let ok = b"gpt";
            assert_eq!(
                opt_str_in(ok.as_ptr() as *const c_char, 3, "x").unwrap(),
                Some("gpt")
            );
        }
    }
}
