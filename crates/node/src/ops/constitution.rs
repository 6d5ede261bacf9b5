//! The constitution options a person can set when creating a group, amending it, or proposing
//! an amendment: one parser for the CLI's flags and the API's JSON, shared by the membership and
//! decision operations.

use dualpower_core::PublicKey;
use dualpower_core::payload::{Admission, Constitution, Rule};
use dualpower_state::GroupState;
use serde::{Deserialize, Serialize};

use super::write::{OpError, invalid};

/// The constitution options a person can set at creation or amend (also the CLI's flags).
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ConstitutionArgs {
    /// Who may invite: `member`, `role:NAME` or `vote` (default: member).
    #[cfg_attr(feature = "clap", arg(long))]
    pub invite: Option<String>,
    /// How newcomers get in: `invite`, `vouches:K` or `vote` (default: invite).
    #[cfg_attr(feature = "clap", arg(long))]
    pub admission: Option<String>,
    /// Who may remove members (default: role:admin).
    #[cfg_attr(feature = "clap", arg(long))]
    pub removal: Option<String>,
    /// Who may change these rules and grant roles (default: role:admin).
    #[cfg_attr(feature = "clap", arg(long))]
    pub amend: Option<String>,
    /// Roles, comma-separated; the creator gets the first (default: admin,moderator).
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub roles: Option<Vec<String>>,
    /// Newcomers receive the group's history (`true`/`false`, default true).
    #[cfg_attr(feature = "clap", arg(long))]
    pub history: Option<bool>,
    /// Forget old keys this many days after they are replaced (0 = never).
    #[cfg_attr(feature = "clap", arg(long))]
    pub forget_after_days: Option<u64>,
    /// How decisions put to a vote are taken, e.g. `majority:threshold=2/3,quorum=1/2`.
    #[cfg_attr(feature = "clap", arg(long = "vote-method"))]
    pub vote_method: Option<String>,
    /// Quadratic voting: voice credits per member per period.
    #[cfg_attr(feature = "clap", arg(long))]
    pub credits: Option<u64>,
    /// Quadratic voting: period length in days (0 = a fresh budget per proposal).
    #[cfg_attr(feature = "clap", arg(long))]
    pub credit_period_days: Option<u64>,
    /// Consent: share of agree that overrides blocks, e.g. `3/4` (`none`: a block always stops).
    #[cfg_attr(feature = "clap", arg(long))]
    pub block_override: Option<String>,
    /// Who may create tasks without a proposal: `member`, `role:NAME` or `vote` (default member).
    #[cfg_attr(feature = "clap", arg(long))]
    pub task_rule: Option<String>,
    /// How many other members confirm a completion before it counts (default 2).
    #[cfg_attr(feature = "clap", arg(long))]
    pub confirmations: Option<u64>,
    /// Reputation: receipts lose half their weight after this many days (0 = never; default 180).
    #[cfg_attr(feature = "clap", arg(long))]
    pub half_life_days: Option<u64>,
    /// Reputation seeds (members, comma-separated; `creator` = the group's creator only).
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub seeds: Option<Vec<String>>,
    /// The group's own domains besides logistics, care, tech, outreach, mediation (comma-separated).
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub domains: Option<Vec<String>>,
    /// Rotating roles: `ROLE:DAYS[:limit=N][:rest=N]` (repeat; `none` = no rotations).
    #[cfg_attr(feature = "clap", arg(long = "rotate"))]
    pub rotate: Option<Vec<String>>,
    /// Hours volunteers have to reveal after a role's or mediator's list closes (default 24).
    #[cfg_attr(feature = "clap", arg(long))]
    pub reveal_hours: Option<u64>,
    /// The mutual-credit unit's name (default `hours`).
    #[cfg_attr(feature = "clap", arg(long))]
    pub credit_unit: Option<String>,
    /// Every member's credit limit until one is set for it, e.g. `20` (default 20).
    #[cfg_attr(feature = "clap", arg(long))]
    pub default_limit: Option<String>,
    /// Who may set credit limits other than lowering their own: `member`, `role:NAME` or `vote`
    /// (default vote).
    #[cfg_attr(feature = "clap", arg(long))]
    pub limit_rule: Option<String>,
    /// Demurrage: the percent of every positive balance paid into the commons per 30 days,
    /// e.g. `1` or `0.5` (at most 10; `0` = none, the default).
    #[cfg_attr(feature = "clap", arg(long))]
    pub demurrage: Option<String>,
    /// `true`: members reach each other only over I2P (`serve --anonymous`); a node not in
    /// anonymous mode does not sync the group with anyone.
    #[cfg_attr(feature = "clap", arg(long))]
    pub anonymous_only: Option<bool>,
}

