//! Ballots on the web: a form that fits each decision method, and the one pure function that
//! turns what the form sent into the ballot text `Op::Vote` takes (the same text as
//! `dualpower vote`).
//!
//! It exists so a person never types ballot syntax, and so a mistake the form can see (a rank
//! given twice, a negative number of dots, a basket over budget, a block without a reason) is
//! refused here with a message that says what to fix, before anything is sent. The node checks
//! every ballot again: this is for the person, not for safety.
//!
//! The text refers to options in a way the node's parser cannot misread whatever the labels
//! are: scores are one number per option in order (no labels at all); sets and rankings use an
//! option's number unless some label *is* that number, and then its label, if that label is
//! unambiguous (see [`option_ref`]). A hostile label such as `2`, `a,b` or `Abstain` can therefore
//! not redirect a vote to another option.

use dualpower_core::decision::{MAX_SCORE, Method, MethodKind};
use maud::{Markup, html};

/// The form field a single choice arrives in (majority, consent, plurality).
pub const CHOICE: &str = "choice";
/// The form field of a consent block's (or any vote's) reason.
pub const REASON: &str = "reason";
/// The form field a separate "Abstain" button sets.
pub const ABSTAIN: &str = "abstain";

/// The form field for option `i` (0-based): its checkbox, rank, score, votes or points.
pub fn field(i: usize) -> String {
    format!("o{i}")
}

/// An option of a proposal as the ballot form needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    /// Its label.
    pub label: String,
    /// Its cost (participatory budgeting; 0 otherwise).
    pub cost: u64,
}

/// Options as `Op::Propose` takes them (`label`, or `label=cost` for a budget) → labels and
/// costs. A trailing `=N` is read as a cost only for budgets, so other methods keep `=` in labels.
pub fn parse_options(method: &str, options: &[String]) -> Vec<Opt> {
    let budget = method.trim_start().starts_with("budget");
    options
        .iter()
        .map(|o| match o.rsplit_once('=') {
            Some((l, c)) if budget => match c.trim().parse::<u64>() {
                Ok(cost) => Opt {
                    label: l.trim().to_string(),
                    cost,
                },
                Err(_) => Opt {
                    label: o.clone(),
                    cost: 0,
                },
            },
            _ => Opt {
                label: o.clone(),
                cost: 0,
            },
        })
        .collect()
}

/// The ballot text for `method` (its text, e.g. `score:min=1,max=10`) with `options` (labels;
/// for a budget `label=cost`, as proposed) from the form's fields. Quadratic votes are not
/// checked against a credit budget here (see [`ballot_text_within`]).
pub fn ballot_text(
    method: &str,
    options: &[String],
    form: &[(String, String)],
) -> Result<String, String> {
    ballot_text_within(method, &parse_options(method, options), form, None)
}

