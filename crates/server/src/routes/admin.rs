//! Administration: tenants, their quotas, users and tokens. Admins only.

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::db::{Quota, Role, Tenant, TokenInfo, User};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub name: String,
    /// Fair-share weight (default 1).
    #[serde(default = "one")]
    pub weight: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub tenant: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    pub user: String,
}

/// A new token: the secret is shown here once and never again.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct NewToken {
    pub id: String,
    pub user: String,
    pub token: String,
}

/// Names of tenants and users: short, lowercase, safe in URLs and logs.
fn check_name(field: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "1 to 63 of a-z 0-9 - _ . starting with a letter or digit",
            format!("{name:?} is not a valid name"),
        ))
    }
}

#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin", request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_tenant(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    auth.require(Role::Admin)?;
    check_name("body.name", &req.name)?;
    Ok((StatusCode::CREATED, Json(st.db.create_tenant(&req.name, req.weight).await?)))
}

#[utoipa::path(get, path = "/v1/admin/tenants", tag = "admin",
    responses((status = 200, body = Vec<Tenant>), (status = 403, body = ErrorBody)), security(("token" = [])))]
pub async fn tenants(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Tenant>>> {
    auth.require(Role::Admin)?;
    Ok(Json(st.db.tenants().await?))
}

#[utoipa::path(put, path = "/v1/admin/tenants/{name}/quota", tag = "admin", params(("name" = String, Path)),
    request_body = Quota, responses((status = 200, body = Tenant), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn set_quota(
    State(st): State<AppState>,
    auth: Auth,
    UrlPath(name): UrlPath<String>,
    ApiJson(quota): ApiJson<Quota>,
) -> ApiResult<Json<Tenant>> {
    auth.require(Role::Admin)?;
    if quota.cpus.is_some_and(|c| !(c.is_finite() && c >= 0.0)) {
        return Err(ApiError::invalid("body.cpus", "a number of CPUs, 0 or more", "cpus must be 0 or more"));
    }
    let tenant = st.db.set_quota(&name, &quota).await?;
    st.wake.notify_one();
    Ok(Json(tenant))
}

#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = User), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_user(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    auth.require(Role::Admin)?;
    check_name("body.name", &req.name)?;
    Ok((StatusCode::CREATED, Json(st.db.create_user(&req.name, &req.tenant, req.role).await?)))
}

#[utoipa::path(get, path = "/v1/admin/users", tag = "admin",
    responses((status = 200, body = Vec<User>)), security(("token" = [])))]
pub async fn users(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<User>>> {
    auth.require(Role::Admin)?;
    Ok(Json(st.db.users().await?))
}

#[utoipa::path(post, path = "/v1/admin/tokens", tag = "admin", request_body = NewTokenRequest,
    responses((status = 201, body = NewToken), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn create_token(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    auth.require(Role::Admin)?;
    let (info, token) = st.db.create_token(&req.user).await?;
    tracing::info!(token_id = %info.id, user = %info.user, "token created");
    Ok((StatusCode::CREATED, Json(NewToken { id: info.id, user: info.user, token })))
}

#[utoipa::path(get, path = "/v1/admin/tokens", tag = "admin",
    responses((status = 200, body = Vec<TokenInfo>)), security(("token" = [])))]
pub async fn tokens(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<TokenInfo>>> {
    auth.require(Role::Admin)?;
    Ok(Json(st.db.tokens().await?))
}

#[utoipa::path(delete, path = "/v1/admin/tokens/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn revoke_token(
    State(st): State<AppState>,
    auth: Auth,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    st.db.revoke_token(&id).await?;
    tracing::info!(token_id = %id, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
