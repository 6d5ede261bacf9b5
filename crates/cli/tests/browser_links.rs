//! Links between groups' ledgers in a real browser: headless Chromium driven through WebDriver
//! (chromedriver) against one real `dualpower serve` on 127.0.0.1. Alice creates two groups;
//! from each group's Ledger page she proposes linking it to the other, naming herself the
//! bridge, votes yes and closes the proposal on its page; her node opens the link on both sides
//! by itself; she pays herself-in-the-other-group 2 across from the form, sees it delivered,
//! and the other group's Ledger page shows its clearing account at -2.00 and her balance +2.00.
//! An offer she posts in one group with "Show it to linked groups too" ticked shows on the other
//! group's board; demurrage set in the rules form brings the commons onto the Ledger page.
//!
//! The process and browser setup is `common/browser.rs`, shared with `browser.rs`. Needs
//! Debian's `chromium` and `chromium-driver` (`scripts/test` installs them). Every wait has a
//! deadline.
#![allow(clippy::unwrap_used)]

include!("common/browser.rs");
include!("common/browser_find.rs");

impl Browser {
    /// Waits until the element `css` shows exactly `want`; with `reload`, reloads between looks.
    /// Says how long it took when that was over 3 s.
    async fn wait_css_text(&self, css: &str, want: &str, reload: bool) {
        let took = self.wait_css_text_timed(css, want, reload).await;
        if took > Duration::from_secs(3) {
            eprintln!("{}: {css} = {want:?} took {took:?}", self.name);
        }
    }

    /// Checks that every control on the page has a label a screen reader announces, and that
    /// at 360 px the page does not scroll sideways.
    async fn labelled_and_fits(&self, page: &str) {
        self.assert_labelled(page).await;
        self.fits_phone(page).await;
    }

    async fn onboard(&self, link: &str) {
        self.go(link).await;
        self.wait_text("Choose a passphrase").await;
        let pass = "violet harbour seventeen lanterns drift";
        self.fill("#pass", pass).await;
        self.fill("#repeat", pass).await;
        self.submit("/onboard").await;
        self.wait_text("Your groups").await;
    }

