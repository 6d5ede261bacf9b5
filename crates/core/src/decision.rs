//! Wire types of collective decisions: methods, ballots, delegation scopes, proposals.
//!
//! These are what members sign; the tallies that read them live in `dualpower-decide` and the
//! rules that judge them (who may vote, what a close counts) in `dualpower-state`. Methods and
//! ratios travel in a short text form (`majority:threshold=2/3,quorum=1/2`) because that is also
//! what a person types at the CLI; decoding insists the text is the canonical form of the value
//! it parses to, so every value still has exactly one encoding. Signed integers (scores, grades,
//! quadratic votes) are zigzag-encoded because our CBOR codec carries unsigned integers only.

use std::fmt;

use crate::cbor::{Reader, Writer};
use crate::event::EventId;
use crate::keys::PublicKey;
use crate::payload::check::PayloadError;

/// Most options a proposal offers.
pub const MAX_OPTIONS: usize = 64;
/// Longest proposal title or option label, in bytes.
pub const MAX_TITLE_BYTES: usize = 200;
/// Longest proposal body, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest topic name, in bytes.
pub const MAX_TOPIC_BYTES: usize = 64;
/// Longest vote reason, in bytes.
pub const MAX_VOTE_REASON_BYTES: usize = 2000;
/// Largest absolute value of one score, grade or quadratic vote.
pub const MAX_SCORE: i64 = 1_000_000;
/// Longest method text.
pub const MAX_METHOD_BYTES: usize = 120;

/// A non-negative fraction `num/den` with `den > 0` and `num <= den`, kept unreduced only if
/// the person wrote it so (`2/4` stays `2/4`; comparisons cross-multiply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ratio {
    /// Numerator.
    pub num: u64,
    /// Denominator (> 0).
    pub den: u64,
}

impl Ratio {
    /// Zero.
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };

    /// Parses `N/D` (or `0`, `1`), with `0 ≤ N ≤ D ≤ 1 000 000`, `D > 0`.
    pub fn parse(s: &str) -> Result<Ratio, PayloadError> {
        let bad = || {
            PayloadError::Invalid(format!(
                "`{s}` is not a fraction N/D with 0 ≤ N ≤ D ≤ 1000000 (e.g. 2/3)"
            ))
        };
        let (n, d) = match s.split_once('/') {
            Some((n, d)) => (n, d),
            None if s == "0" => ("0", "1"),
            None if s == "1" => ("1", "1"),
            None => return Err(bad()),
        };
        let num: u64 = digits(n).ok_or_else(bad)?;
        let den: u64 = digits(d).ok_or_else(bad)?;
        if den == 0 || num > den || den > 1_000_000 {
            return Err(bad());
        }
        Ok(Ratio { num, den })
    }

    /// `part/whole ≥ self`, by cross-multiplication (no rounding).
    pub fn reached_by(&self, part: u64, whole: u64) -> bool {
        (part as u128) * (self.den as u128) >= (self.num as u128) * (whole as u128)
    }

    /// True if this is zero.
    pub fn is_zero(&self) -> bool {
        self.num == 0
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// Plain decimal digits, no sign, no leading zeros (so the text form stays canonical).
fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A decision method with its parameters. See `dualpower-decide` for each method's rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// Yes / no / abstain: passes with at least `threshold` of yes+no *and* more yes than no.
    Majority {
        /// Share of yes among yes+no needed (1/2 = simple majority, 2/3 = two thirds).
        threshold: Ratio,
    },
    /// Agree / abstain / disagree / block (Loomio-style consent): passes with no block (unless
    /// the constitution's block override is reached) and more agree than disagree.
    Consent,
    /// One choice among the options; most weight wins.
    Plurality,
    /// Any subset of the options; each approved option gets the voter's full weight.
    Approval,
    /// A score in `min..=max` for every option; highest weighted total wins.
    Score {
        /// Lowest score.
        min: i64,
        /// Highest score.
        max: i64,
    },
    /// STAR: scores in `min..=max`, then an automatic runoff between the two highest totals.
    Star {
        /// Lowest score.
        min: i64,
        /// Highest score.
        max: i64,
    },
    /// Up to `dots` non-negative points spread over the options.
    Dot {
        /// Points per voter.
        dots: u64,
    },
    /// Quadratic voting: n votes on an option cost n² voice credits from the member's budget
    /// for the period (the constitution sets both). Negative votes count against.
    Quadratic,
    /// Ranked grades with "status quo" as an implicit candidate (LiquidFeedback-style Schulze).
    Schulze,
    /// Instant-runoff over ranked ballots (partial rankings allowed, exhaustion reported).
    Irv,
    /// Participatory budgeting: baskets of options within `total`; greedy by approval.
    Budget {
        /// The budget to spend.
        total: u64,
    },
}

