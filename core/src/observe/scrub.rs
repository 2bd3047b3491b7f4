//! Scrubbing secrets and personal data out of text before it is stored or logged.
//!
//! The key shapes follow gitleaks' rules (`config/gitleaks.toml`, MIT), loosened on length so a
//! truncated or future-length key is still caught — for a scrubber a false negative costs more
//! than a false positive: OpenAI `sk-`/`sk-proj-`/`sk-svcacct-`/`sk-admin-` (and the
//! OpenAI-compatible `sk-…` of DeepSeek, OpenRouter `sk-or-v1-…`), Anthropic `sk-ant-…`, Google
//! `AIza…`, Groq `gsk_…`, xAI `xai-…`, Hugging Face `hf_…`, Perplexity `pplx-…`, AWS access key
//! ids, JWTs and PEM private keys. Keys without a shape of their own (Mistral, Cohere, Azure)
//! are caught by where they stand: `Bearer`/`Basic`/`Token` credentials, `api_key=`,
//! `x-api-key:`, `password:` and the like, and user:password in URLs. Personal data: email
//! addresses and card numbers (13–19 digits, spaces or dashes allowed, Luhn-checked so order
//! numbers and timestamps stay).
//!
//! Each rule is one pass of a regex whose literal prefixes the `regex` crate searches with SIMD;
//! text with nothing to scrub comes back borrowed.

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Whole matches are secrets.
static KEYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // Anthropic (api03, admin01, ...) before the generic `sk-`.
        r"sk-ant-[A-Za-z0-9_\-]{8,}",
        // OpenAI (project, service account, admin) and OpenAI-compatible keys, OpenRouter.
        r"|sk-[A-Za-z0-9_\-]{16,}",
        r"|AIza[0-9A-Za-z_\-]{30,}",
        r"|gsk_[A-Za-z0-9]{20,}",
        r"|xai-[A-Za-z0-9]{20,}",
        r"|hf_[A-Za-z0-9]{30,}",
        r"|pplx-[A-Za-z0-9]{20,}",
        r"|\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
        // JSON Web Tokens: header.payload.signature.
        r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
        r"|-----BEGIN[A-Z ]*PRIVATE KEY-----(?s:.*?)-----END[A-Z ]*PRIVATE KEY-----",
    ))
    .expect("valid pattern")
});

/// `Bearer <token>`, `Basic <base64>`, `Token <token>`: the scheme stays.
static AUTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{8,}").expect("valid pattern")
});

/// `api_key=…`, `"x-api-key": "…"`, `password: …`: the name stays, the value goes.
static ASSIGNED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"(?i)\b((?:x-)?api[-_]?key|x-goog-api-key|api[-_]?token|access[-_]?token|auth[-_]?token"#,
        r#"|client[-_]?secret|secret[-_]?key|aws_secret_access_key|password|passwd)"#,
        r#"(["']?\s*[:=]\s*["']?)[^\s"'&,;}\[\]]{6,}"#,
    ))
    .expect("valid pattern")
});

/// `scheme://user:password@host`: the credentials go.
static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@").expect("valid pattern")
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
        .expect("valid pattern")
});

/// `text` with secrets and personal data replaced by `[REDACTED]`; borrowed when there is
/// nothing to scrub.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    replace(&mut out, &KEYS, REDACTED);
    replace(&mut out, &AUTH, "$1$2[REDACTED]");
    replace(&mut out, &ASSIGNED, "$1$2[REDACTED]");
    replace(&mut out, &URL_USERINFO, "$1[REDACTED]@");
    if out.contains('@') {
        replace(&mut out, &EMAIL, REDACTED);
    }
    scrub_cards(&mut out);
    out
}

/// `err` with keys and personal data scrubbed from its message and from every string in its
/// details: what a caller gets from the client (a network error names the URL it tried, a
/// resolution error the model asked for, a provider may echo the key it was sent).
pub fn scrub_error(mut err: crate::Error) -> crate::Error {
    scrub_in_place(&mut err.message);
    if let Some(d) = &mut err.details {
        scrub_json(d);
    }
    err
}

