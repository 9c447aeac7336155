//! The control API (ARI-like HTTP + JSON, axum): the calls, slots and endpoints of a
//! running [`Stack`], a hot reload, and every call event as Server-Sent Events. Every
//! request carries `Authorization: Bearer <token>` when a token is configured.
//!
//! | method, path | what |
//! | --- | --- |
//! | `GET /calls` | live calls ([`CallSummary`](crate::stack::CallSummary)) |
//! | `POST /calls` | originate ([`OriginateRequest`](crate::stack::OriginateRequest) JSON) → `201 {"call_id"}` |
//! | `DELETE /calls/{id}[?q850_cause=N]` | hang a live call up ([`Stack::hangup`]) → `202`, `404` unknown |
//! | `POST /calls/{id}/transfer` | `{"to": …}` ([`TransferRequest`](crate::stack::TransferRequest)): transfer by REFER ([`Stack::transfer`]) → `202 {"call_id", "target"}`; `400` a bad target, `404` unknown, `409` not now (unanswered, bridged, one in progress) |
//! | `POST /calls/{id}/dtmf` | `{"digits": "1#", "duration_ms"?: 100}` ([`DtmfRequest`](crate::stack::DtmfRequest)): send keys toward the call's peer ([`Stack::send_dtmf`]) → `202`; `400` bad digits, `404` unknown, `409` not now |
//! | `GET /slots` | each agent pool's slots: the call on each, `null` when idle |
//! | `GET /endpoints` | trunks, user endpoints, registrations |
//! | `POST /reload` | re-read the configuration (as SIGHUP does) |
//! | `GET /events` | `text/event-stream` of [`CallEvent`](crate::event::CallEvent) JSON |
//! | `POST /campaigns` | start a campaign ([`CampaignRequest`](crate::campaign::CampaignRequest)) → `201` [`CampaignInfo`](crate::campaign::CampaignInfo); `422` lists every refused number |
//! | `GET /campaigns`, `GET /campaigns/{id}` | campaigns and each number's fate |
//! | `POST /campaigns/{id}/pause`, `…/resume`, `…/cancel` | → `202`; `404` unknown, `409` ended |
//! | `POST /numbers/validate` | `{"numbers": […], "rules": {…}}` → the normalised list and every refused entry, nothing dialed |

mod campaigns;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::stack::Stack;
use crate::StackError;

/// What `POST /reload` runs: re-reads the configuration and hands it to
/// [`Stack::reload`], returning the error to show when it is refused.
pub type Reloader = Arc<dyn Fn() -> Result<(), StackError> + Send + Sync>;

#[derive(Clone)]
struct Api {
    stack: Stack,
    token: Option<String>,
    reload: Reloader,
}

/// Binds the control API on `listen` and serves it until the process ends; returns the
/// bound address.
///
/// # Errors
/// [`StackError::Io`] when the address cannot be bound.
pub async fn serve(
    stack: Stack,
    listen: SocketAddr,
    token: Option<String>,
    reload: Reloader,
) -> Result<SocketAddr, StackError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StackError::Io {
            what: format!("control API on {listen}"),
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(listen);
    let app = Router::new()
        .route("/calls", get(calls).post(originate))
        .route("/calls/{id}", axum::routing::delete(hangup))
        .route("/calls/{id}/transfer", post(transfer))
        .route("/calls/{id}/dtmf", post(dtmf))
        .route("/slots", get(slots))
        .route("/endpoints", get(endpoints))
        .route("/reload", post(reload_handler))
        .route("/events", get(events))
        .route("/campaigns", get(campaigns::list).post(campaigns::start))
        .route("/campaigns/{id}", get(campaigns::show))
        .route("/campaigns/{id}/{action}", post(campaigns::command))
        .route("/numbers/validate", post(campaigns::validate))
        .with_state(Api {
            stack,
            token,
            reload,
        });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "api: control API stopped");
        }
    });
    tracing::info!(%addr, "api: control API listening");
    Ok(addr)
}

/// The 401 for a request without the configured bearer token (logged); `None` to go on.
fn refused(api: &Api, headers: &HeaderMap) -> Option<Response> {
    let token = api.token.as_ref()?;
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        None
    } else {
        tracing::warn!("api: request without a valid token refused");
        Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "a valid 'Authorization: Bearer <token>' is required"})),
            )
                .into_response(),
        )
    }
}

async fn calls(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    Json(api.stack.calls()).into_response()
}

