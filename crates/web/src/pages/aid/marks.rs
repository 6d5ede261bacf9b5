//! Small marks the mutual-aid pages draw in several places (the board, the ledger, the linked
//! groups' sections): amounts with their sign and colour, and the offer/need badge. Their own
//! module, so the ledger's and the links' renderers both use them without importing each other.

use dualpower_core::ledger::amount_text;
use maud::{Markup, html};

/// The badge that says whether an intent is an offer or a need.
pub fn kind_badge(kind: &str) -> Markup {
    let class = if kind == "need" {
        "badge warn"
    } else {
        "badge open"
    };
    html! { span class=(class) data-kind=(kind) { (kind) } }
}

/// An amount as the node writes it (`-3.50`) in hundredths.
pub fn hundredths(text: &str) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let w: i128 = whole.parse().ok()?;
    let f: i128 = format!("{frac:0<2}").parse().ok()?;
    let v = w * 100 + f;
    Some(if neg { -v } else { v })
}

/// A signed amount for display: `+3.00`, `-3.00`, `0.00`.
pub fn signed(text: &str) -> String {
    match hundredths(text) {
        Some(h) if h > 0 => format!("+{}", amount_text(h)),
        Some(h) => amount_text(h),
        None => text.to_string(),
    }
}

/// The CSS class of an amount: positive, negative or zero.
pub fn amount_class(text: &str) -> &'static str {
    match hundredths(text) {
        Some(h) if h > 0 => "amount pos",
        Some(h) if h < 0 => "amount neg",
        _ => "amount",
    }
}