/// [`ballot_text`] with options already split into label and cost, and the member's quadratic
/// voice credits when known (a ballot costing more is refused here).
pub fn ballot_text_within(
    method: &str,
    options: &[Opt],
    form: &[(String, String)],
    credits: Option<u64>,
) -> Result<String, String> {
    let m = Method::parse(method.trim()).map_err(|e| format!("this proposal's {e}"))?;
    let get = |k: &str| {
        form.iter()
            .rev()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.trim())
    };
    if get(ABSTAIN).is_some_and(|v| !v.is_empty()) {
        return Ok("abstain".into());
    }
    let labels: Vec<String> = match m.fixed_options() {
        Some(f) => f.iter().map(|s| (*s).to_string()).collect(),
        None => options.iter().map(|o| o.label.clone()).collect(),
    };
    if labels.is_empty() {
        return Err("this proposal has no options to vote on".into());
    }
    let name = |i: usize| labels.get(i).cloned().unwrap_or_default();
    let number = |i: usize, v: &str| -> Result<i64, String> {
        v.parse::<i64>()
            .map_err(|_| format!("“{v}” for “{}” is not a whole number", name(i)))
    };
    match &m.kind {
        MethodKind::Majority { .. } | MethodKind::Consent => {
            let c = get(CHOICE).unwrap_or_default().to_ascii_lowercase();
            let c = if c == "stand-aside" || c == "stand aside" {
                "abstain".to_string()
            } else {
                c
            };
            if c.is_empty() {
                return Err(format!("choose one of: {}", labels.join(", ")));
            }
            if !labels.contains(&c) {
                return Err(format!(
                    "“{c}” is not a choice here; choose one of: {}",
                    labels.join(", ")
                ));
            }
            if c == "block" && get(REASON).is_none_or(str::is_empty) {
                return Err(
                    "a block needs a reason: say what would have to change for you to agree".into(),
                );
            }
            Ok(c)
        }
        MethodKind::Plurality => {
            let c = get(CHOICE).unwrap_or_default();
            if c.is_empty() {
                return Err("choose one option (or abstain)".into());
            }
            let i = index(c, labels.len())?;
            option_ref(&labels, i, true)
        }
        MethodKind::Approval | MethodKind::Budget { .. } => {
            let chosen: Vec<usize> = (0..labels.len())
                .filter(|i| get(&field(*i)).is_some_and(|v| !v.is_empty()))
                .collect();
            if chosen.is_empty() {
                return Err(
                    "tick at least one option (or press Abstain to take part without approving any)"
                        .into(),
                );
            }
            if let MethodKind::Budget { total } = m.kind {
                let cost = chosen.iter().fold(0u64, |a, i| {
                    a.saturating_add(options.get(*i).map_or(0, |o| o.cost))
                });
                if cost > total {
                    return Err(format!(
                        "your basket costs {cost}, more than the budget of {total}: untick something"
                    ));
                }
            }
            let refs = chosen
                .iter()
                .map(|i| option_ref(&labels, *i, false))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(refs.join(","))
        }
        MethodKind::Irv => {
            let mut ranked: Vec<(i64, usize)> = Vec::new();
            for i in 0..labels.len() {
                let v = get(&field(i)).unwrap_or_default();
                if v.is_empty() {
                    continue;
                }
                let r = number(i, v)?;
                if r < 1 || r as usize > labels.len() {
                    return Err(format!(
                        "rank {r} for “{}” is not between 1 and {}",
                        name(i),
                        labels.len()
                    ));
                }
                if let Some((_, j)) = ranked.iter().find(|(q, _)| *q == r) {
                    return Err(format!(
                        "“{}” and “{}” are both ranked {r}: give each rank to one option only",
                        name(*j),
                        name(i)
                    ));
                }
                ranked.push((r, i));
            }
            if ranked.is_empty() {
                return Err("rank at least one option (1 = most preferred), or abstain".into());
            }
            ranked.sort_unstable();
            let refs = ranked
                .iter()
                .map(|(_, i)| option_ref(&labels, *i, false))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(refs.join(","))
        }
        MethodKind::Schulze => {
            // Ranks become grades (the ballot Schulze takes here): 1st of n → n, …, nth → 1;
            // unranked → 0, the same as "no change" (the implicit status quo); "against" → -1,
            // worse than no change. Equal ranks are allowed: they say "equally good".
            let n = labels.len() as i64;
            let mut grades = Vec::with_capacity(labels.len());
            for i in 0..labels.len() {
                let v = get(&field(i)).unwrap_or_default();
                let g = match v {
                    "" => 0,
                    "against" => -1,
                    v => {
                        let r = number(i, v)?;
                        if r < 1 || r > n {
                            return Err(format!(
                                "rank {r} for “{}” is not between 1 and {n}",
                                name(i)
                            ));
                        }
                        n + 1 - r
                    }
                };
                grades.push(g);
            }
            if grades.iter().all(|g| *g == 0) {
                return Err(
                    "rank at least one option, or mark it as worse than no change, or abstain"
                        .into(),
                );
            }
            Ok(join_numbers(&grades))
        }
        MethodKind::Score { min, max } | MethodKind::Star { min, max } => {
            let mut scores = Vec::with_capacity(labels.len());
            for i in 0..labels.len() {
                let v = get(&field(i)).unwrap_or_default();
                // An option left empty gets the lowest score: "no support".
                let s = if v.is_empty() { *min } else { number(i, v)? };
                if s < *min || s > *max {
                    return Err(format!(
                        "the score {s} for “{}” is outside {min} to {max}",
                        name(i)
                    ));
                }
                scores.push(s);
            }
            Ok(join_numbers(&scores))
        }
        MethodKind::Dot { dots } => {
            let mut points = Vec::with_capacity(labels.len());
            for i in 0..labels.len() {
                let v = get(&field(i)).unwrap_or_default();
                let p = if v.is_empty() { 0 } else { number(i, v)? };
                if p < 0 {
                    return Err(format!(
                        "{p} points for “{}”: points cannot be negative",
                        name(i)
                    ));
                }
                points.push(p);
            }
            let used = points
                .iter()
                .fold(0u64, |a, p| a.saturating_add(p.unsigned_abs()));
            if used > *dots {
                return Err(format!(
                    "you gave {used} points but have {dots}: take {} away",
                    used - dots
                ));
            }
            if used == 0 {
                return Err(format!(
                    "give your {dots} points to the options you support (or abstain)"
                ));
            }
            Ok(join_numbers(&points))
        }
        MethodKind::Quadratic => {
            let mut votes = Vec::with_capacity(labels.len());
            for i in 0..labels.len() {
                let v = get(&field(i)).unwrap_or_default();
                let n = if v.is_empty() { 0 } else { number(i, v)? };
                if n.abs() > MAX_SCORE {
                    return Err(format!(
                        "{n} votes for “{}” is more than {MAX_SCORE}",
                        name(i)
                    ));
                }
                votes.push(n);
            }
            let cost = quadratic_cost(&votes);
            if let Some(c) = credits
                && cost > c
            {
                return Err(format!(
                    "these votes cost {cost} voice credits (votes²) but you have {c}"
                ));
            }
            if cost == 0 {
                return Err("give at least one option a vote for or against (or abstain)".into());
            }
            Ok(join_numbers(&votes))
        }
    }
}

