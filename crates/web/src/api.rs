//! The JSON API for other tools, and its OpenAPI document.
//!
//! One table ([`table`]) defines every route: the router is built from it and so is
//! `/api/openapi.json`, so the document cannot list a route that does not exist or miss one that
//! does. The operation and read routes are themselves generated from the definitions of
//! [`Op`] and [`Query`] (one route per variant, its request schema that variant's fields), so a
//! new operation is a new route, documented, with no edit here.
//!
//! Every route takes the node's bearer token (checked in [`crate::access`] before any body is
//! read) and answers errors as `{"error": message, "kind": …}` with a status that says whose
//! fault it is: 400 malformed, 401 no token, 403 not allowed, 409 conflicts with the group's
//! state, 413 too large, 503 the node is locked.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use dualpower_node::ops::{Op, Refused};
use dualpower_node::query::Query;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::App;

/// The largest JSON body a route takes.
pub const BODY_LIMIT: usize = 256 * 1024;

/// One route of the API: what the router serves and what the document says.
pub struct RouteDef {
    /// `get` or `post`.
    pub method: &'static str,
    /// The path.
    pub path: String,
    /// One line on what it does.
    pub summary: String,
    /// The request body's schema (`None`: no body).
    pub request: Option<Value>,
    /// The request body's media type (`application/json` but for bundles).
    pub media: &'static str,
    /// The handler.
    handler: MethodRouter<App>,
}

const JSON: &str = "application/json";

/// An API error: status, message a person can act on, kind.
pub struct ApiError(pub StatusCode, pub String, pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            axum::Json(json!({ "error": self.1, "kind": self.2 })),
        )
            .into_response()
    }
}

fn refused(e: Refused) -> ApiError {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::CONFLICT);
    ApiError(status, e.message, e.kind)
}

fn unlocked(app: &App) -> Result<(), ApiError> {
    app.me().map(|_| ()).ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is locked: unlock it in the web app with the passphrase first".into(),
            "locked",
        )
    })
}

/// The body as a JSON object (an empty body is an empty object).
fn object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    let bytes = body.map_err(|e| {
        ApiError(
            e.status(),
            format!(
                "the request body cannot be read (at most {BODY_LIMIT} bytes): {}",
                e.body_text()
            ),
            "invalid",
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object".into(),
            "invalid",
        )),
        Err(e) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
            "invalid",
        )),
    }
}

/// `T` from the body's fields plus the tag `tag: name` (which the path carries).
fn tagged<T: serde::de::DeserializeOwned>(
    mut fields: Map<String, Value>,
    tag: &str,
    name: &str,
) -> Result<T, ApiError> {
    if fields.contains_key(tag) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("`{tag}` is given by the path; leave it out of the body"),
            "invalid",
        ));
    }
    fields.insert(tag.into(), Value::String(name.into()));
    fields_as(fields)
}

/// `T` from the body's fields.
fn fields_as<T: serde::de::DeserializeOwned>(fields: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not what this route takes: {e}"),
            "invalid",
        )
    })
}

/// One variant of a tagged enum: its tag value, description, and the schema of its fields.
type Variant = (String, String, Value);

/// The variants of a tagged enum, from its schema, and the definitions they refer to.
fn variants<T: JsonSchema>(tag: &str) -> (Vec<Variant>, Map<String, Value>) {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .for_deserialize()
        .into_generator();
    let root = generator.root_schema_for::<T>().to_value();
    let defs = generator.take_definitions(true);
    let mut out = Vec::new();
    for v in root["oneOf"].as_array().into_iter().flatten() {
        let mut v = v.clone();
        let Some(name) = v["properties"][tag]["const"]
            .as_str()
            .or_else(|| v["properties"][tag]["enum"][0].as_str())
            .map(str::to_string)
        else {
            continue;
        };
        let description = v["description"].as_str().unwrap_or_default().to_string();
        if let Some(p) = v["properties"].as_object_mut() {
            p.remove(tag);
        }
        if let Some(r) = v["required"].as_array_mut() {
            r.retain(|x| x != tag);
        }
        out.push((name, description, v));
    }
    (out, defs)
}

