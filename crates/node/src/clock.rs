//! Times as people read them: a millisecond timestamp as a UTC date and time. Shared by the
//! operations' messages and the web app, so both print the same text.

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's method).
pub fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_text(ms: u64) -> String {
    let secs = ms / 1000;
    let (d, s) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil(d as i64);
    format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02} UTC",
        s / 3600,
        (s % 3600) / 60
    )
}

/// Days since 1970-01-01 of a (year, month, day), the inverse of [`civil`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD HH:MM` (or with `T`), UTC, into ms since the epoch.
pub fn parse_utc(s: &str) -> Option<u64> {
    let s = s.trim().trim_end_matches(" UTC").trim_end_matches('Z');
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, "00:00"));
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (h, min) = (t.next()??, t.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&min)
    {
        return None;
    }
    let days = days_from_civil(y, m as u32, day as u32);
    let (y2, m2, d2) = civil(days);
    if (y2, i64::from(m2), i64::from(d2)) != (y, m, day) {
        return None;
    }
    u64::try_from((days * 86_400 + h * 3600 + min * 60) * 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(utc_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_text(1_796_469_221_258), "2026-12-05 11:13 UTC");
    }

    #[test]
    fn parses_what_it_prints() {
        for ms in [0u64, 951_782_400_000, 1_796_469_180_000] {
            assert_eq!(parse_utc(&utc_text(ms)), Some(ms));
        }
        assert_eq!(parse_utc("2026-12-06T10:30"), parse_utc("2026-12-06 10:30"));
        for bad in ["2026-02-30 10:00", "2026-13-01", "x", "2026-12-06 25:00"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