/// A method plus the quorum every method shares.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Method {
    /// The method.
    pub kind: MethodKind,
    /// Share of the electorate's weight that must take part (abstentions count), 0 = none.
    pub quorum: Ratio,
}

impl Method {
    /// The method's name (`majority`, `schulze`, …).
    pub fn name(&self) -> &'static str {
        match self.kind {
            MethodKind::Majority { .. } => "majority",
            MethodKind::Consent => "consent",
            MethodKind::Plurality => "plurality",
            MethodKind::Approval => "approval",
            MethodKind::Score { .. } => "score",
            MethodKind::Star { .. } => "star",
            MethodKind::Dot { .. } => "dot",
            MethodKind::Quadratic => "quadratic",
            MethodKind::Schulze => "schulze",
            MethodKind::Irv => "irv",
            MethodKind::Budget { .. } => "budget",
        }
    }

    /// Canonical text form: `name[:key=value,...]`, parameters in a fixed order, defaults left
    /// out.
    pub fn to_text(&self) -> String {
        let mut params: Vec<String> = Vec::new();
        match &self.kind {
            MethodKind::Majority { threshold } if *threshold != (Ratio { num: 1, den: 2 }) => {
                params.push(format!("threshold={threshold}"));
            }
            MethodKind::Score { min, max } | MethodKind::Star { min, max }
                if (*min, *max) != (0, 5) =>
            {
                params.push(format!("min={min}"));
                params.push(format!("max={max}"));
            }
            MethodKind::Dot { dots } => params.push(format!("dots={dots}")),
            MethodKind::Budget { total } => params.push(format!("total={total}")),
            _ => {}
        }
        if !self.quorum.is_zero() {
            params.push(format!("quorum={}", self.quorum));
        }
        if params.is_empty() {
            self.name().to_owned()
        } else {
            format!("{}:{}", self.name(), params.join(","))
        }
    }

    /// Parses the text form (accepting parameters in any order; see [`Method::to_text`]).
    pub fn parse(s: &str) -> Result<Method, PayloadError> {
        let bad = |why: String| PayloadError::Invalid(format!("method `{s}`: {why}"));
        let (name, rest) = s.split_once(':').unwrap_or((s, ""));
        let mut params: Vec<(&str, &str)> = Vec::new();
        for p in rest.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| bad(format!("parameter `{p}` is not key=value")))?;
            if params.iter().any(|(k2, _)| *k2 == k) {
                return Err(bad(format!("parameter `{k}` given twice")));
            }
            params.push((k, v));
        }
        let mut take = |key: &str| -> Option<&str> {
            let i = params.iter().position(|(k, _)| *k == key)?;
            Some(params.remove(i).1)
        };
        let int = |v: &str, what: &str| -> Result<i64, PayloadError> {
            let (neg, d) = match v.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, v),
            };
            let n: i64 =
                digits(d).ok_or_else(|| bad(format!("`{what}` must be an integer, not `{v}`")))?;
            if n > MAX_SCORE {
                return Err(bad(format!("`{what}` is larger than {MAX_SCORE}")));
            }
            Ok(if neg { -n } else { n })
        };
        let quorum = take("quorum").map(Ratio::parse).transpose()?;
        let kind = match name {
            "majority" => MethodKind::Majority {
                threshold: match take("threshold") {
                    Some(t) => Ratio::parse(t)?,
                    None => Ratio { num: 1, den: 2 },
                },
            },
            "consent" => MethodKind::Consent,
            "plurality" => MethodKind::Plurality,
            "approval" => MethodKind::Approval,
            "score" | "star" => {
                let min = take("min").map(|v| int(v, "min")).transpose()?.unwrap_or(0);
                let max = take("max").map(|v| int(v, "max")).transpose()?.unwrap_or(5);
                if min >= max {
                    return Err(bad("min must be below max".into()));
                }
                if name == "star" {
                    MethodKind::Star { min, max }
                } else {
                    MethodKind::Score { min, max }
                }
            }
            "dot" => {
                let dots = int(
                    take("dots").ok_or_else(|| bad("needs dots=N".into()))?,
                    "dots",
                )?;
                if dots < 1 {
                    return Err(bad("dots must be at least 1".into()));
                }
                MethodKind::Dot { dots: dots as u64 }
            }
            "quadratic" => MethodKind::Quadratic,
            "schulze" => MethodKind::Schulze,
            "irv" => MethodKind::Irv,
            "budget" => {
                let t = take("total").ok_or_else(|| bad("needs total=N".into()))?;
                let total: u64 =
                    digits(t).ok_or_else(|| bad(format!("total must be a number, not `{t}`")))?;
                if total == 0 {
                    return Err(bad("total must be positive".into()));
                }
                MethodKind::Budget { total }
            }
            other => {
                return Err(bad(format!(
                    "unknown method `{other}` (majority, consent, plurality, approval, score, star, \
                     dot, quadratic, schulze, irv, budget)"
                )));
            }
        };
        if let Some((k, _)) = params.first() {
            return Err(bad(format!("unknown parameter `{k}`")));
        }
        Ok(Method {
            kind,
            quorum: quorum.unwrap_or(Ratio::ZERO),
        })
    }

    /// The options a method always has (majority and consent); `None` for methods whose options
    /// the proposal names.
    pub fn fixed_options(&self) -> Option<&'static [&'static str]> {
        match self.kind {
            MethodKind::Majority { .. } => Some(&["yes", "no", "abstain"]),
            MethodKind::Consent => Some(&["agree", "abstain", "disagree", "block"]),
            _ => None,
        }
    }

    /// Whether members may delegate their weight for this method (not for quadratic voting,
    /// where a budget is personal).
    pub fn allows_delegation(&self) -> bool {
        !matches!(self.kind, MethodKind::Quadratic)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.text(&self.to_text());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Method, PayloadError> {
        let t = r.text("method", MAX_METHOD_BYTES)?;
        let m = Method::parse(t)?;
        if m.to_text() != t {
            return Err(PayloadError::Invalid(format!(
                "method `{t}` is not in canonical form `{}`",
                m.to_text()
            )));
        }
        Ok(m)
    }
}

