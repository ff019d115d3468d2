//! Who is calling: the bearer token resolved to a user, a tenant and a role.
//! The token is only hashed and compared, never logged.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::db::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The authenticated caller of a request (the extractor every route takes).
pub struct Auth(pub Caller);

impl Auth {
    /// Refuse the call unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> ApiResult<&Caller> {
        if self.0.role >= role {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; user {} is a {}",
                role.as_str(),
                self.0.user,
                self.0.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token> header"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        match state.db.authenticate(token).await? {
            Some(caller) => Ok(Auth(caller)),
            None => Err(ApiError::unauthorized("unknown or revoked token")),
        }
    }
}
