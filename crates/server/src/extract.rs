//! JSON and query extractors whose rejections are the API's JSON errors
//! (naming the field and what was expected), not axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(field_error("body", &e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("the body is not valid JSON: {}", e.body_text()),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid",
                "expected a JSON body with Content-Type: application/json",
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.body_text()))
            }
            Err(e) => Err(ApiError::new(e.status(), "invalid", e.body_text())),
        }
    }
}

pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(field_error("query", &e.body_text())),
            Err(e) => Err(ApiError::new(e.status(), "invalid", e.body_text())),
        }
    }
}

/// Split serde's "…: FIELD: what went wrong, expected X" into the field and
/// what was expected.
fn field_error(place: &str, text: &str) -> ApiError {
    let detail = text.split_once("target type: ").map_or(text, |(_, rest)| rest);
    let detail = detail.strip_prefix("Failed to deserialize query string: ").unwrap_or(detail);
    let (field, problem) = match detail.split_once(": ") {
        Some((field, problem)) if !field.contains(' ') => (format!("{place}.{field}"), problem),
        _ => {
            let missing = detail.split('`').nth(1).filter(|_| detail.starts_with("missing field"));
            (missing.map_or(place.to_string(), |m| format!("{place}.{m}")), detail)
        }
    };
    let expected = problem.split_once("expected ").map_or(problem, |(_, e)| e);
    let expected = expected.split(" at line ").next().unwrap_or(expected);
    ApiError::invalid(field, expected.to_string(), detail.to_string())
}
