//! What the group pages and the groups list say about anonymous mode: whether a group's rules
//! require it, whether this node runs in it, and the warning when the node is cut off from
//! such a group. One place, so every page says the same.

use dualpower_node::Status;
use maud::{Markup, html};

use crate::App;

/// What a group's rules say about anonymous mode, and whether this node is in it, as the node's
/// status reports both: the one place the group's pages and the groups list decide what to say
/// about it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anonymity {
    /// The group's rules require anonymous mode (`--anonymous-only true`).
    pub required: bool,
    /// This node runs in anonymous mode (`dualpower serve --anonymous`).
    pub node: bool,
}

impl Anonymity {
    /// Group `g` (hex) in `status` (none: the node is stopping, and nothing is said).
    pub fn of(status: Option<&Status>, g: &str) -> Anonymity {
        let Some(s) = status else {
            return Anonymity::default();
        };
        Anonymity {
            required: s
                .groups
                .iter()
                .any(|x| x.anonymous_only && x.group.eq_ignore_ascii_case(g)),
            node: s.anonymous,
        }
    }

    /// Group `g` (hex), asking the node for just these two facts (a group page asks on every
    /// view; the full status would read every group's logs). Nothing is said for a malformed
    /// id or a stopping node.
    pub async fn read(app: &App, g: &str) -> Anonymity {
        let Some(group) = dualpower_core::GroupId::from_hex(g) else {
            return Anonymity::default();
        };
        match app.handle().anonymity(group).await {
            Some((node, required)) => Anonymity { required, node },
            None => Anonymity::default(),
        }
    }

    /// The group requires anonymous mode and this node is not in it: it syncs the group with
    /// nobody.
    pub fn cut_off(self) -> bool {
        self.required && !self.node
    }

    /// The warning a group's pages show while [`Anonymity::cut_off`] (nothing otherwise).
    pub fn banner(self) -> Markup {
        html! {
            @if self.cut_off() {
                div class="flash warn" id="anonymous-warning" role="alert" {
                    strong { "This group requires anonymous mode." }
                    " This node is not in it, so it does not sync this group with anyone. \
                      Restart it with " code { "dualpower serve --anonymous" } "."
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dualpower_node::Status;
    use dualpower_node::node::GroupStatus;

    use super::Anonymity;

    fn status(anonymous: bool, anonymous_only: bool) -> Status {
        Status {
            anonymous,
            groups: vec![GroupStatus {
                group: "ab12".into(),
                member: true,
                events: 3,
                heights: Default::default(),
                anonymous_only,
            }],
            ..Default::default()
        }
    }

    /// The warning shows only for a group that requires anonymous mode on a node not in it.
    #[test]
    fn the_group_banner_shows_only_when_required_and_not_anonymous() {
        for (node, required) in [(false, false), (false, true), (true, false), (true, true)] {
            let s = status(node, required);
            let a = Anonymity::of(Some(&s), "AB12");
            assert_eq!(a, Anonymity { required, node });
            let html = a.banner().into_string();
            let warned = html.contains("This group requires anonymous mode.");
            assert_eq!(warned, required && !node, "{node} {required}: {html}");
            if warned {
                assert!(
                    html.contains(
                        "This node is not in it, so it does not sync this group with anyone."
                    ) && html.contains("Restart it with <code>dualpower serve --anonymous</code>."),
                    "{html}"
                );
            }
            // Another group, or no status at all (the node is stopping): nothing to say.
            assert!(!Anonymity::of(Some(&s), "cd34").cut_off());
        }
        assert_eq!(Anonymity::of(None, "ab12"), Anonymity::default());
    }
}
