//! The node's local JSON API, so that commands can reach a running node (which holds the store).
//!
//! Listens on 127.0.0.1 only, on a random port, and requires a bearer token. Both are written to
//! `<home>/api.json` (readable by the owner only) while the node runs; whoever can read the data
//! directory can already read the keystore file and the database, so the token adds no new
//! authority, it only keeps other local users and web pages out.
//!
//! A crash leaves `api.json` behind, and later another program may listen on its port. So a
//! client first proves the listener is this node without giving anything away: it sends a fresh
//! random challenge to `/v1/hello` (no token) and the node answers with [`hello_proof`], a keyed
//! BLAKE3 hash of the challenge and its own port under a key derived from the token. A stranger
//! cannot answer without the token; a stranger relaying to the real node (on another port) gets
//! a proof for the wrong port. Only then does the client send the token and content.
//!
//! Every write goes through [`crate::ops`] (`/v1/op`), which makes the same checks as every
//! node (membership, roles, constitution, known proposals); there is no route that signs a raw
//! payload. Reads that need the member's keys go through [`crate::query`] (`/v1/view`), and
//! bundles through `/v1/import` (the bytes, at most [`MAX_IMPORT_BYTES`]).
//!
//! The running node is an unlocked identity, as an ssh-agent is: it was unlocked with the
//! passphrase when `serve` started, and any process of the same OS user that reads the token
//! acts through it without the passphrase. That is no new power: the same user can read the
//! data directory, attach a debugger to the node or replace the `dualpower` binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dualpower_core::GroupId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::node::Handle;

/// The largest bundle the node imports through `/v1/import` (the bytes are held in memory
/// while they are imported). A larger one is imported with the node stopped, from the file.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;

/// File in the data directory that tells commands how to reach the running node.
pub const API_FILE: &str = "api.json";

/// Where the API is and the token it wants.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiInfo {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Bearer token.
    pub token: String,
    /// Where the node's web app listens (`http://127.0.0.1:PORT`), if it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
}

#[derive(Clone)]
struct AppState {
    handle: Handle,
    token: String,
    /// The port the API listens on (bound into hello proofs).
    port: u16,
}

struct ApiError(StatusCode, String, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1, "kind": self.2 }))).into_response()
    }
}

impl ApiError {
    fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, msg.into(), "invalid")
    }
}

fn check(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), state.token.as_bytes()));
    if ok {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token".into(),
            "unauthorized",
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request body as `T`, once the token was checked: a body too large or not the JSON the
/// route takes gets a typed JSON error like every other refusal (axum's own rejections are plain
/// text, and would come before the token check).
fn parse<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        ApiError(
            e.status(),
            format!("the request body cannot be read: {}", e.body_text()),
            "invalid",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("the request is not what this route takes: {e}"))
    })
}

/// An operation's or a read's refusal, with the HTTP status that says whose fault it is.
fn refused(e: crate::ops::Refused) -> ApiError {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::CONFLICT);
    ApiError(status, e.message, e.kind)
}

fn group_of(hex: &str) -> Result<GroupId, ApiError> {
    GroupId::from_hex(hex)
        .ok_or_else(|| ApiError::bad_request(format!("`{hex}` is not a 64-digit group id")))
}

#[derive(Deserialize)]
struct OpReq {
    #[serde(flatten)]
    op: crate::ops::Op,
    now: u64,
}

/// Any group operation (membership, keys, encrypted content, direct messages).
async fn op(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let req: OpReq = parse(body)?;
    let out = s.handle.op(req.op, req.now).await.map_err(refused)?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct ViewReq {
    #[serde(flatten)]
    query: crate::query::Query,
    now: u64,
}

/// A read that needs the member's keys (feed, members, direct messages, decisions).
async fn view(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let req: ViewReq = parse(body)?;
    let out = s.handle.view(req.query, req.now).await.map_err(refused)?;
    Ok(Json(out))
}

/// Imports the bundle in the request body; answers the import report. The body is read only
/// once the token was checked: a caller without it must not make the node hold up to
/// [`MAX_IMPORT_BYTES`] in memory (a web page may POST to 127.0.0.1).
async fn import(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let body = axum::body::to_bytes(body, MAX_IMPORT_BYTES).await.map_err(|_| {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the bundle is larger than the running node takes ({MAX_IMPORT_BYTES} bytes) or \
                 was cut off; nothing was imported. Stop the node and import the file, then start \
                 `dualpower serve`"
            ),
            "invalid",
        )
    })?;
    let out = s
        .handle
        .import(body.into())
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct FollowReq {
    group: String,
}

