//! Placeholder while this part is being written.

use axum::Router;

use crate::App;

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
}
