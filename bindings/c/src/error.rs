//! `trinity_error`: the error object a failed call hands to `out_err`, and the code names.
//!
//! The numbers are the core's `ErrorKind` numbers (`TRINITY_ERR_*` in the header, generated from
//! the same list), grouped and never reused.

use crate::boundary::guard;
use std::ffi::{c_char, CString};
use std::ptr;
use std::sync::LazyLock;
use trinity_core::{Error, ErrorKind};

/// The result of a call that succeeded.
pub const TRINITY_OK: u32 = 0;

/// An error: a code, a message, and optional JSON details. Opaque; free with `trinity_error_free`.
pub struct trinity_error {
    kind: ErrorKind,
    message: CString,
    details: Option<CString>,
}

impl trinity_error {
    pub(crate) fn boxed(e: Error) -> *mut trinity_error {
        let details = e.details.map(|d| c_string(d.to_string()));
        Box::into_raw(Box::new(trinity_error {
            kind: e.kind,
            message: c_string(e.message),
            details,
        }))
    }
}

/// Messages may quote caller input, which may hold NUL bytes: show them instead of failing.
fn c_string(s: String) -> CString {
    CString::new(s.replace('\0', "\\0")).expect("NUL bytes were replaced")
}

/// Each kind's code as a NUL-terminated string that lives as long as the process.
static CODE_NAMES: LazyLock<Vec<(ErrorKind, CString)>> = LazyLock::new(|| {
    ErrorKind::ALL
        .iter()
        .map(|&k| (k, CString::new(k.code()).expect("codes are plain ASCII")))
        .collect()
});

fn code_name(kind: ErrorKind) -> *const c_char {
    CODE_NAMES
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(ptr::null(), |(_, name)| name.as_ptr())
}

/// The error's number (`TRINITY_ERR_*`); 0 (`TRINITY_OK`) for NULL.
///
/// Thread safety: safe on an error no thread is freeing.
#[no_mangle]
pub unsafe extern "C" fn trinity_error_code(err: *const trinity_error) -> u32 {
    guard(TRINITY_OK, || {
        // SAFETY: NULL or an error from this library that the caller has not freed.
        unsafe { err.as_ref() }.map_or(TRINITY_OK, |e| e.kind.number())
    })
}

/// The error's stable code, e.g. "not_found" (static storage: never free it); NULL for NULL.
///
/// Thread safety: safe on an error no thread is freeing.
#[no_mangle]
pub unsafe extern "C" fn trinity_error_code_name(err: *const trinity_error) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: NULL or a live error from this library.
        unsafe { err.as_ref() }.map_or(ptr::null(), |e| code_name(e.kind))
    })
}

/// The human-readable message, NUL-terminated UTF-8, valid until the error is freed. Tests and
/// programs should branch on the code, not on this text. NULL for NULL.
///
/// Thread safety: safe on an error no thread is freeing.
#[no_mangle]
pub unsafe extern "C" fn trinity_error_message(err: *const trinity_error) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: NULL or a live error from this library.
        unsafe { err.as_ref() }.map_or(ptr::null(), |e| e.message.as_ptr())
    })
}

/// Machine-readable details as a JSON object (e.g. `{"path": "providers.x.kind"}` or
/// `{"suggestions": [...]}`), valid until the error is freed; NULL when there are none.
///
/// Thread safety: safe on an error no thread is freeing.
#[no_mangle]
pub unsafe extern "C" fn trinity_error_details(err: *const trinity_error) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: NULL or a live error from this library.
        unsafe { err.as_ref() }
            .and_then(|e| e.details.as_ref())
            .map_or(ptr::null(), |d| d.as_ptr())
    })
}

/// Frees an error. NULL is a no-op.
///
/// Thread safety: the caller must be the error's only user.
#[no_mangle]
pub unsafe extern "C" fn trinity_error_free(err: *mut trinity_error) {
    guard((), || {
        if !err.is_null() {
            // SAFETY: a pointer from `trinity_error::boxed`, freed once (header contract).
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

/// The stable code of an error number, e.g. 102 -> "not_found" (static storage); NULL when the
/// number is not an error (including `TRINITY_OK`).
///
/// Thread safety: always safe.
#[no_mangle]
pub extern "C" fn trinity_error_code_str(code: u32) -> *const c_char {
    guard(ptr::null(), || {
        ErrorKind::from_number(code).map_or(ptr::null(), code_name)
    })
}
