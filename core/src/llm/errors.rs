//! Provider failures as core errors: the HTTP status becomes the kind, and the status, the
//! provider's error type and message, the request id and the Retry-After delay are kept in
//! `details` for the retry layer and for the caller.

use crate::error::{Error, ErrorKind};
use reqwest::header::HeaderMap;
use serde_json::json;
use std::time::{Duration, SystemTime};

/// The delay a provider asked for: `retry-after-ms`, else `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The request id a provider put in its answer's headers.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "request-id", "x-goog-request-id"]
        .iter()
        .find_map(|h| {
            headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
}

/// Words providers use when the prompt does not fit the context window.
fn is_context_overflow(message: &str, kind: Option<&str>) -> bool {
    let m = message.to_ascii_lowercase();
    kind == Some("context_length_exceeded")
        || m.contains("context length")
        || m.contains("context window")
        || m.contains("maximum context")
        || m.contains("prompt is too long")
        || m.contains("too many tokens")
}

/// Maps an HTTP error answer to an error kind.
pub fn kind_for_status(status: u16, message: &str, provider_type: Option<&str>) -> ErrorKind {
    match status {
        400 | 413 | 422 if is_context_overflow(message, provider_type) => {
            ErrorKind::ContextTooLarge
        }
        400 | 413 | 422 => ErrorKind::InvalidInput,
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimited,
        _ => ErrorKind::Provider,
    }
}

/// An error for a non-2xx answer.
pub fn from_status(
    provider: &str,
    status: u16,
    headers: &HeaderMap,
    provider_type: Option<String>,
    message: Option<String>,
) -> Error {
    // Providers echo the key they were sent ("Incorrect API key provided: sk-…").
    let message = message.map_or_else(
        || format!("HTTP {status}"),
        |m| crate::observe::scrub(&m).into_owned(),
    );
    let kind = kind_for_status(status, &message, provider_type.as_deref());
    let retry = retry_after(headers, SystemTime::now()).map(|d| d.as_millis() as u64);
    let request_id = request_id(headers);
    let should_retry = headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .map(|v| v == "true");
    Error::new(kind, format!("{provider}: HTTP {status}: {message}")).with_details(json!({
        "provider": provider,
        "status": status,
        "provider_type": provider_type,
        "retry_after_ms": retry,
        "provider_request_id": request_id,
        "should_retry": should_retry,
    }))
}

/// A transport failure (connect, reset, timeout) as `network` or `timeout`.
pub fn from_transport(provider: &str, e: &reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Network
    };
    // reqwest's Display omits the cause chain (connection refused, reset); include it.
    let mut what = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        what.push_str(": ");
        what.push_str(&s.to_string());
        source = s.source();
    }
    Error::new(kind, format!("{provider}: {what}")).with_details(json!({ "provider": provider }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        // ms wins over seconds; garbage is ignored
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "10"), ("retry-after", "5")]),
                now
            ),
            Some(Duration::from_millis(10))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")]), now), None);
    }

    #[test]
    fn statuses_become_kinds() {
        assert_eq!(kind_for_status(400, "bad", None), ErrorKind::InvalidInput);
        assert_eq!(
            kind_for_status(400, "This model's maximum context length is 8192", None),
            ErrorKind::ContextTooLarge
        );
        assert_eq!(
            kind_for_status(400, "x", Some("context_length_exceeded")),
            ErrorKind::ContextTooLarge
        );
        assert_eq!(kind_for_status(401, "", None), ErrorKind::Auth);
        assert_eq!(kind_for_status(404, "", None), ErrorKind::NotFound);
        assert_eq!(kind_for_status(429, "", None), ErrorKind::RateLimited);
        assert_eq!(kind_for_status(503, "", None), ErrorKind::Provider);
        assert_eq!(kind_for_status(504, "", None), ErrorKind::Timeout);
        let e = from_status(
            "openai",
            429,
            &headers(&[("retry-after", "2"), ("x-request-id", "req_1")]),
            None,
            None,
        );
        let d = e.details.unwrap();
        assert_eq!(
            (d["status"].as_u64(), d["retry_after_ms"].as_u64()),
            (Some(429), Some(2000))
        );
        assert_eq!(d["provider_request_id"], "req_1");
    }

    #[test]
    fn a_key_the_provider_echoes_is_scrubbed() {
        let msg = "Incorrect API key provided: sk-proj-AbCdEf0123456789xyzABC. You can find yours";
        let e = from_status("openai", 401, &headers(&[]), None, Some(msg.into()));
        assert_eq!(
            e.message,
            "openai: HTTP 401: Incorrect API key provided: [REDACTED]. You can find yours"
        );
    }
}
