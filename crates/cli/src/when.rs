//! Relative times for people ("3 min ago"), one helper for every listing that shows when
//! something was written (proposals, the feed, direct messages), so they all say it alike.
//!
//! Timestamps are what the author's clock said (advisory), so a time slightly in the future is
//! shown as "just now" rather than as a confusing "in 2 s"; one further ahead says so.

/// How long before `now_ms` the moment `then_ms` was, in words: "just now", "42 s ago",
/// "3 min ago", "5 h ago", "2 days ago", or "in the future" for a clock more than a minute
/// ahead (both in ms since the Unix epoch).
pub(crate) fn ago(now_ms: u64, then_ms: u64) -> String {
    if then_ms > now_ms {
        return if then_ms - now_ms <= 60_000 {
            "just now".into()
        } else {
            "in the future (the author's clock is ahead)".into()
        };
    }
    let secs = (now_ms - then_ms) / 1000;
    match secs {
        0..5 => "just now".into(),
        5..60 => format!("{secs} s ago"),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..86_400 => format!("{} h ago", secs / 3_600),
        86_400..172_800 => "1 day ago".into(),
        _ => format!("{} days ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::ago;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn counts_back_in_the_largest_whole_unit() {
        let cases = [
            (0, "just now"),
            (4_999, "just now"),
            (5_000, "5 s ago"),
            (59_999, "59 s ago"),
            (60_000, "1 min ago"),
            (3 * 60_000 + 30_000, "3 min ago"),
            (3_599_999, "59 min ago"),
            (3_600_000, "1 h ago"),
            (23 * 3_600_000 + 3_599_999, "23 h ago"),
            (86_400_000, "1 day ago"),
            (2 * 86_400_000, "2 days ago"),
            (400 * 86_400_000, "400 days ago"),
        ];
        for (back, want) in cases {
            assert_eq!(ago(NOW, NOW - back), want, "{back} ms back");
        }
    }

    #[test]
    fn a_clock_ahead_is_not_shown_as_the_past() {
        assert_eq!(ago(NOW, NOW + 30_000), "just now");
        assert!(ago(NOW, NOW + 120_000).contains("future"));
        assert_eq!(ago(0, 0), "just now");
        assert_eq!(
            ago(u64::MAX, 0),
            format!("{} days ago", u64::MAX / 1000 / 86_400)
        );
    }
}
