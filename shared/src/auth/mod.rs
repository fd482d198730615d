//! Sign-up, e-mail verification and sign-in. Knows nothing of AWS or HTTP.

pub mod passwords;
pub mod tokens;

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::domain::{Email, OneTimeCode, Password, PasswordAttempt, PersonName, UserId};
use crate::email::{EmailJob, EmailMessage};
use crate::ports::{EmailQueue, StoreError, UserStore};
use crate::user::{CodeSendLog, PendingCode, SendPolicy, User};
pub use tokens::{AccessToken, Claims, TokenService};

/// How long a one-time code stays valid.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// Wrong guesses after which a code is burned.
pub const MAX_CODE_ATTEMPTS: u32 = 5;
/// Re-reads after a concurrent write before giving up with `Busy`.
const MAX_CONFLICT_RETRIES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the code is wrong, or there is no code pending for this address")]
    InvalidCode,
    #[error("the code has expired; request a new one")]
    CodeExpired,
    #[error("too many wrong attempts: this code is burned; request a new one")]
    CodeAttemptsExhausted,
    #[error("too many codes requested for this address")]
    RateLimited { retry_after: Duration },
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("the email address is not verified yet")]
    NotVerified,
    #[error("the access token no longer matches an account")]
    UnknownAccount,
    #[error("the account was being changed concurrently; try again")]
    Busy,
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Busy,
            StoreError::Unavailable(why) => Self::Unavailable(why),
        }
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
    pub verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

pub struct AuthService {
    users: Arc<dyn UserStore>,
    emails: Arc<dyn EmailQueue>,
    tokens: TokenService,
    clock: Arc<dyn Clock>,
    code_key: Vec<u8>,
    send_policy: SendPolicy,
}

impl AuthService {
    /// `code_key` keys the HMAC under which one-time codes are stored, so a
    /// leaked table does not hand out codes by brute force over 10^6 values.
    pub fn new(
        users: Arc<dyn UserStore>,
        emails: Arc<dyn EmailQueue>,
        tokens: TokenService,
        clock: Arc<dyn Clock>,
        code_key: Vec<u8>,
    ) -> Self {
        Self { users, emails, tokens, clock, code_key, send_policy: SendPolicy::default() }
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// Registers a new address, or re-issues a code for one that was never
    /// verified. Answers the same whether or not the address was known.
    pub async fn register(&self, registration: Registration) -> Result<(), AuthError> {
        let password_hash =
            passwords::hash(registration.password.expose().to_owned()).await.map_err(AuthError::Unavailable)?;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let now = self.clock.now();
            let code = OneTimeCode::generate();
            match self.users.find_user(&registration.email).await? {
                Some(existing) if existing.verified => return Ok(()),
                Some(existing) => {
                    // The mailbox owner decides: whoever reads the newest code
                    // activates the newest registration's password.
                    let Ok(slot) = self.record_send(&registration.email, now, false).await? else {
                        return Ok(());
                    };
                    let mut updated = existing.clone();
                    updated.name = registration.name.clone();
                    updated.password_hash = password_hash.clone();
                    updated.pending_code = Some(self.pending_code(&registration.email, &code, now));
                    updated.version += 1;
                    match self.users.update_user(&updated).await {
                        Err(StoreError::Conflict) => {
                            self.release_send_slot(&registration.email, slot).await;
                            continue;
                        }
                        other => other?,
                    }
                    if let Err(e) = self.send_code(&updated, &code).await {
                        self.release_send_slot(&registration.email, slot).await;
                        return Err(e);
                    }
                    return Ok(());
                }
                None => {
                    let user = User {
                        id: UserId::new(),
                        email: registration.email.clone(),
                        name: registration.name.clone(),
                        password_hash: password_hash.clone(),
                        verified: false,
                        created_at: now,
                        pending_code: Some(self.pending_code(&registration.email, &code, now)),
                        version: 1,
                    };
                    match self.users.create_user(&user).await {
                        Err(StoreError::Conflict) => continue,
                        other => other?,
                    }
                    let slot = self.force_send_slot(&registration.email, now).await;
                    if let Err(e) = self.send_code(&user, &code).await {
                        // Undo, so that a retry starts from scratch rather than
                        // meeting an account whose code never went out.
                        if let Err(undo) = self.users.delete_user(&user).await {
                            tracing::error!(error = %undo, "could not remove a user whose code was never sent");
                        }
                        if let Some(slot) = slot {
                            self.release_send_slot(&registration.email, slot).await;
                        }
                        return Err(e);
                    }
                    return Ok(());
                }
            }
        }
        Err(AuthError::Busy)
    }

    /// Sends a fresh code to an unverified address. Rate limited per address,
    /// known or not, so the answer never tells whether an account exists.
    pub async fn request_code(&self, email: &Email) -> Result<(), AuthError> {
        let now = self.clock.now();
        let slot =
            self.record_send(email, now, false).await?.map_err(|retry_after| AuthError::RateLimited { retry_after })?;
        let outcome = self.reissue_code(email, now).await;
        if outcome.is_err() {
            self.release_send_slot(email, slot).await;
        }
        outcome
    }