impl ConstitutionArgs {
    /// The rule flags, as a person types them (for messages that ask for one).
    pub const FLAGS: &'static str = "--invite, --admission, --removal, --amend, --roles, \
         --history, --forget-after-days, --vote-method, --credits, --credit-period-days, \
         --block-override, --task-rule, --confirmations, --half-life-days, --seeds, --domains, \
         --rotate, --reveal-hours, --credit-unit, --default-limit, --limit-rule, --demurrage, \
         --anonymous-only";

    /// These changes as the flags a person types (`--history false --amend vote`), to suggest
    /// the command that makes them another way.
    pub fn to_flags(&self) -> String {
        let mut f: Vec<String> = Vec::new();
        let mut put = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                f.push(format!("--{flag} {v}"));
            }
        };
        put("invite", self.invite.clone());
        put("admission", self.admission.clone());
        put("removal", self.removal.clone());
        put("amend", self.amend.clone());
        put("roles", self.roles.as_ref().map(|r| r.join(",")));
        put("history", self.history.map(|h| h.to_string()));
        put(
            "forget-after-days",
            self.forget_after_days.map(|d| d.to_string()),
        );
        put("vote-method", self.vote_method.clone());
        put("credits", self.credits.map(|c| c.to_string()));
        put(
            "credit-period-days",
            self.credit_period_days.map(|d| d.to_string()),
        );
        put("block-override", self.block_override.clone());
        put("task-rule", self.task_rule.clone());
        put("confirmations", self.confirmations.map(|d| d.to_string()));
        put("half-life-days", self.half_life_days.map(|d| d.to_string()));
        put("seeds", self.seeds.as_ref().map(|r| r.join(",")));
        put("domains", self.domains.as_ref().map(|r| r.join(",")));
        for r in self.rotate.iter().flatten() {
            put("rotate", Some(r.clone()));
        }
        put("reveal-hours", self.reveal_hours.map(|d| d.to_string()));
        put("credit-unit", self.credit_unit.clone());
        put("default-limit", self.default_limit.clone());
        put("limit-rule", self.limit_rule.clone());
        put("demurrage", self.demurrage.clone());
        put("anonymous-only", self.anonymous_only.map(|a| a.to_string()));
        f.join(" ")
    }

    /// Whether no rule is set (an amendment with these would change nothing).
    pub fn is_empty(&self) -> bool {
        let ConstitutionArgs {
            invite,
            admission,
            removal,
            amend,
            roles,
            history,
            forget_after_days,
            vote_method,
            credits,
            credit_period_days,
            block_override,
            task_rule,
            confirmations,
            half_life_days,
            seeds,
            domains,
            rotate,
            reveal_hours,
            credit_unit,
            default_limit,
            limit_rule,
            demurrage,
            anonymous_only,
        } = self;
        invite.is_none()
            && admission.is_none()
            && removal.is_none()
            && amend.is_none()
            && roles.is_none()
            && history.is_none()
            && forget_after_days.is_none()
            && vote_method.is_none()
            && credits.is_none()
            && credit_period_days.is_none()
            && block_override.is_none()
            && task_rule.is_none()
            && confirmations.is_none()
            && half_life_days.is_none()
            && seeds.is_none()
            && domains.is_none()
            && rotate.is_none()
            && reveal_hours.is_none()
            && credit_unit.is_none()
            && default_limit.is_none()
            && limit_rule.is_none()
            && demurrage.is_none()
            && anonymous_only.is_none()
    }

    /// The constitution `base` with these changes. Seeds are resolved among `members` (keys
    /// a person may name).
    pub fn apply(&self, base: &Constitution) -> Result<Constitution, OpError> {
        self.apply_among(base, &[])
    }

    /// [`ConstitutionArgs::apply`], resolving `--seeds` among `members`.
    pub fn apply_among(
        &self,
        base: &Constitution,
        members: &[PublicKey],
    ) -> Result<Constitution, OpError> {
        let e = |x: dualpower_core::PayloadError| invalid(x.to_string());
        let mut c = base.clone();
        if let Some(r) = &self.roles {
            c.roles = r.clone();
        }
        if let Some(x) = &self.invite {
            c.invite = Rule::parse(x).map_err(e)?;
        }
        if let Some(x) = &self.admission {
            c.admission = Admission::parse(x).map_err(e)?;
        }
        if let Some(x) = &self.removal {
            c.removal = Rule::parse(x).map_err(e)?;
        }
        if let Some(x) = &self.amend {
            c.amend = Rule::parse(x).map_err(e)?;
        }
        if let Some(h) = self.history {
            c.history = h;
        }
        if let Some(d) = self.forget_after_days {
            c.forget_after_days = d;
        }
        if let Some(m) = &self.vote_method {
            c.vote = dualpower_core::decision::Method::parse(m).map_err(e)?;
        }
        if let Some(n) = self.credits {
            if n == 0 || n > 1_000_000 {
                return Err(invalid("voice credits must be 1 to 1000000"));
            }
            c.credits = n;
        }
        if let Some(d) = self.credit_period_days {
            if d > 3650 {
                return Err(invalid("the credit period is at most 3650 days"));
            }
            c.credit_period_days = d;
        }
        if let Some(b) = &self.block_override {
            c.block_override = match b.as_str() {
                "none" => None,
                r => Some(dualpower_core::decision::Ratio::parse(r).map_err(e)?),
            };
        }
        if let Some(x) = &self.task_rule {
            c.work.tasks = Rule::parse(x).map_err(e)?;
        }
        if let Some(k) = self.confirmations {
            c.work.confirmations = k;
        }
        if let Some(d) = self.half_life_days {
            c.work.half_life_days = d;
        }
        if let Some(v) = &self.seeds {
            let mut keys = Vec::new();
            for s in v.iter().filter(|s| s.as_str() != "creator") {
                keys.push(super::write::member_among(s, members.iter().copied())?);
            }
            keys.sort();
            keys.dedup();
            c.work.seeds = keys;
        }
        if let Some(v) = &self.domains {
            let mut d = v
                .iter()
                .filter(|x| !dualpower_core::work::BUILTIN_DOMAINS.contains(&x.as_str()))
                .map(|x| dualpower_core::work::domain_name(x.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?;
            d.sort();
            d.dedup();
            c.work.domains = d;
        }
        if let Some(v) = &self.rotate {
            let mut rots = Vec::new();
            for r in v.iter().filter(|r| r.as_str() != "none") {
                rots.push(dualpower_core::work::Rotation::parse(r).map_err(e)?);
            }
            rots.sort_by(|a, b| a.role.cmp(&b.role));
            if rots.windows(2).any(|w| w[0].role == w[1].role) {
                return Err(invalid(
                    "each role rotates once: give one --rotate per role",
                ));
            }
            c.work.rotations = rots;
        }
        if let Some(h) = self.reveal_hours {
            c.work.reveal_hours = h;
        }
        if let Some(u) = &self.credit_unit {
            if u.len() > dualpower_core::ledger::MAX_UNIT_BYTES {
                return Err(invalid("the unit's name is at most 32 bytes"));
            }
            c.credit.unit = u.trim().to_owned();
        }
        if let Some(l) = &self.default_limit {
            c.credit.default_limit = dualpower_core::ledger::parse_amount(l, true).map_err(e)?;
        }
        if let Some(r) = &self.limit_rule {
            c.credit.limits = Rule::parse(r).map_err(e)?;
        }
        if let Some(a) = self.anonymous_only {
            c.anonymous = a;
        }
        if let Some(d) = &self.demurrage {
            // Hundredths of a percent are basis points.
            c.credit.demurrage =
                dualpower_core::ledger::parse_amount(d.trim_end_matches('%'), true).map_err(e)?;
        }
        c.credit.check().map_err(e)?;
        c.work.check().map_err(e)?;
        c.check().map_err(e)?;
        Ok(c)
    }
}

/// What `me` may do directly under the rules in force (`st`) but no longer under `new`, in
/// words ("change the rules", "remove members", "invite"): a rule moved to a role `me` does not
/// hold (or a role the new rules drop). A rule moved to `vote` is not a loss: `me` still votes.
pub fn powers_lost(st: &GroupState, me: &PublicKey, new: &Constitution) -> Vec<String> {
    let held = st.members.get(me).map(|m| &m.roles);
    let allows_new = |rule: &Rule| match rule {
        Rule::Member | Rule::Vote => true,
        Rule::Role(r) => new.roles.contains(r) && held.is_some_and(|h| h.contains(r)),
    };
    let old = &st.constitution;
    [
        (&old.amend, &new.amend, "change the rules or grant roles"),
        (&old.removal, &new.removal, "remove members"),
        (&old.invite, &new.invite, "invite"),
    ]
    .into_iter()
    .filter(|(before, after, _)| st.allows(before, me) && !allows_new(after))
    .map(|(before, after, what)| {
        format!(
            "{what} (the rule goes from `{}` to `{}`{})",
            before.to_text(),
            after.to_text(),
            match after {
                Rule::Role(r) if !new.roles.contains(r) => " and that role would not exist".into(),
                Rule::Role(r) => format!(", a role you do not hold: `{r}`"),
                _ => String::new(),
            }
        )
    })
    .collect()
}
