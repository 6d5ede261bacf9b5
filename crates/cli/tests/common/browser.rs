// Shared by the browser tests (`browser.rs`, `browser_links.rs`, `browser_anonymous.rs`), pasted
// into each with `include!`: the `Proc` guard around a child process, `serve` (a locked
// `dualpower serve` that prints its login link) and the `Browser` (headless Chromium through
// chromedriver, own profile) with the helpers every browser test uses. `fill` and `click` go
// through `find`, which each test brings, as it does `wait_text` (`browser.rs` its own, which
// log more; the others the plain ones in `browser_find.rs`).
//
// Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them).

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

    /// Checks that every control on the page has a label a screen reader announces.
    async fn assert_labelled(&self, page: &str) {
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
    }

    /// Checks that at 360 px the page does not scroll sideways.
    async fn fits_phone(&self, page: &str) {
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

    /// Waits until the element `css` shows exactly `want`; with `reload`, reloads between looks.
    /// Returns how long that took.
    async fn wait_css_text_timed(&self, css: &str, want: &str, reload: bool) -> Duration {
        let start = Instant::now();
        loop {
            let got = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if got.trim() == want {
                return start.elapsed();
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
}
