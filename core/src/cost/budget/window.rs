//! Calendar windows in UTC, computed from Unix time by hand (Howard Hinnant's
//! `civil_from_days` / `days_from_civil`): no date crate is in the dependency tree, and these
//! two functions are all a budget needs.

/// Seconds in a day.
pub const DAY_S: u64 = 86_400;

/// A UTC calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
}

/// The date of day `days` since 1970-01-01.
pub fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date { year, month, day }
}

/// Days since 1970-01-01 of a date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day window holding Unix second `unix_s`: days since the epoch.
pub fn day_of(unix_s: u64) -> u32 {
    (unix_s / DAY_S) as u32
}

/// The month window of a day: `year * 12 + month - 1`.
pub fn month_of_day(day: u32) -> u32 {
    let d = civil_from_days(i64::from(day));
    (d.year * 12 + i64::from(d.month) - 1) as u32
}

/// `2026-12-03`.
pub fn day_label(day: u32) -> String {
    let d = civil_from_days(i64::from(day));
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

/// `2026-12`.
pub fn month_label(month: u32) -> String {
    format!("{:04}-{:02}", month / 12, month % 12 + 1)
}

/// Unix second at which day window `day` ends (the next midnight UTC).
pub fn day_end_s(day: u32) -> u64 {
    (u64::from(day) + 1) * DAY_S
}

/// Unix second at which month window `month` ends (00:00 UTC on the 1st of the next month).
pub fn month_end_s(month: u32) -> u64 {
    let next = month + 1;
    days_from_civil(i64::from(next / 12), next % 12 + 1, 1) as u64 * DAY_S
}

/// RFC 3339 UTC at second precision: `2026-12-04T00:00:00Z`.
pub fn rfc3339(unix_s: u64) -> String {
    let d = civil_from_days((unix_s / DAY_S) as i64);
    let s = unix_s % DAY_S;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year,
        d.month,
        d.day,
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Unix seconds of a UTC date and time (tests and tools).
pub fn unix_s(year: i64, month: u32, day: u32, h: u64, m: u64, s: u64) -> u64 {
    days_from_civil(year, month, day) as u64 * DAY_S + h * 3600 + m * 60 + s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        // 1970 .. 2370 covers leap centuries (2000 is leap, 2100 is not).
        for days in 0..146_097i64 {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days, "{d:?}");
        }
        assert_eq!(
            civil_from_days(days_from_civil(2100, 3, 1) - 1),
            Date {
                year: 2100,
                month: 2,
                day: 28
            }
        );
        assert_eq!(
            civil_from_days(days_from_civil(2028, 3, 1) - 1),
            Date {
                year: 2028,
                month: 2,
                day: 29
            }
        );
    }

    #[test]
    fn labels_ends_and_rfc3339() {
        // 2026-12-03T23:59:59Z
        let t = unix_s(2026, 12, 3, 23, 59, 59);
        assert_eq!(t, 1_796_342_399);
        let day = day_of(t);
        assert_eq!(day_label(day), "2026-12-03");
        assert_eq!(rfc3339(day_end_s(day)), "2026-12-04T00:00:00Z");
        let month = month_of_day(day);
        assert_eq!(month_label(month), "2026-12");
        assert_eq!(rfc3339(month_end_s(month)), "2027-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(month_end_s(month_of_day(day_of(unix_s(
                2028, 2, 10, 0, 0, 0
            ))))),
            "2028-03-01T00:00:00Z"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