/// Σ votes², what a quadratic ballot costs in voice credits (saturating).
pub fn quadratic_cost(votes: &[i64]) -> u64 {
    votes.iter().fold(0u64, |a, n| {
        let m = n.unsigned_abs();
        a.saturating_add(m.saturating_mul(m))
    })
}

fn join_numbers(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// A 0-based option index sent by the form (as its number), checked against `n` options.
fn index(v: &str, n: usize) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(i) if i < n => Ok(i),
        _ => Err(format!("“{v}” is not one of the {n} options")),
    }
}

/// How to name option `i` in ballot text so the node's parser reads exactly option `i`.
///
/// The parser tries labels first (case-insensitive, trimmed), then 1-based numbers. So the
/// number is used unless some label reads as that number; then the label, if the parser would
/// find it first, it has no comma (the list separator) or outer spaces, and it does not read
/// as `abstain` (or, for single choices, `y`/`n`). Otherwise the option cannot be named
/// unambiguously and the vote is refused (better than a vote for the wrong option).
pub fn option_ref(labels: &[String], i: usize, single: bool) -> Result<String, String> {
    let num = (i + 1).to_string();
    if !labels.iter().any(|l| l.trim().eq_ignore_ascii_case(&num)) {
        return Ok(num);
    }
    let l = &labels[i];
    let lower = l.to_ascii_lowercase();
    let first = labels.iter().position(|x| x.eq_ignore_ascii_case(l));
    let safe = first == Some(i)
        && !l.is_empty()
        && l.trim() == l
        && !l.contains(',')
        && lower != "abstain"
        && !(single && (lower == "y" || lower == "n"));
    if safe {
        Ok(l.clone())
    } else {
        Err(format!(
            "option {} (“{l}”) cannot be named unambiguously in a ballot (its label looks like \
             another option's number); vote with `dualpower vote` by number, or ask the author \
             to revise the options",
            i + 1
        ))
    }
}

