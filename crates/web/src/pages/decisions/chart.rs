//! Result charts as inline SVG built on the server: a bar per option, and for instant-runoff the
//! count of every round.
//!
//! They are strings built here (no script, no chart library, nothing fetched), so a result can
//! be read with JavaScript off and the Content-Security-Policy stays strict: only presentation
//! attributes, no `style` attributes. Every label is escaped with [`esc`] because option labels
//! are written by members, and a member may be hostile.

use std::fmt::Write as _;

/// Width of the drawing (it scales to its box).
const W: i64 = 640;
/// Height of one bar row.
const ROW: i64 = 30;
/// Where bars start (labels go to the left of it).
const LEFT: i64 = 220;
/// Room on the right for the number.
const RIGHT: i64 = 70;
/// Longest label drawn, in characters (the full label is in the table and the `<title>`).
const LABEL_CHARS: usize = 28;

/// Escapes text for SVG/XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 documents.
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(LABEL_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// One bar of a chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// The option's label.
    pub label: String,
    /// Its number (may be negative: quadratic votes against, Schulze/score sums).
    pub value: i64,
    /// Drawn as the winner (or as selected, for a budget).
    pub win: bool,
}

/// A horizontal bar chart: one row per bar, negative values drawn left of a zero line.
/// `title` is the chart's accessible name.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let h = ROW * bars.len().max(1) as i64 + 10;
    let max = bars.iter().map(|b| b.value.max(0)).max().unwrap_or(0);
    let min = bars.iter().map(|b| b.value.min(0)).min().unwrap_or(0);
    let span = max.saturating_sub(min).max(1);
    let width = W - LEFT - RIGHT;
    // x of a value: zero sits where the negatives end.
    let x = |v: i64| LEFT + ((v.saturating_sub(min)) as i128 * width as i128 / span as i128) as i64;
    let zero = x(0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {W} {h}" xmlns="http://www.w3.org/2000/svg" aria-label="{t}"><title>{t}</title>"#,
        t = esc(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 5 + ROW * i as i64;
        let (x0, x1) = if b.value >= 0 {
            (zero, x(b.value))
        } else {
            (x(b.value), zero)
        };
        let fill = match (b.win, b.value < 0) {
            (true, _) => "#1e6b3a",
            (false, true) => "#b3261e",
            (false, false) => "#8c8577",
        };
        let _ = write!(
            s,
            r##"<g><title>{full}: {v}</title><text x="{lx}" y="{ty}" text-anchor="end" font-size="13" fill="#1d1b18">{label}</text><rect x="{x0}" y="{ry}" width="{bw}" height="{bh}" rx="3" fill="{fill}"/><text x="{nx}" y="{ty}" font-size="13" fill="#1d1b18">{v}{star}</text></g>"##,
            full = esc(&b.label),
            label = esc(&clip(&b.label)),
            lx = LEFT - 8,
            ty = y + 19,
            ry = y + 4,
            bw = (x1 - x0).max(if b.value == 0 { 0 } else { 1 }),
            bh = ROW - 10,
            nx = x1.max(zero) + 6,
            v = b.value,
            star = if b.win { " ★" } else { "" },
        );
    }
    if min < 0 {
        let _ = write!(
            s,
            r##"<line x1="{zero}" y1="0" x2="{zero}" y2="{h}" stroke="#1d1b18" stroke-width="1"/>"##
        );
    }
    s.push_str("</svg>");
    s
}

