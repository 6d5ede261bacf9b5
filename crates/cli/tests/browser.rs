//! The web app's main flow in a real browser: headless Chromium driven through WebDriver
//! (chromedriver) against two real `dualpower serve` processes on 127.0.0.1, each with its own
//! browser (own cookies). Onboarding → create a group → invite → the second member joins in
//! the second browser → posts → the first sees the post arrive live, without reloading → a
//! proposal → both vote → result and certificate on both.
//!
//! Screenshots of the key pages, at desktop width and at 360 px, are saved under
//! `target/screenshots/` as test artefacts.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

include!("common/browser.rs");

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let start = Instant::now();
        let found = self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name));
        if start.elapsed() > Duration::from_secs(3) {
            eprintln!("{}: finding {css} took {:?}", self.name, start.elapsed());
        }
        found
    }

    /// Waits until the page's text contains `what`; with `reload`, reloads between looks.
    async fn wait_text(&self, what: &str, reload: bool) {
        let start = Instant::now();
        loop {
            let t = self.text().await;
            if t.contains(what) {
                if start.elapsed() > Duration::from_secs(3) {
                    eprintln!("{}: {what:?} took {:?}", self.name, start.elapsed());
                }
                return;
            }
            assert!(
                start.elapsed() < STEP,
                "{}: page never showed {what:?}; it shows:\n{t}",
                self.name
            );
            if reload {
                self.client.refresh().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Saves the page at desktop width and at 360 px, after checking that every control on it
    /// has a label a screen reader announces.
    async fn shoot(&self, page: &str) {
        self.assert_labelled(page).await;
        let dir = screenshots();
        for (w, h, tag) in [(1280, 900, "desktop"), (360, 780, "360px")] {
            // The whole page, not just what fits in a window (up to a limit).
            self.client.set_window_size(w, h).await.unwrap();
            let full = self
                .client
                .execute("return document.documentElement.scrollHeight", vec![])
                .await
                .unwrap()
                .as_u64()
                .unwrap_or(h as u64)
                .clamp(h as u64, 3000) as u32;
            self.client.set_window_size(w, full + 100).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{page}-{tag}.png")), png).unwrap();
        }
        self.client.set_window_size(1280, 900).await.unwrap();
    }

    async fn onboard(&self, link: &str) {
        self.go(link).await;
        self.wait_text("Choose a passphrase", false).await;
        self.shoot("onboarding").await;
        let pass = "violet harbour seventeen lanterns drift";
        self.fill("#pass", pass).await;
        self.fill("#repeat", pass).await;
        self.submit("/onboard").await;
        self.wait_text("Your groups", false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_in_two_browsers_organise_a_decision() {
    let tmp = tempfile::tempdir().unwrap();
    let network = format!("browser-{}", std::process::id());
    let (_alice_node, alice_web, alice_link) = serve(tmp.path(), "alice", &network);
    let (_bob_node, bob_web, bob_link) = serve(tmp.path(), "bob", &network);
    let alice = Browser::start("alice").await;
    let bob = Browser::start("bob").await;

    // Onboarding: each creates an identity in the browser.
    alice.onboard(&alice_link).await;
    bob.onboard(&bob_link).await;

    // Alice creates a group.
    alice.fill("#name", "Elm Street Tenants").await;
    alice.submit("/groups").await;
    alice.wait_text("Group created", false).await;
    let feed_url = alice.url().await;
    let group = feed_url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(group.len(), 64, "{feed_url}");

    // She invites Bob.
    alice.go(&format!("{alice_web}/g/{group}/members")).await;
    alice.shoot("members").await;
    alice.submit(&format!("/g/{group}/invite")).await;
    let code = alice.find("#invite-code").await.text().await.unwrap();
    assert!(!code.trim().is_empty());
    alice.shoot("invite").await;

    // Bob joins in his browser by pasting the code.
    bob.fill("#code", code.trim()).await;
    bob.submit("/join").await;
    bob.wait_text("Join sent", false).await;
    bob.wait_text("Elm Street Tenants", true).await;
    bob.shoot("groups").await;

    // Alice watches her feed; Bob posts; it appears on her page without a reload.
    alice.go(&feed_url).await;
    alice
        .client
        .execute("window.__stayed = true;", vec![])
        .await
        .unwrap();
    bob.go(&format!("{bob_web}/g/{group}")).await;
    bob.wait_text("Nothing posted yet", false).await;
    bob.fill("#text", "Rent strike meeting on Thursday at 7")
        .await;
    bob.submit(&format!("/g/{group}/post")).await;
    bob.wait_text("Rent strike meeting on Thursday", false)
        .await;
    alice
        .wait_text("Rent strike meeting on Thursday", false)
        .await;
    let stayed = alice
        .client
        .execute("return window.__stayed === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        stayed,
        json!(true),
        "alice's page reloaded instead of updating live"
    );
    alice.shoot("feed").await;
    alice.fits_phone("feed").await;

    // The network page shows the peer.
    alice.go(&format!("{alice_web}/peers")).await;
    alice.wait_text("shares a group", true).await;
    alice.shoot("network").await;

    // Names, not keys: each chooses a display name; the other sees it instead of a key.
    alice.go(&feed_url).await;
    alice.fill("#display-name", "Alice").await;
    alice.submit(&format!("/g/{group}/name")).await;
    alice
        .wait_text("Your name in this group is now", false)
        .await;
    bob.go(&format!("{bob_web}/g/{group}")).await;
    bob.fill("#display-name", "Bob").await;
    bob.submit(&format!("/g/{group}/name")).await;
    bob.wait_text("Your name in this group is now", false).await;
    alice.go(&format!("{alice_web}/g/{group}/members")).await;
    alice.wait_text("Bob", true).await;

    // A proposal: Alice proposes; both vote; Alice closes; both see result and certificate.
    alice
        .go(&format!("{alice_web}/g/{group}/decisions/new"))
        .await;
    alice
        .fill("#np-title", "Start a rent strike in January")
        .await;
    alice
        .fill(
            "#np-body",
            "If 2/3 of us agree we withhold rent from 1 January.",
        )
        .await;
    alice.submit(&format!("/g/{group}/decisions")).await;
    alice.wait_text("Your vote", false).await;
    let proposal_url = alice.url().await;
    let path = proposal_url.split_once("/g/").unwrap().1.to_owned();
    alice.click("input[name=choice][value=yes]").await;
    alice.click("form.ballot-form button[type=submit]").await;
    alice.wait_text("1 vote", false).await;

    bob.go(&format!("{bob_web}/g/{path}")).await;
    bob.wait_text("Start a rent strike in January", true).await;
    bob.click("input[name=choice][value=yes]").await;
    bob.click("form.ballot-form button[type=submit]").await;
    bob.wait_text("2 votes", false).await;
    // Alice's open page counts Bob's vote live.
    alice.wait_text("2 votes", false).await;
    alice.shoot("proposal-voting").await;

    alice
        .click("form[action$=\"/close\"] button[type=submit]")
        .await;
    alice.wait_text("Certificate", false).await;
    alice.wait_text("passes", false).await;
    alice.shoot("proposal-result").await;
    alice.fits_phone("proposal").await;
    bob.wait_text("Certificate", true).await;
    bob.wait_text("passes", false).await;
    bob.go(&format!("{bob_web}/g/{group}/decisions")).await;
    bob.wait_text("passed", true).await;
    bob.shoot("decisions").await;

    // A direct message from Bob to Alice, chosen by her name.
    bob.go(&format!("{bob_web}/messages")).await;
    let to = bob.find("#to").await;
    to.select_by_label("Alice").await.unwrap();
    bob.fill("#dm-text", "Can you bring the flyers?").await;
    bob.submit("/messages").await;
    bob.wait_text("Sent, sealed to them only", false).await;
    alice.go(&format!("{alice_web}/messages")).await;
    alice.wait_text("Can you bring the flyers?", true).await;
    alice.shoot("messages").await;

    // Alice's private name for Bob replaces his chosen one, for her only.
    alice.go(&format!("{alice_web}/g/{group}/members")).await;
    let mut bob_page = None;
    for l in alice.client.find_all(Locator::Css("a.who")).await.unwrap() {
        if l.text().await.unwrap_or_default() == "Bob" {
            bob_page = l.attr("href").await.unwrap();
        }
    }
    let bob_page = bob_page.expect("Bob's name links to his page");
    alice.go(&format!("{alice_web}{bob_page}")).await;
    alice.wait_text("did:key:", false).await;
    alice.fill("#petname", "Bob from 2B").await;
    alice.submit(&format!("{bob_page}/petname")).await;
    alice.wait_text("Petname saved", false).await;
    alice.shoot("person").await;
    alice.go(&format!("{alice_web}/g/{group}/members")).await;
    alice.wait_text("Bob from 2B", false).await;
    bob.go(&format!("{bob_web}/g/{group}/members")).await;
    assert!(
        !bob.text().await.contains("Bob from 2B"),
        "a petname leaked to its subject"
    );

    alice.client.close().await.unwrap();
    bob.client.close().await.unwrap();
}

/// One member, one browser: the ballots that are not yes/no. A ranked-choice proposal is ranked
/// in the form and its rounds drawn; a consent proposal refuses a block without a reason and
/// stops on a block with one; the rules are changed so that removals need a vote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranked_ballots_blocks_and_rules_in_the_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let network = format!("browser-methods-{}", std::process::id());
    let (_node, web, link) = serve(tmp.path(), "dee", &network);
    let dee = Browser::start("dee").await;
    dee.onboard(&link).await;
    dee.fill("#name", "Food co-op").await;
    dee.submit("/groups").await;
    dee.wait_text("Group created", false).await;
    let group = dee.url().await.rsplit('/').next().unwrap().to_owned();

    // Ranked choice: three options, ranked 2-1-3 in the form.
    dee.go(&format!("{web}/g/{group}/decisions/new")).await;
    dee.fill("#np-title", "Which supplier?").await;
    dee.find("#np-method")
        .await
        .select_by_value("irv")
        .await
        .unwrap();
    dee.fill("#np-options", "Green Farm\nCity Mill\nRiver Dairy")
        .await;
    dee.submit(&format!("/g/{group}/decisions")).await;
    dee.wait_text("Your vote", false).await;
    for (field, rank) in [("o0", "2"), ("o1", "1"), ("o2", "3")] {
        dee.find(&format!("select[name={field}]"))
            .await
            .select_by_value(rank)
            .await
            .unwrap();
    }
    dee.click("form.ballot-form button[type=submit]").await;
    dee.wait_text("1 vote", false).await;
    dee.click("form[action$=\"/close\"] button[type=submit]")
        .await;
    dee.wait_text("winner: City Mill", false).await;
    assert!(
        dee.client.find(Locator::Css("svg")).await.is_ok(),
        "no chart on the result"
    );
    dee.shoot("ranked-result").await;

    // Consent: a block needs a reason, and then it stops the proposal.
    dee.go(&format!("{web}/g/{group}/decisions/new")).await;
    dee.fill("#np-title", "Open on Sundays").await;
    dee.find("#np-method")
        .await
        .select_by_value("consent")
        .await
        .unwrap();
    dee.submit(&format!("/g/{group}/decisions")).await;
    dee.wait_text("Your response", false).await;
    dee.click("input[name=choice][value=block]").await;
    dee.click("form.ballot-form button[type=submit]").await;
    dee.wait_text("a block needs a reason", false).await;
    dee.click("input[name=choice][value=block]").await;
    dee.fill("#reason", "Nobody can staff Sundays yet").await;
    dee.click("form.ballot-form button[type=submit]").await;
    dee.wait_text("1 vote", false).await;
    dee.click("form[action$=\"/close\"] button[type=submit]")
        .await;
    dee.wait_text("does not pass", false).await;
    dee.wait_text("Nobody can staff Sundays yet", false).await;
    dee.shoot("consent-blocked").await;

    // The rules: removals by vote from now on.
    dee.go(&format!("{web}/g/{group}/members")).await;
    dee.click("#rules-form summary").await;
    let rules = dee.find("#r-removal").await;
    rules.select_by_value("vote").await.unwrap();
    dee.click("input[name=confirmed]").await;
    dee.submit(&format!("/g/{group}/rules")).await;
    dee.wait_text("The rules are changed", false).await;
    dee.wait_text("the group, by vote", false).await;
    dee.shoot("rules").await;
    dee.client.close().await.unwrap();
}

impl Browser {
    /// Creates a group named `name`; returns its id (hex).
    async fn create_group(&self, name: &str) -> String {
        self.fill("#name", name).await;
        self.submit("/groups").await;
        self.wait_text("Group created", false).await;
        let url = self.url().await;
        let group = url.rsplit('/').next().unwrap().to_owned();
        assert_eq!(group.len(), 64, "{url}");
        group
    }

    /// Chooses our display name in `group`.
    async fn set_name(&self, web: &str, group: &str, name: &str) {
        self.go(&format!("{web}/g/{group}")).await;
        self.fill("#display-name", name).await;
        self.submit(&format!("/g/{group}/name")).await;
        self.wait_text("Your name in this group is now", false)
            .await;
    }

    /// Whether the page shows `what` now.
    async fn shows(&self, what: &str) -> bool {
        self.text().await.contains(what)
    }
}

/// `inviter` (on `web`) invites `joiner` into `group` (named `name`); the joiner pastes the code.
async fn invite_and_join(inviter: &Browser, web: &str, joiner: &Browser, group: &str, name: &str) {
    inviter.go(&format!("{web}/g/{group}/members")).await;
    inviter.submit(&format!("/g/{group}/invite")).await;
    let code = inviter.find("#invite-code").await.text().await.unwrap();
    joiner.fill("#code", code.trim()).await;
    joiner.submit("/join").await;
    joiner.wait_text("Join sent", false).await;
    joiner.wait_text(name, true).await;
}

/// Decisions into action: a proposal that creates a task passes; the second member claims it and
/// marks it done; the first confirms (the rules, changed in the browser, want one
/// confirmation); the worker's reputation page shows their share in the task's domain and why.
/// Then both volunteer for a rotating role and the draw is run step by step until both browsers
/// show who holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_becomes_a_task_done_confirmed_and_a_role_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let network = format!("browser-work-{}", std::process::id());
    let (_alice_node, aw, alice_link) = serve(tmp.path(), "alice", &network);
    let (_bob_node, bw, bob_link) = serve(tmp.path(), "bob", &network);
    let alice = Browser::start("alice").await;
    let bob = Browser::start("bob").await;
    alice.onboard(&alice_link).await;
    bob.onboard(&bob_link).await;
    let group = alice.create_group("Boiler Room").await;

    // The rules: one confirmation is enough; the moderator role rotates every 30 days.
    alice.go(&format!("{aw}/g/{group}/members")).await;
    alice.click("#rules-form summary").await;
    alice.fill("#r-confirmations", "1").await;
    alice.fill("#r-rotate", "moderator:30").await;
    alice.click("input[name=confirmed]").await;
    alice.shoot("rules-work").await;
    alice.submit(&format!("/g/{group}/rules")).await;
    alice.wait_text("The rules are changed", false).await;
    alice.wait_text("moderator:30", false).await;

    invite_and_join(&alice, &aw, &bob, &group, "Boiler Room").await;
    alice.set_name(&aw, &group, "Alice").await;
    bob.set_name(&bw, &group, "Bob").await;

    // A proposal that creates a task if it passes.
    alice.go(&format!("{aw}/g/{group}/decisions/new")).await;
    alice.fill("#np-title", "Get the boiler fixed").await;
    alice
        .fill("#np-tasks", "Fix the boiler;slots=1;domain=care;due=7")
        .await;
    alice.shoot("propose-with-task").await;
    alice.submit(&format!("/g/{group}/decisions")).await;
    alice.wait_text("Your vote", false).await;
    let proposal = alice.url().await;
    let path = proposal.split_once("/g/").unwrap().1.to_owned();
    alice.click("input[name=choice][value=yes]").await;
    alice.click("form.ballot-form button[type=submit]").await;
    alice.wait_text("1 vote", false).await;
    bob.go(&format!("{bw}/g/{path}")).await;
    bob.wait_text("Get the boiler fixed", true).await;
    bob.click("input[name=choice][value=yes]").await;
    bob.click("form.ballot-form button[type=submit]").await;
    bob.wait_text("2 votes", false).await;
    alice.wait_text("2 votes", false).await;
    alice
        .click("form[action$=\"/close\"] button[type=submit]")
        .await;
    alice.wait_text("passes", false).await;

    // Bob finds the task, claims it and marks his part done.
    let tasks = format!("/g/{group}/tasks");
    bob.go(&format!("{bw}{tasks}")).await;
    bob.wait_text("Fix the boiler", true).await;
    bob.wait_text("unclaimed", false).await;
    bob.shoot("tasks-unclaimed").await;
    bob.submit(&format!("{tasks}/claim")).await;
    bob.wait_text("Claimed", false).await;
    bob.click("details.task-actions summary").await;
    bob.fill("#note-0", "Replaced the pressure valve").await;
    bob.shoot("tasks-my-part").await;
    bob.submit(&format!("{tasks}/done")).await;
    bob.wait_text("Marked done", false).await;
    assert!(
        !bob.shows("Confirm Bob").await,
        "the worker is offered to confirm his own work"
    );

    // Alice confirms it; with one confirmation it counts.
    alice.go(&format!("{aw}{tasks}")).await;
    alice.wait_text("Confirm Bob", true).await;
    alice.wait_text("Replaced the pressure valve", false).await;
    alice.submit(&format!("{tasks}/confirm")).await;
    alice.wait_text("Confirmed.", false).await;
    alice.wait_text("counted", false).await;
    alice.shoot("tasks").await;
    alice.fits_phone("tasks").await;

    // Bob's reputation in care, and why: Alice's confirmation.
    bob.go(&format!("{bw}/g/{group}/reputation")).await;
    bob.wait_text("care", true).await;
    let mut share = None;
    for row in bob
        .client
        .find_all(Locator::Css("section[data-domain=care] tr.rep-row"))
        .await
        .unwrap()
    {
        let label = row.find(Locator::Css("a.who")).await.unwrap();
        if label.text().await.unwrap() == "Bob" {
            row.find(Locator::Css("details.why summary"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let pct = row.find(Locator::Css("td.pct")).await.unwrap();
            share = Some(pct.text().await.unwrap());
            let why = row.text().await.unwrap();
            assert!(
                why.contains("from Alice") && why.contains("confirmed 1 task"),
                "why: {why}"
            );
        }
    }
    let share = share.expect("Bob has a reputation in care");
    let value: f64 = share.trim_end_matches('%').parse().unwrap();
    assert!(value > 0.0, "Bob's share in care: {share}");
    bob.shoot("reputation").await;
    bob.fits_phone("reputation").await;

    // Both volunteer for the rotating role; the draw runs step by step.
    let roles = format!("/g/{group}/roles");
    alice.go(&format!("{aw}{roles}")).await;
    alice.wait_text("moderator", false).await;
    alice.submit(&format!("{roles}/volunteer")).await;
    alice.wait_text("Volunteered", false).await;
    bob.go(&format!("{bw}{roles}")).await;
    bob.wait_text("Alice", true).await;
    bob.submit(&format!("{roles}/volunteer")).await;
    bob.wait_text("Volunteered", false).await;
    // Alice closes the list only once she sees Bob on it.
    alice.go(&format!("{aw}{roles}")).await;
    let start = Instant::now();
    loop {
        let t = alice.text().await;
        let line = t
            .lines()
            .skip_while(|l| !l.starts_with("Volunteers"))
            .nth(1);
        if line.is_some_and(|l| l.contains("Alice") && l.contains("Bob")) {
            break;
        }
        assert!(
            start.elapsed() < STEP,
            "Bob's volunteering never arrived:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        alice.client.refresh().await.unwrap();
    }
    alice.shoot("roles-volunteers").await;
    let start = Instant::now();
    while !alice.shows("Held by").await {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the draw never finished; the page shows:\n{}",
            alice.text().await
        );
        alice.submit(&format!("{roles}/draw")).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        alice.go(&format!("{aw}{roles}")).await;
    }
    alice.wait_text("Seed", false).await;
    alice.shoot("roles").await;
    alice.fits_phone("roles").await;
    bob.go(&format!("{bw}{roles}")).await;
    bob.wait_text("Held by", true).await;
    let mut holders = Vec::new();
    for b in [&alice, &bob] {
        let who = b.find("p.holder a.who").await;
        holders.push(who.attr("title").await.unwrap());
    }
    assert_eq!(holders[0], holders[1], "both browsers show the same holder");

    // Alice asks for mediation between herself and Bob; Bob's page shows the case.
    alice.go(&format!("{aw}/g/{group}/mediation")).await;
    alice.wait_text("No mediation cases", false).await;
    alice.click("#new-case summary").await;
    for opt in alice
        .client
        .find_all(Locator::Css("#m-parties option"))
        .await
        .unwrap()
    {
        opt.click().await.unwrap();
    }
    alice.fill("#m-about", "Who pays for the valve").await;
    alice.shoot("mediation-request").await;
    alice.submit(&format!("/g/{group}/mediation")).await;
    alice.wait_text("Mediation requested", false).await;
    alice.wait_text("Who pays for the valve", false).await;
    alice.shoot("mediation").await;
    alice.fits_phone("mediation").await;
    bob.go(&format!("{bw}/g/{group}/mediation")).await;
    bob.wait_text("Who pays for the valve", true).await;
    bob.wait_text("not drawn yet", false).await;
    assert!(
        !bob.shows("Volunteer to mediate").await,
        "a party is offered to mediate its own case"
    );

    alice.client.close().await.unwrap();
    bob.client.close().await.unwrap();
}

impl Browser {
    /// Waits until the element `css` shows exactly `want`; with `reload`, reloads between looks.
    async fn wait_css_text(&self, css: &str, want: &str, reload: bool) {
        self.wait_css_text_timed(css, want, reload).await;
    }

    /// The balance the ledger page's table shows for the member labelled `name`.
    async fn balance_of(&self, name: &str) -> Option<String> {
        for row in self
            .client
            .find_all(Locator::Css("table.balances tbody tr"))
            .await
            .unwrap()
        {
            let who = row.find(Locator::Css("a.who")).await.unwrap();
            if who.text().await.unwrap() == name {
                let cell = row.find(Locator::Css("td.num")).await.unwrap();
                return Some(cell.text().await.unwrap());
            }
        }
        None
    }

    /// Fetches `path` of this browser's app with its session: status, content type,
    /// content disposition and body.
    async fn fetch(&self, path: &str) -> (u64, String, String, String) {
        let got = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   fetch(arguments[0], { credentials: "same-origin" })
                     .then(r => r.text().then(t => done([r.status, r.headers.get("content-type"),
                                                         r.headers.get("content-disposition"), t])))
                     .catch(e => done([0, "", "", String(e)]));"#,
                vec![json!(path)],
            )
            .await
            .unwrap();
        let s = |i: usize| got[i].as_str().unwrap_or_default().to_owned();
        (got[0].as_u64().unwrap_or(0), s(1), s(2), s(3))
    }
}

/// Mutual aid and mutual credit in two browsers: Bob needs care; Alice offers care at the same
/// place; Bob's board shows her offer as a match; Alice commits to his need and fulfils it; Bob
/// confirms; both boards show it confirmed. Then the ledger: Alice pays Bob 3; Bob sees +3.00,
/// Alice −3.00 and the sum 0.00; Bob invoices Alice 1.5 and she settles it with one click; an
/// overspend by Alice is refused with what she can pay and changes nothing; the CSV downloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_need_is_met_and_confirmed_and_the_ledger_balances() {
    let tmp = tempfile::tempdir().unwrap();
    let network = format!("browser-aid-{}", std::process::id());
    let (_alice_node, aw, alice_link) = serve(tmp.path(), "alice", &network);
    let (_bob_node, bw, bob_link) = serve(tmp.path(), "bob", &network);
    let alice = Browser::start("alice").await;
    let bob = Browser::start("bob").await;
    alice.onboard(&alice_link).await;
    bob.onboard(&bob_link).await;
    let group = alice.create_group("Care Circle").await;
    invite_and_join(&alice, &aw, &bob, &group, "Care Circle").await;
    alice.set_name(&aw, &group, "Alice").await;
    bob.set_name(&bw, &group, "Bob").await;

    // Bob posts a need for care.
    let board = format!("/g/{group}/board");
    bob.go(&format!("{bw}{board}")).await;
    bob.wait_text("No open needs", true).await;
    bob.click("#new-intent summary").await;
    bob.find("#a-kind")
        .await
        .select_by_value("need")
        .await
        .unwrap();
    bob.find("#a-category")
        .await
        .select_by_value("care")
        .await
        .unwrap();
    bob.fill("#a-text", "Someone to sit with my mother").await;
    bob.fill("#a-quantity", "2").await;
    bob.fill("#a-unit", "evenings").await;
    bob.fill("#a-place", "Elm Street").await;
    bob.shoot("board-post").await;
    bob.click("#new-intent button[type=submit]").await;
    bob.wait_text("Your need is on the board", false).await;

    // Alice offers care at the same place (written differently).
    alice.go(&format!("{aw}{board}")).await;
    alice.wait_text("Someone to sit with my mother", true).await;
    alice.click("#new-intent summary").await;
    alice
        .find("#a-kind")
        .await
        .select_by_value("offer")
        .await
        .unwrap();
    alice
        .find("#a-category")
        .await
        .select_by_value("care")
        .await
        .unwrap();
    alice.fill("#a-text", "Evenings of care").await;
    alice.fill("#a-quantity", "3").await;
    alice.fill("#a-unit", "evenings").await;
    alice.fill("#a-place", "elm street").await;
    alice.click("#new-intent button[type=submit]").await;
    alice.wait_text("Your offer is on the board", false).await;

    // Bob's board shows her offer as a match for his need.
    bob.go(&format!("{bw}{board}")).await;
    bob.wait_text("Offers that could meet it", true).await;
    let m = bob.find("article.need a.match").await;
    assert_eq!(m.text().await.unwrap(), "Evenings of care");
    bob.shoot("board-match").await;

    // Alice commits to his need (all of it), then marks it fulfilled.
    alice.go(&format!("{aw}{board}")).await;
    alice.submit(&format!("{board}/commit")).await;
    alice.wait_text("Committed", false).await;
    alice
        .wait_text("gives 2 × “Someone to sit with my mother” to Bob", false)
        .await;
    alice.fill("#note-0", "Tuesday and Thursday").await;
    alice.submit(&format!("{board}/fulfil")).await;
    alice.wait_text("Marked fulfilled", false).await;
    assert!(
        !alice.shows("Confirm I received it").await,
        "the provider is offered to confirm her own fulfilment"
    );

    // Bob confirms; both boards show it confirmed.
    bob.go(&format!("{bw}{board}")).await;
    bob.wait_text("Confirm I received it", true).await;
    bob.wait_text("Tuesday and Thursday", false).await;
    bob.submit(&format!("{board}/confirm")).await;
    bob.wait_text("Confirmed: it counts", false).await;
    bob.find("#done article.commitment [data-status=confirmed]")
        .await;
    bob.shoot("board").await;
    bob.fits_phone("board").await;
    alice.go(&format!("{aw}{board}")).await;
    alice
        .wait_css_text(
            "#done article.commitment [data-status=confirmed]",
            "confirmed",
            true,
        )
        .await;

    // The ledger: Alice pays Bob 3.
    let ledger = format!("/g/{group}/ledger");
    alice.go(&format!("{aw}{ledger}")).await;
    alice.wait_css_text("#my-balance", "0.00", false).await;
    alice
        .find("#p-member")
        .await
        .select_by_label("Bob")
        .await
        .unwrap();
    alice.fill("#p-amount", "3").await;
    alice.fill("#p-memo", "Bus fares for the evenings").await;
    alice.submit(&format!("{ledger}/pay")).await;
    alice.wait_text("Paid 3.00 hours to Bob", false).await;
    alice.wait_css_text("#my-balance", "-3.00", false).await;

    // Bob sees +3.00, Alice −3.00, and the sum 0.00.
    bob.go(&format!("{bw}{ledger}")).await;
    bob.wait_css_text("#my-balance", "+3.00", true).await;
    assert_eq!(bob.balance_of("Alice").await.as_deref(), Some("-3.00"));
    assert_eq!(bob.balance_of("Bob").await.as_deref(), Some("+3.00"));
    bob.wait_css_text("td.sum", "0.00", false).await;

    // Bob invoices Alice 1.5; she settles it with one click.
    bob.click("#new-invoice summary").await;
    bob.find("#i-member")
        .await
        .select_by_label("Alice")
        .await
        .unwrap();
    bob.fill("#i-amount", "1.5").await;
    bob.fill("#i-memo", "Half the taxi").await;
    bob.submit(&format!("{ledger}/invoice")).await;
    bob.wait_text("Invoice sent", false).await;
    alice.go(&format!("{aw}{ledger}")).await;
    alice.wait_text("Invoices for you to settle", true).await;
    alice.wait_text("Half the taxi", false).await;
    alice.shoot("ledger-invoice").await;
    alice.submit(&format!("{ledger}/settle")).await;
    alice.wait_text("Invoice settled", false).await;
    alice.wait_css_text("#my-balance", "-4.50", false).await;
    assert!(!alice.shows("Invoices for you to settle").await);

    // An overspend is refused with what she can pay, and changes nothing.
    let payments = |b: &Browser| {
        let c = b.client.clone();
        async move {
            c.find_all(Locator::Css("table.payments tbody tr"))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(payments(&alice).await, 2);
    alice
        .find("#p-member")
        .await
        .select_by_label("Bob")
        .await
        .unwrap();
    alice.fill("#p-amount", "100").await;
    alice.submit(&format!("{ledger}/pay")).await;
    alice.wait_text("you can pay at most 15.50", false).await;
    assert!(
        alice
            .find(".flash.error")
            .await
            .text()
            .await
            .unwrap()
            .contains("below your limit"),
        "the refusal is not shown as one"
    );
    alice.wait_css_text("#my-balance", "-4.50", false).await;
    assert_eq!(payments(&alice).await, 2, "a refused payment was recorded");
    alice.shoot("ledger").await;
    alice.fits_phone("ledger").await;

    // Bob's side: +4.50, the invoice paid, the sum still zero.
    bob.go(&format!("{bw}{ledger}")).await;
    bob.wait_css_text("#my-balance", "+4.50", true).await;
    assert_eq!(bob.balance_of("Alice").await.as_deref(), Some("-4.50"));
    bob.wait_css_text("td.sum", "0.00", false).await;
    bob.wait_css_text("table.invoices [data-status]", "paid", false)
        .await;
    bob.shoot("ledger-bob").await;

    // The CSV, with the session, as a download.
    let link = bob.find("a.csv").await.attr("href").await.unwrap();
    assert_eq!(link.as_deref(), Some(format!("{ledger}.csv").as_str()));
    let (status, kind, disposition, body) = bob.fetch(&format!("{ledger}.csv")).await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert!(
        disposition.starts_with("attachment") && disposition.contains(".csv"),
        "{disposition}"
    );
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("date,from,to,amount,unit,memo,invoice,id")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{body}");
    assert!(
        rows.iter()
            .any(|r| r.contains(",3.00,hours,Bus fares for the evenings,,")),
        "{body}"
    );
    assert!(rows.iter().any(|r| r.contains(",1.50,hours,")), "{body}");

    // Shared things: Alice shares a cargo bike; Bob books it; her crossing booking is refused.
    let resources = format!("/g/{group}/resources");
    let start = |b: &Browser, at: &'static str| {
        let c = b.client.clone();
        async move {
            c.execute(
                "document.querySelector('#b-from-0').value = arguments[0]",
                vec![json!(at)],
            )
            .await
            .unwrap();
        }
    };
    alice.go(&format!("{aw}{resources}")).await;
    alice.wait_text("Nothing is shared yet", true).await;
    alice.click("#new-resource summary").await;
    alice.fill("#r-name", "Cargo bike").await;
    alice
        .find("#r-category")
        .await
        .select_by_value("transport")
        .await
        .unwrap();
    alice.fill("#r-place", "Elm Street yard").await;
    alice.submit(&resources).await;
    alice.wait_text("Shared: members can book it", false).await;
    bob.go(&format!("{bw}{resources}")).await;
    bob.wait_text("Cargo bike", true).await;
    start(&bob, "2030-06-01T10:00").await;
    bob.fill("#b-hours-0", "3").await;
    bob.fill("#b-note-0", "Moving a sofa").await;
    bob.submit(&format!("{resources}/book")).await;
    bob.wait_text(
        "Booked from 2030-06-01 10:00 UTC to 2030-06-01 13:00 UTC",
        false,
    )
    .await;
    alice.go(&format!("{aw}{resources}")).await;
    alice.wait_text("Moving a sofa", true).await;
    start(&alice, "2030-06-01T12:00").await;
    alice.fill("#b-hours-0", "2").await;
    alice.submit(&format!("{resources}/book")).await;
    alice
        .wait_text(
            "it is booked from 2030-06-01 10:00 UTC to 2030-06-01 13:00 UTC by Bob",
            false,
        )
        .await;
    alice.find(".flash.error").await;
    alice.shoot("resources").await;
    alice.fits_phone("resources").await;

    alice.client.close().await.unwrap();
    bob.client.close().await.unwrap();
}