    /// Creates a group named `name` from the groups page; returns its id (hex).
    async fn create_group(&self, web: &str, name: &str) -> String {
        self.go(&format!("{web}/")).await;
        self.fill("#name", name).await;
        self.submit("/groups").await;
        self.wait_text("Group created").await;
        let url = self.url().await;
        let group = url.rsplit('/').next().unwrap().to_owned();
        assert_eq!(group.len(), 64, "{url}");
        group
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_link_their_ledgers_in_the_browser_and_a_payment_crosses() {
    let t = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let network = format!("browser-links-{}", std::process::id());
    let (_node, web, login) = serve(tmp.path(), "alice", &network);
    let alice = Browser::start("alice").await;
    alice.onboard(&login).await;
    let food = alice.create_group(&web, "Food co-op").await;
    let transport = alice.create_group(&web, "Transport collective").await;
    eprintln!("two groups after {:?}", t.elapsed());

    // From each group's Ledger page she proposes linking it to the other, with herself as the
    // bridge; the page takes her to the proposal, where she votes yes and closes it.
    let mut me = String::new();
    for (g, other, name) in [
        (&food, &transport, "Transport"),
        (&transport, &food, "Food co-op"),
    ] {
        alice.go(&format!("{web}/g/{g}/ledger")).await;
        alice.wait_text("Our ledger is not linked").await;
        assert!(
            alice
                .client
                .find(Locator::Css("#pay-across"))
                .await
                .is_err(),
            "a pay-across form with no open link"
        );
        alice.click("#new-link summary").await;
        alice.fill("#k-with", other).await;
        alice.fill("#k-name", name).await;
        alice.fill("#k-limit", "50").await;
        let bridge = alice.find("#k-bridge-0").await;
        me = bridge.attr("value").await.unwrap().unwrap();
        assert!(me.starts_with("did:key:"), "{me}");
        bridge.click().await.unwrap();
        alice.submit(&format!("/g/{g}/ledger/link")).await;
        alice.wait_text("Proposed to the group").await;
        assert!(
            alice.url().await.contains(&format!("/g/{g}/decisions/")),
            "the link form does not lead to its proposal"
        );
        alice.wait_text(&format!("Link our ledger to {name}")).await;
        alice.click("input[name=choice][value=yes]").await;
        alice.click("form.ballot-form button[type=submit]").await;
        alice.wait_text("1 vote").await;
        alice
            .click("form[action$=\"/close\"] button[type=submit]")
            .await;
        alice.wait_text("passes").await;
    }
    eprintln!("both links decided after {:?}", t.elapsed());

    // Her node, the bridge of both, opens the link on both sides by itself.
    let ledger = |g: &str| format!("{web}/g/{g}/ledger");
    alice.go(&ledger(&food)).await;
    alice
        .wait_css_text(&format!("#link-{transport} [data-status]"), "open", true)
        .await;
    alice.go(&ledger(&transport)).await;
    alice
        .wait_css_text(&format!("#link-{food} [data-status]"), "open", true)
        .await;
    eprintln!("links open after {:?}", t.elapsed());

    // She pays herself-in-Transport 2 across from the Food co-op's ledger.
    alice.go(&ledger(&food)).await;
    alice
        .find("#x-link")
        .await
        .select_by_value(&transport)
        .await
        .unwrap();
    alice.fill("#x-to", &me).await;
    alice.fill("#x-amount", "2").await;
    alice.fill("#x-memo", "Two rides to the market").await;
    alice.submit(&format!("/g/{food}/ledger/across")).await;
    alice.wait_text("Sent 2.00 hours to").await;
    alice.wait_css_text("#my-balance", "-2.00", false).await;
    alice
        .wait_css_text(
            &format!("#link-{transport} table.across [data-state]"),
            "delivered",
            true,
        )
        .await;
    alice.wait_text("Two rides to the market").await;
    alice
        .wait_css_text(
            &format!("#link-{transport} .clearing-balance"),
            "+2.00",
            false,
        )
        .await;
    eprintln!("delivered after {:?}", t.elapsed());

    // Transport's ledger: its clearing account for the Food co-op paid her 2.
    alice.go(&ledger(&transport)).await;
    alice
        .wait_css_text(&format!("#link-{food} .clearing-balance"), "-2.00", true)
        .await;
    alice.wait_css_text("#my-balance", "+2.00", false).await;
    alice.wait_css_text("td.sum", "0.00", false).await;
    alice.wait_text("clearing: Food co-op").await;
    alice.wait_text("Paid from members of Food co-op").await;
    alice.click("#new-link summary").await;
    alice.labelled_and_fits("ledger").await;

    // An offer posted in Transport with "Show it to linked groups too" ticked shows on the
    // Food co-op's board, under "From linked groups".
    alice.go(&format!("{web}/g/{transport}/board")).await;
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
        .select_by_value("transport")
        .await
        .unwrap();
    alice.fill("#a-text", "Rides to the market").await;
    alice.fill("#a-quantity", "4").await;
    alice.fill("#a-unit", "rides").await;
    alice.click("#a-linked").await;
    alice.labelled_and_fits("board").await;
    alice.click("#new-intent button[type=submit]").await;
    alice.wait_text("Your offer is on the board").await;
    alice.go(&format!("{web}/g/{food}/board")).await;
    alice
        .wait_css_text("#linked article.offer .left", "4 rides left", true)
        .await;
    alice.wait_text("Rides to the market").await;
    alice.wait_text("in Transport").await;

    // Demurrage from the rules form: the Food co-op's ledger then shows the commons.
    alice.go(&format!("{web}/g/{food}/members")).await;
    alice.click("#rules-form summary").await;
    alice.fill("#r-demurrage", "1").await;
    alice.click("input[name=confirmed]").await;
    alice.submit(&format!("/g/{food}/rules")).await;
    alice.wait_text("The rules are changed").await;
    alice.go(&ledger(&food)).await;
    alice.wait_css_text("#commons-balance", "0.00", false).await;
    alice.wait_text("pays 1.00% per 30 days").await;

    alice.client.close().await.unwrap();
    eprintln!("done after {:?}", t.elapsed());
}
