//! The node's local JSON API, so that commands can reach a running node (which holds the store).
//!
//! Listens on 127.0.0.1 only, on a random port, and requires a bearer token. Both are written to
//! `<home>/api.json` (readable by the owner only) while the node runs; whoever can read the data
//! directory can already read the keystore file and the database, so the token adds no new
//! authority, it only keeps other local users and web pages out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dualpower_core::{GroupId, Payload};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::node::Handle;

/// File in the data directory that tells commands how to reach the running node.
pub const API_FILE: &str = "api.json";

/// Where the API is and the token it wants.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiInfo {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Bearer token.
    pub token: String,
}

#[derive(Clone)]
struct AppState {
    handle: Handle,
    token: String,
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
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
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn group_of(hex: &str) -> Result<GroupId, ApiError> {
    GroupId::from_hex(hex).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("`{hex}` is not a 64-digit group id"),
        )
    })
}

#[derive(Deserialize)]
struct AppendReq {
    group: String,
    payload: String,
    timestamp: u64,
}

async fn append(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<AppendReq>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let group = group_of(&req.group)?;
    let body = hex::decode(&req.payload)
        .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "payload is not hex".into()))?;
    // The same friendly check the CLI makes: never sign something the group would reject.
    Payload::decode(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid payload: {e}")))?;
    let ev = s
        .handle
        .append(group, body, req.timestamp)
        .await
        .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
    Ok(Json(
        json!({ "id": ev.id().to_hex(), "seq": ev.header().seq, "group": group.to_hex() }),
    ))
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
    Json(req): Json<OpReq>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let out = s
        .handle
        .op(req.op, req.now)
        .await
        .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct FollowReq {
    group: String,
}

async fn follow(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<FollowReq>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let group = group_of(&req.group)?;
    let new = s
        .handle
        .follow(group)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(json!({ "group": group.to_hex(), "new": new })))
}

#[derive(Deserialize)]
struct DialReq {
    addr: String,
}

async fn dial(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<DialReq>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check(&s, &headers)?;
    let addr = req
        .addr
        .parse()
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("bad multiaddr: {e}")))?;
    s.handle
        .dial(addr)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e))?;
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
        )
    })
}

/// The API router.
pub fn router(handle: Handle, token: String) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/append", post(append))
        .route("/v1/follow", post(follow))
        .route("/v1/op", post(op))
        .route("/v1/dial", post(dial))
        .layer(DefaultBodyLimit::max(256 * 1024))
        .with_state(AppState { handle, token })
}

/// Binds the API on 127.0.0.1 (random port) and writes `api.json` to `home`.
pub async fn bind(
    home: &Path,
    handle: Handle,
) -> std::io::Result<(tokio::net::TcpListener, Router, PathBuf)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    let token = hex::encode(raw);
    let info = ApiInfo {
        url: format!("http://{}", listener.local_addr()?),
        token: token.clone(),
    };
    let path = home.join(API_FILE);
    write_private(
        &path,
        &serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?,
    )?;
    Ok((listener, router(handle, token), path))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
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