/// Instant-runoff rounds: one small bar chart per round (`-1` = eliminated, drawn as a note).
/// `rounds[r][o]` is option `o`'s count in round `r`; `winner` is highlighted in the last round.
pub fn rounds(labels: &[String], rounds: &[Vec<i64>], winner: Option<usize>) -> String {
    let per = ROW * labels.len().max(1) as i64 + 34;
    let h = per * rounds.len().max(1) as i64;
    let max = rounds
        .iter()
        .flat_map(|r| r.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = W - LEFT - RIGHT;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {W} {h}" xmlns="http://www.w3.org/2000/svg" aria-label="Instant-runoff rounds"><title>Instant-runoff rounds</title>"#
    );
    let last = rounds.len().saturating_sub(1);
    for (r, counts) in rounds.iter().enumerate() {
        let top = per * r as i64;
        let _ = write!(
            s,
            r##"<text x="4" y="{}" font-size="14" font-weight="700" fill="#1d1b18">Round {}</text>"##,
            top + 18,
            r + 1
        );
        for (o, label) in labels.iter().enumerate() {
            let y = top + 26 + ROW * o as i64;
            let c = counts.get(o).copied().unwrap_or(-1);
            let win = r == last && winner == Some(o);
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="end" font-size="13" fill="{}">{}</text>"##,
                LEFT - 8,
                y + 19,
                if c < 0 { "#8c8577" } else { "#1d1b18" },
                esc(&clip(label))
            );
            if c < 0 {
                let _ = write!(
                    s,
                    r##"<text x="{LEFT}" y="{}" font-size="12" fill="#8c8577">eliminated</text>"##,
                    y + 19
                );
                continue;
            }
            let bw = (c as i128 * width as i128 / max as i128) as i64;
            let _ = write!(
                s,
                r##"<rect x="{LEFT}" y="{}" width="{bw}" height="{}" rx="3" fill="{}"/><text x="{}" y="{}" font-size="13" fill="#1d1b18">{c}{}</text>"##,
                y + 4,
                ROW - 10,
                if win { "#1e6b3a" } else { "#8c8577" },
                LEFT + bw + 6,
                y + 19,
                if win { " ★" } else { "" }
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_labels_are_escaped() {
        let evil = r#"<script>alert(1)</script>" onload="x'&"#;
        let svg = bars(
            "Result <b>",
            &[
                Bar {
                    label: evil.into(),
                    value: 3,
                    win: true,
                },
                Bar {
                    label: "ok".into(),
                    value: -2,
                    win: false,
                },
            ],
        );
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("onload=\""), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("&quot; onload=&quot;x&#39;&amp;"), "{svg}");
        let svg = rounds(
            &[evil.into(), "b".into()],
            &[vec![2, 1], vec![3, -1]],
            Some(0),
        );
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("eliminated"), "{svg}");
        assert!(svg.contains("Round 2"), "{svg}");
    }

    #[test]
    fn bars_scale_and_mark_the_winner() {
        let svg = bars(
            "r",
            &[
                Bar {
                    label: "a".into(),
                    value: 10,
                    win: true,
                },
                Bar {
                    label: "b".into(),
                    value: 5,
                    win: false,
                },
            ],
        );
        // The larger value spans the whole drawing width, the smaller half.
        assert!(
            svg.contains(&format!(r#"width="{}""#, W - LEFT - RIGHT)),
            "{svg}"
        );
        assert!(
            svg.contains(&format!(r#"width="{}""#, (W - LEFT - RIGHT) / 2)),
            "{svg}"
        );
        assert!(svg.contains("10 ★"), "{svg}");
        // No bars and extreme values do not panic.
        let _ = bars("empty", &[]);
        let _ = bars(
            "extreme",
            &[
                Bar {
                    label: "x".into(),
                    value: i64::MAX,
                    win: false,
                },
                Bar {
                    label: "y".into(),
                    value: i64::MIN,
                    win: false,
                },
            ],
        );
        let _ = rounds(&[], &[], None);
    }

    #[test]
    fn control_characters_and_long_labels() {
        assert_eq!(esc("a\u{0}b"), "a b");
        let long = "x".repeat(100);
        let svg = bars(
            "t",
            &[Bar {
                label: long.clone(),
                value: 1,
                win: false,
            }],
        );
        assert!(svg.contains('…'));
        assert!(svg.contains(&long), "the full label stays in the title");
    }
}