async fn follow(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let req: FollowReq = parse(body)?;
    let group = group_of(&req.group)?;
    let new = s
        .handle
        .follow(group)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e, "store"))?;
    Ok(Json(json!({ "group": group.to_hex(), "new": new })))
}

#[derive(Deserialize)]
struct DialReq {
    addr: String,
}

async fn dial(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let req: DialReq = parse(body)?;
    let addr = req
        .addr
        .parse()
        .map_err(|e| ApiError::bad_request(format!("bad multiaddr: {e}")))?;
    s.handle
        .dial(addr)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e, "dial"))?;
    Ok(Json(json!({ "dialing": req.addr })))
}

async fn status(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<crate::node::Status>, ApiError> {
    check(&s, &headers)?;
    s.handle.status().await.map(Json).ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is shutting down".into(),
            "stopping",
        )
    })
}

/// The answer to a `/v1/hello` challenge: keyed BLAKE3, under a key derived from the API
/// `token`, of the port the API listens on and the `challenge`. Clients compute it from
/// `api.json` and compare.
pub fn hello_proof(token: &str, port: u16, challenge: &[u8; 32]) -> [u8; 32] {
    let key = blake3::derive_key("dualpower local api hello v1", token.as_bytes());
    let mut h = blake3::Hasher::new_keyed(&key);
    h.update(&port.to_be_bytes());
    h.update(challenge);
    *h.finalize().as_bytes()
}

/// A `/v1/hello` request: 32 random bytes, hex.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    /// The client's fresh challenge (64 hex digits).
    pub challenge: String,
}

/// The answer to a [`Hello`].
#[derive(Debug, Serialize, Deserialize)]
pub struct HelloProof {
    /// [`hello_proof`] of the challenge (64 hex digits).
    pub proof: String,
}

/// Unauthenticated on purpose: the client has not yet decided to trust the listener with the
/// token. It reveals nothing but a proof that we hold the token.
async fn hello(
    State(s): State<AppState>,
    Json(req): Json<Hello>,
) -> Result<Json<HelloProof>, ApiError> {
    let mut challenge = [0u8; 32];
    hex::decode_to_slice(&req.challenge, &mut challenge)
        .map_err(|_| ApiError::bad_request("the challenge must be 64 hex digits"))?;
    Ok(Json(HelloProof {
        proof: hex::encode(hello_proof(&s.token, s.port, &challenge)),
    }))
}

/// The API router, for an API listening on `port`.
pub fn router(handle: Handle, token: String, port: u16) -> Router {
    Router::new()
        .route("/v1/hello", post(hello))
        .route("/v1/status", get(status))
        .route("/v1/follow", post(follow))
        .route("/v1/op", post(op))
        .route("/v1/dial", post(dial))
        .route("/v1/view", post(view))
        .layer(DefaultBodyLimit::max(256 * 1024))
        // Reads its body itself, after the token check, up to its own limit.
        .route("/v1/import", post(import))
        .with_state(AppState {
            handle,
            token,
            port,
        })
}

/// A fresh random API token (64 hex digits).
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    hex::encode(raw)
}

/// Binds the API on 127.0.0.1 (random port) with `token` and writes `api.json` to `home`
/// (with `web`, the web app's address, for commands that print it).
pub async fn bind(
    home: &Path,
    handle: Handle,
    token: String,
    web: Option<String>,
) -> std::io::Result<(tokio::net::TcpListener, Router, PathBuf)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let info = ApiInfo {
        url: format!("http://{addr}"),
        token: token.clone(),
        web,
    };
    let path = home.join(API_FILE);
    write_private(
        &path,
        &serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?,
    )?;
    Ok((listener, router(handle, token, addr.port()), path))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = dualpower_store::home::open_private(&tmp, true)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Reads `api.json` from `home`, if a node wrote one.
pub fn info(home: &Path) -> Option<ApiInfo> {
    let bytes = std::fs::read(home.join(API_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
