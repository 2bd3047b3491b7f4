//! Observability: the request log (one record per call, bounded in memory, optional JSON
//! Lines sink), its `DebugInfo`, and the small helpers they share (UTC timestamps, scrubbing
//! keys out of error text).

pub mod request_log;

pub use request_log::{DebugInfo, LogQuery, RequestLog, RequestLogSettings, RequestRecord};

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for ms since the Unix epoch (proleptic Gregorian, UTC).
pub fn iso8601_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1_000 % 60,
        rem % 1_000
    )
}

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const SCRUBBED: &str = "[REDACTED]";

static KEYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // Anthropic, OpenAI (sk-, sk-proj-, sk-svcacct-) and OpenAI-compatible keys.
        r"sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}",
        // Google API keys.
        r"|AIza[0-9A-Za-z_\-]{30,}",
        // JSON Web Tokens (header.payload.signature).
        r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
    ))
    .expect("valid pattern")
});

static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]{8,}").expect("valid pattern")
});

/// `text` with API keys and bearer tokens replaced by `[REDACTED]`: OpenAI/compatible
/// `sk-…` (and `sk-proj-…`), Anthropic `sk-ant-…`, Google `AIza…`, JWTs, and `Bearer <token>`.
/// Borrowed when there is nothing to scrub. (A later, fuller scrubber replaces this one.)
pub fn scrub(text: &str) -> Cow<'_, str> {
    let keys = KEYS.replace_all(text, SCRUBBED);
    if !BEARER.is_match(&keys) {
        return keys;
    }
    Cow::Owned(
        BEARER
            .replace_all(&keys, format!("$1 {SCRUBBED}").as_str())
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_764_766_923_456), "2025-12-03T13:02:03.456Z");
        assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn scrub_removes_every_key_shape() {
        let cases = [
            ("key sk-abcdefghijklmnop1234 bad", "key [REDACTED] bad"),
            (
                "sk-proj-AbC_dEf-1234567890abcdefXYZ invalid",
                "[REDACTED] invalid",
            ),
            (
                "x-api-key: sk-ant-api03-abcDEF_123-xyz",
                "x-api-key: [REDACTED]",
            ),
            (
                "key=AIzaSyA1234567890abcdefghijklmnopqrstu&x",
                "key=[REDACTED]&x",
            ),
            (
                "Authorization: Bearer eyJhbGciOi.J9.abc-def_ghi",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "authorization: bearer abcdefgh12345678",
                "authorization: bearer [REDACTED]",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), want, "{input}");
        }
        // Nothing to scrub: borrowed, unchanged (short words after "sk-" or "Bearer" stay).
        for clean in ["a sk-short task", "Bearer", "rate limited, retry in 3s"] {
            assert!(matches!(scrub(clean), Cow::Borrowed(s) if s == clean));
        }
    }
}
