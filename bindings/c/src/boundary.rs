//! The panic boundary every `extern "C"` body runs inside (the idea of rustls-ffi's
//! `ffi_panic_boundary!`): a panic unwinding into C is undefined behaviour, so it is caught
//! here and turned into `TRINITY_ERR_INTERNAL`, or a neutral value for infallible functions.

use crate::error::{trinity_error, TRINITY_OK};
use std::panic::{catch_unwind, AssertUnwindSafe};
use trinity_core::error::catch_panic;
use trinity_core::Result;

/// Runs a fallible body: returns `TRINITY_OK` or the error's number, handing the error object to
/// `out_err` when the caller asked for it.
pub(crate) fn call(out_err: *mut *mut trinity_error, body: impl FnOnce() -> Result<()>) -> u32 {
    // SAFETY: `out_err` is NULL or points to writable storage for one pointer (header contract).
    let slot = unsafe { out_err.as_mut() };
    let result = catch_panic(body);
    match result {
        Ok(()) => {
            if let Some(slot) = slot {
                *slot = std::ptr::null_mut();
            }
            TRINITY_OK
        }
        Err(e) => {
            let number = e.kind.number();
            if let Some(slot) = slot {
                *slot = trinity_error::boxed(e);
            }
            number
        }
    }
}

/// Runs an infallible body (accessors, frees): a panic yields `on_panic` instead of unwinding.
pub(crate) fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trinity_core::ErrorKind;

    #[test]
    fn panic_becomes_internal_with_an_error_object() {
        let mut err: *mut trinity_error = std::ptr::null_mut();
        let rc = call(&mut err, || panic!("boom"));
        assert_eq!(rc, ErrorKind::Internal.number());
        assert!(!err.is_null());
        // SAFETY: `err` was just produced by `call`.
        unsafe {
            assert_eq!(crate::error::trinity_error_code(err), rc);
            crate::error::trinity_error_free(err);
        }
    }

    #[test]
    fn panic_without_out_err_still_returns_the_number() {
        assert_eq!(
            call(std::ptr::null_mut(), || panic!("boom")),
            ErrorKind::Internal.number()
        );
        assert_eq!(guard(7, || panic!("boom")), 7);
    }

    #[test]
    fn success_clears_out_err() {
        let mut err = std::ptr::dangling_mut::<trinity_error>();
        assert_eq!(call(&mut err, || Ok(())), TRINITY_OK);
        assert!(err.is_null());
    }

    #[test]
    fn soname_follows_the_abi_version() {
        let want = format!("libtrinity.so.{}", trinity_core::ABI_VERSION);
        assert!(
            include_str!("../build.rs").contains(&want),
            "build.rs must use {want}"
        );
    }
}
