//! API errors: every failure becomes one status code and a JSON body
//! `{"error": {"code", "message", "field"?, "expected"?, "line"?, "column"?}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;
use crate::dispatch::DispatchError;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// invalid | unauthorized | forbidden | not_found | conflict | too_large | unavailable | internal
    pub code: &'static str,
    pub message: String,
    /// The field at fault (a JSON field or a path in the workload file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What was expected there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Line and column in the workload file, for workload errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Box<ErrorDetail>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        let detail =
            ErrorDetail { code, message: message.into(), field: None, expected: None, line: None, column: None };
        ApiError { status, detail: Box::new(detail) }
    }

    /// A bad value in the request: names the field and what was expected.
    pub fn invalid(field: impl Into<String>, expected: impl Into<String>, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
        e.detail.field = Some(field.into());
        e.detail.expected = Some(expected.into());
        e
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {message}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error (see the server's log)")
    }
}

impl From<ferry_spec::SpecError> for ApiError {
    fn from(e: ferry_spec::SpecError) -> ApiError {
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string());
        err.detail.field = Some(format!("workload.{}", e.path).trim_end_matches('.').to_string());
        err.detail.expected = Some(e.message.clone());
        err.detail.line = Some(e.line);
        err.detail.column = Some(e.column);
        err
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            DbError::Exists { .. } => ApiError::conflict(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody { error: *self.detail })).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
