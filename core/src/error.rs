//! The one list of error kinds, with codes and numbers that every language shares.
//!
//! Codes are stable strings; numbers are grouped (1xx: the caller's input, 2xx: upstream,
//! 3xx: local) and never reused, so a C caller can switch on them across versions.

use std::fmt;

macro_rules! error_kinds {
    ($($variant:ident = $num:literal, $code:literal, $name:literal;)+) => {
        /// What went wrong, as a stable code. Tests in every language assert these, never messages.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum ErrorKind { $($variant = $num,)+ }

        impl ErrorKind {
            /// Every kind, in number order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)+];

            /// The stable string code, e.g. `invalid_input`.
            pub const fn code(self) -> &'static str {
                match self { $(ErrorKind::$variant => $code,)+ }
            }

            /// The CamelCase name the bindings use for exception classes (`InvalidInput` → `InvalidInputError`).
            pub const fn name(self) -> &'static str {
                match self { $(ErrorKind::$variant => $name,)+ }
            }

            pub fn from_code(code: &str) -> Option<ErrorKind> {
                match code { $($code => Some(ErrorKind::$variant),)+ _ => None }
            }

            pub fn from_number(n: u32) -> Option<ErrorKind> {
                match n { $($num => Some(ErrorKind::$variant),)+ _ => None }
            }
        }
    };
}

error_kinds! {
    InvalidInput = 100, "invalid_input", "InvalidInput";
    Config = 101, "config", "Config";
    NotFound = 102, "not_found", "NotFound";
    ContextTooLarge = 103, "context_too_large", "ContextTooLarge";
    BudgetExceeded = 104, "budget_exceeded", "BudgetExceeded";
    Auth = 200, "auth", "Auth";
    RateLimited = 201, "rate_limited", "RateLimited";
    Timeout = 202, "timeout", "Timeout";
    Provider = 203, "provider", "Provider";
    Network = 204, "network", "Network";
    CircuitOpen = 205, "circuit_open", "CircuitOpen";
    Cancelled = 300, "cancelled", "Cancelled";
    Cache = 301, "cache", "Cache";
    Io = 302, "io", "Io";
    Internal = 303, "internal", "Internal";
    // A run guard (`guard::RunGuard`) stopped an agent run; `details.reason` says why:
    // `max_steps`, `max_time` or `loop_detected`. A kind of its own rather than a reused one:
    // `budget_exceeded` means money (spend caps, checked before a call is sent) and `cancelled`
    // means the caller or a signal, and a caller handling those must not mistake a looping agent
    // for either. 3xx: the engine itself decided to stop, nothing upstream failed.
    GuardStopped = 304, "guard_stopped", "GuardStopped";
}

impl ErrorKind {
    /// The stable number (also the C result code).
    pub const fn number(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error with a kind, a human message and optional machine-readable details
/// (`{"path": "providers.openai.timeout_ms"}`, `{"suggestions": [...]}`).
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn io(context: &str, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// Turns a caught panic payload into an `internal` error; used at every language boundary.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Self::internal(format!("internal error (panic): {what}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

/// Runs `f`, turning a panic into an `internal` error. Bindings wrap every entry point in it.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(Error::from_panic(payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_numbers_are_unique_and_round_trip() {
        let mut codes = HashSet::new();
        let mut numbers = HashSet::new();
        for &k in ErrorKind::ALL {
            assert!(codes.insert(k.code()));
            assert!(numbers.insert(k.number()));
            assert_eq!(ErrorKind::from_code(k.code()), Some(k));
            assert_eq!(ErrorKind::from_number(k.number()), Some(k));
        }
        assert_eq!(ErrorKind::ALL.len(), 16);
        assert_eq!(ErrorKind::from_code("nope"), None);
        assert_eq!(ErrorKind::from_number(0), None);
    }

    #[test]
    fn numbers_are_pinned() {
        // These numbers are ABI: changing one breaks C and Go callers.
        assert_eq!(ErrorKind::InvalidInput.number(), 100);
        assert_eq!(ErrorKind::NotFound.number(), 102);
        assert_eq!(ErrorKind::RateLimited.number(), 201);
        assert_eq!(ErrorKind::Internal.number(), 303);
        assert_eq!(ErrorKind::GuardStopped.number(), 304);
    }

    #[test]
    fn panic_becomes_internal_error() {
        let r: Result<()> = catch_panic(|| panic!("boom"));
        let e = r.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(e.message.contains("boom"));
    }
}
