//! A group that requires anonymous mode, in a real browser: headless Chromium driven through
//! WebDriver (chromedriver) against one real `dualpower serve` on the clear net (127.0.0.1, not
//! in anonymous mode). Alice creates a group with "Members must use anonymous mode (I2P)"
//! ticked; the group's page and its Members page warn that this node does not sync the group
//! with anyone and say how to restart it; the rules say "Anonymous mode required"; the Network
//! page says anonymous mode is off and how to turn it on.
//!
//! Screenshots are saved under `target/screenshots/anonymous-*.png`. The process and browser
//! setup is `common/browser.rs`. Needs Debian's `chromium` and `chromium-driver`
//! (`scripts/test` installs them). Every wait has a deadline.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

include!("common/browser.rs");
include!("common/browser_find.rs");

/// The warning every group page of a node not in anonymous mode shows for such a group.
const WARNING: &str = "This group requires anonymous mode. This node is not in it, so it does \
                       not sync this group with anyone. Restart it with dualpower serve --anonymous.";

impl Browser {
    /// The text of the element `css` (which must be on the page).
    async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap().trim().to_owned()
    }

    /// Whether the element `css` is on the page now.
    async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Checks every control is labelled, then saves the page (whole, up to a limit) as
    /// `target/screenshots/anonymous-{page}.png`.
    async fn screenshot(&self, page: &str) -> PathBuf {
        self.assert_labelled(page).await;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(900)
            .clamp(900, 3000) as u32;
        self.client
            .set_window_size(1280, height + 100)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let path = dir.join(format!("anonymous-{page}.png"));
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        self.client.set_window_size(1280, 900).await.unwrap();
        path
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_net_node_warns_on_a_group_that_requires_anonymous_mode() {
    let t = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let network = format!("browser-anonymous-{}", std::process::id());
    let (_node, web, login) = serve(tmp.path(), "alice", &network);
    let alice = Browser::start("alice").await;

    // Onboarding: she chooses a passphrase; the node creates her identity.
    alice.go(&login).await;
    alice.wait_text("Choose a passphrase").await;
    let pass = "violet harbour seventeen lanterns drift";
    alice.fill("#pass", pass).await;
    alice.fill("#repeat", pass).await;
    alice.submit("/onboard").await;
    alice.wait_text("Your groups").await;

    // The create form: the checkbox is labelled, explained, and not ticked by default.
    let tick = alice.find("#anonymous-only").await;
    assert_eq!(
        tick.prop("checked").await.unwrap().as_deref(),
        Some("false")
    );
    alice
        .wait_text("Members must use anonymous mode (I2P)")
        .await;
    alice
        .wait_text("a node not in that mode will not sync this group")
        .await;

    // She creates a group with it ticked; the app takes her to the group's page.
    alice.fill("#name", "Night Shift Union").await;
    tick.click().await.unwrap();
    let create_shot = alice.screenshot("create").await;
    alice.submit("/groups").await;
    alice.wait_text("Group created").await;
    let url = alice.url().await;
    let group = url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(group.len(), 64, "{url}");
    eprintln!("group created after {:?}", t.elapsed());

    // The group's page warns: this clear-net node syncs the group with nobody.
    assert_eq!(alice.text_of("#anonymous-warning").await, WARNING);
    assert_eq!(
        alice
            .find("#anonymous-warning")
            .await
            .attr("role")
            .await
            .unwrap()
            .as_deref(),
        Some("alert")
    );
    let feed_shot = alice.screenshot("feed").await;

    // The Members page: the same warning, and the rules say anonymous mode is required.
    alice.go(&format!("{web}/g/{group}/members")).await;
    alice.wait_text("The group's rules").await;
    assert_eq!(alice.text_of("#anonymous-warning").await, WARNING);
    let rule = alice.text_of("#rule-anonymous").await;
    assert!(rule.starts_with("Anonymous mode required"), "{rule}");
    alice.fits_phone("members").await;
    let members_shot = alice.screenshot("members").await;

    // The groups list marks the group as not syncing.
    alice.go(&format!("{web}/")).await;
    alice.wait_text("Night Shift Union").await;
    alice.wait_text("not syncing: needs anonymous mode").await;

    // A group created with the box left unticked: no warning, and its rules say so.
    alice.fill("#name", "Open Pantry").await;
    alice.submit("/groups").await;
    alice.wait_text("Group created").await;
    assert!(
        !alice.has("#anonymous-warning").await,
        "a warning on an ordinary group"
    );
    let open = alice.url().await.rsplit('/').next().unwrap().to_owned();
    alice.go(&format!("{web}/g/{open}/members")).await;
    alice.wait_text("The group's rules").await;
    assert_eq!(alice.text_of("#rule-anonymous").await, "not required");
    assert!(!alice.has("#anonymous-warning").await);

    // The Network page: anonymous mode is off, and it says what that means and how to turn it on.
    alice.go(&format!("{web}/peers")).await;
    alice
        .wait_css_text_timed(
            "#anonymous-state",
            "Off: peers you connect to see this computer's IP address.",
            false,
        )
        .await;
    let card = alice.text_of("#anonymous-mode").await;
    assert!(card.starts_with("Anonymous mode Off"), "{card}");
    assert!(card.contains("dualpower serve --anonymous"), "{card}");
    assert!(card.contains("timing"), "{card}");
    assert!(
        !alice.has("[id^=i2p-addr]").await,
        "an I2P address while off"
    );
    alice.fits_phone("network").await;
    let network_shot = alice.screenshot("network").await;

    alice.client.close().await.unwrap();
    eprintln!(
        "done after {:?}; screenshots: {}, {}, {}, {}",
        t.elapsed(),
        create_shot.display(),
        feed_shot.display(),
        members_shot.display(),
        network_shot.display()
    );
}
