//! The auth API as an axum `Router`: the Lambda serves it through
//! `lambda_http`, the local runner serves the very same router over TCP,
//! both built by [`AuthState::from_env`].

use std::sync::Arc;

use aws_adapters::AwsClients;
use aws_adapters::dynamodb::DynamoUserStore;
use aws_adapters::dynamodb_jobs::DynamoJobStore;
use aws_adapters::s3::S3BlobStore;
use aws_adapters::secrets::secret_string;
use aws_adapters::sqs::SqsEmailQueue;
use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use domain::account_content::JobsOfAccount;
use domain::auth::{AccessGuard, AccessToken, AuthPorts, AuthService, Profile, Registration};
use domain::clock::SystemClock;
use domain::values::{Email, OneTimeCode, Password, PasswordAttempt, PersonName};
use http_edge::{Authenticated, Client, JsonBody, Problem, api_layers, site};
use platform::config::{AuthConfig, Env, JwtSecret};
use serde::Deserialize;

#[derive(Clone)]
pub struct AuthState {
    pub auth: Arc<AuthService>,
    pub guard: Arc<AccessGuard>,
}

impl AuthState {
    pub fn new(auth: Arc<AuthService>) -> Self {
        let guard = Arc::new(auth.guard().clone());
        Self { auth, guard }
    }

    /// The function's wiring, for the Lambda and the local runner alike:
    /// settings from `env`, the signing key from Secrets Manager.
    pub async fn from_env(env: &Env, clients: &AwsClients) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = AuthConfig::load(env)?;
        let secret = JwtSecret::new(secret_string(clients, &config.jwt.secret_id).await?)?;
        Ok(Self::new(auth_service(&config, &secret, clients)))
    }
}

/// The use case on its AWS adapters: accounts in DynamoDB, e-mails queued in
/// SQS, and an account's jobs and uploads (deleted with it) in DynamoDB and S3.
pub fn auth_service(config: &AuthConfig, secret: &JwtSecret, clients: &AwsClients) -> Arc<AuthService> {
    let users = Arc::new(DynamoUserStore::new(clients.dynamodb(), &config.users_table));
    let jobs = Arc::new(DynamoJobStore::new(clients.dynamodb(), &config.jobs_table));
    let content =
        JobsOfAccount::new(jobs.clone(), jobs, Arc::new(S3BlobStore::new(clients.s3(), &config.uploads_bucket)));
    let ports = AuthPorts {
        users: users.clone(),
        records: users,
        emails: Arc::new(SqsEmailQueue::new(clients.sqs(), &config.email_queue_url)),
        content: Arc::new(content),
        clock: Arc::new(SystemClock),
    };
    Arc::new(AuthService::new(ports, secret.token_service(&config.jwt), secret.code_key()))
}

