//! Links between groups' ledgers in a real browser: headless Chromium driven through WebDriver
//! (chromedriver) against one real `dualpower serve` on 127.0.0.1. Alice creates two groups;
//! from each group's Ledger page she proposes linking it to the other, naming herself the
//! bridge, votes yes and closes the proposal on its page; her node opens the link on both sides
//! by itself; she pays herself-in-the-other-group 2 across from the form, sees it delivered,
//! and the other group's Ledger page shows its clearing account at -2.00 and her balance +2.00.
//! An offer she posts in one group with "Show it to linked groups too" ticked shows on the other
//! group's board; demurrage set in the rules form brings the commons onto the Ledger page.
//!
//! The process and browser setup is `browser.rs`'s (it has no shared helpers under `common/`
//! to include), cut to what this test uses. Needs Debian's `chromium` and `chromium-driver`
//! (`scripts/test` installs them). Every wait has a deadline.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one step may take before the test fails.
const STEP: Duration = Duration::from_secs(20);

/// A child process killed when dropped.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Proc {
            child,
            lines,
            name: name.into(),
        }
    }

    /// The first stdout line `find` accepts, waiting for it.
    fn wait_line(&mut self, what: &str, find: impl Fn(&str) -> Option<String>) -> String {
        let start = Instant::now();
        loop {
            if let Some(found) = self.lines.lock().unwrap().iter().find_map(|l| find(l)) {
                return found;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before {what}: {:?}",
                    self.name, self.lines
                );
            }
            assert!(
                start.elapsed() < STEP,
                "{} never printed {what}: {:?}",
                self.name,
                self.lines
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `dualpower serve` with no identity and no passphrase: it starts locked and prints the
/// link that lets the browser create the identity.
fn serve(tmp: &Path, name: &str, network: &str) -> (Proc, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dualpower"));
    cmd.arg("--home")
        .arg(tmp.join(name))
        .args(["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--web", "127.0.0.1:0"])
        .env("DUALPOWER_NETWORK", network)
        .env_remove("DUALPOWER_PASSPHRASE")
        .env_remove("DUALPOWER_WEB")
        .env_remove("DUALPOWER_HOME")
        .env_remove("RUST_LOG");
    if let Ok(filter) = std::env::var("BROWSER_TEST_NODE_LOG") {
        cmd.env("RUST_LOG", filter);
    }
    let mut p = Proc::spawn(name, cmd);
    let web = p.wait_line("the web address", |l| {
        l.strip_prefix("web app on ").map(str::to_owned)
    });
    let link = p.wait_line("the login link", |l| {
        l.trim().starts_with("http").then(|| l.trim().to_owned())
    });
    assert!(link.starts_with(&format!("{web}/login?t=")), "{link}");
    (p, web, link)
}

struct Browser {
    client: Client,
    name: &'static str,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(name: &'static str) -> Browser {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver: run `scripts/test`, \
             which installs them"
        );
        let port = free_port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"));
        let mut driver = Proc::spawn("chromedriver", cmd);
        driver.wait_line("that it started", |l| {
            l.contains("started successfully").then(String::new)
        });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = caps.as_object().unwrap().clone().into_iter().collect();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("connecting to chromedriver");
        Browser {
            client,
            name,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn go(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name))
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Clicks the submit button of the form whose action is `action`.
    async fn submit(&self, action: &str) {
        self.click(&format!("form[action=\"{action}\"] button[type=submit]"))
            .await;
    }

    /// The page's visible text ("" while a navigation replaces the page under us).
    async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Waits until the page's text contains `what`.
    async fn wait_text(&self, what: &str) {
        let start = Instant::now();
        loop {
            let t = self.text().await;
            if t.contains(what) {
                return;
            }
            assert!(
                start.elapsed() < STEP,
                "{}: page never showed {what:?}; it shows:\n{t}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the element `css` shows exactly `want`; with `reload`, reloads between looks.
    async fn wait_css_text(&self, css: &str, want: &str, reload: bool) {
        let start = Instant::now();
        loop {
            let got = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if got.trim() == want {
                if start.elapsed() > Duration::from_secs(3) {
                    eprintln!("{}: {css} = {want:?} took {:?}", self.name, start.elapsed());
                }
                return;
            }
            assert!(
                start.elapsed() < STEP,
                "{}: {css} never showed {want:?} (it shows {got:?}); the page:\n{}",
                self.name,
                self.text().await
            );
            if reload {
                self.client.refresh().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Checks that every control on the page has a label a screen reader announces, and that
    /// at 360 px the page does not scroll sideways.
    async fn labelled_and_fits(&self, page: &str) {
        let unlabelled = self
            .client
            .execute(
                r#"return Array.from(document.querySelectorAll("input, select, textarea, button"))
                    .filter(e => e.type !== "hidden" && !e.hidden)
                    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                                 && !(e.tagName === "BUTTON" && e.textContent.trim()))
                    .map(e => e.outerHTML.slice(0, 120));"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(unlabelled, json!([]), "{page}: controls without a label");
        self.client.set_window_size(360, 780).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let wide = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .unwrap();
        self.client.set_window_size(1280, 900).await.unwrap();
        let (sw, iw) = (wide[0].as_u64().unwrap(), wide[1].as_u64().unwrap());
        assert!(
            sw <= iw + 1,
            "{page} scrolls sideways at 360 px: {sw} > {iw}"
        );
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