    async fn reissue_code(&self, email: &Email, now: OffsetDateTime) -> Result<(), AuthError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Some(mut user) = self.users.find_user(email).await? else {
                return Ok(());
            };
            if user.verified {
                return Ok(());
            }
            let code = OneTimeCode::generate();
            user.pending_code = Some(self.pending_code(email, &code, now));
            user.version += 1;
            match self.users.update_user(&user).await {
                Err(StoreError::Conflict) => continue,
                other => other?,
            }
            return self.send_code(&user, &code).await;
        }
        Err(AuthError::Busy)
    }

    /// Checks a code. Every guess is recorded before its result is revealed,
    /// so parallel guessing gains nothing.
    pub async fn verify(&self, email: &Email, code: &OneTimeCode) -> Result<(), AuthError> {
        let guess_hash = self.code_hash(email, code);
        for _ in 0..MAX_CONFLICT_RETRIES {
            let now = self.clock.now();
            let Some(mut user) = self.users.find_user(email).await? else {
                return Err(AuthError::InvalidCode);
            };
            if user.verified {
                return Err(AuthError::InvalidCode);
            }
            let Some(pending) = user.pending_code.as_mut() else {
                return Err(AuthError::InvalidCode);
            };
            if pending.expires_at <= now {
                return Err(AuthError::CodeExpired);
            }
            if pending.attempts >= MAX_CODE_ATTEMPTS {
                return Err(AuthError::CodeAttemptsExhausted);
            }
            let correct: bool = pending.hash.ct_eq(&guess_hash).into();
            if correct {
                user.verified = true;
                user.pending_code = None;
            } else {
                pending.attempts += 1;
            }
            let exhausted = user.pending_code.as_ref().is_some_and(|p| p.attempts >= MAX_CODE_ATTEMPTS);
            user.version += 1;
            match self.users.update_user(&user).await {
                Err(StoreError::Conflict) => continue,
                other => other?,
            }
            return match (correct, exhausted) {
                (true, _) => Ok(()),
                (false, true) => Err(AuthError::CodeAttemptsExhausted),
                (false, false) => Err(AuthError::InvalidCode),
            };
        }
        Err(AuthError::Busy)
    }

    pub async fn login(&self, email: &Email, password: &PasswordAttempt) -> Result<AccessToken, AuthError> {
        let user = self.users.find_user(email).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        if !passwords::verify(password.expose().to_owned(), hash).await {
            return Err(AuthError::InvalidCredentials);
        }
        let user = user.ok_or(AuthError::InvalidCredentials)?;
        if !user.verified {
            return Err(AuthError::NotVerified);
        }
        self.tokens.issue(&user, self.clock.now()).map_err(|e| AuthError::Unavailable(e.to_string()))
    }

    /// The profile behind a verified token; the account must still exist.
    pub async fn profile(&self, claims: &Claims) -> Result<Profile, AuthError> {
        let user = self.users.find_user(&claims.email).await?.filter(|u| u.id == claims.sub);
        let user = user.ok_or(AuthError::UnknownAccount)?;
        Ok(Profile {
            id: user.id,
            name: user.name.as_str().to_owned(),
            email: user.email,
            verified: user.verified,
            created_at: user.created_at,
        })
    }

    fn code_hash(&self, email: &Email, code: &OneTimeCode) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.code_key).expect("HMAC takes keys of any length");
        mac.update(email.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(code.expose().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn pending_code(&self, email: &Email, code: &OneTimeCode, now: OffsetDateTime) -> PendingCode {
        PendingCode { hash: self.code_hash(email, code), expires_at: now + CODE_LIFETIME, attempts: 0 }
    }

    async fn send_code(&self, user: &User, code: &OneTimeCode) -> Result<(), AuthError> {
        let job = EmailJob::new(
            user.email.clone(),
            EmailMessage::VerifyCode {
                name: user.name.as_str().to_owned(),
                code: code.expose().to_owned(),
                expires_in_minutes: CODE_LIFETIME.whole_minutes() as u32,
            },
        );
        self.emails.enqueue(&job).await.map_err(|e| AuthError::Unavailable(e.to_string()))
    }

    /// Records a send whatever the policy says (a first registration always
    /// gets its code). Best effort: the code matters more than the record.
    async fn force_send_slot(&self, email: &Email, now: OffsetDateTime) -> Option<OffsetDateTime> {
        match self.record_send(email, now, true).await {
            Ok(slot) => slot.ok(),
            Err(e) => {
                tracing::warn!(error = %e, "could not record a code send");
                None
            }
        }
    }

    /// Records a send at `now` and returns it as the slot to release should
    /// the code not go out; or, when the policy (unless `force`d) says no,
    /// how long to wait.
    async fn record_send(
        &self,
        email: &Email,
        now: OffsetDateTime,
        force: bool,
    ) -> Result<Result<OffsetDateTime, Duration>, AuthError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let mut log = self.users.find_send_log(email).await?.unwrap_or_else(|| CodeSendLog::empty(email.clone()));
            if let Some(wait) = log.wait_needed(now, &self.send_policy).filter(|_| !force) {
                return Ok(Err(wait));
            }
            log.prune(now, &self.send_policy);
            log.sent_at.push(now);
            log.version += 1;
            match self.users.save_send_log(&log).await {
                Err(StoreError::Conflict) => continue,
                other => other?,
            }
            return Ok(Ok(now));
        }
        Err(AuthError::Busy)
    }

    /// Gives back a slot whose code never went out. Best effort.
    async fn release_send_slot(&self, email: &Email, slot: OffsetDateTime) {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Ok(Some(mut log)) = self.users.find_send_log(email).await else {
                return;
            };
            let before = log.sent_at.len();
            log.sent_at.retain(|t| *t != slot);
            if log.sent_at.len() == before {
                return;
            }
            log.version += 1;
            match self.users.save_send_log(&log).await {
                Err(StoreError::Conflict) => continue,
                Err(e) => tracing::warn!(error = %e, "could not release a code-send slot"),
                Ok(()) => {}
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests;