impl Default for Method {
    /// The method for decisions the constitution leaves to a vote: two thirds of those voting
    /// yes or no, with half the members taking part.
    fn default() -> Self {
        Method {
            kind: MethodKind::Majority {
                threshold: Ratio { num: 2, den: 3 },
            },
            quorum: Ratio { num: 1, den: 2 },
        }
    }
}

/// One option of a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Choice {
    /// What it is.
    pub label: String,
    /// What it costs (participatory budgeting; 0 otherwise).
    pub cost: u64,
}

/// Who may vote on a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Electorate {
    /// Every member.
    Members,
    /// Members holding this role.
    Role(String),
}

impl Electorate {
    /// `members` or `role:NAME`.
    pub fn to_text(&self) -> String {
        match self {
            Electorate::Members => "members".into(),
            Electorate::Role(r) => format!("role:{r}"),
        }
    }
    /// Parses the text form.
    pub fn parse(s: &str) -> Result<Electorate, PayloadError> {
        if s == "members" {
            return Ok(Electorate::Members);
        }
        match s.strip_prefix("role:") {
            Some(r) => Ok(Electorate::Role(crate::payload::check::role_name(r)?)),
            None => Err(PayloadError::Invalid(format!(
                "electorate `{s}` is not `members` or `role:NAME`"
            ))),
        }
    }
}

