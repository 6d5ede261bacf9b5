//! The web app a node serves: everything a member does, in a browser, on the node's own machine.
//!
//! Most organisers will never open a terminal, so `dualpower serve` also serves this app (on
//! [`DEFAULT_ADDR`] unless told otherwise). Pages are rendered on the server ([`maud`]) and work
//! without JavaScript; a small script (served from here, nothing from the internet) reloads the
//! parts of a page that changed when the node stores something ([`live`], server-sent events).
//!
//! The app holds no state of its own beyond sessions: every action is an [`dualpower_node::ops::Op`]
//! sent to the running node (the same checks as the CLI and every peer), every read that needs
//! keys is a [`dualpower_node::query::Query`]. The JSON API under `/api/v1` ([`api`]) is the same
//! operations for other tools, behind the node's bearer token, and `/api/openapi.json` is
//! generated from its route table.
//!
//! Who may use it ([`access`]): a browser proves itself once, with the passphrase or with a
//! one-time login link that `serve` prints, and gets a session cookie (HttpOnly,
//! SameSite=Strict). Every request must name this server in `Host` (DNS rebinding), every
//! request that changes something must come from this origin, and every form carries the
//! session's CSRF token.

pub mod access;
pub mod api;
pub mod layout;
pub mod live;
pub mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use axum::Router;
use dualpower_core::{Identity, PublicKey};
use dualpower_node::Handle;
use dualpower_node::ops::{Op, Refused};
use dualpower_node::query::Query;
use dualpower_store::Store;
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

/// Where the web app listens unless `--web` says otherwise (documented in the README).
pub const DEFAULT_ADDR: &str = "127.0.0.1:7433";

/// How the app was started.
pub struct WebOptions {
    /// The data directory (its keystore is what the passphrase unlocks or creates).
    pub home: PathBuf,
    /// The node's store (read for listings that need no keys), held weakly: the node's owner
    /// closes it at shutdown, whatever connections the app still has open.
    pub store: Weak<Store>,
    /// The node.
    pub handle: Handle,
    /// The node's API bearer token (the JSON API takes the same one).
    pub token: String,
    /// Our key, when the identity is already unlocked; `None` while locked.
    pub unlocked: Option<PublicKey>,
    /// Where an identity unlocked (or created) in the browser goes: the caller starts the node
    /// with it. `None` when already unlocked.
    pub unlock: Option<oneshot::Sender<Identity>>,
    /// Whether the app may listen on an address other than loopback (`--web-public`).
    pub public: bool,
}

/// Whether the node's identity is unlocked, and if not where an unlocked one goes.
enum Phase {
    Locked(Option<oneshot::Sender<Identity>>),
    Unlocked(PublicKey),
}

/// The app's shared state (cheap to clone).
#[derive(Clone)]
pub struct App(Arc<Inner>);

struct Inner {
    home: PathBuf,
    store: Weak<Store>,
    handle: Handle,
    token: String,
    public: bool,
    phase: Mutex<Phase>,
    sessions: Mutex<access::Sessions>,
    /// "Something changed": the notice carries nothing, a page re-fetches what it shows.
    changes: broadcast::Sender<()>,
    /// Held while an identity is created in the browser: two tabs submitting at once must not
    /// both make one.
    creating: tokio::sync::Mutex<()>,
    /// Set once bound: the origins (`http://host:port`) requests must come from.
    site: Mutex<access::Site>,
}

impl App {
    /// The app for a node.
    pub fn new(o: WebOptions) -> App {
        let phase = match o.unlocked {
            Some(k) => Phase::Unlocked(k),
            None => Phase::Locked(o.unlock),
        };
        App(Arc::new(Inner {
            home: o.home,
            store: o.store,
            handle: o.handle,
            token: o.token,
            public: o.public,
            phase: Mutex::new(phase),
            sessions: Mutex::new(access::Sessions::default()),
            changes: broadcast::channel(live::CHANGES_QUEUE).0,
            creating: tokio::sync::Mutex::new(()),
            site: Mutex::new(access::Site::default()),
        }))
    }

    /// Tells open pages that something changed (a stored event, a write), so they refresh the
    /// parts that show it.
    pub fn changed(&self) {
        let _ = self.0.changes.send(());
    }

    /// Our key, once unlocked.
    pub fn me(&self) -> Option<PublicKey> {
        match &*lock(&self.0.phase) {
            Phase::Unlocked(k) => Some(*k),
            Phase::Locked(_) => None,
        }
    }

