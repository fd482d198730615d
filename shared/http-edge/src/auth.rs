//! Auth errors as problems, and the extractors for who is calling: the
//! bearer of a valid token, and the network address a request comes from.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::{StatusCode, header, request::Parts};

use super::{Problem, unavailable};
use domain::auth::{AccessGuard, AuthError, Claims};
use domain::errors::chain;
use domain::values::ClientAddress;

fn too_many(slug: &str, title: &'static str, detail: String, retry_after: time::Duration) -> Problem {
    let seconds = retry_after.whole_seconds().max(1);
    Problem::new(StatusCode::TOO_MANY_REQUESTS, slug, title, format!("{detail}; try again in {seconds} s"))
        .with_header(header::RETRY_AFTER, seconds.to_string())
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        let detail = error.to_string();
        match error {
            AuthError::InvalidCode => Problem::new(StatusCode::BAD_REQUEST, "invalid-code", "Invalid code", detail),
            AuthError::Locked { retry_after } => {
                too_many("too-many-attempts", "Too many attempts", detail, retry_after)
            }
            AuthError::InvalidCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid-credentials", "Invalid credentials", detail)
            }
            AuthError::InvalidToken(_) | AuthError::UnknownAccount | AuthError::Revoked => {
                Problem::unauthorized(detail)
            }
            AuthError::Busy => Problem::new(StatusCode::CONFLICT, "busy", "Concurrent update", detail),
            AuthError::Unavailable(_) => {
                tracing::error!(error = %chain(&error), "backing service unavailable");
                unavailable()
            }
        }
    }
}

/// The caller, proven by a valid `Authorization: Bearer <token>` header of
/// an account that exists and whose tokens were not revoked since.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Arc<AccessGuard>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Checked already by a layer of this request (the account read is
        // not repeated); extensions are set by the server only.
        if let Some(done) = parts.extensions.get::<Authenticated>() {
            return Ok(done.clone());
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("send an access token: `Authorization: Bearer <token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Problem::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let guard = Arc::<AccessGuard>::from_ref(state);
        let claims = guard.authenticate(token).await.map_err(Problem::from)?;
        crate::requests::record_user(&claims.sub);
        Ok(Authenticated(claims))
    }
}

/// Where the request comes from: API Gateway's `requestContext.http.sourceIp`
/// in Lambda, the peer address when served over TCP. Never a header the
/// client could set.
#[derive(Debug, Clone)]
pub struct Client(pub ClientAddress);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let from_gateway = match parts.extensions.get::<lambda_http::request::RequestContext>() {
            Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
                context.http.source_ip.as_deref().and_then(ClientAddress::parse)
            }
            _ => None,
        };
        let from_peer = || parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| ClientAddress::from_ip(c.0.ip()));
        Ok(Client(from_gateway.or_else(from_peer).unwrap_or_else(ClientAddress::unknown)))
    }
}