/// The ballot form's fields for `method` with these options: the part inside the `<form>`
/// that differs per method (the caller adds the CSRF field, reason box and buttons).
/// `credits` is the member's quadratic budget when known; `current` is the member's standing
/// vote as form fields ([`prefill`]), shown pre-selected so changing a vote starts from it.
pub fn ballot_fields(
    method: &str,
    options: &[Opt],
    credits: Option<u64>,
    current: &[(String, String)],
) -> Markup {
    let Ok(m) = Method::parse(method.trim()) else {
        return html! { p class="flash error" { "This proposal's method (" (method) ") cannot be read by this app." } };
    };
    let n = options.len();
    let cur = |k: &str| {
        current
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
    };
    let chosen = |v: &str| cur(CHOICE) == Some(v);
    let ticked = |i: usize| cur(&field(i)).is_some();
    let picked = |i: usize, v: &str| cur(&field(i)) == Some(v);
    let number = |i: usize, default: i64| {
        cur(&field(i))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    match m.kind {
        MethodKind::Majority { .. } => html! {
            fieldset class="ballot choices" {
                legend { "Your vote" }
                @for (v, l) in [("yes", "Yes"), ("no", "No"), ("abstain", "Abstain")] {
                    label { input type="radio" name=(CHOICE) value=(v) required checked[chosen(v)]; " " (l) }
                }
            }
        },
        MethodKind::Consent => html! {
            fieldset class="ballot choices" {
                legend { "Your response" }
                label { input type="radio" name=(CHOICE) value="agree" required checked[chosen("agree")]; " Agree" }
                label { input type="radio" name=(CHOICE) value="abstain" checked[chosen("abstain")]; " Stand aside " span class="hint" { "(I won't take part but won't stop it)" } }
                label { input type="radio" name=(CHOICE) value="disagree" checked[chosen("disagree")]; " Disagree " span class="hint" { "(but won't block)" } }
                label { input type="radio" name=(CHOICE) value="block" checked[chosen("block")]; " Block " span class="hint" { "(a reason is required)" } }
            }
        },
        MethodKind::Plurality => html! {
            fieldset class="ballot choices" {
                legend { "Choose one" }
                @for (i, o) in options.iter().enumerate() {
                    label { input type="radio" name=(CHOICE) value=(i) required checked[chosen(&i.to_string())]; " " (o.label) }
                }
            }
        },
        MethodKind::Approval => html! {
            fieldset class="ballot choices" {
                legend { "Tick every option you approve of" }
                @for (i, o) in options.iter().enumerate() {
                    label { input type="checkbox" name=(field(i)) value="1" checked[ticked(i)]; " " (o.label) }
                }
            }
        },
        MethodKind::Budget { total } => html! {
            fieldset class="ballot choices" {
                legend { "Tick the options to fund (budget " (total) ")" }
                @for (i, o) in options.iter().enumerate() {
                    label { input type="checkbox" name=(field(i)) value="1" checked[ticked(i)]; " " (o.label) " " span class="badge" { "costs " (o.cost) } }
                }
                p class="hint" { "Your basket's total cost must be at most " (total) "." }
            }
        },
        MethodKind::Irv => html! {
            fieldset class="ballot grid-ballot" {
                legend { "Rank the options (1 = most preferred); leave out any you would never support" }
                @for (i, o) in options.iter().enumerate() {
                    label for=(field(i)) { (o.label) }
                    select id=(field(i)) name=(field(i)) {
                        option value="" { "not ranked" }
                        @for r in 1..=n { option value=(r) selected[picked(i, &r.to_string())] { (ordinal(r)) } }
                    }
                }
            }
        },
        MethodKind::Schulze => html! {
            fieldset class="ballot grid-ballot" {
                legend { "Rank the options (1 = most preferred; equal ranks allowed)" }
                @for (i, o) in options.iter().enumerate() {
                    label for=(field(i)) { (o.label) }
                    select id=(field(i)) name=(field(i)) {
                        option value="" { "not ranked (same as no change)" }
                        @for r in 1..=n { option value=(r) selected[picked(i, &r.to_string())] { (ordinal(r)) } }
                        option value="against" selected[picked(i, "against")] { "worse than no change" }
                    }
                }
                p class="hint" { "“No change” always takes part: an option wins only if more prefer it to no change." }
            }
        },
        MethodKind::Score { min, max } | MethodKind::Star { min, max } => html! {
            fieldset class="ballot grid-ballot" {
                legend { "Score each option from " (min) " (worst) to " (max) " (best)" }
                @for (i, o) in options.iter().enumerate() {
                    label for=(field(i)) { (o.label) }
                    input id=(field(i)) type="number" name=(field(i)) min=(min) max=(max) step="1" value=(number(i, min));
                }
                @if matches!(m.kind, MethodKind::Star { .. }) {
                    p class="hint" { "STAR: the two highest-scoring options go to a runoff, won by the one more voters scored higher." }
                }
            }
        },
        MethodKind::Dot { dots } => html! {
            fieldset class="ballot grid-ballot" {
                legend { "Spread up to " (dots) " points over the options" }
                @for (i, o) in options.iter().enumerate() {
                    label for=(field(i)) { (o.label) }
                    input id=(field(i)) type="number" name=(field(i)) min="0" max=(dots) step="1" value=(number(i, 0));
                }
            }
        },
        MethodKind::Quadratic => html! {
            fieldset class="ballot grid-ballot" {
                legend { "Votes per option (negative against): n votes cost n² voice credits" }
                @for (i, o) in options.iter().enumerate() {
                    label for=(field(i)) { (o.label) }
                    input id=(field(i)) type="number" name=(field(i)) step="1" value=(number(i, 0));
                }
                p class="hint" {
                    "1 vote costs 1, 2 cost 4, 3 cost 9, 4 cost 16 credits. "
                    @if !current.is_empty() {
                        "Your current vote costs " (quadratic_cost(&(0..n).map(|i| number(i, 0)).collect::<Vec<_>>())) ". "
                    }
                    @match credits {
                        Some(c) => { "Your budget: " (c) " credits." }
                        None => { "Your budget is set by the group's rules (100 credits per period unless changed); the node tells you if a vote costs more than you have left." }
                    }
                }
            }
        },
    }
}

/// The form fields that show a standing vote, from the ballot in words the node reports
/// (`Cedar > Acorn`, `a, c`, `a=3, b=-1`, `yes`, `abstain`). Labels are matched in order,
/// longest first, so a label containing the separator still reads back; anything that does
/// not read back exactly gives no fields (an empty form), never a wrong pre-selection.
pub fn prefill(method: &str, labels: &[String], words: &str) -> Vec<(String, String)> {
    let Ok(m) = Method::parse(method.trim()) else {
        return Vec::new();
    };
    let labels: Vec<String> = match m.fixed_options() {
        Some(f) => f.iter().map(|s| (*s).to_string()).collect(),
        None => labels.to_vec(),
    };
    if words == "abstain" && !labels.iter().any(|l| l == "abstain") {
        return Vec::new();
    }
    // Reads `label SEP label SEP …` from the start: returns the option indices.
    let list = |sep: &str| -> Option<Vec<usize>> {
        let mut rest = words;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (i, after) = labels
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.is_empty() && rest.starts_with(l.as_str()))
                .filter_map(|(i, l)| {
                    let after = &rest[l.len()..];
                    if after.is_empty() {
                        Some((i, after))
                    } else {
                        after.strip_prefix(sep).map(|a| (i, a))
                    }
                })
                .max_by_key(|(i, _)| labels[*i].len())?;
            out.push(i);
            rest = after;
        }
        Some(out)
    };
    // Reads `label0=n, label1=n, …` (every option, in order).
    let scores = || -> Option<Vec<i64>> {
        let mut rest = words;
        let mut out = Vec::new();
        for (i, l) in labels.iter().enumerate() {
            if i > 0 {
                rest = rest.strip_prefix(", ")?;
            }
            rest = rest.strip_prefix(l.as_str())?.strip_prefix('=')?;
            let end = rest
                .char_indices()
                .find(|(j, c)| !(c.is_ascii_digit() || (*j == 0 && *c == '-')))
                .map_or(rest.len(), |(j, _)| j);
            out.push(rest[..end].parse().ok()?);
            rest = &rest[end..];
        }
        rest.is_empty().then_some(out)
    };
    let one = |k: String, v: String| vec![(k, v)];
    match m.kind {
        MethodKind::Majority { .. } | MethodKind::Consent => labels
            .iter()
            .find(|l| *l == words)
            .map(|l| one(CHOICE.into(), l.clone()))
            .unwrap_or_default(),
        MethodKind::Plurality => {
            let hits: Vec<usize> = (0..labels.len()).filter(|i| labels[*i] == words).collect();
            match hits.as_slice() {
                [i] => one(CHOICE.into(), i.to_string()),
                _ => Vec::new(),
            }
        }
        MethodKind::Approval | MethodKind::Budget { .. } => list(", ")
            .map(|v| v.into_iter().map(|i| (field(i), "1".into())).collect())
            .unwrap_or_default(),
        MethodKind::Irv => list(" > ")
            .map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(r, i)| (field(i), (r + 1).to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        MethodKind::Schulze => {
            let n = labels.len() as i64;
            scores()
                .map(|g| {
                    g.into_iter()
                        .enumerate()
                        .filter(|(_, g)| *g != 0)
                        .map(|(i, g)| {
                            let v = if g < 0 {
                                "against".to_string()
                            } else {
                                // Grades this form did not make (above n) read as the top rank.
                                (n + 1 - g.min(n)).to_string()
                            };
                            (field(i), v)
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
        MethodKind::Score { .. }
        | MethodKind::Star { .. }
        | MethodKind::Dot { .. }
        | MethodKind::Quadratic => scores()
            .map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(i, n)| (field(i), n.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, … (for rank selects).
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn o(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn majority() {
        assert_eq!(
            ballot_text("majority", &[], &f(&[("choice", "yes")])),
            Ok("yes".into())
        );
        assert_eq!(
            ballot_text("majority:threshold=2/3", &[], &f(&[("choice", "No")])),
            Ok("no".into())
        );
        assert!(ballot_text("majority", &[], &f(&[])).is_err());
        let e = ballot_text("majority", &[], &f(&[("choice", "block")])).unwrap_err();
        assert!(e.contains("not a choice"), "{e}");
    }

    #[test]
    fn consent_block_needs_a_reason() {
        assert_eq!(
            ballot_text("consent", &[], &f(&[("choice", "agree")])),
            Ok("agree".into())
        );
        assert_eq!(
            ballot_text("consent", &[], &f(&[("choice", "stand-aside")])),
            Ok("abstain".into())
        );
        let e = ballot_text("consent", &[], &f(&[("choice", "block")])).unwrap_err();
        assert!(e.contains("reason"), "{e}");
        let e = ballot_text(
            "consent",
            &[],
            &f(&[("choice", "block"), ("reason", "   ")]),
        )
        .unwrap_err();
        assert!(e.contains("reason"), "{e}");
        assert_eq!(
            ballot_text(
                "consent",
                &[],
                &f(&[("choice", "block"), ("reason", "unsafe")])
            ),
            Ok("block".into())
        );
    }

    #[test]
    fn plurality_and_hostile_numeric_labels() {
        let opts = o(&["beds", "shed", "compost"]);
        assert_eq!(
            ballot_text("plurality", &opts, &f(&[("choice", "1")])),
            Ok("2".into())
        );
        let e = ballot_text("plurality", &opts, &f(&[("choice", "3")])).unwrap_err();
        assert!(e.contains("not one of"), "{e}");
        assert!(ballot_text("plurality", &opts, &f(&[("choice", "-1")])).is_err());
        // A label that *is* another option's number: the option is named by label, so the
        // node's parser (labels first) cannot read it as the other option.
        let hostile = o(&["2", "real"]);
        assert_eq!(
            ballot_text("plurality", &hostile, &f(&[("choice", "1")])),
            Ok("real".into())
        );
        assert_eq!(
            ballot_text("plurality", &hostile, &f(&[("choice", "0")])),
            Ok("1".into())
        );
        // "y" would be read as "yes" by the single-choice parser: named by number instead…
        assert_eq!(
            ballot_text("plurality", &o(&["y", "n"]), &f(&[("choice", "0")])),
            Ok("1".into())
        );
        // …and when neither works the vote is refused rather than misdirected.
        let e = ballot_text("plurality", &o(&["2", "Y"]), &f(&[("choice", "1")])).unwrap_err();
        assert!(e.contains("unambiguously"), "{e}");
    }

    #[test]
    fn approval() {
        let opts = o(&["a", "b", "c"]);
        assert_eq!(
            ballot_text("approval", &opts, &f(&[("o0", "1"), ("o2", "1")])),
            Ok("1,3".into())
        );
        assert!(ballot_text("approval", &opts, &f(&[])).is_err());
        // Fields for options that do not exist are ignored, not sent.
        assert!(ballot_text("approval", &opts, &f(&[("o7", "1")])).is_err());
        assert_eq!(
            ballot_text("approval", &opts, &f(&[("abstain", "1")])),
            Ok("abstain".into())
        );
        // Labels with commas can't break the list: numbers are used.
        assert_eq!(
            ballot_text("approval", &o(&["a,b", "c"]), &f(&[("o0", "1")])),
            Ok("1".into())
        );
    }

    #[test]
    fn budget_over_budget_is_refused() {
        let opts = o(&["garden=300", "roof=800", "mural=150"]);
        assert_eq!(
            ballot_text("budget:total=1000", &opts, &f(&[("o0", "1"), ("o2", "1")])),
            Ok("1,3".into())
        );
        let e =
            ballot_text("budget:total=1000", &opts, &f(&[("o0", "1"), ("o1", "1")])).unwrap_err();
        assert!(e.contains("1100") && e.contains("1000"), "{e}");
    }

    #[test]
    fn irv_rank_twice_and_out_of_range() {
        let opts = o(&["a", "b", "c"]);
        assert_eq!(
            ballot_text("irv", &opts, &f(&[("o0", "2"), ("o1", ""), ("o2", "1")])),
            Ok("3,1".into())
        );
        let e = ballot_text("irv", &opts, &f(&[("o0", "1"), ("o1", "1")])).unwrap_err();
        assert!(e.contains("both ranked 1"), "{e}");
        let e = ballot_text("irv", &opts, &f(&[("o0", "4")])).unwrap_err();
        assert!(e.contains("between 1 and 3"), "{e}");
        let e = ballot_text("irv", &opts, &f(&[("o0", "-1")])).unwrap_err();
        assert!(e.contains("between"), "{e}");
        let e = ballot_text("irv", &opts, &f(&[("o0", "first")])).unwrap_err();
        assert!(e.contains("whole number"), "{e}");
        assert!(ballot_text("irv", &opts, &f(&[])).is_err());
    }

    #[test]
    fn schulze_ranks_become_grades() {
        let opts = o(&["a", "b", "c"]);
        assert_eq!(
            ballot_text(
                "schulze",
                &opts,
                &f(&[("o0", "2"), ("o1", "1"), ("o2", "against")])
            ),
            Ok("2,3,-1".into())
        );
        // Equal ranks are an equal preference (Schulze takes grades).
        assert_eq!(
            ballot_text("schulze", &opts, &f(&[("o0", "1"), ("o1", "1")])),
            Ok("3,3,0".into())
        );
        assert!(ballot_text("schulze", &opts, &f(&[("o0", "0")])).is_err());
        assert!(ballot_text("schulze", &opts, &f(&[])).is_err());
    }

    #[test]
    fn score_and_star_ranges() {
        let opts = o(&["a", "b"]);
        assert_eq!(
            ballot_text("score", &opts, &f(&[("o0", "5"), ("o1", "")])),
            Ok("5,0".into())
        );
        assert_eq!(
            ballot_text("star:min=1,max=10", &opts, &f(&[("o0", "10"), ("o1", "1")])),
            Ok("10,1".into())
        );
        let e = ballot_text("score", &opts, &f(&[("o0", "6")])).unwrap_err();
        assert!(e.contains("outside 0 to 5"), "{e}");
        let e = ballot_text("star", &opts, &f(&[("o0", "-1")])).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(ballot_text("score", &opts, &f(&[("o0", "2.5")])).is_err());
    }

    #[test]
    fn dot_points() {
        let opts = o(&["a", "b", "c"]);
        assert_eq!(
            ballot_text("dot:dots=5", &opts, &f(&[("o0", "3"), ("o2", "2")])),
            Ok("3,0,2".into())
        );
        let e = ballot_text("dot:dots=5", &opts, &f(&[("o0", "4"), ("o1", "2")])).unwrap_err();
        assert!(e.contains("6 points but have 5"), "{e}");
        let e = ballot_text("dot:dots=5", &opts, &f(&[("o0", "-2"), ("o1", "7")])).unwrap_err();
        assert!(e.contains("negative"), "{e}");
        assert!(ballot_text("dot:dots=5", &opts, &f(&[])).is_err());
    }

    #[test]
    fn quadratic_costs_and_credits() {
        let opts = parse_options("quadratic", &o(&["a", "b"]));
        let form = f(&[("o0", "3"), ("o1", "-4")]);
        assert_eq!(quadratic_cost(&[3, -4]), 25);
        assert_eq!(
            ballot_text_within("quadratic", &opts, &form, Some(25)),
            Ok("3,-4".into())
        );
        let e = ballot_text_within("quadratic", &opts, &form, Some(24)).unwrap_err();
        assert!(e.contains("cost 25") && e.contains("24"), "{e}");
        assert!(ballot_text("quadratic", &o(&["a"]), &f(&[("o0", "99999999999")])).is_err());
        assert_eq!(quadratic_cost(&[i64::MIN, i64::MAX]), u64::MAX);
    }

    #[test]
    fn a_bad_method_is_an_error_not_a_panic() {
        assert!(ballot_text("nonsense", &[], &f(&[])).is_err());
        assert!(ballot_text("plurality", &[], &f(&[("choice", "0")])).is_err());
    }

    #[test]
    fn prefill_reads_back_what_the_node_reports() {
        let l = o(&["a, b", "a", "c > d"]);
        let p = |m: &str, w: &str| prefill(m, &l, w);
        assert_eq!(p("approval", "a, b, c > d"), f(&[("o0", "1"), ("o2", "1")]));
        assert_eq!(p("approval", "a"), f(&[("o1", "1")]));
        assert_eq!(p("irv", "c > d > a"), f(&[("o2", "1"), ("o1", "2")]));
        assert_eq!(
            p("score", "a, b=5, a=0, c > d=-2"),
            f(&[("o0", "5"), ("o1", "0"), ("o2", "-2")])
        );
        assert_eq!(
            p("schulze", "a, b=3, a=0, c > d=-1"),
            f(&[("o0", "1"), ("o2", "against")])
        );
        assert_eq!(p("plurality", "c > d"), f(&[("choice", "2")]));
        assert_eq!(p("majority", "no"), f(&[("choice", "no")]));
        assert_eq!(p("consent", "abstain"), f(&[("choice", "abstain")]));
        // Unreadable or abstaining: nothing pre-selected, never a wrong option.
        assert!(p("approval", "zzz").is_empty());
        assert!(p("score", "a, b=5").is_empty());
        assert!(p("irv", "abstain").is_empty());
        assert!(p("nonsense", "a").is_empty());
        // And what is pre-selected is what the form sends back.
        let form = p("irv", "c > d > a");
        assert_eq!(
            ballot_text_within("irv", &parse_options("irv", &l), &form, None),
            Ok("3,2".into())
        );
        let html = ballot_fields("irv", &parse_options("irv", &l), None, &form).into_string();
        assert!(html.contains(r#"<option value="1" selected>1st"#), "{html}");
        let q = parse_options("quadratic", &o(&["a", "b"]));
        let form = prefill("quadratic", &o(&["a", "b"]), "a=3, b=-2");
        let html = ballot_fields("quadratic", &q, Some(50), &form).into_string();
        assert!(html.contains("Your current vote costs 13."), "{html}");
        assert!(html.contains("Your budget: 50 credits."), "{html}");
        assert!(html.contains(r#"value="-2""#), "{html}");
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(22), "22nd");
    }
}
