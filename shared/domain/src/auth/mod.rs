//! Sign-up, e-mail verification, sign-in, password recovery and change,
//! token revocation and account removal. Knows nothing of AWS or HTTP.
//!
//! Every answer that concerns an address is the same whether or not an
//! account exists there, and costs the same store calls in the same order.

mod account;
mod codes;
pub mod passwords;
pub mod ports;
mod records;
mod recovery;
mod registration;
mod sends;
mod sessions;
mod throttle;
pub mod tokens;

use std::sync::Arc;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::auth::ports::{AccountContent, RecordStore, UserStore};
use crate::clock::Clock;
use crate::email::{EmailJob, EmailMessage, EmailQueue};
use crate::ports::StoreError;
use crate::retry::Contended;
use crate::user::{SendPolicy, User};
use crate::values::{Email, Password, PersonName, UserId};
pub use codes::CodeKey;
use records::Records;
pub use sessions::AccessGuard;
pub use throttle::{ACCOUNT_LOCKOUT, ACCOUNT_WIDE_LOCKOUT, LockoutPolicy, SOURCE_LOCKOUT};
pub use tokens::{AccessToken, Claims, TokenService};

/// How long a one-time code stays valid.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// Wrong guesses after which a code is burned.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong, expired, burned or unknown: one answer, so that it tells a
    /// stranger nothing about the address.
    #[error("the code is wrong, has expired or was used up, or does not go with this email and password")]
    InvalidCode,
    #[error("too many attempts for this account or from this network")]
    Locked { retry_after: Duration },
    #[error(
        "email or password is wrong, or the address is not verified yet (POST /auth/verify with the e-mailed code; \
         POST /auth/code sends a new one)"
    )]
    InvalidCredentials,
    #[error("the access token is not valid: {0}")]
    InvalidToken(String),
    #[error("the access token no longer matches an account")]
    UnknownAccount,
    #[error("the access token was revoked (the password changed, or every session was signed out): log in again")]
    Revoked,
    #[error("the account was being changed concurrently; try again")]
    Busy,
    #[error("a backing service is unavailable")]
    Unavailable(#[source] crate::ports::Cause),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Busy,
            unavailable @ StoreError::Unavailable(_) => Self::Unavailable(Box::new(unavailable)),
        }
    }
}

impl Contended for AuthError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Busy)
    }

    fn busy() -> Self {
        Self::Busy
    }
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub name: PersonName,
    pub email: Email,
    pub password: Password,
}

/// What `GET /users/me` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub id: UserId,
    pub name: String,
    pub email: Email,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What the auth service needs from the outside world.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserStore>,
    pub records: Arc<dyn RecordStore>,
    pub emails: Arc<dyn EmailQueue>,
    pub content: Arc<dyn AccountContent>,
    pub clock: Arc<dyn Clock>,
}

pub struct AuthService {
    users: Arc<dyn UserStore>,
    records: Records,
    emails: Arc<dyn EmailQueue>,
    content: Arc<dyn AccountContent>,
    clock: Arc<dyn Clock>,
    guard: AccessGuard,
    codes: CodeKey,
    send_policy: SendPolicy,
}

impl AuthService {
    pub fn new(ports: AuthPorts, tokens: TokenService, codes: CodeKey) -> Self {
        Self {
            guard: AccessGuard::new(tokens, ports.users.clone()),
            users: ports.users,
            records: Records::new(ports.records),
            emails: ports.emails,
            content: ports.content,
            clock: ports.clock,
            codes,
            send_policy: SendPolicy::default(),
        }
    }

    /// Checks access tokens for every protected route.
    pub fn guard(&self) -> &AccessGuard {
        &self.guard
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn enqueue(&self, to: &Email, message: EmailMessage) -> Result<(), AuthError> {
        self.emails.enqueue(&EmailJob::new(to.clone(), message)).await.map_err(|e| AuthError::Unavailable(Box::new(e)))
    }

    /// Puts an account back as it was before `written` replaced it, after
    /// the e-mail that had to go with the change could not be queued.
    async fn restore_user(&self, before: &User, written: &User) {
        let restored = User { version: written.version + 1, ..before.clone() };
        if let Err(e) = self.users.update_user(&restored).await {
            tracing::error!(error = %e, user_id = %before.id, "could not undo an account change whose e-mail was not queued");
        }
    }
}

#[cfg(test)]
mod tests;
