//! The library's version at run time, to compare with the header's `TRINITY_VERSION` and
//! `TRINITY_ABI_VERSION` (a program built against another ABI should refuse to run).

use crate::boundary::guard;
use std::ffi::{c_char, CString};
use std::sync::LazyLock;

static VERSION: LazyLock<CString> =
    LazyLock::new(|| CString::new(trinity_core::VERSION).expect("a version has no NUL"));

/// The library version, e.g. "0.1.0" (static storage: never free it).
///
/// Thread safety: always safe.
#[no_mangle]
pub extern "C" fn trinity_version() -> *const c_char {
    guard(std::ptr::null(), || VERSION.as_ptr())
}

/// The ABI version, bumped on every incompatible change; equals `TRINITY_ABI_VERSION` of the
/// header the library was built with, and the major number of its SONAME.
///
/// Thread safety: always safe.
#[no_mangle]
pub extern "C" fn trinity_abi_version() -> u32 {
    guard(0, || trinity_core::ABI_VERSION)
}
