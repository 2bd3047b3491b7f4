//! Observability: the request log (one record per call, bounded in memory, optional JSON
//! Lines sink), its `DebugInfo`, engine logs routed to each client's sinks, metrics, the
//! scrubber that keeps secrets and personal data out of what is stored, and UTC timestamps.

pub mod exporter;
pub mod families;
pub mod log;
pub mod metrics;
pub mod monitor;
pub mod replay;
pub mod report;
pub mod request_log;
pub mod scrub;

pub use log::{ClientLog, LogRecord};
pub use metrics::ClientMetrics;
pub use request_log::{DebugInfo, LogQuery, RequestLog, RequestLogSettings, RequestRecord};
pub use scrub::scrub;

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
    // Digits written by hand: this runs for every log line.
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y.rem_euclid(10_000));
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, rem / 3_600_000);
    put(14, 2, rem / 60_000 % 60);
    put(17, 2, rem / 1_000 % 60);
    put(20, 3, rem % 1_000);
    String::from_utf8_lossy(&b).into_owned()
}

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
}
