//! The campaign routes of the control API: start, list, show, pause, resume, cancel, and
//! the phone-list check a dashboard runs before it offers "Start".

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{failure, refused, Api};
use crate::campaign::{validate_numbers, CampaignError, CampaignRequest, NumberRules};
use crate::StackError;

/// `GET /campaigns`.
pub(super) async fn list(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    Json(api.stack.campaigns()).into_response()
}

/// `POST /campaigns` ([`CampaignRequest`]) → `201` and the campaign; `422` with every
/// refused entry (`rejected`) when the list cannot be dialed.
pub(super) async fn start(
    State(api): State<Api>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let req: CampaignRequest = match crate::request::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match api.stack.start_campaign(req) {
        Ok(info) => {
            tracing::info!(campaign = %info.campaign_id, total = info.total, "api: campaign started");
            (StatusCode::CREATED, Json(info)).into_response()
        }
        Err(StackError::Campaign(CampaignError::InvalidNumbers { rejected, total })) => {
            let e = CampaignError::InvalidNumbers { rejected, total };
            tracing::warn!(error = %e, "api: campaign refused");
            let CampaignError::InvalidNumbers { rejected, total } = &e else {
                return failure(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": e.to_string(), "total": total, "rejected": rejected})),
            )
                .into_response()
        }
        Err(e @ StackError::Draining) => failure(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "api: campaign refused");
            failure(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
    }
}

/// `GET /campaigns/{id}`.
pub(super) async fn show(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    match api.stack.campaign(&id) {
        Ok(info) => Json(info).into_response(),
        Err(e) => failure(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

/// `POST /campaigns/{id}/{pause|resume|cancel}` → `202`; `404` unknown, `409` ended.
pub(super) async fn command(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    let result = match action.as_str() {
        "pause" => api.stack.pause_campaign(&id),
        "resume" => api.stack.resume_campaign(&id),
        "cancel" => api.stack.cancel_campaign(&id),
        other => {
            return failure(
                StatusCode::NOT_FOUND,
                &format!("{other:?}: a campaign takes pause, resume or cancel"),
            )
        }
    };
    match result {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"campaign_id": id, "action": action})),
        )
            .into_response(),
        Err(e @ StackError::Campaign(CampaignError::Ended { .. })) => {
            failure(StatusCode::CONFLICT, &e.to_string())
        }
        Err(e) => failure(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

/// The body of `POST /numbers/validate`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ValidateRequest {
    numbers: Vec<String>,
    #[serde(default)]
    rules: NumberRules,
}

/// `POST /numbers/validate` → `200` with the normalised `valid` numbers and every
/// `rejected` entry (line, value, reason); nothing is dialed.
pub(super) async fn validate(
    State(api): State<Api>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refused(&api, &headers) {
        return r;
    }
    match crate::request::from_slice::<ValidateRequest>(&body) {
        Ok(req) => Json(validate_numbers(&req.numbers, &req.rules)).into_response(),
        Err(e) => failure(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