/// A ballot. Which shapes a method accepts is checked by `dualpower-decide`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ballot {
    /// One option by index (majority: 0 yes, 1 no, 2 abstain; consent: 0 agree, 1 abstain,
    /// 2 disagree, 3 block; plurality).
    Choice(u32),
    /// Options in order of preference, most preferred first; may be partial (IRV).
    Rank(Vec<u32>),
    /// One integer per option (score, dot, quadratic votes, Schulze grades).
    Scores(Vec<i64>),
    /// A set of options, ascending (approval; a budgeting basket).
    Set(Vec<u32>),
    /// An explicit abstention: counts toward quorum, supports nothing, and overrides any
    /// delegation for this proposal.
    Abstain,
}

impl Ballot {
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Ballot::Choice(i) => {
                w.array(2).uint(0).uint(u64::from(*i));
            }
            Ballot::Rank(v) | Ballot::Set(v) => {
                w.array(2)
                    .uint(if matches!(self, Ballot::Rank(_)) {
                        1
                    } else {
                        3
                    })
                    .array(v.len());
                for i in v {
                    w.uint(u64::from(*i));
                }
            }
            Ballot::Scores(v) => {
                w.array(2).uint(2).array(v.len());
                for s in v {
                    w.uint(zigzag(*s));
                }
            }
            Ballot::Abstain => {
                w.array(1).uint(4);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Ballot, PayloadError> {
        let n = r.array("ballot", 2)?;
        if n == 0 {
            return Err(PayloadError::Invalid("empty ballot".into()));
        }
        let tag = r.uint()?;
        let idx = |v: u64| -> Result<u32, PayloadError> {
            if v >= MAX_OPTIONS as u64 {
                return Err(PayloadError::Invalid(format!(
                    "option {v} is beyond the {MAX_OPTIONS} a proposal can have"
                )));
            }
            Ok(v as u32)
        };
        let b = match (tag, n) {
            (0, 2) => Ballot::Choice(idx(r.uint()?)?),
            (1 | 3, 2) => {
                let len = r.array("options", MAX_OPTIONS)?;
                let mut v = Vec::with_capacity(len);
                for _ in 0..len {
                    v.push(idx(r.uint()?)?);
                }
                r.leave();
                if tag == 1 {
                    Ballot::Rank(v)
                } else {
                    if !v.windows(2).all(|p| p[0] < p[1]) {
                        return Err(PayloadError::Invalid(
                            "a set ballot lists options once each, ascending".into(),
                        ));
                    }
                    Ballot::Set(v)
                }
            }
            (2, 2) => {
                let len = r.array("scores", MAX_OPTIONS)?;
                let mut v = Vec::with_capacity(len);
                for _ in 0..len {
                    let s = unzigzag(r.uint()?);
                    if s.unsigned_abs() > MAX_SCORE as u64 {
                        return Err(PayloadError::Invalid(format!(
                            "score {s} is beyond ±{MAX_SCORE}"
                        )));
                    }
                    v.push(s);
                }
                r.leave();
                Ballot::Scores(v)
            }
            (4, 1) => Ballot::Abstain,
            _ => {
                return Err(PayloadError::Invalid(format!(
                    "ballot tag {tag} with {n} items is not a ballot"
                )));
            }
        };
        r.leave();
        Ok(b)
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Where a delegation applies. The most specific scope that says something wins.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every proposal in the group.
    Group,
    /// Proposals with this topic.
    Topic(String),
    /// One proposal.
    Proposal(EventId),
}

/// What a delegation says at its scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Forget what I said at this scope (inherit from the broader one).
    Inherit,
    /// Do not delegate at this scope, even if a broader scope does.
    Nobody,
    /// Give my weight to this member (transitively, unless they vote or delegate on).
    To(PublicKey),
}

impl Scope {
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Scope::Group => {
                w.array(1).uint(0);
            }
            Scope::Topic(t) => {
                w.array(2).uint(1).text(t);
            }
            Scope::Proposal(p) => {
                w.array(2).uint(2).bytes(&p.0);
            }
        }
    }
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Scope, PayloadError> {
        let n = r.array("scope", 2)?;
        let tag = if n > 0 { r.uint()? } else { u64::MAX };
        let s = match (tag, n) {
            (0, 1) => Scope::Group,
            (1, 2) => Scope::Topic(topic(r.text("topic", MAX_TOPIC_BYTES)?)?),
            (2, 2) => Scope::Proposal(EventId(r.bytes_n::<32>("proposal")?)),
            _ => return Err(PayloadError::Invalid("not a delegation scope".into())),
        };
        r.leave();
        Ok(s)
    }
}