impl FromRef<AuthState> for Arc<AccessGuard> {
    fn from_ref(state: &AuthState) -> Self {
        state.guard.clone()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    name: PersonName,
    email: Email,
    password: Password,
}

/// Identifies a registration: its address and the password it was made with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    email: Email,
    password: PasswordAttempt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    email: Email,
    code: OneTimeCode,
    password: PasswordAttempt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: Email,
    password: PasswordAttempt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgotRequest {
    email: Email,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: Email,
    code: OneTimeCode,
    new_password: Password,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordRequest {
    current_password: PasswordAttempt,
    new_password: Password,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteAccountRequest {
    password: PasswordAttempt,
}

/// The same words whether or not the address was known (no enumeration).
const CODE_SENT: &str = "If this address can receive mail, a 6-digit code is on its way. \
Confirm it with POST /auth/verify (email, code and this password) within 10 minutes.";

const RESET_SENT: &str = "If this address can receive mail, an e-mail is on its way; if an account \
has this address, it holds a 6-digit code for POST /auth/password/reset, valid 10 minutes.";

/// The answer of each step of signing up and of recovery: where the
/// account stands, and what to do next.
#[derive(Debug, serde::Serialize)]
struct Progress {
    status: &'static str,
    message: &'static str,
}

fn progress(status: &'static str, message: &'static str) -> axum::Json<Progress> {
    axum::Json(Progress { status, message })
}

fn pending(status: StatusCode, message: &'static str) -> impl IntoResponse {
    (status, progress("verification_pending", message))
}

async fn register(
    State(state): State<AuthState>,
    Client(source): Client,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<impl IntoResponse, Problem> {
    let registration = Registration { name: request.name, email: request.email, password: request.password };
    state.auth.register(&source, registration).await?;
    Ok(pending(StatusCode::CREATED, CODE_SENT))
}

async fn request_code(
    State(state): State<AuthState>,
    Client(source): Client,
    JsonBody(request): JsonBody<CodeRequest>,
) -> Result<impl IntoResponse, Problem> {
    state.auth.request_code(&source, &request.email, &request.password).await?;
    Ok(pending(StatusCode::ACCEPTED, CODE_SENT))
}

async fn verify(
    State(state): State<AuthState>,
    Client(source): Client,
    JsonBody(request): JsonBody<VerifyRequest>,
) -> Result<impl IntoResponse, Problem> {
    state.auth.verify(&source, &request.email, &request.code, &request.password).await?;
    Ok(progress("verified", "Email verified. Log in with POST /auth/login."))
}

async fn login(
    State(state): State<AuthState>,
    Client(source): Client,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<axum::Json<AccessToken>, Problem> {
    Ok(axum::Json(state.auth.login(&source, &request.email, &request.password).await?))
}

async fn forgot_password(
    State(state): State<AuthState>,
    Client(source): Client,
    JsonBody(request): JsonBody<ForgotRequest>,
) -> Result<impl IntoResponse, Problem> {
    state.auth.forgot_password(&source, &request.email).await?;
    Ok((StatusCode::ACCEPTED, progress("reset_pending", RESET_SENT)))
}

async fn reset_password(
    State(state): State<AuthState>,
    Client(source): Client,
    JsonBody(request): JsonBody<ResetRequest>,
) -> Result<impl IntoResponse, Problem> {
    state.auth.reset_password(&source, &request.email, &request.code, &request.new_password).await?;
    let message = "Password changed; every earlier session is signed out. Log in with POST /auth/login.";
    Ok(progress("password_changed", message))
}

async fn me(
    State(state): State<AuthState>,
    Authenticated(claims): Authenticated,
) -> Result<axum::Json<Profile>, Problem> {
    Ok(axum::Json(state.auth.profile(&claims).await?))
}

async fn change_password(
    State(state): State<AuthState>,
    Client(source): Client,
    Authenticated(claims): Authenticated,
    JsonBody(request): JsonBody<ChangePasswordRequest>,
) -> Result<axum::Json<AccessToken>, Problem> {
    let token = state.auth.change_password(&source, &claims, &request.current_password, &request.new_password).await?;
    Ok(axum::Json(token))
}

async fn sign_out_everywhere(
    State(state): State<AuthState>,
    Authenticated(claims): Authenticated,
) -> Result<StatusCode, Problem> {
    state.auth.sign_out_everywhere(&claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_account(
    State(state): State<AuthState>,
    Client(source): Client,
    Authenticated(claims): Authenticated,
    JsonBody(request): JsonBody<DeleteAccountRequest>,
) -> Result<StatusCode, Problem> {
    state.auth.delete_account(&source, &claims, &request.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes alone, for a host that serves several functions' routes
/// together (the local runner); add [`api_layers`] once on top.
pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/code", post(request_code))
        .route("/auth/verify", post(verify))
        .route("/auth/login", post(login))
        .route("/auth/password/forgot", post(forgot_password))
        .route("/auth/password/reset", post(reset_password))
        .route("/users/me", get(me).delete(delete_account))
        .route("/users/me/password", post(change_password))
        .route("/users/me/sign-out-everywhere", post(sign_out_everywhere))
        // The public entrance also serves the page and the API's description.
        .merge(site::routes())
        .with_state(state)
}

/// The function's whole API, as its Lambda serves it.
pub fn router(state: AuthState) -> Router {
    api_layers(routes(state))
}
