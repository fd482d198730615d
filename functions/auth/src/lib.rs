//! The auth API as an axum `Router`: the Lambda serves it through
//! `lambda_http`, the local runner serves the very same router over TCP.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use shared::auth::{AccessToken, AuthError, AuthService, Profile, Registration, TokenService};
use shared::domain::{Email, OneTimeCode, Password, PasswordAttempt, PersonName};
use shared::http::{Authenticated, JsonBody, api_layers};

#[derive(Clone)]
pub struct AuthState {
    pub auth: Arc<AuthService>,
    pub tokens: Arc<TokenService>,
}

impl AuthState {
    pub fn new(auth: Arc<AuthService>) -> Self {
        let tokens = Arc::new(auth.tokens().clone());
        Self { auth, tokens }
    }
}

impl FromRef<AuthState> for Arc<TokenService> {
    fn from_ref(state: &AuthState) -> Self {
        state.tokens.clone()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    name: PersonName,
    email: Email,
    password: Password,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    email: Email,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    email: Email,
    code: OneTimeCode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: Email,
    password: PasswordAttempt,
}

/// The same words whether or not the address was known (no enumeration).
const CODE_SENT: &str = "If this address can receive mail, a 6-digit code is on its way. \
Confirm it with POST /auth/verify within 10 minutes.";

async fn register(
    State(state): State<AuthState>,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<impl IntoResponse, AuthError> {
    let registration = Registration { name: request.name, email: request.email, password: request.password };
    state.auth.register(registration).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "status": "verification_pending", "message": CODE_SENT }))))
}

async fn request_code(
    State(state): State<AuthState>,
    JsonBody(request): JsonBody<CodeRequest>,
) -> Result<impl IntoResponse, AuthError> {
    state.auth.request_code(&request.email).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "status": "verification_pending", "message": CODE_SENT }))))
}

async fn verify(
    State(state): State<AuthState>,
    JsonBody(request): JsonBody<VerifyRequest>,
) -> Result<impl IntoResponse, AuthError> {
    state.auth.verify(&request.email, &request.code).await?;
    Ok(axum::Json(json!({ "status": "verified", "message": "Email verified. Log in with POST /auth/login." })))
}

async fn login(
    State(state): State<AuthState>,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<axum::Json<AccessToken>, AuthError> {
    state.auth.login(&request.email, &request.password).await.map(axum::Json)
}

async fn me(
    State(state): State<AuthState>,
    Authenticated(claims): Authenticated,
) -> Result<axum::Json<Profile>, AuthError> {
    state.auth.profile(&claims).await.map(axum::Json)
}

/// The routes alone, for a host that serves several functions' routes
/// together (the local runner); add [`api_layers`] once on top.
pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/code", post(request_code))
        .route("/auth/verify", post(verify))
        .route("/auth/login", post(login))
        .route("/users/me", get(me))
        .with_state(state)
}

/// The function's whole API, as its Lambda serves it.
pub fn router(state: AuthState) -> Router {
    api_layers(routes(state))
}
