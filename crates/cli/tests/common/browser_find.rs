// The plain `find` and `wait_text` of the browser tests that need nothing more (`browser_links.rs`,
// `browser_anonymous.rs`), pasted in with `include!` after common/browser.rs: wait up to a step
// for an element, or for the page to show a text.

impl Browser {
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name))
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
}