impl Target {
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Target::Inherit => {
                w.array(1).uint(0);
            }
            Target::Nobody => {
                w.array(1).uint(1);
            }
            Target::To(k) => {
                w.array(2).uint(2).bytes(&k.0);
            }
        }
    }
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Target, PayloadError> {
        let n = r.array("target", 2)?;
        let tag = if n > 0 { r.uint()? } else { u64::MAX };
        let t = match (tag, n) {
            (0, 1) => Target::Inherit,
            (1, 1) => Target::Nobody,
            (2, 2) => Target::To(PublicKey(r.bytes_n::<32>("delegate")?)),
            _ => return Err(PayloadError::Invalid("not a delegation target".into())),
        };
        r.leave();
        Ok(t)
    }
}

/// A topic name: 1–64 characters of a-z, 0-9, - or _ (it is a delegation scope, so it must be
/// typed the same way by everyone).
pub fn topic(t: &str) -> Result<String, PayloadError> {
    if t.is_empty()
        || t.len() > MAX_TOPIC_BYTES
        || !t
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(PayloadError::Invalid(format!(
            "topic `{t}` must be 1–{MAX_TOPIC_BYTES} characters of a-z, 0-9, - or _"
        )));
    }
    Ok(t.to_owned())
}

/// The text of a proposal: what the author may still revise during discussion.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProposalText {
    /// Title.
    pub title: String,
    /// Body (may be empty).
    pub body: String,
    /// Options (must be empty for methods with fixed options).
    pub options: Vec<Choice>,
}

impl ProposalText {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.array(3)
            .text(&self.title)
            .text(&self.body)
            .array(self.options.len());
        for o in &self.options {
            w.array(2).text(&o.label).uint(o.cost);
        }
    }
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<ProposalText, PayloadError> {
        if r.array("proposal text", 3)? != 3 {
            return Err(PayloadError::Invalid(
                "proposal text is [title, body, options]".into(),
            ));
        }
        let title = r.text("title", MAX_TITLE_BYTES)?.to_owned();
        if title.trim().is_empty() {
            return Err(PayloadError::Empty("title"));
        }
        let body = r.text("body", MAX_BODY_BYTES)?.to_owned();
        let n = r.array("options", MAX_OPTIONS)?;
        let mut options = Vec::with_capacity(n);
        for _ in 0..n {
            if r.array("option", 2)? != 2 {
                return Err(PayloadError::Invalid("an option is [label, cost]".into()));
            }
            let label = r.text("label", MAX_TITLE_BYTES)?.to_owned();
            if label.trim().is_empty() {
                return Err(PayloadError::Empty("option label"));
            }
            let cost = r.uint()?;
            r.leave();
            // Case-insensitively: people type option names in ballots.
            let lower = label.to_lowercase();
            if options
                .iter()
                .any(|o: &Choice| o.label.to_lowercase() == lower)
            {
                return Err(PayloadError::Invalid(format!(
                    "option `{label}` is named twice"
                )));
            }
            options.push(Choice { label, cost });
        }
        r.leave();
        r.leave();
        Ok(ProposalText {
            title,
            body,
            options,
        })
    }
}