/// [`scrub`] on an owned string, replacing it only when something was scrubbed.
pub fn scrub_in_place(s: &mut String) {
    if let Cow::Owned(x) = scrub(s) {
        *s = x;
    }
}

/// [`scrub`] on every string in a JSON value, however deep.
pub fn scrub_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => scrub_in_place(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(scrub_json),
        _ => {}
    }
}

fn replace(text: &mut Cow<'_, str>, re: &Regex, with: &str) {
    if let Cow::Owned(s) = re.replace_all(text, with) {
        *text = Cow::Owned(s);
    }
}

/// Card numbers: runs of 13 to 19 digits (single spaces or dashes between them allowed) not
/// touching a letter, digit or `_`, whose Luhn check passes. A scan by hand: a regex without
/// a literal to search for would try every digit of a log line.
fn scrub_cards(text: &mut Cow<'_, str>) {
    let b = text.as_bytes();
    let word = |i: usize| {
        b.get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && word(i - 1)) {
            i += 1;
            continue;
        }
        // The longest run from i: digits, each pair possibly split by one space or dash.
        let (mut end, mut digits, mut j) = (i, 0, i);
        while j < b.len() {
            if b[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
                j += 1;
            } else if matches!(b[j], b' ' | b'-') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
                j += 1;
            } else {
                break;
            }
        }
        if (13..=19).contains(&digits) && !word(end) && luhn(&text[i..end]) {
            found.push((i, end));
        }
        i = end.max(i + 1);
    }
    if found.is_empty() {
        return;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in found {
        out.push_str(&text[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&text[last..]);
    *text = Cow::Owned(out);
}

/// The Luhn checksum of the digits in `s` (other characters skipped) is valid.
fn luhn(s: &str) -> bool {
    let mut sum = 0;
    for (i, d) in s
        .bytes()
        .rev()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .enumerate()
    {
        sum += if i % 2 == 1 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_scrubbed_and_its_label_kept() {
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
            (
                "Authorization: Basic dXNlcjpwYXNzd29yZA==",
                "Authorization: Basic [REDACTED]",
            ),
            (
                "groq gsk_abcdefghijklmnopqrstuvwx12 end",
                "groq [REDACTED] end",
            ),
            ("xai-ABCDEFGHIJKLMNOPQRSTUVWX", "[REDACTED]"),
            ("hf_abcdefghijklmnopqrstuvwxyzABCDEFGH!", "[REDACTED]!"),
            ("pplx-0123456789abcdef0123456789", "[REDACTED]"),
            ("aws AKIAIOSFODNN7EXAMPLE id", "aws [REDACTED] id"),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = [REDACTED]",
            ),
            (
                r#"{"api_key": "m1stra1KeyWithoutAnyPrefix0000"}"#,
                r#"{"api_key": "[REDACTED]"}"#,
            ),
            ("password=hunter22&user=x", "password=[REDACTED]&user=x"),
            (
                "redis://default:s3cretpass@cache:6379/0",
                "redis://[REDACTED]@cache:6379/0",
            ),
            (
                "write to ada.lovelace+llm@example.co.uk today",
                "write to [REDACTED] today",
            ),
            ("card 4111 1111 1111 1111 exp", "card [REDACTED] exp"),
            ("card 5555-5555-5555-4444.", "card [REDACTED]."),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- ok",
                "[REDACTED] ok",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), want, "{input}");
        }
    }

    #[test]
    fn clean_text_is_borrowed_and_unchanged() {
        for clean in [
            "a sk-short task",
            "Bearer",
            "rate limited, retry in 3s",
            "order 4111 1111 1111 1112 (not a card: the Luhn check fails)",
            "timestamp 1764766923456 and 20261203153000",
            "version 2.3.4, see docs@ nowhere",
            "the token count is 1234",
            "",
        ] {
            assert!(
                matches!(scrub(clean), Cow::Borrowed(s) if s == clean),
                "{clean}"
            );
        }
    }

    #[test]
    fn luhn_checks() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111111111111112"));
    }
}
