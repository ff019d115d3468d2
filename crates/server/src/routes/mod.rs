//! The HTTP API: the router, its OpenAPI document and the unauthenticated
//! probes (`/healthz`, `/metrics`). Handlers are thin: check the caller,
//! call the database or the dispatcher, answer.

pub mod admin;
pub mod jobs;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Ferry server", description = "One queue for many runtimes and many tenants."),
    paths(
        jobs::submit, jobs::list, jobs::get, jobs::cancel, jobs::logs, jobs::wait, jobs::queue, jobs::pools,
        admin::create_tenant, admin::tenants, admin::set_quota, admin::create_user, admin::users,
        admin::create_token, admin::tokens, admin::revoke_token,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerToken),
)]
pub struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole API, with a request body limit of `body_limit` bytes.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let api = Router::new()
        .route("/v1/jobs", post(jobs::submit).get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::get))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/jobs/{id}/logs", get(jobs::logs))
        .route("/v1/jobs/{id}/wait", get(jobs::wait))
        .route("/v1/queue", get(jobs::queue))
        .route("/v1/pools", get(jobs::pools))
        .route("/v1/admin/tenants", post(admin::create_tenant).get(admin::tenants))
        .route("/v1/admin/tenants/{name}/quota", put(admin::set_quota))
        .route("/v1/admin/users", post(admin::create_user).get(admin::users))
        .route("/v1/admin/tokens", post(admin::create_token).get(admin::tokens))
        .route("/v1/admin/tokens/{id}", delete(admin::revoke_token))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state);
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn healthz(State(st): State<AppState>) -> Result<&'static str, ApiError> {
    st.db.ping().await?;
    Ok("ok\n")
}

async fn metrics(State(st): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = st.metrics.render(&st.db).await?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text))
}

async fn not_found() -> (StatusCode, Json<ErrorBody>) {
    let e = ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint (see /openapi.json)");
    (e.status, Json(ErrorBody { error: *e.detail }))
}