/// Every route of the API, and the schemas they refer to.
pub fn table() -> (Vec<RouteDef>, Map<String, Value>) {
    let mut routes = vec![
        RouteDef {
            method: "get",
            path: "/api/v1/status".into(),
            summary: "The node: peers, groups, sync sessions, joins in flight.".into(),
            request: None,
            media: JSON,
            handler: get(status),
        },
        RouteDef {
            method: "get",
            path: "/api/v1/groups".into(),
            summary: "The groups this node holds.".into(),
            request: None,
            media: JSON,
            handler: get(groups),
        },
        RouteDef {
            method: "post",
            path: "/api/v1/login-link".into(),
            summary: "A new one-time link that logs a browser into the web app.".into(),
            request: None,
            media: JSON,
            handler: post(login_link),
        },
        RouteDef {
            method: "post",
            path: "/api/v1/dial".into(),
            summary: "Connect to a peer by its address (a multiaddr ending in /p2p/PEER_ID).".into(),
            request: Some(json!({
                "type": "object", "required": ["addr"],
                "properties": { "addr": { "type": "string", "description": "The peer's multiaddr." } }
            })),
            media: JSON,
            handler: post(dial),
        },
        RouteDef {
            method: "post",
            path: "/api/v1/follow".into(),
            summary: "Keep a group in sync by its id (an identity restored into a fresh data directory).".into(),
            request: Some(json!({
                "type": "object", "required": ["group"],
                "properties": { "group": { "type": "string", "description": "The group id, 64 hex digits." } }
            })),
            media: JSON,
            handler: post(follow),
        },
        RouteDef {
            method: "post",
            path: "/api/v1/import".into(),
            summary: "Import a bundle (the file's bytes as the body): verified and stored like events from a peer.".into(),
            request: Some(json!({ "type": "string", "contentMediaType": "application/octet-stream" })),
            media: "application/octet-stream",
            handler: post(import).layer(axum::extract::DefaultBodyLimit::max(
                dualpower_node::api::MAX_IMPORT_BYTES,
            )),
        },
    ];
    let (ops, mut defs) = variants::<Op>("op");
    for (name, description, schema) in ops {
        let n = name.clone();
        routes.push(RouteDef {
            method: "post",
            path: format!("/api/v1/ops/{name}"),
            summary: description,
            request: Some(schema),
            media: JSON,
            handler: post(
                move |State(app): State<App>, body: Result<Bytes, BytesRejection>| async move {
                    run_op(app, &n, body).await
                },
            ),
        });
    }
    let (queries, more) = variants::<Query>("query");
    defs.extend(more);
    for (name, description, schema) in queries {
        let n = name.clone();
        routes.push(RouteDef {
            method: "post",
            path: format!("/api/v1/views/{name}"),
            summary: description,
            request: Some(schema),
            media: JSON,
            handler: post(
                move |State(app): State<App>, body: Result<Bytes, BytesRejection>| async move {
                    run_view(app, &n, body).await
                },
            ),
        });
    }
    (routes, defs)
}

async fn run_op(
    app: App,
    name: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    unlocked(&app)?;
    let op: Op = tagged(object(body)?, "op", name)?;
    app.op(op).await.map(axum::Json).map_err(refused)
}

async fn run_view(
    app: App,
    name: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    unlocked(&app)?;
    let q: Query = tagged(object(body)?, "query", name)?;
    app.view(q).await.map(axum::Json).map_err(refused)
}

async fn status(State(app): State<App>) -> Result<axum::Json<Value>, ApiError> {
    unlocked(&app)?;
    let s = app.handle().status().await.ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is shutting down".into(),
            "stopping",
        )
    })?;
    serde_json::to_value(s)
        .map(axum::Json)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), "store"))
}

async fn groups(State(app): State<App>) -> Result<axum::Json<Value>, ApiError> {
    let list = app.groups().await;
    Ok(axum::Json(json!(
        list.iter()
            .map(|g| json!({ "group": g.id.to_hex(), "name": g.name, "creator": g.creator.to_did(), "events": g.events }))
            .collect::<Vec<_>>()
    )))
}

async fn dial(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Dial {
        addr: String,
    }
    unlocked(&app)?;
    let Dial { addr } = fields_as(object(body)?)?;
    let parsed = addr.parse().map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("`{addr}` is not a multiaddr: {e}"),
            "invalid",
        )
    })?;
    app.handle()
        .dial(parsed)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e, "dial"))?;
    Ok(axum::Json(json!({ "dialing": addr })))
}

async fn follow(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Follow {
        group: String,
    }
    unlocked(&app)?;
    let Follow { group: hex } = fields_as(object(body)?)?;
    let group = dualpower_core::GroupId::from_hex(&hex).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("`{hex}` is not a 64-digit group id"),
            "invalid",
        )
    })?;
    let new = app
        .handle()
        .follow(group)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e, "store"))?;
    Ok(axum::Json(json!({ "group": group.to_hex(), "new": new })))
}