    /// Records that the identity was unlocked elsewhere (in the terminal `serve` runs in): the
    /// browser's unlock form is no longer needed, and logging in takes the passphrase or a link.
    pub fn unlocked(&self, key: PublicKey) {
        let mut phase = lock(&self.0.phase);
        if let Phase::Locked(_) = &*phase {
            *phase = Phase::Unlocked(key);
        }
    }

    /// A fresh one-time login link for this app (valid once, for [`access::LINK_TTL`]).
    pub fn login_link(&self) -> String {
        let token = lock(&self.0.sessions).new_link();
        format!("{}/login?t={token}", lock(&self.0.site).base())
    }

    /// Reads every group once, as its pages will, so that the node's read cache is filled
    /// before the member opens a page: the first read of a large group decrypts all of it
    /// (about a quarter of a second for 10 000 posts), later ones only what is new. Call it once
    /// the node runs; the reads queue behind whatever the node is doing.
    pub async fn warm(&self) {
        for g in self.groups().await {
            let group = g.id.to_hex();
            for q in [
                Query::FeedPage {
                    group: group.clone(),
                    page: 0,
                    per_page: pages::feed::PAGE,
                },
                Query::Proposals {
                    group: group.clone(),
                },
                Query::Members { group },
            ] {
                // A read that fails here fails again, with its reason, when a page asks.
                let _ = self.view(q).await;
            }
        }
    }

    /// A group's bundle (every stored event of it), read off the event loop.
    pub async fn export(&self, group: dualpower_core::GroupId) -> Result<Vec<u8>, String> {
        let store = self
            .0
            .store
            .upgrade()
            .ok_or_else(|| "the node is stopping".to_string())?;
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            store
                .export_group(group, &mut out)
                .map(|_| out)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Carries out `op` through the node; tells open pages on success.
    pub async fn op(&self, op: Op) -> Result<Value, Refused> {
        let out = self.0.handle.op(op, now_ms()).await?;
        self.changed();
        Ok(out)
    }

    /// Answers `query` through the node (with its keys).
    pub async fn view(&self, query: Query) -> Result<Value, Refused> {
        self.0.handle.view(query, now_ms()).await
    }

    /// The store's groups (no keys needed), read off the event loop.
    pub async fn groups(&self) -> Vec<dualpower_store::GroupInfo> {
        let Some(store) = self.0.store.upgrade() else {
            return Vec::new();
        };
        match tokio::task::spawn_blocking(move || store.groups()).await {
            Ok(Ok(groups)) => groups,
            // A page then shows no groups; the reason must not vanish with them.
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot list the store's groups");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "listing the store's groups failed");
                Vec::new()
            }
        }
    }

    /// The node.
    pub fn handle(&self) -> &Handle {
        &self.0.handle
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these cannot leave it half-changed in a way that matters
    // more than refusing every later request would.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch (what operations take as `now`).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address is not loopback and `--web-public` was not given.
    #[error(
        "{0} is not a loopback address: anyone who can reach it could try passphrases. Add \
         --web-public to serve there anyway"
    )]
    NotLoopback(SocketAddr),
    /// Binding failed (the port is taken, most often by another node).
    #[error(
        "cannot listen on {addr} for the web app ({source}); is another node running? Choose \
         another address with --web 127.0.0.1:PORT (port 0 picks a free one), or --no-web"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The app bound to its address, ready to serve.
pub struct Bound {
    listener: tokio::net::TcpListener,
    router: Router,
    /// The address it listens on (the real port when 0 was asked).
    pub addr: SocketAddr,
    /// `http://addr`.
    pub url: String,
}

impl App {
    /// Binds the app on `addr` (loopback only unless the app was made `public`).
    pub async fn bind(&self, addr: SocketAddr) -> Result<Bound, WebError> {
        if !addr.ip().is_loopback() && !self.0.public {
            return Err(WebError::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| WebError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| WebError::Bind { addr, source })?;
        *lock(&self.0.site) = access::Site::new(addr, self.0.public);
        let url = lock(&self.0.site).base();
        Ok(Bound {
            listener,
            router: self.router(),
            addr,
            url,
        })
    }

    /// Every route of the app, behind the access checks.
    pub fn router(&self) -> Router {
        let pages = pages::routes().merge(api::routes()).merge(live::routes());
        access::guard(self.clone(), pages).with_state(self.clone())
    }
}

impl Bound {
    /// Serves until the task is dropped.
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).await
    }
}