/// A proposal: its text, how it is decided and by whom.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Title, body and options.
    pub text: ProposalText,
    /// How it is decided.
    pub method: Method,
    /// Who decides.
    pub electorate: Electorate,
    /// Topic, for topic-scoped delegation (may be empty).
    pub topic: String,
    /// Whether voting opens at once; otherwise it opens with the author's `OpenVoting`.
    pub voting: bool,
    /// Advisory deadline (ms since the Unix epoch). Until then only the author may close;
    /// after it any member of the electorate may (by its own timestamp, with evidence: an
    /// event of another member dated at or after the deadline in the close's causal past).
    pub deadline: u64,
    /// What the group does if it passes (the canonical encoding of a control payload, e.g. an
    /// amendment of the constitution); empty for none.
    pub action: Vec<u8>,
}

impl Proposal {
    /// Checks the parts that do not depend on group state: options fit the method.
    pub fn check(&self) -> Result<(), PayloadError> {
        match self.method.fixed_options() {
            Some(_) if !self.text.options.is_empty() => Err(PayloadError::Invalid(format!(
                "method `{}` has fixed options; do not name any",
                self.method.name()
            ))),
            None if self.text.options.len() < 2 => Err(PayloadError::Invalid(format!(
                "method `{}` needs at least two options",
                self.method.name()
            ))),
            _ => Ok(()),
        }?;
        if !matches!(self.method.kind, MethodKind::Budget { .. })
            && self.text.options.iter().any(|o| o.cost != 0)
        {
            return Err(PayloadError::Invalid(
                "only participatory budgeting options have costs".into(),
            ));
        }
        if !self.topic.is_empty() {
            topic(&self.topic)?;
        }
        Ok(())
    }

    /// The options' labels, fixed or named.
    pub fn labels(&self) -> Vec<String> {
        self.text.labels(&self.method)
    }
}

impl ProposalText {
    /// The labels of the options voted on under `method`: its fixed options, or this text's.
    pub fn labels(&self, method: &Method) -> Vec<String> {
        match method.fixed_options() {
            Some(f) => f.iter().map(|s| (*s).to_owned()).collect(),
            None => self.options.iter().map(|o| o.label.clone()).collect(),
        }
    }

    /// The cost of each option voted on under `method` (0 for fixed options).
    pub fn costs(&self, method: &Method) -> Vec<u64> {
        match method.fixed_options() {
            Some(f) => vec![0; f.len()],
            None => self.options.iter().map(|o| o.cost).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_in_canonical_text() {
        for s in [
            "majority",
            "majority:threshold=2/3,quorum=1/2",
            "consent:quorum=1/3",
            "plurality",
            "approval",
            "score",
            "score:min=-2,max=2",
            "star",
            "star:min=0,max=10,quorum=1/3",
            "dot:dots=10",
            "quadratic",
            "schulze",
            "irv:quorum=1/4",
            "budget:total=5000",
        ] {
            let m = Method::parse(s).expect(s);
            assert_eq!(m.to_text(), s);
        }
        let m = Method::parse("majority:quorum=1/2,threshold=2/3").expect("any order");
        assert_eq!(m.to_text(), "majority:threshold=2/3,quorum=1/2");
        for bad in [
            "vote",
            "majority:threshold=3/2",
            "majority:threshold=1/0",
            "dot",
            "score:min=5,max=1",
            "budget:total=0",
            "majority:x=1",
            "majority:quorum=1/2,quorum=1/3",
            "dot:dots=01",
        ] {
            assert!(Method::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, 2, -2, MAX_SCORE, -MAX_SCORE, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn ratios_cross_multiply() {
        let r = Ratio::parse("2/3").expect("ratio");
        assert!(r.reached_by(2, 3));
        assert!(!r.reached_by(1999, 3000));
        assert!(r.reached_by(0, 0));
    }
}