async fn import(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    unlocked(&app)?;
    let bytes = body.map_err(|e| {
        ApiError(
            e.status(),
            format!(
                "the bundle cannot be read (at most {} bytes through the running node): {}",
                dualpower_node::api::MAX_IMPORT_BYTES,
                e.body_text()
            ),
            "invalid",
        )
    })?;
    let out = app
        .handle()
        .import(bytes.to_vec())
        .await
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e, "invalid"))?;
    app.changed();
    Ok(axum::Json(out))
}

async fn login_link(State(app): State<App>) -> axum::Json<Value> {
    axum::Json(json!({ "link": app.login_link() }))
}

/// The OpenAPI 3.1 document of [`table`].
pub fn openapi() -> Value {
    let (routes, defs) = table();
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let mut paths = Map::new();
    for r in &routes {
        let mut op = json!({
            "summary": r.summary,
            "operationId": r.path.trim_start_matches("/api/v1/").replace(['/', '-'], "_"),
            "security": [{ "bearer": [] }],
            "responses": {
                "200": { "description": "Done.", "content": { "application/json": { "schema": {} } } },
                "400": { "description": "Malformed or invalid request.", "content": { "application/json": { "schema": error } } },
                "401": { "description": "Missing or wrong token.", "content": { "application/json": { "schema": error } } },
                "403": { "description": "Not allowed.", "content": { "application/json": { "schema": error } } },
                "409": { "description": "Conflicts with the group's state.", "content": { "application/json": { "schema": error } } },
                "413": { "description": "Body too large.", "content": { "application/json": { "schema": error } } },
                "503": { "description": "The node is locked or stopping.", "content": { "application/json": { "schema": error } } },
            }
        });
        if let Some(schema) = &r.request {
            op["requestBody"] = json!({
                "required": true,
                "content": { r.media: { "schema": schema } }
            });
        }
        paths
            .entry(r.path.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(r.method.to_string(), op));
    }
    // The document itself, the one route that needs no token (a tool reads it to learn the
    // others), so the document lists every route the API serves.
    paths.insert(
        "/api/openapi.json".into(),
        json!({ "get": {
            "summary": "This document (OpenAPI 3.1).",
            "operationId": "openapi",
            "security": [],
            "responses": {
                "200": { "description": "The document.", "content": { "application/json": { "schema": { "type": "object" } } } }
            }
        } }),
    );
    let mut schemas = defs;
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "kind"],
            "properties": {
                "error": { "type": "string", "description": "What was wrong, and what to do." },
                "kind": { "type": "string", "description": "invalid, denied, conflict, locked, unauthorized…" }
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Dual Power node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Everything a member does, as JSON. Send the token from api.json in the node's data directory as `Authorization: Bearer TOKEN`.",
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}

/// The API's routes (from [`table`]) and the document.
pub fn routes() -> Router<App> {
    let (table, _) = table();
    let mut router =
        Router::new().route("/api/openapi.json", get(|| async { axum::Json(openapi()) }));
    for r in table {
        router = router.route(&r.path, r.handler);
    }
    router.layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_and_query_has_a_route() {
        let doc = openapi();
        let paths = doc["paths"].as_object().expect("paths");
        for op in [
            "create",
            "invite",
            "join",
            "admit",
            "remove",
            "leave",
            "role",
            "amend",
            "rekey",
            "write",
            "propose",
            "revise",
            "open_voting",
            "withdraw",
            "vote",
            "delegate",
            "close",
            "dm",
        ] {
            assert!(
                paths.contains_key(&format!("/api/v1/ops/{op}")),
                "{op} missing"
            );
        }
        for q in [
            "feed",
            "members",
            "direct_messages",
            "proposals",
            "proposal",
            "verify_tally",
        ] {
            assert!(
                paths.contains_key(&format!("/api/v1/views/{q}")),
                "{q} missing"
            );
        }
        let create = &paths["/api/v1/ops/create"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert!(create["properties"]["name"].is_object(), "{create}");
        assert!(create["properties"].get("op").is_none());
        // Every $ref resolves.
        let text = doc.to_string();
        for r in text.split("\"$ref\":\"").skip(1) {
            let target = r.split('"').next().unwrap_or_default();
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{target} dangling"
            );
        }
    }
}
