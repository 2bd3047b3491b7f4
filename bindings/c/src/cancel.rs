//! `trinity_cancel_token`: a caller-made token that cancels the calls it was given to.
//!
//! The caller makes the token and passes it to `trinity_chat_async` / `trinity_chat_stream`; each
//! call keeps its own reference (a `CancellationToken` clone), so the caller may free the token at
//! any time, even from a callback or while calls still run: freeing never cancels. One token may
//! serve several calls (cancelling all of them, like a Go context). The type is not named
//! `trinity_cancel` because C keeps typedef and function names in one namespace, and
//! `trinity_cancel(token)` is the function.

use crate::boundary::{call, guard};
use crate::error::trinity_error;
use crate::ffi::non_null;
use std::future::Future;
use tokio_util::sync::CancellationToken;
use trinity_core::{Error, ErrorKind, Result};

/// A cancel token. Opaque; make with `trinity_cancel_token_new`, free with
/// `trinity_cancel_token_free`.
pub struct trinity_cancel_token {
    token: CancellationToken,
}

/// The call's own reference to the token behind `ptr` (NULL: the call cannot be cancelled).
pub(crate) unsafe fn token_of(ptr: *const trinity_cancel_token) -> Option<CancellationToken> {
    // SAFETY: NULL or a live token (header contract).
    unsafe { ptr.as_ref() }.map(|t| t.token.clone())
}

/// Runs `work` until it ends or `token` is cancelled; cancelling drops `work`, which aborts its
/// HTTP request. A token cancelled before the call started wins (`biased`).
pub(crate) async fn until_cancelled<T>(
    token: Option<CancellationToken>,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(token) = token else {
        return work.await;
    };
    tokio::select! {
        biased;
        _ = token.cancelled() => Err(Error::new(ErrorKind::Cancelled, "cancelled by trinity_cancel")),
        r = work => r,
    }
}

/// Makes a cancel token.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_cancel_token_new(
    out_token: *mut *mut trinity_cancel_token,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_token, "out_token")?;
        *out = Box::into_raw(Box::new(trinity_cancel_token {
            token: CancellationToken::new(),
        }));
        Ok(())
    })
}

/// Cancels every call the token was given to, now and later: a running call stops and reports
/// `TRINITY_ERR_CANCELLED` (its HTTP request is aborted); a call started with an already
/// cancelled token reports it at once. Calls that already finished are unaffected. Idempotent;
/// NULL is a no-op.
///
/// Thread safety: safe from any thread, concurrently, including from callbacks.
#[no_mangle]
pub unsafe extern "C" fn trinity_cancel(token: *const trinity_cancel_token) {
    guard((), || {
        // SAFETY: NULL or a live token (header contract).
        if let Some(t) = unsafe { token.as_ref() } {
            t.token.cancel();
        }
    })
}

/// Whether `trinity_cancel` was called on the token; false for NULL.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cancel_token_is_cancelled(
    token: *const trinity_cancel_token,
) -> bool {
    guard(false, || {
        // SAFETY: NULL or a live token (header contract).
        unsafe { token.as_ref() }.is_some_and(|t| t.token.is_cancelled())
    })
}

/// Frees the caller's token. It does not cancel: calls given the token keep their own reference
/// and run on. NULL is a no-op.
///
/// Thread safety: the caller must be the token's last user (no `trinity_cancel` on it in
/// flight); calls it was given do not count.
#[no_mangle]
pub unsafe extern "C" fn trinity_cancel_token_free(token: *mut trinity_cancel_token) {
    guard((), || {
        if !token.is_null() {
            // SAFETY: a pointer from `trinity_cancel_token_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(token) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trinity_core::rt;

    #[test]
    fn a_cancelled_token_wins_and_freeing_does_not_cancel() {
        let mut t = std::ptr::null_mut();
        // SAFETY: the token is used only while live.
        unsafe {
            assert_eq!(trinity_cancel_token_new(&mut t, std::ptr::null_mut()), 0);
            let mine = token_of(t);
            assert!(!trinity_cancel_token_is_cancelled(t));
            trinity_cancel(t);
            trinity_cancel(t);
            assert!(trinity_cancel_token_is_cancelled(t));
            trinity_cancel_token_free(t);
            let r = rt::block_on(until_cancelled(mine, async { Ok(1) }));
            assert_eq!(r.unwrap_err().kind, ErrorKind::Cancelled);
            assert_eq!(
                rt::block_on(until_cancelled(None, async { Ok(2) })).unwrap(),
                2
            );
            trinity_cancel(std::ptr::null());
            trinity_cancel_token_free(std::ptr::null_mut());
        }
    }
}