/// A request body read as `T`, or the `400` naming the key that does not fit.
// The refusal is the response itself, built once per bad request: its size does not matter.
#[allow(clippy::result_large_err)]
fn request<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    crate::request::from_slice(body).map_err(|e| failure(StatusCode::BAD_REQUEST, &e))
}

/// `{"error": …}` with `status`.
fn failure(status: StatusCode, e: &dyn std::fmt::Display) -> Response {
    (status, Json(json!({"error": e.to_string()}))).into_response()
}

/// The response to a refused call command (transfer, DTMF): `404` no such call, `409` not
/// now, `400` a bad value, `503` otherwise.
fn command_refused(e: &StackError) -> Response {
    let status = match e {
        StackError::NoSuchCall { .. } => StatusCode::NOT_FOUND,
        StackError::Transfer { .. } | StackError::Dtmf { .. } => StatusCode::CONFLICT,
        StackError::Request(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    failure(status, e)
}

async fn originate(
    State(api): State<Api>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let req: crate::stack::OriginateRequest = match request(&body) {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    match api.stack.originate(req).await {
        Ok(call_id) => (StatusCode::CREATED, Json(json!({"call_id": call_id}))).into_response(),
        Err(e) => {
            let status = match e {
                StackError::Busy { .. } | StackError::Media(_) | StackError::Draining => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            (status, Json(json!({"error": e.to_string()}))).into_response()
        }
    }
}

/// `POST /calls/{id}/transfer`: asks the call's peer to transfer it (REFER); the outcome
/// follows as `transfer` events.
async fn transfer(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let req: crate::stack::TransferRequest = match request(&body) {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    match api.stack.transfer(&id, req).await {
        Ok(target) => (
            StatusCode::ACCEPTED,
            Json(json!({"call_id": id, "target": target})),
        )
            .into_response(),
        Err(e) => command_refused(&e),
    }
}

/// `POST /calls/{id}/dtmf`: sends keys toward the call's SIP peer (ARI's
/// `POST /channels/{id}/dtmf`).
async fn dtmf(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let req: crate::stack::DtmfRequest = match request(&body) {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let digits = req.digits.clone();
    match api.stack.send_dtmf(&id, req).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"call_id": id, "digits": digits})),
        )
            .into_response(),
        Err(e) => command_refused(&e),
    }
}

/// `DELETE /calls/{id}[?q850_cause=N]`: hangs a live call up (ARI's `DELETE /channels/{id}`).
#[derive(serde::Deserialize)]
struct HangupQuery {
    q850_cause: Option<i64>,
}

async fn hangup(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HangupQuery>,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let cause = match q.q850_cause.map(crate::request::q850_cause).transpose() {
        Ok(cause) => cause,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e),
    };
    match api.stack.hangup(&id, cause) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"call_id": id}))).into_response(),
        Err(e @ StackError::NoSuchCall { .. }) => {
            (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn slots(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let v: Vec<_> = api
        .stack
        .slots()
        .into_iter()
        .map(|(pool, slots)| json!({"pool": pool, "slots": slots}))
        .collect();
    Json(v).into_response()
}

async fn endpoints(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let c = api.stack.config();
    let trunks: Vec<_> = c
        .trunks
        .iter()
        .map(|t| {
            json!({"name": t.name, "type": "trunk", "match": t.match_, "host": t.host,
                   "context": t.context, "codecs": t.codecs})
        })
        .collect();
    let users: Vec<_> = c
        .endpoints
        .iter()
        .map(|e| json!({"name": e.username, "type": "endpoint", "context": e.context}))
        .collect();
    let stats = api.stack.ua().stats();
    Json(json!({
        "trunks": trunks,
        "endpoints": users,
        "registrations": api.stack.ua().registrations(),
        "counters": {
            "incoming_calls": stats.incoming_calls,
            "unknown_source": stats.unknown_source,
            "invalid_requests": stats.invalid_requests,
            "challenged": stats.challenged,
            "rejected_input": stats.rejected_input,
            "live_calls": stats.live_calls,
        }
    }))
    .into_response()
}

async fn reload_handler(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    match (api.reload)() {
        Ok(()) => Json(json!({"reloaded": true})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "api: reload refused; the running configuration stays");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"reloaded": false, "error": e.to_string()})),
            )
                .into_response()
        }
    }
}

async fn events(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let rx = api.stack.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    let event = Event::default().data(data);
                    return Some((Ok::<Event, std::convert::Infallible>(event), rx));
                }
                // A slow reader skips what it missed; the log has everything.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "api: an event stream lagged");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
