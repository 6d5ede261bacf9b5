//! Live updates: a server-sent event stream that says "something changed" whenever the node
//! stores an event or this app wrote one. The page's script then re-fetches the page and swaps
//! the parts that differ, so the server stays the one place pages are rendered.
//!
//! The stream carries no content (nothing to leak, nothing to parse), and its queue is bounded:
//! a slow browser that falls behind simply gets one "changed" for many.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::App;
use crate::access::Me;

/// How many change notices wait for a slow page before it just gets told "changed".
pub const CHANGES_QUEUE: usize = 16;

/// The event stream route.
pub fn routes() -> Router<App> {
    Router::new().route("/events", get(events))
}

async fn events(
    State(app): State<App>,
    _me: Me,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = app.0.changes.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        // A page that fell behind (`Lagged`) needs one notice for all it missed, like any other.
        match rx.recv().await {
            // The data must not be empty: a browser dispatches no event without data.
            Ok(()) | Err(RecvError::Lagged(_)) => {
                Some((Ok(Event::default().event("changed").data("1")), rx))
            }
            Err(RecvError::Closed) => None,
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
